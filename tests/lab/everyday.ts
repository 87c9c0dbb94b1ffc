/**
 * Everyday traffic through the lab's router: servers in the services namespace (a web server
 * on HTTP and HTTPS, dnsmasq, dropbear SSH, an iperf3 server) and the checks the downloader
 * runs against them — curl over IPv4 and IPv6, curl over TLS, DNS A and AAAA queries, an SSH
 * command, iperf3 TCP and UDP. Each check can be captured (snaplen 256) on the router's LAN
 * interface for the offline fixtures.
 *
 * @module
 */

import { withBindMounts } from "../helpers/process.ts";
import { type Lab, LAB_DIR } from "./lab.ts";
import { mustRun, runCommand } from "./proc.ts";
import { ADDR } from "./topology.ts";

/** The result of one everyday check. */
export interface EverydayResult {
  /** Check name (`http`, `https`, `dns`, `ssh`, `iperf3_tcp`, …). */
  name: string;
  /** Whether it worked. */
  ok: boolean;
  /** What happened, in a few words. */
  detail: string;
  /** Wall-clock seconds. */
  seconds: number;
  /** Capture of the check's traffic, when one was asked for. */
  capture?: string;
  /** Detections btblocker's offline mode found in the capture (must be none). */
  offlineDetections?: Record<string, number>;
}

/** Packet cap of the everyday captures (iperf3 would otherwise fill megabytes). */
export const EVERYDAY_CAPTURE_PACKETS = 400;

/** Size of the web server's random file. */
export const WEB_FILE_SIZE = 2 << 20;

/** The everyday servers, started once per lab. */
export class Services {
  readonly #lab: Lab;
  readonly #dir: string;

  private constructor(lab: Lab, dir: string) {
    this.#lab = lab;
    this.#dir = dir;
  }

  /** Starts the servers and waits until each listens. */
  static async start(lab: Lab): Promise<Services> {
    const dir = `${lab.dir}/services`;
    await Deno.mkdir(dir);
    const s = new Services(lab, dir);
    await s.#startWeb();
    await s.#startDns();
    await s.#startSsh();
    await s.#startIperf();
    return s;
  }

