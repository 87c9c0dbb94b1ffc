/**
 * The btblocker command line.
 *
 *     sudo btblocker --interfaces eth0,eth1        # live: detect and ban
 *     btblocker --read capture.pcapng --format jsonl  # offline: audit a capture
 *     sudo btblocker bans list                       # manage a running instance's bans
 *
 * Bad input ends with one line on stderr and exit status 2 (usage) or 1 (runtime); never a
 * stack trace. A capture cut off part-way is reported up to the cut, then a warning and exit
 * status 3.
 *
 * @module
 */

import { parseCommandLine, usage } from "./cli/args.ts";
import { runBansCommand } from "./cli/bans.ts";
import {
  EXIT_RUNTIME,
  EXIT_TRUNCATED,
  EXIT_USAGE,
  RuntimeError,
  TruncatedCaptureError,
  UsageError,
} from "./cli/errors.ts";
import { readCapture, readCaptureWithPool } from "./cli/offline.ts";
import { EventPrinter, LineWriter } from "./cli/output.ts";
import { LibraryNotFoundError } from "./ffi/libpcap.ts";
import { runLive } from "./live/run.ts";
import { resolveWorkerCount } from "./workers/pool.ts";
import { buildInfo, versionLine } from "./cli/version.ts";

/** Runs the command line and returns the exit status. */
export async function main(args: string[]): Promise<number> {
  const out = new LineWriter();
  try {
    if (args[0] === "bans") return await runBansCommand(args.slice(1), out);
    const config = parseCommandLine(args);
    if (config.mode === "help") {
      out.line(usage());
      return 0;
    }
    if (config.mode === "version") {
      out.line(versionLine(await buildInfo()));
      return 0;
    }
    if (config.mode === "live") return await runLive(config);
    const printer = new EventPrinter(config.format, out);
    const offline = { path: config.readPath, engine: config.engine, progress: config.progress };
    if (config.pool.enabled) {
      await readCaptureWithPool(offline, resolveWorkerCount(config.pool.workers), printer);
    } else {
      readCapture(offline, printer);
    }
    return 0;
  } catch (e) {
    return fail(e);
  } finally {
    out.flush();
  }
}

function fail(e: unknown): number {
  const say = (message: string) => console.error(`btblocker: ${message}`);
  if (e instanceof UsageError) {
    say(e.message);
    return EXIT_USAGE;
  }
  if (e instanceof TruncatedCaptureError) {
    say(e.message);
    return EXIT_TRUNCATED;
  }
  if (e instanceof RuntimeError || e instanceof LibraryNotFoundError) {
    say(e.message);
    return EXIT_RUNTIME;
  }
  if (e instanceof Deno.errors.NotCapable) {
    say(
      `${
        e.message.split("\n")[0]
      } (run the compiled binary, or deno run with the task's permissions)`,
    );
    return EXIT_RUNTIME;
  }
  if (e instanceof Deno.errors.BrokenPipe) return 0;
  say(`internal error: ${e instanceof Error ? e.message : String(e)}`);
  if (Deno.env.get("BTBLOCKER_DEBUG")) console.error(e);
  return EXIT_RUNTIME;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
