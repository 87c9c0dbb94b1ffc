/**
 * Errors the command line turns into one line on stderr and an exit status.
 *
 * @module
 */

/** Exit status for usage errors (bad flags or values). */
export const EXIT_USAGE = 2;
/** Exit status for runtime errors (unreadable file, missing library, …). */
export const EXIT_RUNTIME = 1;

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
