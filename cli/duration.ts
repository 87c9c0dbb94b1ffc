/**
 * Durations on the command line: `30s`, `5m`, `5h`, `1d`, `250ms`, or plain seconds.
 *
 * @module
 */

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Parses a duration into seconds, or returns `undefined` when the text is not one.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * parseDuration("5h"); // 18000
 * parseDuration("90"); // 90
 * parseDuration("soon"); // undefined
 * ```
 */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (m === null) return undefined;
  const seconds = Number(m[1]) * UNITS[(m[2] ?? "s").toLowerCase()];
  return Number.isFinite(seconds) ? seconds : undefined;
}

/**
 * Formats seconds the way people write durations (`5h`, `90s`, `1d2h`).
 *
 * @example
 * ```ts
 * import { formatDuration } from "./duration.ts";
 * formatDuration(18000); // "5h"
 * ```
 */
export function formatDuration(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  let rest = Math.round(seconds);
  let out = "";
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}
