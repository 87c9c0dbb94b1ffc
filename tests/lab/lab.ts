/**
 * The lab: the network ({@linkcode LabNet}), a scratch directory, a self-signed certificate
 * for its TLS servers, the random payload and one torrent of it per scenario run, the trackers
 * (Debian's opentracker for IPv4 HTTP and UDP; the lab's own tracker for HTTP over IPv6 and for
 * HTTPS), and every process started in it. {@linkcode Lab.close} removes it all — processes,
 * namespaces, pins, files — and runs even after a failure.
 *
 * @module
 */

import { MAIN } from "../helpers/live_lab.ts";
import { bdecode, type BDecoded, makePayload, makeTorrent, type Payload } from "./torrent.ts";
import { mustRun, Proc, runCommand, waitFor } from "./proc.ts";
import { ADDR, LabNet, removePins, removeStaleLabs } from "./topology.ts";

/** The lab's scripts. */
export const LAB_DIR: string = new URL("./", import.meta.url).pathname;

/** Debian's python3 (it has the libtorrent module; the one on PATH may not). */
export const PYTHON = "/usr/bin/python3";

/**
 * Tracker URLs by kind. `https` is the one btblocker cannot read (TLS): peers found through it
 * must be recognised by their own traffic.
 */
export const TRACKERS = {
  http: `http://${ADDR.tracker}:6969/announce`,
  https: `https://${ADDR.tracker}/announce`,
  udp: `udp://${ADDR.tracker}:6969/announce`,
  http6: `http://[${ADDR.tracker6}]:6969/announce`,
  none: "",
} as const;

/** Which tracker a torrent announces to. */
export type TrackerKind = keyof typeof TRACKERS;

/** A torrent file written for one run. */
export interface RunTorrent {
  /** Path of the `.torrent` file. */
  path: string;
  /** Info-hash, hex. */
  infoHashHex: string;
  /** Info-hash, raw. */
  infoHash: Uint8Array;
}

/** Options of {@linkcode Lab.open}. */
export interface LabOptions {
  /** Size of the random payload in bytes. */
  payloadSize: number;
  /** The runs that will need a torrent: `[tag, tracker]` (opentracker whitelists them). */
  torrents: [string, TrackerKind][];
  /** Prints progress lines (the CLI passes console.log; tests pass nothing). */
  say?: (line: string) => void;
}

/** A running lab. */
export class Lab {
  /** The network. */
  readonly net: LabNet;
  /** Scratch directory (removed by {@linkcode close}). */
  readonly dir: string;
  /** The payload every scenario transfers. */
  readonly payload: Payload;
  /** Where progress lines go. */
  readonly say: (line: string) => void;
  /** The self-signed certificate of the lab's TLS servers (tracker, web server): PEM path. */
  readonly certFile: string;
  /** Its private key: PEM path. */
  readonly keyFile: string;
  readonly #torrents = new Map<string, RunTorrent>();
  readonly #procs: Proc[] = [];
  readonly #pinDirs: string[] = [];

  private constructor(net: LabNet, dir: string, payload: Payload, say: (line: string) => void) {
    this.net = net;
    this.dir = dir;
    this.payload = payload;
    this.say = say;
    this.certFile = `${dir}/tls/cert.pem`;
    this.keyFile = `${dir}/tls/key.pem`;
  }

