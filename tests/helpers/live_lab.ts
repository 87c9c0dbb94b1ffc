/**
 * The laboratory of the live-mode tests: a client–router–peer test network
 * ({@linkcode TestNet}), btblocker running as a child process in the router namespace on both
 * veths, BitTorrent endpoints ({@linkcode ENDPOINT}) in the client and peer namespaces, and
 * readers of what btblocker did (its detection log, its pinned ban maps and drop counters, its
 * output). {@linkcode LiveLab.close} removes everything (processes, namespaces, pins, files) even
 * after a failure.
 *
 * Needs root. Every wait polls a condition against a deadline; nothing sleeps blindly.
 *
 * @module
 */

import { bootTimeNs, closeFd, cString, libbpf } from "../../ffi/libbpf.ts";
import { removePins, run, TestNet } from "../../ffi/xdp_testnet.ts";
import type { DetectionRecord } from "../../live/detection_log.ts";
import { Child, runCommand, waitFor } from "./process.ts";

export { TestNet };

const ROOT = new URL("../../", import.meta.url).pathname;
/** btblocker's entry point. */
export const MAIN: string = `${ROOT}main.ts`;
/** The endpoint program run in the client and peer namespaces. */
export const ENDPOINT: string = `${ROOT}tests/helpers/bt_endpoint.ts`;
/** The spoofing program (scapy) run in the peer namespace. */
export const SPOOFER: string = `${ROOT}tests/helpers/spoof.py`;
/** Debian's python3, which has scapy (the one on PATH may not). */
export const PYTHON = "/usr/bin/python3";

/**
 * The Deno permissions btblocker runs with: exactly the compiled binary's (`PERM_BIN` in the
 * Makefile; tests/permissions_test.ts keeps the two equal), so everything the binary does is
 * tested with the same permissions.
 */
export const LIVE_PERMISSIONS: readonly string[] = [
  "--allow-ffi",
  "--allow-read",
  "--allow-write=/var/log,/run,/tmp",
  "--allow-env=INTERFACE,ENFORCER,XDP_MODE,BAN_DURATION,XDP_CLEANUP_INTERVAL,MONITOR_ONLY," +
  "LOG_LEVEL,DETECTION_LOG,METRICS_LISTEN,BTBLOCKER_DEBUG",
  "--allow-sys=networkInterfaces",
  "--allow-run=nft",
  "--allow-net=127.0.0.1,[::1],0.0.0.0,[::]",
];

/** The scratch directory of the live tests. */
export const SCRATCH = "/tmp/live-tests";

/** The local side of the test network: the client's networks. */
export const LOCAL_NETS = "10.77.1.0/24,fd77:1::/64";

/** One line of btblocker's detection log. */
export type { DetectionRecord };

/** A ban found in a pinned ban map. */
export interface PinnedBan {
  /** Address text as the kernel map holds it. */
  address: string;
  /** Whether its expiry has passed (the kernel then ignores it). */
  expired: boolean;
}

/** Reads the bans in the maps pinned under `pinDir` (empty when none are pinned). */
export function pinnedBans(pinDir: string): PinnedBan[] {
  const lib = libbpf();
  const out: PinnedBan[] = [];
  const now = bootTimeNs();
  for (const [name, keySize] of [["ban_v4", 4], ["ban_v6", 16]] as const) {
    const fd = lib.bpf_obj_get(cString(`${pinDir}/${name}`));
    if (fd < 0) continue;
    try {
      let current: Uint8Array | null = null;
      const value = new Uint8Array(32);
      for (;;) {
        const next = new Uint8Array(keySize);
        if (lib.bpf_map_get_next_key(fd, current, next) !== 0) break;
        current = next;
        if (lib.bpf_map_lookup_elem(fd, next, value) !== 0) continue;
        const v = new DataView(value.buffer);
        const expiresNs = Number(v.getBigUint64(0, true));
        out.push({
          address: keySize === 4 ? [...next].join(".") : formatIpv6(next),
          expired: expiresNs !== 0 && expiresNs <= now,
        });
      }
    } finally {
      closeFd(fd);
    }
  }
  return out;
}

/** The addresses with a live (unexpired) ban in the maps pinned under `pinDir`. */
export function activeBans(pinDir: string): string[] {
  return pinnedBans(pinDir).filter((b) => !b.expired).map((b) => b.address).sort();
}

