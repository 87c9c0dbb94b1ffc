/**
 * Test network for the XDP tests: three network namespaces joined by veth pairs, with fixed
 * addresses, removed afterwards even on failure. Nothing leaves these namespaces.
 *
 * ```
 *  client ns                 router ns                     peer ns
 *  c0 10.77.1.2, .3  ◄──►  r0 10.77.1.1 │ r1 10.77.2.1  ◄──►  p0 10.77.2.2, .3
 *     fd77:1::2, ::3          fd77:1::1 │    fd77:2::1           fd77:2::2, ::3
 * ```
 * The router forwards between its two legs; tests attach XDP to `r0` (the client side), so
 * packets from the client, and answers travelling back to it, pass the program.
 *
 * @module
 */

import { removeDirectory, removeFile, withNetworkNamespace } from "./libbpf.ts";

/** Whether the tests can build namespaces and load BPF programs. */
export const IS_ROOT: boolean = (() => {
  try {
    return Deno.uid() === 0;
  } catch {
    return false;
  }
})();

let sequence = 0;

/** Addresses of the test network. */
export const Net = {
  client: "10.77.1.2",
  client2: "10.77.1.3",
  routerLeft: "10.77.1.1",
  routerRight: "10.77.2.1",
  peer: "10.77.2.2",
  peer2: "10.77.2.3",
  client6: "fd77:1::2",
  client6b: "fd77:1::3",
  routerLeft6: "fd77:1::1",
  peer6: "fd77:2::2",
  peer6b: "fd77:2::3",
} as const;

/** Runs a command, throwing with its stderr on failure; returns stdout. */
export async function run(...args: string[]): Promise<string> {
  const out = await new Deno.Command(args[0], {
    args: args.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`${args.join(" ")} failed (${out.code}): ${err}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/**
 * Removes the maps an enforcer pinned under `dir` (a test's or a btblocker run's), and `dir`
 * (through libc: Deno wants --allow-all for paths under /sys).
 */
export function removePins(dir: string): void {
  for (const name of ["ban_v4", "ban_v6", "stats", "ban_v4_new", "ban_v6_new", "stats_new"]) {
    removeFile(`${dir}/${name}`);
  }
  removeDirectory(dir);
}

/** A client-router-peer network in its own namespaces. */
export class TestNet {
  /** Namespace names, unique per process and test (`btb-<pid>-<n>-c|r|p`). */
  readonly client: string;
  /** The router namespace. */
  readonly router: string;
  /** The peer namespace. */
  readonly peer: string;

  private constructor(prefix: string) {
    this.client = `${prefix}-c`;
    this.router = `${prefix}-r`;
    this.peer = `${prefix}-p`;
  }

  /** Builds the network. Call {@linkcode remove} in `finally`. */
  static async create(): Promise<TestNet> {
    const net = new TestNet(`btb-${Deno.pid}-${++sequence}`);
    try {
      await net.#build();
    } catch (e) {
      await net.remove();
      throw e;
    }
    return net;
  }

  async #build(): Promise<void> {
    const { client: c, router: r, peer: p } = this;
    for (const ns of [c, r, p]) await run("ip", "netns", "add", ns);
    await run(
      "ip",
      "link",
      "add",
      "c0",
      "netns",
      c,
      "type",
      "veth",
      "peer",
      "name",
      "r0",
      "netns",
      r,
    );
    await this.#inNs(c, [
      "link set lo up",
      "link set c0 up",
      "addr add 10.77.1.2/24 dev c0",
      "addr add 10.77.1.3/24 dev c0",
      "addr add fd77:1::2/64 dev c0 nodad",
      "addr add fd77:1::3/64 dev c0 nodad",
      "route add default via 10.77.1.1",
      "-6 route add default via fd77:1::1",
    ]);
    await this.#inNs(p, ["link set lo up"]);
    await this.#inNs(r, [
      "link set lo up",
      "link set r0 up",
      "addr add 10.77.1.1/24 dev r0",
      "addr add fd77:1::1/64 dev r0 nodad",
    ]);
    await run("ip", "netns", "exec", r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
    await run("ip", "netns", "exec", r, "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1");
    await this.linkPeer();
  }

  /**
   * Creates the router–peer link (`r1`–`p0`) with its addresses and routes: part of building
   * the network, and again after a test deleted it (`ip link del r1`).
   */
  async linkPeer(): Promise<void> {
    const { router: r, peer: p } = this;
    await run(
      "ip",
      "link",
      "add",
      "r1",
      "netns",
      r,
      "type",
      "veth",
      "peer",
      "name",
      "p0",
      "netns",
      p,
    );
    await this.#inNs(p, [
      "link set p0 up",
      "addr add 10.77.2.2/24 dev p0",
      "addr add 10.77.2.3/24 dev p0",
      "addr add fd77:2::2/64 dev p0 nodad",
      "addr add fd77:2::3/64 dev p0 nodad",
      "route add default via 10.77.2.1",
      "-6 route add default via fd77:2::1",
    ]);
    await this.#inNs(r, [
      "link set r1 up",
      "addr add 10.77.2.1/24 dev r1",
      "addr add fd77:2::1/64 dev r1 nodad",
    ]);
  }

  /** Runs `ip -n ns` with each of `commands` (split at spaces), in order. */
  async #inNs(ns: string, commands: string[]): Promise<void> {
    for (const command of commands) await run("ip", "-n", ns, ...command.split(" "));
  }

  /** Runs an `ip` command in a namespace of this network. */
  ip(ns: string, ...args: string[]): Promise<string> {
    return run("ip", "-n", ns, ...args);
  }

  /**
   * Sends `count` pings from namespace `ns` (optionally from address `source`) to `target`;
   * returns how many answers came back.
   */
  async ping(ns: string, target: string, count = 3, source?: string): Promise<number> {
    const args = ["netns", "exec", ns, "ping", "-n", "-q", "-c", String(count), "-i", "0.05"];
    args.push("-W", "0.4");
    if (source !== undefined) args.push("-I", source);
    if (target.includes(":")) args.push("-6");
    args.push(target);
    const out = await new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder().decode(out.stdout);
    const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(text);
    if (m === null) {
      throw new Error(`ping ${target} from ${ns}: ${new TextDecoder().decode(out.stderr)}`);
    }
    return Number(m[2]);
  }

  /**
   * Runs `fn` with the calling thread inside namespace `ns` (synchronously: no awaiting
   * inside), then returns to the original namespace.
   */
  within<T>(ns: string, fn: () => T): T {
    return withNetworkNamespace(`/run/netns/${ns}`, fn);
  }

  /** Deletes the namespaces (and with them the veth pairs and any XDP program on them). */
  async remove(): Promise<void> {
    for (const ns of [this.client, this.router, this.peer]) {
      await run("ip", "netns", "del", ns).catch(() => {});
    }
  }
}
