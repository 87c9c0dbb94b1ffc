/**
 * The look-alike lab: real software whose traffic is random-looking bytes from the first packet
 * on — proxies, VPNs, overlay networks, Tor, Ethereum's RLPx, Hyperswarm's Noise streams — run
 * through the lab's router with btblocker live. Each client on the LAN talks to its server on
 * the WAN side (the seeder's host, {@linkcode ADDR.seeder}) until real data has flowed both
 * ways; then btblocker must have logged no detection at all (not even one with insufficient
 * evidence), banned nobody and dropped nothing, and its offline mode must find nothing in the
 * router's capture either. See README.md, "Look-alikes".
 *
 * @module
 */

import { Btblocker, type DetectionRecord, type PinnedBan } from "./btblocker.ts";
import { WEB_FILE_SIZE } from "./everyday.ts";
import { type Lab, LAB_DIR } from "./lab.ts";
import { mustRun, type Proc, runCommand, waitFor } from "./proc.ts";
import { offlineDetections } from "./scenarios.ts";
import { trimCapture } from "./pcap_trim.ts";
import { ADDR } from "./topology.ts";

/** Which side of the router a program runs on. */
type Side = "client" | "server";

/** One look-alike: real software, started on both sides, made to carry data. */
export interface Lookalike {
  /** Short name (`lookalike_<name>` in the scenario list, `lookalike_<name>.pcap` fixture). */
  name: string;
  /** What runs, in a few words. */
  title: string;
  /** Where the implementation comes from (Debian packages, npm packages with versions). */
  software: string;
  /**
   * Starts the server and the client (through {@linkcode Session}), moves data and returns what
   * flowed; throws when the traffic did not flow.
   */
  run(s: Session): Promise<string>;
  /** Fetches what it needs from a registry, on the host, before the lab runs it. */
  prepare?(): Promise<void>;
}

/** The result of one look-alike run. */
export interface LookalikeResult {
  /** The look-alike. */
  lookalike: Lookalike;
  /** What flowed (or why it did not). */
  flowed: string;
  /** Whether the traffic really flowed. */
  ok: boolean;
  /** Detection log records written while it ran (must be none). */
  records: DetectionRecord[];
  /** Bans in the pinned maps afterwards (must be none). */
  bans: PinnedBan[];
  /** Detections btblocker's offline mode found in its trimmed capture (must be none). */
  offlineDetections: Record<string, number>;
  /** The trimmed capture (the fixture). */
  capture: string;
  /** Packets in it. */
  packets: number;
  /** Everything that went wrong. */
  problems: string[];
  /** Wall-clock seconds. */
  seconds: number;
}

/** Packets captured of each look-alike (whole), before trimming. */
export const LOOKALIKE_CAPTURE_PACKETS = 1000;

/**
 * How a look-alike capture becomes a fixture: the first 8 packets of each flow longer than 96
 * bytes whole, later ones cut to 96 bytes, 400 packets at most.
 */
export const LOOKALIKE_TRIM = { wholePerFlow: 8, snap: 96, maxPackets: 400 } as const;

/** Seconds a tunnel may take to come up (a first ping answered). */
const TUNNEL_UP_MS = 30000;

/** The programs of one look-alike run, and the helpers its software functions share. */
export class Session {
  /** The lab. */
  readonly lab: Lab;
  /** Scratch directory of this look-alike. */
  readonly dir: string;
  /** Processes started (stopped at the end of the run). */
  readonly procs: Proc[] = [];

  constructor(lab: Lab, dir: string) {
    this.lab = lab;
    this.dir = dir;
  }

  /** The namespace of `side`: the downloader (LAN) for the client, the seeder (WAN) for the server. */
  ns(side: Side): string {
    return side === "client" ? this.lab.net.ns.downloader : this.lab.net.ns.seeder;
  }

