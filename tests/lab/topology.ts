/**
 * The lab's network: seven network namespaces with fixed IPv4 and IPv6 addresses, joined by
 * veth pairs and two bridges, removed afterwards even on failure. Nothing leaves these
 * namespaces: none of them is linked to the host's.
 *
 * ```
 *   LAN: 10.88.1.0/24, fd88:1::/64 (local)                 WAN: 10.88.2.0/24, fd88:2::/64 (remote)
 *
 *   downloader  .1.2  ::2 ─┐                            ┌─ seeder    .2.2   ::2
 *                          ├─ br0 ── lan0 ─ router ─ wan0 ── br0 ─┤
 *   lanpeer     .1.3  ::3 ─┘  (lansw)   .1.1     .2.1   (wansw)  └─ services  .2.10  ::10  tracker
 *                                       ::1      ::1                           .2.20  ::20  HTTP(S), DNS, SSH, iperf3
 *                                                                              .2.30  ::30  DHT node
 * ```
 *
 * The router forwards between its two legs and runs btblocker on both; the LAN is the local
 * side (`--local-net`), so the router bans remote peers. The LAN peer shares the downloader's
 * segment (for Local Service Discovery: multicast that never crosses the router).
 *
 * @module
 */

import { mustRun, runCommand } from "./proc.ts";

/** Fixed addresses of the lab. */
export const ADDR = {
  routerLan: "10.88.1.1",
  routerLan6: "fd88:1::1",
  downloader: "10.88.1.2",
  downloader6: "fd88:1::2",
  lanPeer: "10.88.1.3",
  lanPeer6: "fd88:1::3",
  routerWan: "10.88.2.1",
  routerWan6: "fd88:2::1",
  seeder: "10.88.2.2",
  seeder6: "fd88:2::2",
  tracker: "10.88.2.10",
  tracker6: "fd88:2::10",
  services: "10.88.2.20",
  services6: "fd88:2::20",
  dhtNode: "10.88.2.30",
  dhtNode6: "fd88:2::30",
} as const;

/** The local (downloader's) side, given to btblocker as `--local-net`. */
export const LOCAL_NETS: readonly string[] = ["10.88.1.0/24", "fd88:1::/64"];

/** The router's interfaces btblocker runs on. */
export const ROUTER_INTERFACES: readonly string[] = ["lan0", "wan0"];

/** Prefix of every lab namespace and pin directory (`btlab<pid>-…`). */
export const NAME_PREFIX = "btlab";

/** The namespaces of one lab. */
export interface Namespaces {
  /** Runs btblocker; forwards between `lan0` and `wan0`. */
  router: string;
  /** The downloading client (LAN). */
  downloader: string;
  /** A second LAN host (the seeder of the LSD scenario). */
  lanPeer: string;
  /** The seeding client (WAN). */
  seeder: string;
  /** Tracker, DHT node and everyday services (WAN). */
  services: string;
  /** The LAN switch (a bridge). */
  lanSwitch: string;
  /** The WAN switch (a bridge). */
  wanSwitch: string;
}

let sequence = 0;

/** The lab's network. Build with {@linkcode LabNet.create}; always {@linkcode LabNet.destroy}. */
export class LabNet {
  /** Namespace names, unique per process and lab. */
  readonly ns: Namespaces;
  /** The name prefix of this lab (`btlab<pid>x<n>`). */
  readonly id: string;

  private constructor(id: string) {
    this.id = id;
    this.ns = {
      router: `${id}-router`,
      downloader: `${id}-dl`,
      lanPeer: `${id}-lanpeer`,
      seeder: `${id}-seed`,
      services: `${id}-svc`,
      lanSwitch: `${id}-lansw`,
      wanSwitch: `${id}-wansw`,
    };
  }

  /** Builds the network; on failure removes what was built and rethrows. */
  static async create(): Promise<LabNet> {
    const net = new LabNet(`${NAME_PREFIX}${Deno.pid}x${++sequence}`);
    try {
      await net.#build();
    } catch (e) {
      await net.destroy();
      throw e;
    }
    return net;
  }

  /** All namespace names. */
  get all(): string[] {
    return Object.values(this.ns);
  }

