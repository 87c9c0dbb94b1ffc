/**
 * `btblocker bans …`: list, add, remove and flush the bans of a running (or stopped) instance
 * without restarting it, the way `fail2ban-client` manages fail2ban. It works on the
 * instance's enforcer state — the pinned XDP maps, or the nftables table — and then asks the
 * running instance (found through its pid file) to re-read its ban list (SIGUSR2).
 *
 *     btblocker bans list [--json]
 *     btblocker bans add ADDRESS [--duration 1d]
 *     btblocker bans remove ADDRESS
 *     btblocker bans flush
 *
 * @module
 */

import { parseArgs } from "node:util";
import { formatAddress, parseAddress } from "../dpi/address.ts";
import { reasonName } from "../dpi/reason.ts";
import { processStartTime } from "../ffi/procfs.ts";
import { SignalNumber, signalProcess } from "../ffi/signal.ts";
import { XdpEnforcer } from "../ffi/xdp.ts";
import type { EnforcedBan, Enforcer } from "../live/enforcer.ts";
import { NftablesEnforcer, NftNotFoundError } from "../live/nftables.ts";
import { LIVE_DEFAULTS } from "./args.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { RuntimeError, UsageError } from "./errors.ts";
import type { LineWriter } from "./output.ts";

/** Default pid file of a running instance (`--pid-file`). */
export const DEFAULT_PID_FILE = "/run/btblocker/btblocker.pid";

const ACTIONS = ["list", "add", "remove", "flush"] as const;

/** The `bans --help` text. */
export function bansUsage(): string {
  return [
    "btblocker bans — manage the bans of a running btblocker without restarting it.",
    "",
    "Usage:",
    "  btblocker bans list [--json]                  the bans in force",
    "  btblocker bans add ADDRESS [--duration D]     ban an address by hand (default 5h)",
    "  btblocker bans remove ADDRESS                 lift a ban",
    "  btblocker bans flush                          lift every ban",
    "",
    "Options:",
    "  --enforcer auto|xdp|nftables   whose state to edit (auto: the pinned XDP maps if present,",
    "                                 else btblocker's nftables table)",
    `  --bpf-pin-dir DIR              where the XDP maps are pinned (${LIVE_DEFAULTS.pinDir})`,
    `  --pid-file PATH                the running instance's pid file (${DEFAULT_PID_FILE})`,
    "  --json                         list as JSON",
    "  --duration DURATION            length of a ban added by hand: 30s, 5m, 5h, 1d",
  ].join("\n");
}

interface BansOptions {
  action: typeof ACTIONS[number];
  address: string;
  json: boolean;
  duration: number;
  enforcer: "auto" | "xdp" | "nftables";
  pinDir: string;
  pidFile: string;
}

function parse(args: string[]): BansOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: "boolean" },
        duration: { type: "string" },
        enforcer: { type: "string" },
        "bpf-pin-dir": { type: "string" },
        "pid-file": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new UsageError(`bans: ${(e as Error).message.split("\n")[0]} (see bans --help)`);
  }
  const v = parsed.values;
  if (v.help) return "help";
  const [action, address, extra] = parsed.positionals;
  if (!(ACTIONS as readonly string[]).includes(action ?? "")) {
    throw new UsageError(`bans: say list, add, remove or flush (see bans --help)`);
  }
  const needsAddress = action === "add" || action === "remove";
  if (needsAddress && address === undefined) {
    throw new UsageError(`bans ${action} needs an address`);
  }
  if ((!needsAddress && address !== undefined) || extra !== undefined) {
    throw new UsageError(`bans ${action}: unexpected argument "${extra ?? address}"`);
  }
  if (v.json && action !== "list") throw new UsageError("--json goes with bans list");
  if (v.duration !== undefined && action !== "add") {
    throw new UsageError("--duration goes with bans add");
  }
  const duration = v.duration === undefined ? LIVE_DEFAULTS.banDuration : parseDuration(v.duration);
  if (duration === undefined || duration <= 0) {
    throw new UsageError(
      `--duration must be a duration like 30s, 5m, 5h or 1d, got "${v.duration}"`,
    );
  }
  const enforcer = v.enforcer ?? "auto";
  if (enforcer !== "auto" && enforcer !== "xdp" && enforcer !== "nftables") {
    throw new UsageError(`--enforcer must be auto, xdp or nftables, got "${enforcer}"`);
  }
  return {
    action: action as BansOptions["action"],
    address: address ?? "",
    json: v.json ?? false,
    duration,
    enforcer,
    pinDir: v["bpf-pin-dir"] ?? LIVE_DEFAULTS.pinDir,
    pidFile: v["pid-file"] ?? DEFAULT_PID_FILE,
  };
}

/**
 * Runs `btblocker bans …` and returns the exit status.
 *
 * @throws {UsageError} for bad arguments
 * @throws {RuntimeError} when no btblocker state is found or it cannot be changed
 */