  /** Starts a long-running program on `side`. */
  spawn(side: Side, name: string, args: string[], env?: Record<string, string>): Proc {
    const p = this.lab.spawn(`${name} (${side})`, this.ns(side), args, { env, cwd: this.dir });
    this.procs.push(p);
    return p;
  }

  /** Runs a command to completion on `side` (or on the host, with null); throws on failure. */
  run(side: Side | null, args: string[]): Promise<string> {
    return mustRun(args, { ns: side === null ? null : this.ns(side), cwd: this.dir });
  }

  /** Waits until something listens on `address:port` on `side`. */
  listening(side: Side, proto: "tcp" | "udp", address: string, port: number): Promise<void> {
    return this.lab.waitListening(this.ns(side), proto, address, port);
  }

  /** The last `lines` output lines of every program started, for a failure's report. */
  tails(lines = 4): string {
    return this.procs.map((p) =>
      `\n       ${p.name}:\n` +
      p.output.trimEnd().split("\n").slice(-lines).map((l) => `         | ${l}`).join("\n")
    ).join("");
  }

  /** Writes a file into the scratch directory and returns its path. */
  async write(name: string, text: string): Promise<string> {
    const path = `${this.dir}/${name}`;
    await Deno.writeTextFile(path, text);
    return path;
  }

  /**
   * Pings `address` from the client through a tunnel: first until one answer comes (the
   * tunnel is up), then 200 pings of 1200 bytes (~250 kB each way); at least 90 % must answer.
   */
  async pingThrough(address: string): Promise<string> {
    const ns = this.ns("client");
    await waitFor(
      `a ping answer from ${address} through the tunnel`,
      async () => {
        const r = await runCommand(["ping", "-n", "-c", "1", "-W", "1", address], { ns });
        return r.code === 0 ? true : undefined;
      },
      TUNNEL_UP_MS,
      200,
    );
    const r = await runCommand(
      ["ping", "-n", "-q", "-c", "200", "-i", "0.01", "-s", "1200", "-W", "2", address],
      { ns },
    );
    const m = r.stdout.match(/(\d+) packets transmitted, (\d+) received/);
    const received = m ? Number(m[2]) : 0;
    if (received < 180) throw new Error(`only ${received} of 200 pings through the tunnel`);
    return `${received} of 200 pings of 1200 bytes answered through the tunnel to ${address}`;
  }

  /**
   * Fetches the web server's 2 MiB file `times` times from the client with curl and `proxy`
   * arguments (a SOCKS proxy); each must arrive whole.
   */
  async fetchThrough(times: number, proxy: string[]): Promise<string> {
    for (let i = 0; i < times; i++) {
      const r = await runCommand([
        "curl",
        "-sS",
        "--max-time",
        "30",
        ...proxy,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{size_download}",
        `http://${ADDR.services}/file`,
      ], { ns: this.ns("client") });
      if (r.stdout !== `200 ${WEB_FILE_SIZE}`) {
        throw new Error(`fetch ${i + 1} through the proxy: ${r.stdout} ${r.stderr.trim()}`);
      }
    }
    return `${times} fetches of ${WEB_FILE_SIZE} bytes through the proxy`;
  }

  /** The command line of one of the lab's Node programs (see {@linkcode installNpmTools}). */
  node(script: string, ...args: string[]): string[] {
    return ["node", `${npmToolsDir()}/${script}`, ...args];
  }
}

// ---------------------------------------------------------------------------------------------
// The software, one function each.

/** shadowsocks-libev: ss-local on the LAN, ss-server on the WAN, AEAD cipher, curl through it. */
async function shadowsocks(s: Session): Promise<string> {
  const common = [
    "-s",
    ADDR.seeder,
    "-p",
    "8388",
    "-k",
    "lab-secret",
    "-m",
    "chacha20-ietf-poly1305",
  ];
  s.spawn("server", "ss-server", ["ss-server", ...common, "-u"]);
  await s.listening("server", "tcp", ADDR.seeder, 8388);
  s.spawn("client", "ss-local", ["ss-local", ...common, "-b", "127.0.0.1", "-l", "1080"]);
  await s.listening("client", "tcp", "127.0.0.1", 1080);
  return await s.fetchThrough(3, ["--socks5-hostname", "127.0.0.1:1080"]);
}