  /** Builds the lab: network, payload, torrents, trackers. Always {@linkcode close} it. */
  static async open(options: LabOptions): Promise<Lab> {
    const say = options.say ?? (() => {});
    for (const name of await removeStaleLabs()) say(`removed a stale lab leftover: ${name}`);
    // Load btblocker's modules here (its npm packages are vendored): the lab's hosts have no
    // way out.
    await mustRun([Deno.execPath(), "cache", MAIN]);
    const dir = await Deno.makeTempDir({ prefix: "btblocker-lab-" });
    // opentracker reads its whitelist after dropping to user nobody.
    await Deno.chmod(dir, 0o755);
    let net: LabNet | null = null;
    try {
      net = await LabNet.create();
      const payload = await makePayload(dir, "payload.bin", options.payloadSize);
      const lab = new Lab(net, dir, payload, say);
      try {
        await lab.#makeCertificate();
        await lab.#makeTorrents(options.torrents);
        await lab.#startTrackers();
      } catch (e) {
        await lab.close();
        throw e;
      }
      return lab;
    } catch (e) {
      if (net !== null) await net.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  async #makeCertificate(): Promise<void> {
    await Deno.mkdir(`${this.dir}/tls`);
    const names = ["DNS:tracker.lab.test", "DNS:services.lab.test"];
    for (const a of [ADDR.tracker, ADDR.tracker6, ADDR.services, ADDR.services6]) {
      names.push(`IP:${a}`);
    }
    await mustRun([
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=btblocker lab",
      "-addext",
      `subjectAltName=${names.join(",")}`,
      "-keyout",
      this.keyFile,
      "-out",
      this.certFile,
    ]);
  }

  async #makeTorrents(runs: [string, TrackerKind][]): Promise<void> {
    await Deno.mkdir(`${this.dir}/torrents`);
    for (const [tag, tracker] of runs) {
      const t = await makeTorrent(
        this.payload,
        `btblocker-lab ${this.net.id} ${tag}`,
        tracker === "none" ? [] : [TRACKERS[tracker]],
      );
      const path = `${this.dir}/torrents/${tag}.torrent`;
      await Deno.writeFile(path, t.bytes);
      this.#torrents.set(tag, { path, infoHashHex: t.infoHashHex, infoHash: t.infoHash });
    }
  }

  /** The torrent made for run `tag`. */
  torrent(tag: string): RunTorrent {
    const t = this.#torrents.get(tag);
    if (t === undefined) throw new Error(`no torrent was made for ${tag}`);
    return t;
  }

  async #startTrackers(): Promise<void> {
    // opentracker (Debian builds it IPv4-only, with a whitelist of info-hashes).
    const whitelist = `${this.dir}/opentracker.whitelist`;
    const hashes = [...this.#torrents.values()].map((t) => t.infoHashHex);
    await Deno.writeTextFile(whitelist, hashes.join("\n") + "\n");
    await Deno.writeTextFile(`${this.dir}/opentracker.conf`, `access.whitelist ${whitelist}\n`);
    const ns = this.net.ns.services;
    this.spawn("opentracker", ns, [
      "opentracker",
      "-i",
      ADDR.tracker,
      "-p",
      "6969",
      "-P",
      "6969",
      "-f",
      `${this.dir}/opentracker.conf`,
    ]);
    await this.waitListening(ns, "tcp", ADDR.tracker, 6969);
    await this.waitListening(ns, "udp", ADDR.tracker, 6969);
    // The lab's own tracker: HTTP over IPv6, HTTPS over both.
    const own = this.spawn("tracker", ns, [
      Deno.execPath(),
      "run",
      "--allow-net",
      `--allow-read=${this.dir}/tls`,
      `${LAB_DIR}tracker.ts`,
      "--http",
      `[${ADDR.tracker6}]:6969`,
      "--https",
      `${ADDR.tracker}:443`,
      "--https",
      `[${ADDR.tracker6}]:443`,
      "--cert",
      this.certFile,
      "--key",
      this.keyFile,
    ]);
    await own.waitForLine(/^listening/, 30000);
  }

  /** Starts a process (in namespace `ns` when not null) that {@linkcode close} will end. */
  spawn(
    name: string,
    ns: string | null,
    args: string[],
    options: { env?: Record<string, string>; cwd?: string; onLine?: (line: string) => void } = {},
  ): Proc {
    const p = new Proc(name, ns, args, options);
    this.#procs.push(p);
    return p;
  }

  /** Every process started in the lab so far (for diagnostics). */
  get processes(): readonly Proc[] {
    return this.#procs;
  }

  /** A fresh bpffs pin directory for one btblocker run (removed by {@linkcode close} too). */
  pinDir(tag: string): string {
    const dir = `/sys/fs/bpf/${this.net.id}-${tag}`;
    this.#pinDirs.push(dir);
    return dir;
  }

  /**
   * Captures the router's LAN interface into `path` (pcap, snaplen `snaplen`, 256 by default,
   * 0 for whole packets; at most `packets` packets, optionally only what `filter` selects);
   * resolves once tcpdump listens. Stop it
   * with SIGINT: packets are handed over and written one by one, so none is lost at the end.
   */
  async capture(path: string, packets: number, filter?: string, snaplen = 256): Promise<Proc> {
    const dump = this.spawn("tcpdump", this.net.ns.router, [
      "tcpdump",
      "-i",
      "lan0",
      "-n",
      "--immediate-mode",
      "--packet-buffered",
      "-s",
      String(snaplen),
      "-c",
      String(packets),
      "-w",
      path,
      ...(filter ? [filter] : []),
    ]);
    await dump.waitForLine(/listening on/, 10000);
    return dump;
  }

