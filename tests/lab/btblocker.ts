/**
 * btblocker as the lab runs it: live mode in the router namespace on both router interfaces,
 * entered with `nsenter --net` (not `ip netns exec`, which remounts /sys and so loses the bpffs
 * pins), with the compiled binary's permissions (`LIVE_PERMISSIONS`, the Makefile's `PERM_BIN`),
 * its own pin directory and detection log (under /tmp, where the binary may write). Readers of
 * what it did: the detection log, and the pinned ban maps and drop counters through `bpftool`.
 *
 * @module
 */

import { formatAddress } from "../../dpi/address.ts";
import type { DetectionRecord } from "../../live/detection_log.ts";
import { LIVE_PERMISSIONS, MAIN } from "../helpers/live_lab.ts";
import { reasonName } from "../../dpi/reason.ts";
import { Proc, runCommand } from "./proc.ts";
import { LOCAL_NETS, removePins, ROUTER_INTERFACES } from "./topology.ts";

/** One line of the detection log. */
export type { DetectionRecord } from "../../live/detection_log.ts";

/** A ban found in the pinned maps. */
export interface PinnedBan {
  /** The banned address. */
  address: string;
  /** The detection reason stored with the ban. */
  reason: string;
  /** Unix seconds of the ban's end. */
  expiresAt: number;
}

/** Options of {@linkcode Btblocker.start}. */
export interface BtblockerOptions {
  /** Router namespace. */
  ns: string;
  /** bpffs directory for the pinned maps (unique per run; removed by {@linkcode Btblocker.removePins}). */
  pinDir: string;
  /** Detection log path. */
  detectionLog: string;
  /** Run with the worker pool (`--worker-pool`). */
  workerPool?: boolean;
  /** Detect and log, never ban (`--monitor-only`: no enforcer, no pinned maps). */
  monitorOnly?: boolean;
  /** More command-line arguments. */
  args?: string[];
  /** Called with every output line (to show btblocker's log as it happens). */
  onLine?: (line: string) => void;
}

/** A running btblocker in the router. */
export class Btblocker {
  /** The process. */
  readonly proc: Proc;
  /** Its options. */
  readonly options: BtblockerOptions;

  private constructor(proc: Proc, options: BtblockerOptions) {
    this.proc = proc;
    this.options = options;
  }

  /** The command line the lab runs (also shown by the demo). */
  static command(o: BtblockerOptions): string[] {
    return [
      Deno.execPath(),
      "run",
      ...LIVE_PERMISSIONS,
      MAIN,
      "--interfaces",
      ROUTER_INTERFACES.join(","),
      "--local-net",
      LOCAL_NETS.join(","),
      ...(o.monitorOnly
        ? ["--monitor-only"]
        : ["--enforcer", "xdp", "--bpf-pin-dir", o.pinDir, "--flush-bans"]),
      "--detection-log",
      o.detectionLog,
      "--stats-interval",
      "5s",
      ...(o.workerPool ? ["--worker-pool"] : []),
      ...(o.args ?? []),
    ];
  }

  /** Starts btblocker and waits until it captures on every interface. */
  static async start(o: BtblockerOptions): Promise<Btblocker> {
    const proc = new Proc("btblocker", o.ns, Btblocker.command(o), { onLine: o.onLine });
    const b = new Btblocker(proc, o);
    try {
      await proc.waitForLine(/capturing on /, 30000);
    } catch (e) {
      await proc.stop("SIGKILL");
      await b.removePins();
      throw e;
    }
    return b;
  }

  /** The detection log's records so far. */
  records(): DetectionRecord[] {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.options.detectionLog);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    const out: DetectionRecord[] = [];
    for (const line of text.split("\n")) {
      if (line === "") continue;
      try {
        out.push(JSON.parse(line));
      } catch {
        // a line being written right now
      }
    }
    return out;
  }

  /** Stops btblocker with SIGTERM and returns its exit code. */
  async stop(): Promise<number> {
    return (await this.proc.stop("SIGTERM", 10000)).code;
  }

  /**
   * XDP drops so far (packets and bytes, IPv4 and IPv6), from the pinned `stats` map (none in
   * monitor-only mode).
   */
  async xdpDrops(): Promise<{ packets: number; bytes: number }> {
    if (this.options.monitorOnly) return { packets: 0, bytes: 0 };
    const dump = await bpftoolDump(`${this.options.pinDir}/stats`) as {
      formatted: { key: number; values: { value: number }[] };
    }[];
    const sum = (key: number) =>
      dump.filter((e) => e.formatted.key === key).flatMap((e) => e.formatted.values)
        .reduce((n, v) => n + v.value, 0);
    return { packets: sum(0) + sum(2), bytes: sum(1) + sum(3) };
  }

  /** The bans in the pinned maps (none in monitor-only mode). */
  async bans(): Promise<PinnedBan[]> {
    if (this.options.monitorOnly) return [];
    const out: PinnedBan[] = [];
    for (const map of ["ban_v4", "ban_v6"]) {
      const dump = await bpftoolDump(`${this.options.pinDir}/${map}`) as {
        key: string[];
        formatted: { value: { reason: number; expires_at_unix: number } };
      }[];
      for (const e of dump) {
        const bytes = e.key.map((b) => parseInt(b, 16));
        out.push({
          address: addressFromBytes(bytes),
          reason: reasonName(e.formatted.value.reason),
          expiresAt: e.formatted.value.expires_at_unix,
        });
      }
    }
    return out;
  }

  /** Removes the pinned maps (call after {@linkcode stop}). */
  removePins(): Promise<void> {
    return removePins(this.options.pinDir);
  }
}

/** `bpftool -j map dump pinned PATH`, parsed; throws with bpftool's message on failure. */
async function bpftoolDump(path: string): Promise<unknown[]> {
  const r = await runCommand(["bpftool", "-j", "map", "dump", "pinned", path]);
  let out: unknown;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    out = null;
  }
  if (r.code !== 0 || !Array.isArray(out)) {
    throw new Error(`bpftool map dump pinned ${path} failed (${r.code}): ${r.stdout}${r.stderr}`);
  }
  return out;
}

/** Formats an address held as 4 or 16 bytes in network order. */
export function addressFromBytes(bytes: number[]): string {
  const words = new Uint32Array(4);
  const offset = 16 - bytes.length;
  bytes.forEach((b, i) => words[(offset + i) >> 2] |= b << (24 - 8 * ((offset + i) & 3)));
  return formatAddress(words, bytes.length === 4 ? 4 : 6);
}