/** Starts tor on `side` as `role`, with its own data directory and the torrc `lines`. */
async function startTor(s: Session, side: Side, role: string, lines: string[]): Promise<Proc> {
  const data = `${s.dir}/${role}`;
  await Deno.mkdir(data, { mode: 0o700 });
  const torrc = await s.write(
    `${role}.torrc`,
    [`DataDirectory ${data}`, "Log notice stdout", ...lines].join("\n") + "\n",
  );
  return s.spawn(side, `tor ${role}`, ["tor", "-f", torrc]);
}

/** Waits until the file at `path` exists and `parse` finds what it needs in it. */
function waitForFile(what: string, path: string, parse: (text: string) => string | undefined) {
  return waitFor(
    what,
    async () => {
      const text = await Deno.readTextFile(path).catch(() => "");
      return parse(text);
    },
    30000,
    200,
  );
}

/**
 * Tor's bridge relay on the WAN side: its ORPort, and obfs4 through obfs4proxy when asked.
 * Returns the client's `Bridge` line for it.
 */
async function torBridge(s: Session, obfs4: boolean): Promise<string> {
  await startTor(s, "server", "bridge", [
    "SocksPort 0",
    `ORPort ${ADDR.seeder}:9001`,
    `Address ${ADDR.seeder}`,
    "BridgeRelay 1",
    "PublishServerDescriptor 0",
    "AssumeReachable 1",
    "ExitRelay 0",
    ...(obfs4
      ? [
        "ServerTransportPlugin obfs4 exec /usr/bin/obfs4proxy",
        `ServerTransportListenAddr obfs4 ${ADDR.seeder}:9443`,
        "ExtORPort auto",
      ]
      : []),
  ]);
  await s.listening("server", "tcp", ADDR.seeder, 9001);
  const data = `${s.dir}/bridge`;
  const fingerprint = await waitForFile(
    "the bridge's fingerprint",
    `${data}/fingerprint`,
    (text) => text.trim().split(" ")[1],
  );
  if (!obfs4) return `${ADDR.seeder}:9001 ${fingerprint}`;
  await s.listening("server", "tcp", ADDR.seeder, 9443);
  const cert = await waitForFile(
    "obfs4's bridge line",
    `${data}/pt_state/obfs4_bridgeline.txt`,
    (text) => text.match(/cert=\S+ iat-mode=\d/)?.[0],
  );
  return `obfs4 ${ADDR.seeder}:9443 ${fingerprint} ${cert}`;
}

/**
 * A Tor client on the LAN using the bridge: the link (TLS, or obfs4 around it) must get past
 * its handshake.
 */
async function torThroughBridge(s: Session, obfs4: boolean): Promise<string> {
  const client = await startTor(s, "client", "client", [
    "SocksPort 127.0.0.1:9050",
    "UseBridges 1",
    `Bridge ${await torBridge(s, obfs4)}`,
    ...(obfs4 ? ["ClientTransportPlugin obfs4 exec /usr/bin/obfs4proxy"] : []),
  ]);
  const line = await client.waitForLine(/Bootstrapped (1[5-9]|[2-9]\d|100)%/, 60000);
  return `the Tor client reached "${
    line.replace(/^.*Bootstrapped/, "Bootstrapped")
  }" over the bridge`;
}