  /** Waits until something listens on `address:port` (TCP or UDP) in namespace `ns`. */
  async waitListening(
    ns: string,
    proto: "tcp" | "udp",
    address: string,
    port: number,
    timeoutMs = 30000,
  ): Promise<void> {
    const local = address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
    await waitFor(
      `${proto} ${local} listening in ${ns}`,
      async () => {
        const out = await mustRun(["ss", "-Hn", proto === "tcp" ? "-lt" : "-lu"], { ns });
        return out.split("\n").some((l) => l.split(/\s+/).includes(local)) ? true : undefined;
      },
      timeoutMs,
      100,
    );
  }

  /**
   * Asks the tracker of `kind` (scrape, from the seeder's segment) how many complete copies of
   * `torrent` it knows of.
   */
  async seedersKnown(kind: TrackerKind, torrent: RunTorrent): Promise<number> {
    // opentracker serves the same swarms over UDP and HTTP: scrape UDP's over HTTP.
    const base = TRACKERS[kind === "udp" ? "http" : kind].replace(/\/announce$/, "");
    const hash = [...torrent.infoHash].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
    const r = await runCommand(
      [
        "curl",
        "-sS",
        "-g",
        "--cacert",
        this.certFile,
        "--max-time",
        "5",
        `${base}/scrape?info_hash=${hash}`,
      ],
      { ns: this.net.ns.seeder },
    );
    if (r.code !== 0) return 0;
    let reply: BDecoded;
    try {
      reply = bdecode(r.stdoutBytes);
    } catch {
      return 0;
    }
    const files = (reply as Map<string, BDecoded>).get("files");
    if (!(files instanceof Map)) return 0;
    const entry = files.get(String.fromCharCode(...torrent.infoHash));
    const complete = entry instanceof Map ? entry.get("complete") : undefined;
    return typeof complete === "number" ? complete : 0;
  }

  /** Stops every process still running (SIGTERM, then SIGKILL after `graceMs`). */
  async stopAll(graceMs = 3000): Promise<void> {
    await Promise.all(this.#procs.map((p) => p.stop("SIGTERM", graceMs)));
  }

  /** Stops the processes of one run, started by the caller. */
  async stop(procs: Proc[], graceMs = 3000): Promise<void> {
    await Promise.all(procs.map((p) => p.stop("SIGTERM", graceMs)));
  }

  /**
   * Stops the clients of one run, started by the caller, then aborts the TCP connections they
   * left in the hosts' kernels. A killed client's socket lives on, orphaned, retransmitting what
   * it had not sent; while a ban drops those retransmissions their timer backs off to seconds
   * or more, so one may reach the next run's btblocker, which rightly sees BitTorrent (seen: a
   * peer message from the last swarm's seeder got the seeder's address banned during the
   * OpenVPN look-alike, which shares it). `ss -K` destroys them.
   */
  async stopClients(procs: Proc[]): Promise<void> {
    await this.stop(procs);
    const connected = ["-Htn", "state", "connected", "exclude", "time-wait"];
    let aborted = 0;
    for (const ns of [this.net.ns.downloader, this.net.ns.lanPeer, this.net.ns.seeder]) {
      const killed = await mustRun(["ss", "-K", ...connected], { ns });
      aborted += killed.split("\n").filter((l) => l.trim() !== "").length;
      const left = await mustRun(["ss", ...connected], { ns });
      if (left.trim() !== "") {
        const why = "kernel without CONFIG_INET_DIAG_DESTROY?";
        throw new Error(`ss -K left TCP connections in ${ns} (${why}):\n${left}`);
      }
    }
    if (aborted > 0) this.say(`aborted ${aborted} TCP connections the stopped clients left`);
  }

  /** Removes everything: processes, namespaces, pinned maps, the scratch directory. */
  async close(): Promise<void> {
    await this.stopAll(2000).catch(() => {});
    await this.net.destroy();
    for (const dir of this.#pinDirs) await removePins(dir);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