export async function runBansCommand(args: string[], out: LineWriter): Promise<number> {
  const o = parse(args);
  if (o === "help") {
    out.line(bansUsage());
    return 0;
  }
  const words = new Uint32Array(4);
  let ipVersion = 0;
  if (o.address !== "") {
    ipVersion = parseAddress(o.address, words);
    if (ipVersion === 0) throw new UsageError(`"${o.address}" is not an IP address`);
  }
  const enforcer = await openEnforcer(o);
  try {
    const now = Date.now() / 1000;
    switch (o.action) {
      case "list":
        printList(enforcer.list(), now, o.json, out);
        return 0;
      case "add":
        enforcer.ban({
          address: words,
          ipVersion,
          bannedAt: now,
          expiresAt: now + o.duration,
          reason: 0,
        });
        out.line(
          `banned ${formatAddress(words, ipVersion)} for ${
            formatDuration(o.duration)
          } (${enforcer.name})`,
        );
        break;
      case "remove": {
        const present = enforcer.list().some((b) => sameAddress(b, words, ipVersion));
        if (!present) throw new RuntimeError(`${formatAddress(words, ipVersion)} is not banned`);
        enforcer.unban(words, ipVersion);
        out.line(`lifted the ban on ${formatAddress(words, ipVersion)} (${enforcer.name})`);
        break;
      }
      case "flush": {
        const all = enforcer.list();
        for (const b of all) enforcer.unban(b.address, b.ipVersion);
        out.line(`lifted ${all.length} bans (${enforcer.name})`);
        break;
      }
    }
    if (enforcer instanceof NftablesEnforcer) await enforcer.flush();
    const notified = notifyInstance(o.pidFile);
    out.line(
      notified === null
        ? "no running btblocker found (the change is kept for its next start)"
        : `told the running btblocker (pid ${notified}) to re-read its bans`,
    );
    return 0;
  } finally {
    enforcer.close(true);
  }
}

async function openEnforcer(o: BansOptions): Promise<Enforcer> {
  let capacity: number | null = null;
  try {
    capacity = o.enforcer === "nftables" ? null : XdpEnforcer.pinnedCapacity(o.pinDir);
  } catch (e) {
    if (o.enforcer === "xdp") {
      throw new RuntimeError(`cannot open the pinned ban maps: ${(e as Error).message}`);
    }
  }
  const useXdp = o.enforcer === "xdp" || (o.enforcer === "auto" && capacity !== null);
  if (useXdp) {
    try {
      return XdpEnforcer.open({
        maxBans: capacity ?? LIVE_DEFAULTS.maxBans,
        pinDir: o.pinDir,
        persist: true,
        flush: false,
      });
    } catch (e) {
      throw new RuntimeError(
        `cannot open the pinned ban maps under ${o.pinDir}: ${(e as Error).message}`,
      );
    }
  }
  if (o.enforcer === "auto" && !(await nftTableExists())) {
    throw new RuntimeError(
      `no btblocker ban state found: no pinned maps under ${o.pinDir} and no nftables table ` +
        `"inet btblocker" (is btblocker running? see --bpf-pin-dir and --enforcer)`,
    );
  }
  try {
    return await NftablesEnforcer.open({ flush: false });
  } catch (e) {
    if (e instanceof NftNotFoundError) throw new RuntimeError(e.message);
    throw new RuntimeError(`cannot open btblocker's nftables table: ${(e as Error).message}`);
  }
}

async function nftTableExists(): Promise<boolean> {
  try {
    const r = await new Deno.Command("nft", {
      args: ["list", "table", "inet", "btblocker"],
      stdout: "null",
      stderr: "null",
    }).output();
    return r.success;
  } catch {
    return false;
  }
}

function sameAddress(b: EnforcedBan, words: Uint32Array, ipVersion: number): boolean {
  return b.ipVersion === ipVersion && b.address.every((w, i) => w === words[i]);
}

function printList(bans: EnforcedBan[], now: number, json: boolean, out: LineWriter): void {
  const rows = bans.filter((b) => b.expiresAt > now).sort((a, b) => a.bannedAt - b.bannedAt).map((
    b,
  ) => ({
    address: formatAddress(b.address, b.ipVersion),
    reason: b.reason === 0 ? "manual" : reasonName(b.reason),
    first_detection: new Date(b.bannedAt * 1000).toISOString(),
    expires: Number.isFinite(b.expiresAt) ? new Date(b.expiresAt * 1000).toISOString() : null,
    remaining_seconds: Number.isFinite(b.expiresAt) ? Math.round(b.expiresAt - now) : null,
  }));
  if (json) {
    out.line(JSON.stringify(rows, null, 1));
    return;
  }
  if (rows.length === 0) {
    out.line("no bans");
    return;
  }
  out.line(`${"ADDRESS".padEnd(40)} ${"REASON".padEnd(14)} ${"BANNED".padEnd(24)} REMAINING`);
  for (const r of rows) {
    const remaining = r.remaining_seconds === null
      ? "never expires"
      : formatDuration(r.remaining_seconds);
    out.line(
      `${r.address.padEnd(40)} ${r.reason.padEnd(14)} ${r.first_detection.padEnd(24)} ${remaining}`,
    );
  }
  out.line(`${rows.length} bans`);
}

/** Sends SIGUSR2 to the instance named by the pid file; returns its pid, or null if none runs. */
function notifyInstance(pidFile: string): number | null {
  const pid = runningInstance(pidFile);
  if (pid === null) return null;
  return signalProcess(pid, SignalNumber.SIGUSR2) ? pid : null;
}

/**
 * The pid of the btblocker that wrote `pidFile`, or null when the file is missing or bad, the
 * process is gone, or the pid now belongs to a process started after the file was written (the
 * file outlived a crash and the pid was reused: signalling it would hit a stranger).
 */
export function runningInstance(pidFile: string): number | null {
  let pid: number;
  let written: number;
  try {
    pid = Number(Deno.readTextFileSync(pidFile).trim());
    written = (Deno.statSync(pidFile).mtime?.getTime() ?? 0) / 1000;
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 1) return null;
  const started = processStartTime(pid);
  // A second of slack: the start time has clock-tick resolution, and boot time whole seconds.
  if (started === null || started > written + 1) return null;
  return pid;
}
