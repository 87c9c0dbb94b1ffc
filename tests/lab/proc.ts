/**
 * Processes of the lab: the shared test process helpers (`../helpers/process.ts`), run
 * optionally inside a network namespace (through `nsenter`) and with the lab's locale.
 *
 * @module
 */

import {
  Child,
  type ChildOptions,
  type CommandResult,
  runCommand as runChild,
  type SpawnOptions,
} from "../helpers/process.ts";

export { delay, waitFor } from "../helpers/process.ts";

/** Where a lab command runs: in network namespace `ns` (by name) when given. */
export interface LabOptions extends ChildOptions {
  /** The network namespace, or null (or absent) for the caller's. */
  ns?: string | null;
}

/**
 * The certificate stores Deno trusts in the lab's children: the caller's choice, else Mozilla's
 * roots and the system store (behind a TLS-inspecting proxy only the system store knows the
 * proxy's certificate; the Makefile exports the same default).
 */
const DEFAULT_TLS_CA_STORE = "mozilla,system";

/**
 * Variables every lab child gets: the locale, no Deno update check (the lab's hosts have no way
 * out) and `DENO_TLS_CA_STORE`.
 */
function labEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    LC_ALL: "C.UTF-8",
    DENO_NO_UPDATE_CHECK: "1",
    DENO_TLS_CA_STORE: Deno.env.get("DENO_TLS_CA_STORE") || DEFAULT_TLS_CA_STORE,
    ...extra,
  };
}

/** The `nsenter` prefix that runs a command in the network namespace `ns` (by name). */
function inNamespace(ns: string | null, args: string[]): string[] {
  return ns === null ? args : ["nsenter", `--net=/run/netns/${ns}`, "--", ...args];
}

/** Runs a command to completion (in namespace `ns` when given); never throws on failure. */
export function runCommand(args: string[], options: LabOptions = {}): Promise<CommandResult> {
  return runChild(inNamespace(options.ns ?? null, args), {
    cwd: options.cwd,
    env: labEnv(options.env),
  });
}

/** Runs a command to completion and returns its stdout; throws with its stderr on failure. */
export async function mustRun(args: string[], options: LabOptions = {}): Promise<string> {
  const r = await runCommand(args, options);
  if (r.code !== 0) {
    const where = options.ns ? ` (in ${options.ns})` : "";
    throw new Error(`${args.join(" ")}${where} failed (${r.code}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** A long-running lab program (in a namespace when given) whose output is collected. */
export class Proc extends Child {
  /** Starts `args` as `name` (in namespace `ns` when not null). */
  constructor(
    name: string,
    ns: string | null,
    args: string[],
    options: Omit<SpawnOptions, "name"> = {},
  ) {
    super(inNamespace(ns, args), { ...options, name, env: labEnv(options.env) });
  }
}
