/**
 * Child processes of the tests (the live tests' lab and the real-client lab): commands run to
 * completion, long-running programs whose output is collected line by line, and waiting on a
 * condition against a deadline — nothing sleeps blindly where a condition exists.
 *
 * Every child gets a minimal environment: nothing of the caller's (btblocker's settings
 * included) leaks in.
 *
 * @example
 * ```ts
 * import { Child, runCommand } from "./process.ts";
 * const r = await runCommand(["echo", "hello"]);
 * console.log(r.code, r.stdout);
 * const sleeper = new Child(["sleep", "60"], { name: "sleeper" });
 * await sleeper.stop("SIGTERM");
 * ```
 *
 * @module
 */

const decoder = new TextDecoder();

/** Where and with what a child runs. */
export interface ChildOptions {
  /** Variables added to the minimal environment. */
  env?: Record<string, string>;
  /** Working directory (default: the caller's). */
  cwd?: string;
}

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

/** The environment of every child: no colours, the caller's paths, and `extra`. */
function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["PATH", "HOME", "DENO_DIR", "TMPDIR"]) {
    const v = Deno.env.get(name);
    if (v !== undefined) env[name] = v;
  }
  return { ...env, ...extra };
}

function command(args: string[], options: ChildOptions): Deno.Command {
  return new Deno.Command(args[0], {
    args: args.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: childEnv(options.env),
    cwd: options.cwd,
  });
}

/**
 * The command line that runs the shell `script` in a private mount namespace, with `args` as
 * its `$0`, `$1`, …: what it mounts or unmounts stays in that namespace.
 */
export function inPrivateMounts(script: string, ...args: string[]): string[] {
  return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, ...args];
}

/**
 * The command prefix that runs a command in a private mount namespace where each `[file,
 * target]` of `binds` is bind-mounted over `target`: the command sees the replacements, and
 * nothing outside that namespace changes.
 */
export function withBindMounts(binds: [file: string, target: string][]): string[] {
  const mounts = binds.map((_, i) => `mount --bind "$${2 * i + 1}" "$${2 * i + 2}" && `);
  const script = `${mounts.join("")}shift ${2 * binds.length} && exec "$@"`;
  return inPrivateMounts(script, "sh", ...binds.flat());
}

/**
 * Polls `probe` every `intervalMs` until it returns something other than `undefined`, and
 * returns that; throws naming `what` after `timeoutMs`.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 5000,
  intervalMs = 20,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await delay(intervalMs);
  }
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `args[0]` with `args.slice(1)` to completion; never throws on failure. */
export async function runCommand(
  args: string[],
  options: ChildOptions = {},
): Promise<CommandResult> {
  const out = await command(args, options).output();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stdoutBytes: out.stdout,
    stderr: decoder.decode(out.stderr),
  };
}

/** Settings of a {@linkcode Child}. */
export interface SpawnOptions extends ChildOptions {
  /** A short name for messages (default `process`). */
  name?: string;
  /** Called with every output line as it arrives (to show progress). */
  onLine?: (line: string) => void;
}

/** A long-running child process whose stdout and stderr are collected line by line. */
export class Child {
  /** A short name for messages (`seeder`, `btblocker`, …). */
  readonly name: string;
  /** Collected output lines (stdout and stderr, in arrival order). */
  readonly lines: string[] = [];
  readonly #process: Deno.ChildProcess;
  readonly #readers: Promise<void>[];
  readonly #done: Promise<Deno.CommandStatus>;
  readonly #onLine: ((line: string) => void) | null;
  #status: Deno.CommandStatus | null = null;

  /** Starts `args[0]` with `args.slice(1)`. */
  constructor(args: string[], options: SpawnOptions = {}) {
    this.name = options.name ?? "process";
    this.#onLine = options.onLine ?? null;
    this.#process = command(args, options).spawn();
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

  /** The exit status once the process ended, else null. */
  get status(): Deno.CommandStatus | null {
    return this.#status;
  }

  /** Everything the process printed so far. */
  get output(): string {
    return this.lines.join("\n");
  }

  /**
   * Waits for an output line matching `pattern`; fails at once when the process exits (with
   * its last 30 lines).
   */
  waitForLine(pattern: RegExp, timeoutMs = 5000): Promise<string> {
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
    } catch (e) {
      if (!(e instanceof TypeError)) throw e; // ended meanwhile
    }
  }

  /**
   * Waits for the process to end (sending `signal` first, when given) and for its output;
   * kills it after `graceMs`.
   */
  async stop(signal?: Deno.Signal, graceMs = 10000): Promise<Deno.CommandStatus> {
    if (signal !== undefined) this.signal(signal);
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    try {
      const status = await this.#done;
      await Promise.all(this.#readers);
      return status;
    } finally {
      clearTimeout(timer);
    }
  }
}