/** XDP drop counters (packets, summed over CPUs and families) from the pinned `stats` map. */
export function xdpDroppedPackets(pinDir: string): number {
  const lib = libbpf();
  const fd = lib.bpf_obj_get(cString(`${pinDir}/stats`));
  if (fd < 0) return 0;
  try {
    const cpus = lib.libbpf_num_possible_cpus();
    const value = new Uint8Array(8 * cpus);
    const view = new DataView(value.buffer);
    let sum = 0;
    for (const index of [0, 2]) { // IPv4 packets, IPv6 packets
      const key = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, index, true);
      if (lib.bpf_map_lookup_elem(fd, key, value) !== 0) continue;
      for (let i = 0; i < cpus; i++) sum += Number(view.getBigUint64(8 * i, true));
    }
    return sum;
  } finally {
    closeFd(fd);
  }
}

function formatIpv6(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  // Compress the longest run of zero groups, as inet_ntop does.
  let best = -1, bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLength && j - i > 1) [best, bestLength] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLength).join(":")}`;
}

let labSequence = 0;

/** Options of {@linkcode LiveLab.start}. */
export interface StartOptions {
  /** Extra command-line arguments. */
  args?: string[];
  /** Leave out `--local-net` (the test gives its own, or none). */
  noLocalNet?: boolean;
  /** Environment variables added for btblocker. */
  env?: Record<string, string>;
  /** Wait for the "capturing on" line (default true). */
  waitReady?: boolean;
  /** Command prefix run before `nsenter` (e.g. `unshare --mount …`). */
  wrapper?: string[];
}

/** A running btblocker in the router namespace. */
export class Btblocker extends Child {
  /** The detection log of this run. */
  readonly detectionLog: string;

  /** @internal */
  constructor(args: string[], env: Record<string, string>, detectionLog: string) {
    super(args, { name: "btblocker", env });
    this.detectionLog = detectionLog;
  }

  /** The records of a detection log file (default: this run's). */
  records(path = this.detectionLog): DetectionRecord[] {
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as DetectionRecord);
  }

  /** Waits for a detection log record satisfying `match`. */
  waitForRecord(
    what: string,
    match: (r: DetectionRecord) => boolean,
    timeoutMs = 5000,
  ): Promise<DetectionRecord> {
    return waitFor(`detection log record: ${what}`, () => {
      const found = this.records().find(match);
      if (found !== undefined) return found;
      if (this.status !== null) {
        throw new Error(`btblocker exited (${this.status.code}):\n${this.output}`);
      }
      return undefined;
    }, timeoutMs);
  }

  /** Waits until `address` is banned according to the detection log. */
  waitForBan(address: string, timeoutMs = 5000): Promise<DetectionRecord> {
    return this.waitForRecord(
      `${address} banned`,
      (r) => r.action === "banned" && r.addresses.includes(address),
      timeoutMs,
    );
  }
}

/** A test network with btblocker, endpoints and checks; see the module documentation. */
export class LiveLab {
  /** The namespaces. */
  readonly net: TestNet;
  /** The bpffs directory of this lab's pinned maps. */
  readonly pinDir: string;
  /** Scratch directory of this lab (detection logs, files). */
  readonly dir: string;
  readonly #children: Child[] = [];

  private constructor(net: TestNet, pinDir: string, dir: string) {
    this.net = net;
    this.pinDir = pinDir;
    this.dir = dir;
  }

  /** Builds the network and scratch directory. Always {@linkcode close} it in `finally`. */
  static async create(): Promise<LiveLab> {
    const n = ++labSequence;
    const pinDir = `/sys/fs/bpf/btb-live-${Deno.pid}-${n}`;
    Deno.mkdirSync(SCRATCH, { recursive: true });
    const dir = Deno.makeTempDirSync({ dir: SCRATCH, prefix: `lab-${Deno.pid}-${n}-` });
    let net: TestNet;
    try {
      net = await TestNet.create();
    } catch (e) {
      Deno.removeSync(dir, { recursive: true });
      throw e;
    }
    const lab = new LiveLab(net, pinDir, dir);
    try {
      await lab.#warmUp();
    } catch (e) {
      await lab.close();
      throw e;
    }
    return lab;
  }

  /** Resolves neighbours both ways so the first real packets are not held by ARP/ND. */
  async #warmUp(): Promise<void> {
    const pairs = [
      [this.net.client, "10.77.2.2", "10.77.1.2"],
      [this.net.client, "fd77:2::2", "fd77:1::2"],
      [this.net.client, "10.77.2.3", "10.77.1.3"],
      [this.net.client, "fd77:2::3", "fd77:1::3"],
    ];
    await Promise.all(pairs.map(async ([ns, target, source]) => {
      await waitFor(
        `ping ${target}`,
        async () => await this.net.ping(ns, target, 1, source) === 1 ? true : undefined,
        5000,
        50,
      );
    }));
  }

  /** `nsenter` prefix for namespace `ns`. */
  static nsenter(ns: string): string[] {
    return ["nsenter", `--net=/run/netns/${ns}`];
  }

  /** Adds addresses to the peer's interface (`p0`), e.g. `10.77.2.4/24`. */
  async addPeerAddresses(...cidrs: string[]): Promise<void> {
    for (const cidr of cidrs) {
      const args = ["addr", "add", cidr, "dev", "p0"];
      if (cidr.includes(":")) args.push("nodad");
      await this.net.ip(this.net.peer, ...args);
    }
  }

  /** Starts btblocker on r0 and r1 in the router namespace; waits until it captures. */
  async start(options: StartOptions = {}): Promise<Btblocker> {
    const detectionLog = `${this.dir}/detections.jsonl`;
    const args = [
      ...(options.wrapper ?? []),
      ...LiveLab.nsenter(this.net.router),
      Deno.execPath(),
      "run",
      ...LIVE_PERMISSIONS,
      MAIN,
      "--interfaces",
      "r0,r1",
      "--bpf-pin-dir",
      this.pinDir,
      "--detection-log",
      detectionLog,
      ...(options.noLocalNet ? [] : ["--local-net", LOCAL_NETS]),
      ...(options.args ?? []),
    ];
    const child = new Btblocker(args, options.env ?? {}, detectionLog);
    this.#children.push(child);
    if (options.waitReady ?? true) {
      await child.waitForLine(/capturing on r0, r1/, 15000);
    }
    return child;
  }

  /**
   * Stops btblocker with SIGTERM and checks a clean shutdown: exit status 0, the final stats
   * line printed, and no XDP program left on `interfaces` (default r0 and r1; a test that
   * removed one names those still there).
   */
  async stop(b: Btblocker, interfaces: readonly string[] = ["r0", "r1"]): Promise<void> {
    const status = await b.stop("SIGTERM");
    if (status.code !== 0) throw new Error(`btblocker exited ${status.code}:\n${b.output}`);
    if (!/final: r0 \d+ packets/.test(b.output)) {
      throw new Error(`no final stats line:\n${b.output}`);
    }
    for (const iface of interfaces) {
      if (await this.xdpAttached(iface)) throw new Error(`XDP still attached to ${iface}`);
    }
  }

  /** Whether an XDP program is attached to a router interface. */
  async xdpAttached(iface: string): Promise<boolean> {
    const [link] = JSON.parse(await this.net.ip(this.net.router, "-j", "link", "show", iface));
    return link.xdp !== undefined;
  }

  /** Starts a BitTorrent (or other) server in namespace `ns`; waits until it listens. */
  async serve(ns: string, proto: string, host: string, port: number): Promise<Child> {
    const child = new Child(endpoint(ns, "serve", proto, host, port), {
      name: `${proto} server in ${ns}`,
    });
    this.#children.push(child);
    await child.waitForLine(/"ready":true/, 20000);
    return child;
  }

  /**
   * Runs one exchange from namespace `ns` to `host`:`port`; returns whether the other side
   * answered within `timeoutMs` (default 3000).
   */
  async connect(
    ns: string,
    proto: string,
    host: string,
    port: number,
    options: { bind?: string; timeoutMs?: number } = {},
  ): Promise<boolean> {
    return (await this.exchange(ns, proto, host, port, options)).ok;
  }

  /**
   * Runs one exchange from namespace `ns` to `host`:`port`; returns the endpoint's report
   * (`ok`, and when not ok, the `stage` reached and the `error`).
   */
  async exchange(
    ns: string,
    proto: string,
    host: string,
    port: number,
    options: { bind?: string; timeoutMs?: number } = {},
  ): Promise<{ ok: boolean; stage?: string; error?: string }> {
    const r = await runCommand([
      ...endpoint(ns, "connect", proto, host, port),
      "--timeout",
      String(options.timeoutMs ?? 3000),
      ...(options.bind !== undefined ? ["--bind", options.bind] : []),
    ]);
    if (r.code !== 0 && r.code !== 1) {
      throw new Error(`endpoint failed (${r.code}): ${r.stderr}`);
    }
    return JSON.parse(r.stdout.trim().split("\n").pop()!);
  }

  /** Runs `nft` in the router namespace; returns its stdout (throws on failure). */
  nft(...args: string[]): Promise<string> {
    return this.inNamespace(this.net.router, "nft", ...args);
  }

  /** Runs a command in namespace `ns`; returns its stdout (throws on failure). */
  inNamespace(ns: string, ...args: string[]): Promise<string> {
    return run(...LiveLab.nsenter(ns), ...args);
  }

  /** Starts a process in namespace `ns`, stopped by {@linkcode close} if still running. */
  spawnIn(ns: string, args: string[]): Child {
    const child = new Child([...LiveLab.nsenter(ns), ...args]);
    this.#children.push(child);
    return child;
  }

  /** Kills every child, deletes the namespaces, the pins and the scratch directory. */
  async close(): Promise<void> {
    const errors: unknown[] = [];
    await Promise.all(this.#children.map((c) => c.stop("SIGKILL").catch((e) => errors.push(e))));
    await this.net.remove();
    try {
      removePins(this.pinDir);
    } catch (e) {
      errors.push(e);
    }
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) errors.push(e);
    }
    if (errors.length > 0) throw errors[0];
  }
}

/** The command line of the {@linkcode ENDPOINT} program in namespace `ns`. */
function endpoint(
  ns: string,
  verb: "serve" | "connect",
  proto: string,
  host: string,
  port: number,
): string[] {
  return [
    ...LiveLab.nsenter(ns),
    Deno.execPath(),
    "run",
    "--allow-net",
    ENDPOINT,
    verb,
    "--proto",
    proto,
    "--host",
    host,
    "--port",
    String(port),
  ];
}

/** The peer wire port the client listens on, and a port of a service that is not BitTorrent. */
export const BT_PORT = 6881;
export const ECHO_PORT = 7000;
/** How long an exchange that should be blocked is given before it counts as failed. */
export const BLOCKED_MS = 700;
/**
 * How long a BitTorrent exchange that its own ban will cut short is given (exchanges expected
 * to succeed get the endpoint's default of 3 s, which they only use up on failure).
 */
export const CUT_MS = 1000;

/** Starts the BitTorrent and echo servers of the TCP blocking scenario. */
export async function tcpServers(lab: LiveLab): Promise<void> {
  const { client, peer } = lab.net;
  // "::" takes both families (IPv4 arrives mapped).
  await Promise.all([
    lab.serve(client, "bt", "::", BT_PORT),
    lab.serve(client, "echo", "::", ECHO_PORT),
    lab.serve(peer, "echo", "::", ECHO_PORT),
  ]);
}

/** How a test reads an enforcer's state. */
export interface EnforcerProbe {
  /** Addresses banned in the kernel. */
  bans(): Promise<string[]>;
  /** Packets dropped so far. */
  drops(): Promise<number>;
}

/** Reads the XDP enforcer's pinned maps. */
export function xdpProbe(lab: LiveLab): EnforcerProbe {
  return {
    bans: () => Promise.resolve(activeBans(lab.pinDir)),
    drops: () => Promise.resolve(xdpDroppedPackets(lab.pinDir)),
  };
}

/** Reads the nftables enforcer's table in the router namespace. */
export function nftProbe(lab: LiveLab): EnforcerProbe {
  return {
    async bans() {
      const out: string[] = [];
      for (const set of ["ban4", "ban6"]) {
        const text = await lab.nft("list", "set", "inet", "btblocker", set);
        const m = /elements = \{([^}]*)\}/.exec(text);
        if (m === null) continue;
        for (const e of m[1].split(",")) out.push(e.trim().split(/\s+/)[0]);
      }
      return out.sort();
    },
    async drops() {
      const text = await lab.nft("list", "set", "inet", "btblocker", "drops");
      return [...text.matchAll(/counter packets (\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
    },
  };
}

/** Runs `fn` with a fresh lab, always closing it. */
export async function withLab(fn: (lab: LiveLab) => Promise<void>): Promise<void> {
  const lab = await LiveLab.create();
  try {
    await fn(lab);
  } finally {
    await lab.close();
  }
}
