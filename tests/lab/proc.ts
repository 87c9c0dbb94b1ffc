/**
 * Processes of the lab: commands run to completion, long-running programs whose output is
 * collected line by line (optionally inside a network namespace, through `nsenter`), and
 * waiting on conditions against a deadline — the lab never sleeps blindly where a condition
 * exists.
 *
 * @module
 */

const decoder = new TextDecoder();

/** The output of a finished command. */
export interface CommandResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard output as bytes. */
  stdoutBytes: Uint8Array;
  /** Standard error. */
  stderr: string;
}

/** Environment passed to every child: only what programs need, nothing of the caller's. */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  // No Deno update check: the lab's hosts have no way out, and should not try.
  const env: Record<string, string> = {
    NO_COLOR: "1",
    LC_ALL: "C.UTF-8",
    DENO_NO_UPDATE_CHECK: "1",
  };
  for (const name of ["PATH", "HOME", "DENO_DIR", "TMPDIR"]) {
    const v = Deno.env.get(name);
    if (v !== undefined) env[name] = v;
  }
  return { ...env, ...extra };
}

/** The `nsenter` prefix that runs a command in the network namespace `ns` (by name). */
export function inNamespace(ns: string | null, args: string[]): string[] {
  return ns === null ? args : ["nsenter", `--net=/run/netns/${ns}`, "--", ...args];
}

/** Runs a command to completion (in namespace `ns` when given); never throws on failure. */
export async function runCommand(
  args: string[],
  options: { ns?: string | null; env?: Record<string, string>; cwd?: string } = {},
): Promise<CommandResult> {
  const argv = inNamespace(options.ns ?? null, args);
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: childEnv(options.env),
    cwd: options.cwd,
  }).output();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stdoutBytes: out.stdout,
    stderr: decoder.decode(out.stderr),
  };
}

/** Runs a command to completion and returns its stdout; throws with its stderr on failure. */
export async function mustRun(
  args: string[],
  options: { ns?: string | null; env?: Record<string, string>; cwd?: string } = {},
): Promise<string> {
  const r = await runCommand(args, options);
  if (r.code !== 0) {
    const where = options.ns ? ` (in ${options.ns})` : "";
    throw new Error(`${args.join(" ")}${where} failed (${r.code}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/**
 * Polls `probe` every `intervalMs` until it returns something other than `undefined`, and
 * returns that; throws naming `what` after `timeoutMs`.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await delay(intervalMs);
  }
}

/** Resolves after `ms` milliseconds (the poll interval of {@linkcode waitFor}). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A long-running program whose stdout and stderr are collected line by line. */
export class Proc {
  /** A short name for messages (`seeder`, `btblocker`, …). */
  readonly name: string;
  /** Collected output lines (stdout and stderr, in arrival order). */
  readonly lines: string[] = [];
  readonly #process: Deno.ChildProcess;
  readonly #readers: Promise<void>[];
  readonly #done: Promise<Deno.CommandStatus>;
  #status: Deno.CommandStatus | null = null;
  #onLine: ((line: string) => void) | null;

  /**
   * Starts `args` (in namespace `ns` when not null).
   *
   * @param onLine called with every output line as it arrives (to show progress)
   */
  constructor(
    name: string,
    ns: string | null,
    args: string[],
    options: { env?: Record<string, string>; cwd?: string; onLine?: (line: string) => void } = {},
  ) {
    this.name = name;
    this.#onLine = options.onLine ?? null;
    const argv = inNamespace(ns, args);
    this.#process = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      env: childEnv(options.env),
      cwd: options.cwd,
    }).spawn();
    this.#readers = [this.#process.stdout, this.#process.stderr].map((s) => this.#collect(s));
    this.#done = this.#process.status.then((s) => this.#status = s);
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    let pending = "";
    const push = (line: string) => {
      this.lines.push(line);
      this.#onLine?.(line);
    };
    for await (const chunk of stream) {
      pending += decoder.decode(chunk, { stream: true });
      const parts = pending.split("\n");
      pending = parts.pop()!;
      for (const p of parts) push(p);
    }
    if (pending !== "") push(pending);
  }

  /** The process id (of `nsenter`, which execs the program: the same process). */
  get pid(): number {
    return this.#process.pid;
  }

  /** The exit status once the process ended, else null. */
  get status(): Deno.CommandStatus | null {
    return this.#status;
  }

  /** Everything the process printed so far. */
  get output(): string {
    return this.lines.join("\n");
  }

  /** Stops echoing lines (the output is still collected). */
  quiet(): void {
    this.#onLine = null;
  }

  /** Waits for an output line matching `pattern`; fails at once when the process exits. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    return waitFor(`${this.name}: a line matching ${pattern}`, () => {
      const line = this.lines.find((l) => pattern.test(l));
      if (line !== undefined) return line;
      if (this.#status !== null) {
        throw new Error(
          `${this.name} exited (${this.#status.code}) before printing ${pattern}:\n` +
            this.lines.slice(-30).join("\n"),
        );
      }
      return undefined;
    }, timeoutMs);
  }

  /** Sends a signal; ignored when the process has already ended. */
  signal(signal: Deno.Signal): void {
    if (this.#status !== null) return;
    try {
      this.#process.kill(signal);
    } catch {
      // ended meanwhile
    }
  }

  /** Waits for the process to end (and its output to be read). */
  async wait(): Promise<Deno.CommandStatus> {
    const status = await this.#done;
    await Promise.all(this.#readers);
    return status;
  }

  /** Sends `signal` (SIGTERM by default), then SIGKILL after `graceMs`; waits for the end. */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 5000): Promise<Deno.CommandStatus> {
    this.signal(signal);
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    try {
      return await this.wait();
    } finally {
      clearTimeout(timer);
    }
  }
}