  async #build(): Promise<void> {
    const ns = this.ns;
    for (const name of this.all) {
      await mustRun(["ip", "netns", "add", name]);
      // No duplicate address detection (link-local addresses would stay tentative for a
      // while, delaying neighbour discovery); switches need no IPv6 at all.
      const v6 = name === ns.lanSwitch || name === ns.wanSwitch
        ? ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]
        : ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"];
      await mustRun(["sysctl", "-q", "-w", ...v6], { ns: name });
    }
    const ip = (name: string, ...args: string[]) => mustRun(["ip", "-n", name, ...args]);
    for (const sw of [ns.lanSwitch, ns.wanSwitch]) {
      await ip(sw, "link", "add", "br0", "type", "bridge", "forward_delay", "0");
      await ip(sw, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0");
      await ip(sw, "link", "set", "br0", "up");
    }
    // host namespace, its interface, the switch, the switch port
    const links: [string, string, string, string][] = [
      [ns.router, "lan0", ns.lanSwitch, "p-router"],
      [ns.downloader, "eth0", ns.lanSwitch, "p-dl"],
      [ns.lanPeer, "eth0", ns.lanSwitch, "p-lanpeer"],
      [ns.router, "wan0", ns.wanSwitch, "p-router"],
      [ns.seeder, "eth0", ns.wanSwitch, "p-seed"],
      [ns.services, "eth0", ns.wanSwitch, "p-svc"],
    ];
    for (const [host, ifname, sw, port] of links) {
      await mustRun([
        "ip",
        "link",
        "add",
        ifname,
        "netns",
        host,
        "type",
        "veth",
        "peer",
        "name",
        port,
        "netns",
        sw,
      ]);
      await ip(sw, "link", "set", port, "master", "br0");
      await ip(sw, "link", "set", port, "up");
    }
    const hosts: [string, string, string[], string, string][] = [
      [ns.downloader, "eth0", [ADDR.downloader, ADDR.downloader6], ADDR.routerLan, ADDR.routerLan6],
      [ns.lanPeer, "eth0", [ADDR.lanPeer, ADDR.lanPeer6], ADDR.routerLan, ADDR.routerLan6],
      [ns.seeder, "eth0", [ADDR.seeder, ADDR.seeder6], ADDR.routerWan, ADDR.routerWan6],
      [
        ns.services,
        "eth0",
        [
          ADDR.tracker,
          ADDR.tracker6,
          ADDR.services,
          ADDR.services6,
          ADDR.dhtNode,
          ADDR.dhtNode6,
        ],
        ADDR.routerWan,
        ADDR.routerWan6,
      ],
    ];
    for (const [host, ifname, addresses, gw4, gw6] of hosts) {
      await ip(host, "link", "set", "lo", "up");
      for (const a of addresses) {
        if (a.includes(":")) await ip(host, "addr", "add", `${a}/64`, "dev", ifname, "nodad");
        else await ip(host, "addr", "add", `${a}/24`, "dev", ifname);
      }
      await ip(host, "link", "set", ifname, "up");
      await ip(host, "route", "add", "default", "via", gw4);
      await ip(host, "-6", "route", "add", "default", "via", gw6);
    }
    await ip(ns.router, "link", "set", "lo", "up");
    await ip(ns.router, "addr", "add", `${ADDR.routerLan}/24`, "dev", "lan0");
    await ip(ns.router, "addr", "add", `${ADDR.routerLan6}/64`, "dev", "lan0", "nodad");
    await ip(ns.router, "addr", "add", `${ADDR.routerWan}/24`, "dev", "wan0");
    await ip(ns.router, "addr", "add", `${ADDR.routerWan6}/64`, "dev", "wan0", "nodad");
    await ip(ns.router, "link", "set", "lan0", "up");
    await ip(ns.router, "link", "set", "wan0", "up");
    for (const key of ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]) {
      await mustRun(["sysctl", "-q", "-w", key], { ns: ns.router });
    }
    await this.#warmUp();
  }

  /** Pings across the router both ways so that neighbours are resolved before the tests. */
  async #warmUp(): Promise<void> {
    const { downloader, lanPeer } = this.ns;
    const targets: [string, string][] = [
      [downloader, ADDR.seeder],
      [downloader, ADDR.seeder6],
      [downloader, ADDR.services],
      [downloader, ADDR.services6],
      [downloader, ADDR.lanPeer],
      [downloader, ADDR.lanPeer6],
      [lanPeer, ADDR.seeder],
    ];
    for (const [from, to] of targets) {
      const r = await runCommand(["ping", "-n", "-q", "-c", "1", "-w", "5", to], { ns: from });
      if (r.code !== 0) throw new Error(`lab network: ${from} cannot reach ${to}:\n${r.stdout}`);
    }
  }

  /** Kills whatever still runs in the namespaces, then deletes them (never throws). */
  async destroy(): Promise<void> {
    for (const name of this.all) await removeNamespace(name);
  }
}

/** Kills the processes left in namespace `name` (all started by the lab) and deletes it. */
async function removeNamespace(name: string): Promise<void> {
  const pids = await runCommand(["ip", "netns", "pids", name]);
  for (const pid of pids.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch {
      // already gone
    }
  }
  await runCommand(["ip", "netns", "del", name]);
}

/**
 * Removes what earlier labs left behind when their process died without cleaning up:
 * namespaces and bpffs pin directories named `btlab<pid>…` whose process no longer runs.
 * Returns the names removed.
 */
export async function removeStaleLabs(): Promise<string[]> {
  const removed: string[] = [];
  // Through a command: Deno refuses /proc/<pid> to all but --allow-all (NotCapable), which
  // made every other lab running on the machine look stale.
  const alive = async (pid: number) =>
    (await runCommand(["test", "-d", `/proc/${pid}`])).code === 0;
  const pattern = new RegExp(`^${NAME_PREFIX}(\\d+)x`);
  const list = await runCommand(["ip", "netns", "list"]);
  for (const line of list.stdout.split("\n")) {
    const name = line.split(" ")[0];
    const m = pattern.exec(name);
    if (m === null || await alive(Number(m[1]))) continue;
    await removeNamespace(name);
    removed.push(name);
  }
  // bpffs is reached through commands: Deno guards /sys beyond --allow-read/--allow-write.
  const pins = await runCommand(["ls", "/sys/fs/bpf"]);
  for (const name of pins.stdout.split("\n")) {
    const m = pattern.exec(name);
    if (m === null || await alive(Number(m[1]))) continue;
    await removePins(`/sys/fs/bpf/${name}`);
    removed.push(`/sys/fs/bpf/${name}`);
  }
  return removed;
}

/** Removes a bpffs pin directory and the maps pinned in it (never throws). */
export async function removePins(dir: string): Promise<void> {
  await runCommand(["rm", "-rf", "--", dir]);
}
