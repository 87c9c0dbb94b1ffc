/**
 * btblocker's command line run as a real process, for the CLI tests and the lab's offline
 * checks: `deno run` of `main.ts` with the permissions of reading a capture (`PERM_READ` in the
 * Makefile), in the minimal environment of {@linkcode runCommand}.
 *
 * @example
 * ```ts
 * import { runCli } from "./cli.ts";
 * const r = await runCli("--help");
 * console.log(r.code, r.stdout);
 * ```
 *
 * @module
 */

import { type CommandResult, runCommand } from "./process.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const PERMISSIONS = ["--allow-ffi", "--allow-read", "--allow-env"];

/** Runs btblocker with `args` to completion; returns its exit code and output. */
export function runCli(...args: string[]): Promise<CommandResult> {
  return runCommand([Deno.execPath(), "run", ...PERMISSIONS, MAIN, ...args]);
}
