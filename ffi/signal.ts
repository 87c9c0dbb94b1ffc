/**
 * Signalling another process through libc `kill(2)`. Deno's `Deno.kill` asks for unscoped
 * `--allow-run` to signal anything but children; btblocker only needs `--allow-run=nft`, so
 * `btblocker bans` notifies the running instance this way.
 *
 * @module
 */

import { libc } from "./libc.ts";

/** Signal numbers on Linux. */
export const SignalNumber = { SIGHUP: 1, SIGUSR2: 12, SIGTERM: 15 } as const;

/**
 * Sends `signal` to process `pid`; returns whether it was delivered (false when no such process
 * exists or it may not be signalled).
 *
 * @example
 * ```ts ignore
 * import { signalProcess, SignalNumber } from "./signal.ts";
 * signalProcess(1234, SignalNumber.SIGUSR2);
 * ```
 */
export function signalProcess(pid: number, signal: number): boolean {
  return libc().kill(pid, signal) === 0;
}
