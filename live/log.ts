/**
 * Logging for live mode through LogTape: human-readable lines or JSON lines on stderr, with a
 * level threshold. Categories start with `btblocker` (`btblocker.capture`, `btblocker.bans`, …).
 *
 * @module
 */

import {
  configure,
  dispose,
  getLogger,
  getStreamSink,
  getTextFormatter,
  jsonLinesFormatter,
  type Logger,
} from "@logtape/logtape";

/** Log settings. */
export interface LogOptions {
  /** Least severe level logged. */
  level: "error" | "warn" | "info" | "debug";
  /** `text` for people, `json` for machines. */
  format: "text" | "json";
  /** Where lines go (default stderr). */
  stream?: WritableStream<Uint8Array>;
}

const LEVELS = { error: "error", warn: "warning", info: "info", debug: "debug" } as const;

/** Configures logging; call once at start, and {@linkcode closeLogging} before exit. */
export async function configureLogging(options: LogOptions): Promise<void> {
  const formatter = options.format === "json"
    ? jsonLinesFormatter
    : getTextFormatter({ timestamp: "date-time-tz", category: ".", value: "bare" });
  await configure({
    reset: true,
    sinks: {
      // stderr must stay open after closeLogging(): errors that end the run are printed on
      // it afterwards (closing it made them crash with "Bad resource ID").
      stderr: getStreamSink(options.stream ?? Deno.stderr.writable, {
        formatter,
        closeStream: options.stream !== undefined,
      }),
    },
    loggers: [
      { category: ["btblocker"], lowestLevel: LEVELS[options.level], sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** Flushes and closes the log sinks. */
export async function closeLogging(): Promise<void> {
  await dispose();
}

/** The logger of a part of btblocker, e.g. `log("capture")`. */
export function log(part: string): Logger {
  return getLogger(["btblocker", part]);
}
