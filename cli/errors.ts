/**
 * Errors the command line turns into one line on stderr and an exit status.
 *
 * @module
 */

/** Exit status for usage errors (bad flags or values). */
export const EXIT_USAGE = 2;
/** Exit status for runtime errors (unreadable file, missing library, …). */
export const EXIT_RUNTIME = 1;
/** Exit status of `--read` when the capture is cut off part-way (what was read is reported). */
export const EXIT_TRUNCATED = 3;

/** A bad command line: printed as one line, exit status 2. */
export class UsageError extends Error {
  /** @param message what is wrong, in one line */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure at run time that the user can act on: printed as one line, exit status 1. */
export class RuntimeError extends Error {
  /** @param message what failed and what to do, in one line */
  constructor(message: string) {
    super(message);
    this.name = "RuntimeError";
  }
}

/**
 * A capture cut off part-way (mid-record): everything before the cut was read and reported;
 * printed as a warning, exit status {@linkcode EXIT_TRUNCATED}.
 */
export class TruncatedCaptureError extends Error {
  /** @param message which file, how many packets were read before the cut, in one line */
  constructor(message: string) {
    super(message);
    this.name = "TruncatedCaptureError";
  }
}