  async #startWeb(): Promise<void> {
    const d = this.#dir;
    const data = new Uint8Array(WEB_FILE_SIZE);
    for (let off = 0; off < data.length; off += 65536) {
      crypto.getRandomValues(data.subarray(off, off + 65536));
    }
    await Deno.writeFile(`${d}/file`, data);
    const web = this.#lab.spawn("web", this.#lab.net.ns.services, [
      Deno.execPath(),
      "run",
      "--allow-net",
      `--allow-read=${d},${this.#lab.certFile},${this.#lab.keyFile}`,
      `${LAB_DIR}web_server.ts`,
      "--file",
      `${d}/file`,
      "--cert",
      this.#lab.certFile,
      "--key",
      this.#lab.keyFile,
      ADDR.services,
      ADDR.services6,
    ]);
    await web.waitForLine(/^listening/, 30000);
  }

  async #startDns(): Promise<void> {
    const ns = this.#lab.net.ns.services;
    this.#lab.spawn("dnsmasq", ns, [
      "dnsmasq",
      "--keep-in-foreground",
      "--conf-file=/dev/null",
      "--pid-file=",
      "--no-resolv",
      "--no-hosts",
      "--no-poll",
      "--bind-interfaces",
      `--listen-address=${ADDR.services}`,
      `--listen-address=${ADDR.services6}`,
      `--address=/lab.test/${ADDR.services}`,
      `--address=/lab.test/${ADDR.services6}`,
      "--log-facility=-",
    ]);
    await this.#lab.waitListening(ns, "udp", ADDR.services, 53);
    await this.#lab.waitListening(ns, "udp", ADDR.services6, 53);
  }

  /**
   * dropbear, in a private mount namespace where /etc/passwd and /etc/shadow are replaced by
   * copies that give root a home in the lab (holding the lab's authorized key) and an unlocked
   * account: nothing of the host's configuration changes.
   */
  async #startSsh(): Promise<void> {
    const d = `${this.#dir}/ssh`;
    const home = `${d}/home`;
    await Deno.mkdir(`${home}/.ssh`, { recursive: true, mode: 0o700 });
    await Deno.chmod(home, 0o700);
    await mustRun(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", `${d}/id`]);
    await Deno.copyFile(`${d}/id.pub`, `${home}/.ssh/authorized_keys`);
    await Deno.chmod(`${home}/.ssh/authorized_keys`, 0o600);
    await mustRun(["dropbearkey", "-t", "ed25519", "-f", `${d}/host_key`]);
    const passwd = (await Deno.readTextFile("/etc/passwd")).split("\n").map((l) => {
      const f = l.split(":");
      if (f[0] !== "root") return l;
      f[5] = home;
      return f.join(":");
    }).join("\n");
    await Deno.writeTextFile(`${d}/passwd`, passwd);
    const shadow = (await Deno.readTextFile("/etc/shadow")).split("\n").map((l) => {
      const f = l.split(":");
      if (f[0] !== "root") return l;
      f[1] = "*";
      return f.join(":");
    }).join("\n");
    await Deno.writeTextFile(`${d}/shadow`, shadow, { mode: 0o600 });
    const ns = this.#lab.net.ns.services;
    this.#lab.spawn("dropbear", ns, [
      ...withBindMounts([[`${d}/passwd`, "/etc/passwd"], [`${d}/shadow`, "/etc/shadow"]]),
      "dropbear",
      "-F",
      "-E",
      "-s",
      "-P",
      `${d}/dropbear.pid`,
      "-r",
      `${d}/host_key`,
      "-p",
      `${ADDR.services}:22`,
      "-p",
      `[${ADDR.services6}]:22`,
    ]);
    await this.#lab.waitListening(ns, "tcp", ADDR.services, 22);
  }

  async #startIperf(): Promise<void> {
    const ns = this.#lab.net.ns.services;
    this.#lab.spawn("iperf3", ns, ["iperf3", "-s", "-B", ADDR.services, "-p", "5201"]);
    await this.#lab.waitListening(ns, "tcp", ADDR.services, 5201);
  }

  /**
   * Runs every check from the downloader, one after the other (iperf3 serves one test at a
   * time). With `captureDir`, each check's packets are captured on the router's LAN interface.
   */
  async check(captureDir?: string): Promise<EverydayResult[]> {
    const checks: [string, () => Promise<[boolean, string]>][] = [
      ["http", () => this.#http(`http://${ADDR.services}/file`)],
      ["http_ipv6", () => this.#http(`http://[${ADDR.services6}]/file`)],
      ["https", () => this.#http("https://services.lab.test/file")],
      ["dns", () => this.#dns("www.lab.test", "A", ADDR.services, ADDR.services)],
      ["dns_ipv6", () => this.#dns("www.lab.test", "AAAA", ADDR.services6, ADDR.services6)],
      ["ssh", () => this.#ssh()],
      ["iperf3_tcp", () => this.#iperf(false)],
      ["iperf3_udp", () => this.#iperf(true)],
    ];
    const results: EverydayResult[] = [];
    for (const [name, run] of checks) {
      const capture = captureDir ? `${captureDir}/everyday_${name}.pcap` : undefined;
      const dump = capture
        ? await this.#lab.capture(
          capture,
          EVERYDAY_CAPTURE_PACKETS,
          `host ${ADDR.services} or host ${ADDR.services6}`,
        )
        : null;
      const t0 = performance.now();
      let ok: boolean, detail: string;
      try {
        [ok, detail] = await run();
      } catch (e) {
        [ok, detail] = [false, (e as Error).message];
      }
      const seconds = (performance.now() - t0) / 1000;
      if (dump !== null) await dump.stop("SIGINT", 5000);
      results.push({ name, ok, detail, seconds, capture });
    }
    return results;
  }

  async #http(url: string): Promise<[boolean, string]> {
    const out = `${this.#dir}/fetched`;
    await Deno.remove(out).catch(() => {});
    const r = await runCommand([
      "curl",
      "-sS",
      "-g",
      "--max-time",
      "15",
      "--cacert",
      this.#lab.certFile,
      "--resolve",
      `services.lab.test:443:${ADDR.services}`,
      "-o",
      out,
      "-w",
      "%{http_code} %{size_download}",
      url,
    ], { ns: this.#lab.net.ns.downloader });
    if (r.code !== 0) return [false, `curl exit ${r.code}: ${r.stderr.trim()}`];
    const same = await sameBytes(out, `${this.#dir}/file`);
    const [code, size] = r.stdout.split(" ");
    return [
      code === "200" && same,
      `HTTP ${code}, ${size} bytes${same ? "" : ", content differs"}`,
    ];
  }

  async #dns(
    name: string,
    type: "A" | "AAAA",
    server: string,
    want: string,
  ): Promise<[boolean, string]> {
    const r = await runCommand(
      [Deno.execPath(), "run", "--allow-net", `${LAB_DIR}dns_query.ts`, name, type, server],
      { ns: this.#lab.net.ns.downloader },
    );
    if (r.code !== 0) return [false, r.stderr.trim()];
    const answers = JSON.parse(r.stdout) as string[];
    return [answers.includes(want), `${type} ${name} = ${answers.join(", ")}`];
  }

  async #ssh(): Promise<[boolean, string]> {
    const r = await runCommand([
      "ssh",
      "-F",
      "/dev/null",
      "-i",
      `${this.#dir}/ssh/id`,
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=10",
      "-o",
      "LogLevel=ERROR",
      `root@${ADDR.services}`,
      "head -c 300000 /dev/zero | wc -c",
    ], { ns: this.#lab.net.ns.downloader, env: { HOME: `${this.#dir}/ssh` } });
    const ok = r.code === 0 && r.stdout.trim() === "300000";
    return [ok, ok ? "ran a command, 300000 bytes back" : `exit ${r.code}: ${r.stderr.trim()}`];
  }

  async #iperf(udp: boolean): Promise<[boolean, string]> {
    const r = await runCommand([
      "iperf3",
      "-c",
      ADDR.services,
      "-p",
      "5201",
      "-t",
      "2",
      ...(udp ? ["-u", "-b", "5M"] : ["-b", "40M"]),
      "-J",
    ], { ns: this.#lab.net.ns.downloader });
    let report: IperfReport;
    try {
      report = JSON.parse(r.stdout);
    } catch {
      return [false, `iperf3 exit ${r.code}: ${r.stderr.trim()}`];
    }
    if (report.error) return [false, report.error];
    if (udp) {
      const sum = report.end.sum;
      // Working, not perfect: on a busy machine a few datagrams may be lost; a ban loses all.
      const ok = sum.packets > 0 && sum.lost_percent < 50;
      return [
        ok,
        `${(sum.bits_per_second / 1e6).toFixed(1)} Mbit/s, ${sum.lost_percent.toFixed(1)} % lost`,
      ];
    }
    const got = report.end.sum_received;
    return [got.bytes > 0, `${(got.bits_per_second / 1e6).toFixed(1)} Mbit/s received`];
  }
}

interface IperfReport {
  error?: string;
  end: {
    sum: { packets: number; lost_percent: number; bits_per_second: number };
    sum_received: { bytes: number; bits_per_second: number };
  };
}

async function sameBytes(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([Deno.readFile(a), Deno.readFile(b)]);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  } catch {
    return false;
  }
}