/** The PKI of the OpenVPN look-alike: a CA, a server and a client certificate (EC P-256). */
async function openvpnPki(s: Session): Promise<void> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await s.run(null, [
    "openssl",
    "req",
    "-x509",
    ...ec,
    "-days",
    "2",
    "-subj",
    "/CN=lab ca",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
  ]);
  for (const name of ["server", "client"]) {
    await s.run(null, [
      "openssl",
      "req",
      ...ec,
      "-subj",
      `/CN=${name}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
    ]);
    await s.run(null, [
      "openssl",
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-out",
      `${name}.pem`,
    ]);
  }
  await s.run(null, ["openvpn", "--genkey", "tls-crypt", "tls-crypt.key"]);
}

/** OpenVPN in TLS mode with `tls-crypt` (every packet encrypted and authenticated), point to point. */
async function openvpn(s: Session): Promise<string> {
  await openvpnPki(s);
  const details: string[] = [];
  for (const [proto, port, net] of [["udp", 1194, "10.89.1"], ["tcp", 1195, "10.89.2"]] as const) {
    const common = [
      "openvpn",
      "--dev",
      `ovpn-${proto}`,
      "--dev-type",
      "tun",
      "--ca",
      "ca.pem",
      "--tls-crypt",
      "tls-crypt.key",
      "--dh",
      "none",
      "--verb",
      "3",
      "--ping",
      "2",
    ];
    s.spawn("server", `openvpn ${proto}`, [
      ...common,
      "--tls-server",
      "--cert",
      "server.pem",
      "--key",
      "server.key",
      "--proto",
      proto === "udp" ? "udp" : "tcp-server",
      "--local",
      ADDR.seeder,
      "--lport",
      String(port),
      "--ifconfig",
      `${net}.1`,
      `${net}.2`,
    ]);
    await s.listening("server", proto, ADDR.seeder, port);
    s.spawn("client", `openvpn ${proto}`, [
      ...common,
      "--tls-client",
      "--cert",
      "client.pem",
      "--key",
      "client.key",
      "--proto",
      proto === "udp" ? "udp" : "tcp-client",
      "--remote",
      ADDR.seeder,
      String(port),
      "--nobind",
      "--ifconfig",
      `${net}.2`,
      `${net}.1`,
    ]);
    details.push(`${proto}: ${await s.pingThrough(`${net}.1`)}`);
  }
  return details.join("; ");
}

/** A WireGuard key pair: the private key written to `wg-<side>.key`, the public key returned. */
async function wgKey(s: Session, side: Side): Promise<{ pub: string }> {
  const key = (await s.run(null, ["wg", "genkey"])).trim();
  await s.write(`wg-${side}.key`, key + "\n");
  return { pub: (await s.run(null, ["sh", "-c", `wg pubkey < wg-${side}.key`])).trim() };
}

/** WireGuard: wireguard-go (userspace) on both sides, configured with wg, a ping through it. */
async function wireguard(s: Session): Promise<string> {
  const keys = { server: await wgKey(s, "server"), client: await wgKey(s, "client") };
  const env = { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: "1" };
  for (const side of ["server", "client"] as const) {
    const dev = `wg${side[0]}${s.lab.net.id.slice(-6)}`;
    const other = side === "server" ? "client" : "server";
    const me = side === "server" ? "10.89.3.1" : "10.89.3.2";
    s.spawn(side, "wireguard-go", ["wireguard-go", "-f", dev], env);
    await waitFor(
      `${dev} exists`,
      async () => {
        const r = await runCommand(["ip", "link", "show", dev], { ns: s.ns(side) });
        return r.code === 0 ? true : undefined;
      },
      10000,
      100,
    );
    await s.run(side, [
      "wg",
      "set",
      dev,
      "private-key",
      `${s.dir}/wg-${side}.key`,
      ...(side === "server" ? ["listen-port", "51820"] : []),
      "peer",
      keys[other].pub,
      "allowed-ips",
      "10.89.3.0/24",
      ...(side === "client"
        ? ["endpoint", `${ADDR.seeder}:51820`, "persistent-keepalive", "5"]
        : []),
    ]);
    await s.run(side, ["ip", "address", "add", `${me}/24`, "dev", dev]);
    await s.run(side, ["ip", "link", "set", dev, "up"]);
  }
  return await s.pingThrough("10.89.3.1");
}

/** Nebula: a lighthouse on the WAN side and a node on the LAN, certificates from nebula-cert. */
async function nebula(s: Session): Promise<string> {
  await s.run(null, ["nebula-cert", "ca", "-name", "lab", "-duration", "48h"]);
  const ip: Record<Side, string> = { server: "10.89.4.1", client: "10.89.4.2" };
  for (const side of ["server", "client"] as const) {
    await s.run(null, ["nebula-cert", "sign", "-name", side, "-ip", `${ip[side]}/24`]);
    const lighthouse = side === "server";
    const config = await s.write(
      `nebula-${side}.yml`,
      JSON.stringify({
        pki: { ca: `${s.dir}/ca.crt`, cert: `${s.dir}/${side}.crt`, key: `${s.dir}/${side}.key` },
        static_host_map: { [ip.server]: [`${ADDR.seeder}:4242`] },
        lighthouse: {
          am_lighthouse: lighthouse,
          hosts: lighthouse ? [] : [ip.server],
          interval: 5,
        },
        listen: { host: "0.0.0.0", port: lighthouse ? 4242 : 0 },
        punchy: { punch: false },
        tun: { dev: `neb${side[0]}${s.lab.net.id.slice(-6)}` },
        logging: { level: "info" },
        firewall: {
          outbound: [{ port: "any", proto: "any", host: "any" }],
          inbound: [{ port: "any", proto: "any", host: "any" }],
        },
      }),
    );
    const p = s.spawn(side, "nebula", ["nebula", "-config", config]);
    // It listens on [::ffff:0.0.0.0]:4242, which ss shows in no form waitListening knows.
    await p.waitForLine(/Nebula interface is active/, 30000);
  }
  return await s.pingThrough(ip.server);
}

/** Yggdrasil: two nodes, the LAN one peering with the WAN one over `tcp://`, ping6 between them. */
async function yggdrasil(s: Session): Promise<string> {
  const address: Record<Side, string> = { server: "", client: "" };
  for (const side of ["server", "client"] as const) {
    const config = JSON.parse(await s.run(null, ["yggdrasil", "-genconf", "-json"]));
    config.Listen = side === "server" ? [`tcp://${ADDR.seeder}:9650`] : [];
    config.Peers = side === "client" ? [`tcp://${ADDR.seeder}:9650`] : [];
    config.AdminListen = "none";
    config.MulticastInterfaces = [];
    config.IfName = `ygg${side[0]}${s.lab.net.id.slice(-6)}`;
    const path = await s.write(`yggdrasil-${side}.conf`, JSON.stringify(config));
    address[side] = (await s.run(null, ["yggdrasil", "-useconffile", path, "-address"])).trim();
    s.spawn(side, "yggdrasil", ["yggdrasil", "-useconffile", path]);
    if (side === "server") await s.listening("server", "tcp", ADDR.seeder, 9650);
  }
  return await s.pingThrough(address.server);
}

/**
 * The npm packages of the lab's Node programs (node/devp2p_peer.mjs, node/hyperswarm_peer.mjs), exact
 * versions. They are not vendored with btblocker's own (node_modules/): Hyperswarm's alone weigh
 * 34 MB, native addons included, and they are test tools, not dependencies.
 */
export const NPM_TOOLS: readonly string[] = [
  "@ethereumjs/devp2p@10.0.0",
  "@ethereumjs/common@10.1.3",
  "@ethereumjs/util@10.1.3",
  "hyperswarm@4.17.2",
  "hyperdht@6.34.0",
];

/** Where npm installs them (kept between labs), next to copies of the programs. */
function npmToolsDir(): string {
  return `${Deno.env.get("HOME") ?? "/root"}/.cache/btblocker-lab/npm`;
}

/**
 * Installs {@linkcode NPM_TOOLS} on the host, unless the same versions are there already (the
 * lab's hosts have no way out), with the caller's whole environment (its proxy and CA settings:
 * lab commands get a minimal one), and copies the programs beside them.
 */
export async function installNpmTools(): Promise<void> {
  const dir = npmToolsDir();
  const stamp = `${dir}/installed`;
  const want = NPM_TOOLS.join(" ");
  if ((await Deno.readTextFile(stamp).catch(() => "")) !== want) {
    await Deno.mkdir(dir, { recursive: true });
    const args = ["install", "--no-audit", "--no-fund", "--prefix", dir, ...NPM_TOOLS];
    const r = await new Deno.Command("npm", { args, stdin: "null" }).output();
    if (!r.success) {
      throw new Error(
        `npm ${args.join(" ")} failed (${r.code}; the npm registry is needed once): ` +
          new TextDecoder().decode(r.stderr),
      );
    }
    await Deno.writeTextFile(stamp, want);
  }
  for (const script of ["devp2p_peer.mjs", "hyperswarm_peer.mjs"]) {
    await Deno.copyFile(`${LAB_DIR}node/${script}`, `${dir}/${script}`);
  }
}

/**
 * Ethereum devp2p (ethereumjs): a node on the WAN side, three LAN peers finding it through
 * discovery v4 (UDP) and connecting over RLPx (TCP), on the default port 30303 and on a random
 * high port; each peer and the node exchange 128 KiB of `eth` messages.
 */
async function devp2p(s: Session): Promise<string> {
  const details: string[] = [];
  for (const port of [30303, 20000 + Math.floor(Math.random() * 40000)]) {
    const server = s.spawn(
      "server",
      `devp2p ${port}`,
      s.node("devp2p_peer.mjs", "serve", ADDR.seeder, String(port)),
    );
    const id = (await server.waitForLine(/^listening 0x[0-9a-f]+$/, 30000)).split(" ")[1];
    const out = await s.run(
      "client",
      s.node("devp2p_peer.mjs", "connect", ADDR.seeder, String(port), id, "3"),
    );
    details.push(`port ${port}: ${out.trim()}`);
  }
  return details.join("; ");
}

/**
 * Hyperswarm (Node): a five-node HyperDHT on the WAN side, a peer announcing a random topic
 * there, and a LAN peer finding it and exchanging 256 KiB each way over UDX and a Noise secret
 * stream.
 */
async function hyperswarm(s: Session): Promise<string> {
  const peer = (...args: string[]) => s.node("hyperswarm_peer.mjs", ...args);
  const topic = [...crypto.getRandomValues(new Uint8Array(32))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const bootstrap = [ADDR.seeder, "49737"];
  await s.spawn("server", "hyperdht", peer("dht", ...bootstrap)).waitForLine(/^ready$/, 30000);
  await s.spawn("server", "hyperswarm", peer("serve", ...bootstrap, topic))
    .waitForLine(/^announced$/, 30000);
  const out = await s.run("client", peer("connect", ...bootstrap, topic));
  return `${out.trim()} (256 KiB each way) over a Noise secret stream`;
}

/** Every look-alike, in the order the lab runs them. */
export const LOOKALIKES: readonly Lookalike[] = [
  {
    name: "shadowsocks",
    title: "Shadowsocks (AEAD chacha20-ietf-poly1305) SOCKS proxy, three 2 MiB fetches",
    software: "Debian shadowsocks-libev (ss-server, ss-local)",
    run: shadowsocks,
  },
  {
    name: "tor",
    title: "Tor client to a bridge relay's ORPort (the TLS link)",
    software: "Debian tor",
    run: (s) => torThroughBridge(s, false),
  },
  {
    name: "obfs4",
    title: "Tor client to an obfs4 bridge (obfs4proxy on both sides)",
    software: "Debian tor, obfs4proxy",
    run: (s) => torThroughBridge(s, true),
  },
  {
    name: "openvpn",
    title: "OpenVPN with tls-crypt, point to point over UDP and over TCP, pings through the tunnel",
    software: "Debian openvpn",
    run: openvpn,
  },
  {
    name: "wireguard",
    title:
      "WireGuard (userspace wireguard-go: the kernel module is absent), pings through the tunnel",
    software: "Debian wireguard-go, wireguard-tools",
    run: wireguard,
  },
  {
    name: "nebula",
    title: "Nebula lighthouse and node (Noise over UDP), pings through the overlay",
    software: "Debian nebula",
    run: nebula,
  },
  {
    name: "yggdrasil",
    title: "Yggdrasil nodes peering over tcp://, ping6 through the overlay",
    software: "Debian yggdrasil",
    run: yggdrasil,
  },
  {
    name: "devp2p",
    title: "Ethereum devp2p: discovery v4 and RLPx, ports 30303 and a random high port",
    software: "npm @ethereumjs/devp2p 10.0.0 on Node",
    run: devp2p,
    // The lab's hosts have no way out: fetch the npm packages now.
    prepare: installNpmTools,
  },
  {
    name: "hyperswarm",
    title: "Hyperswarm peers over a private HyperDHT (UDX, Noise secret stream)",
    software: "npm hyperswarm 4.17.2, hyperdht 6.34.0 on Node",
    run: hyperswarm,
    prepare: installNpmTools,
  },
];

/**
 * The look-alikes among `names` (`lookalike` for all of them, `lookalike_<name>` for one; other
 * names are left to the caller); throws on an unknown one.
 */
export function lookalikesNamed(names: readonly string[]): Lookalike[] {
  const wanted = names.filter((n) => n.startsWith("lookalike"));
  if (wanted.includes("lookalike")) return [...LOOKALIKES];
  return wanted.map((n) => {
    const l = LOOKALIKES.find((x) => `lookalike_${x.name}` === n);
    if (l === undefined) {
      const known = LOOKALIKES.map((x) => `lookalike_${x.name}`).join(", ");
      throw new Error(`unknown look-alike ${n}; known: lookalike (all), ${known}`);
    }
    return l;
  });
}

/** Options of {@linkcode runLookalikes}. */
export interface LookalikeRunOptions {
  /** Where the trimmed captures go. */
  captureDir: string;
  /** btblocker with `--worker-pool`. */
  workerPool: boolean;
  /**
   * btblocker with `--monitor-only` (detect and log, never ban): what `record` uses, so that a
   * look-alike btblocker wrongly detects still flows whole into its fixture.
   */
  monitorOnly?: boolean;
}

/**
 * Runs look-alikes one after the other with one btblocker on the router (started afresh after
 * a look-alike that was detected: every server runs on one host, and its ban would block the
 * next ones), capturing each on the router's LAN interface.
 */
export class LookalikeRunner {
  readonly #lab: Lab;
  readonly #o: LookalikeRunOptions;
  #btblocker: Btblocker;
  #starts = 1;
  #last: LookalikeResult | undefined;

  private constructor(lab: Lab, o: LookalikeRunOptions, btblocker: Btblocker) {
    this.#lab = lab;
    this.#o = o;
    this.#btblocker = btblocker;
  }

  /** Prepares `lookalikes` (what they fetch from registries) and starts btblocker. */
  static async start(
    lab: Lab,
    lookalikes: readonly Lookalike[],
    o: LookalikeRunOptions,
  ): Promise<LookalikeRunner> {
    for (const l of lookalikes) await l.prepare?.();
    return new LookalikeRunner(lab, o, await startBtblocker(lab, o, 0));
  }

  /**
   * Runs one look-alike and checks it: the traffic flowed, btblocker logged no detection,
   * banned nobody and dropped nothing, and its offline mode finds nothing in the capture.
   */
  async run(l: Lookalike): Promise<LookalikeResult> {
    this.#lab.say(`look-alike ${l.name}: ${l.title}`);
    const r = await runOne(this.#lab, l, this.#btblocker, this.#o.captureDir);
    this.#last = r;
    if (r.records.length > 0 || r.bans.length > 0) {
      await this.#stopBtblocker();
      this.#btblocker = await startBtblocker(this.#lab, this.#o, this.#starts++);
    }
    return r;
  }

  /** Stops btblocker; returns its exit code, also added to the last result's problems. */
  async stop(): Promise<number> {
    return await this.#stopBtblocker();
  }

  async #stopBtblocker(): Promise<number> {
    const code = await this.#btblocker.stop();
    if (code !== 0) this.#last?.problems.push(`btblocker exited ${code} on SIGTERM`);
    await this.#btblocker.removePins();
    return code;
  }
}

/** Runs `lookalikes` with a {@linkcode LookalikeRunner} and returns their results. */
export async function runLookalikes(
  lab: Lab,
  lookalikes: readonly Lookalike[],
  o: LookalikeRunOptions,
): Promise<LookalikeResult[]> {
  const runner = await LookalikeRunner.start(lab, lookalikes, o);
  const results: LookalikeResult[] = [];
  try {
    for (const l of lookalikes) results.push(await runner.run(l));
  } finally {
    await runner.stop();
  }
  return results;
}

function startBtblocker(lab: Lab, o: LookalikeRunOptions, n: number): Promise<Btblocker> {
  return Btblocker.start({
    ns: lab.net.ns.router,
    pinDir: lab.pinDir(`lookalike${n}`),
    detectionLog: `${lab.dir}/lookalike-detections-${n}.jsonl`,
    workerPool: o.workerPool,
    monitorOnly: o.monitorOnly,
  });
}

async function runOne(
  lab: Lab,
  l: Lookalike,
  btblocker: Btblocker,
  captureDir: string,
): Promise<LookalikeResult> {
  const t0 = performance.now();
  const session = new Session(lab, `${lab.dir}/lookalike/${l.name}`);
  await Deno.mkdir(session.dir, { recursive: true });
  const before = btblocker.records().length;
  const dropsBefore = (await btblocker.xdpDrops()).packets;
  const raw = `${session.dir}/capture.pcap`;
  const dump = await lab.capture(raw, LOOKALIKE_CAPTURE_PACKETS, `host ${ADDR.seeder}`, 0);
  let ok = true, flowed: string;
  try {
    flowed = await l.run(session);
  } catch (e) {
    [ok, flowed] = [false, (e as Error).message + session.tails()];
  }
  await dump.stop("SIGINT", 5000);
  await lab.stopClients(session.procs);
  const capture = `${captureDir}/lookalike_${l.name}.pcap`;
  const packets = await trimCapture(raw, capture, LOOKALIKE_TRIM);
  const r: LookalikeResult = {
    lookalike: l,
    flowed,
    ok,
    records: btblocker.records().slice(before),
    bans: await btblocker.bans(),
    offlineDetections: await offlineDetections(capture),
    capture,
    packets,
    problems: [],
    seconds: 0,
  };
  if (!ok) r.problems.push(`the traffic did not flow: ${flowed}`);
  for (const x of r.records) {
    r.problems.push(
      `live: ${x.iface} ${x.proto} ${x.src_ip}:${x.src_port} -> ${x.dest_ip}:${x.dest_port} detected as ` +
        `${x.reason} (${x.action})`,
    );
  }
  if (r.bans.length > 0) {
    r.problems.push(`banned: ${r.bans.map((b) => `${b.address} (${b.reason})`).join(", ")}`);
  }
  const drops = (await btblocker.xdpDrops()).packets - dropsBefore;
  if (drops > 0) r.problems.push(`XDP dropped ${drops} packets`);
  if (Object.keys(r.offlineDetections).length > 0) {
    r.problems.push(`offline: detected as ${JSON.stringify(r.offlineDetections)}`);
  }
  r.seconds = (performance.now() - t0) / 1000;
  return r;
}
