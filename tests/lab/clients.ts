/**
 * The BitTorrent clients of the lab, all from Debian packages: Transmission
 * (`transmission-cli`), aria2 (`aria2c`), qBittorrent (`qbittorrent-nox`, configured through
 * its config file and driven through its Web API), and a script on python3-libtorrent
 * (lt_client.py) for the variants the others cannot force. Each starts as a seeder or a
 * leecher in a namespace; DHT, LSD and PEX are off unless a scenario asks for them, so the
 * tracker (or the one discovery method under test) is how peers find each other.
 *
 * @module
 */

import { type Lab, LAB_DIR, PYTHON } from "./lab.ts";
import { type Proc, runCommand, waitFor } from "./proc.ts";

/** Where and how one client runs. */
export interface PeerSetup {
  /** Namespace. */
  ns: string;
  /** Addresses to listen on (IPv4 and/or IPv6). */
  addresses: string[];
  /** The `.torrent` file. */
  torrent: string;
  /** Data directory (holds the payload when seeding). */
  dataDir: string;
  /** Directory for the client's configuration and state. */
  stateDir: string;
  /** `seed` or `leech`. */
  role: "seed" | "leech";
  /** The certificate an HTTPS tracker presents (trusted by the client). */
  caFile: string;
}

/** A client kind: starts a seeder or a leecher and returns its processes. */
export interface Client {
  /** Name for output (`Transmission 3.00, encryption required`). */
  label: string;
  /** The Debian package it comes from. */
  debPackage: string;
  /** Starts the client; resolves once it runs (not when it has found peers). */
  start(lab: Lab, p: PeerSetup): Promise<Proc>;
}

/**
 * Transmission's `transmission-cli`, with encryption required or merely tolerated, and with uTP
 * (its default, tried before TCP) or TCP only.
 */
export function transmission(encryption: "required" | "tolerated", utp: boolean): Client {
  return {
    debPackage: "transmission-cli",
    label: `Transmission (transmission-cli), encryption ${encryption}, ${
      utp ? "uTP and TCP" : "TCP only"
    }`,
    async start(lab, p) {
      await Deno.writeTextFile(
        `${p.stateDir}/settings.json`,
        JSON.stringify({
          "dht-enabled": false,
          "lpd-enabled": false,
          "pex-enabled": false,
          "utp-enabled": utp,
          "port-forwarding-enabled": false,
          "rename-partial-files": false,
          "message-level": 2,
        }),
      );
      return lab.spawn(`transmission ${p.role}`, p.ns, [
        "transmission-cli",
        "--config-dir",
        p.stateDir,
        "--download-dir",
        p.dataDir,
        "--port",
        "51413",
        "--no-portmap",
        "--no-uplimit",
        "--no-downlimit",
        encryption === "required" ? "--encryption-required" : "--encryption-tolerated",
        p.torrent,
      ], { env: { CURL_CA_BUNDLE: p.caFile } });
    },
  };
}

/** aria2, with or without `--bt-require-crypto`. */
export function aria2(requireCrypto: boolean): Client {
  return {
    debPackage: "aria2",
    label: `aria2 (aria2c)${requireCrypto ? " --bt-require-crypto=true" : ""}`,
    start(lab, p) {
      return Promise.resolve(lab.spawn(`aria2 ${p.role}`, p.ns, [
        "aria2c",
        `--dir=${p.dataDir}`,
        "--listen-port=6881",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--file-allocation=none",
        "--summary-interval=0",
        "--console-log-level=notice",
        "--enable-color=false",
        `--ca-certificate=${p.caFile}`,
        `--bt-require-crypto=${requireCrypto}`,
        ...(p.role === "seed" ? ["--check-integrity=true", "--seed-ratio=0.0"] : ["--seed-time=0"]),
        p.torrent,
      ]));
    },
  };
}

/** qBittorrent (`qbittorrent-nox`): settings in its config file, the torrent added via its Web API. */
export function qbittorrent(): Client {
  return {
    debPackage: "qbittorrent-nox",
    label: "qBittorrent (qbittorrent-nox), default encryption (allowed)",
    async start(lab, p) {
      const config = `${p.stateDir}/qBittorrent/config`;
      await Deno.mkdir(config, { recursive: true });
      await Deno.writeTextFile(
        `${config}/qBittorrent.conf`,
        [
          "[LegalNotice]",
          "Accepted=true",
          "",
          "[BitTorrent]",
          "Session\\DHTEnabled=false",
          "Session\\LSDEnabled=false",
          "Session\\PeXEnabled=false",
          "Session\\Port=8999",
          "Session\\QueueingSystemEnabled=false",
          `Session\\DefaultSavePath=${p.dataDir}`,
          "",
          "[Preferences]",
          "Connection\\ResolvePeerCountries=false",
          "Connection\\UPnP=false",
          "General\\Locale=en",
          "WebUI\\Enabled=true",
          "WebUI\\Address=127.0.0.1",
          "WebUI\\Port=8080",
          "WebUI\\LocalHostAuth=false",
          "WebUI\\CSRFProtection=false",
          "",
        ].join("\n"),
      );
      const proc = lab.spawn(`qbittorrent ${p.role}`, p.ns, [
        "qbittorrent-nox",
        `--profile=${p.stateDir}`,
      ], { env: { SSL_CERT_FILE: p.caFile } });
      const api = "http://127.0.0.1:8080/api/v2";
      await waitFor(
        `qBittorrent Web API in ${p.ns}`,
        async () => {
          if (proc.status !== null) throw new Error(`qbittorrent-nox exited:\n${proc.output}`);
          const r = await runCommand(["curl", "-sf", "--max-time", "2", `${api}/app/version`], {
            ns: p.ns,
          });
          return r.code === 0 ? true : undefined;
        },
        30000,
        100,
      );
      const add = await runCommand([
        "curl",
        "-sS",
        "--max-time",
        "10",
        "-F",
        `torrents=@${p.torrent}`,
        "-F",
        `savepath=${p.dataDir}`,
        ...(p.role === "seed" ? ["-F", "skip_checking=true"] : []),
        `${api}/torrents/add`,
      ], { ns: p.ns });
      if (add.code !== 0 || add.stdout.trim() !== "Ok.") {
        throw new Error(`qBittorrent: adding the torrent failed: ${add.stdout}${add.stderr}`);
      }
      return proc;
    },
  };
}

/** Options of the libtorrent client script. */
export interface LibtorrentOptions {
  /** Transports allowed. */
  transport: "tcp" | "utp" | "both";
  /** `plain` (no MSE/PE), `rc4` (MSE/PE with RC4 forced both ways), `allowed` (default). */
  encryption: "plain" | "rc4" | "allowed";
  /** Use the DHT, bootstrapping from this node (`ip:port`). */
  dhtBootstrap?: string;
  /** Local Service Discovery. */
  lsd?: boolean;
  /** Label for output. */
  label: string;
}

/** The lab's python3-libtorrent client (lt_client.py). */
export function libtorrent(o: LibtorrentOptions): Client {
  return {
    debPackage: "python3-libtorrent",
    label: `libtorrent ${o.label}`,
    start(lab, p) {
      const listen = p.addresses.map((a) => a.includes(":") ? `[${a}]:6881` : `${a}:6881`);
      const proc = lab.spawn(`libtorrent ${p.role}`, p.ns, [
        PYTHON,
        `${LAB_DIR}lt_client.py`,
        "--role",
        p.role,
        "--listen",
        listen.join(","),
        "--torrent",
        p.torrent,
        "--save",
        p.dataDir,
        "--transport",
        o.transport,
        "--encryption",
        o.encryption,
        ...(o.dhtBootstrap ? ["--dht", "--dht-bootstrap", o.dhtBootstrap] : []),
        ...(o.lsd ? ["--lsd"] : []),
      ], { env: { SSL_CERT_FILE: p.caFile } });
      return proc.waitForLine(/"event": "ready"/, 30000).then(() => proc);
    },
  };
}

/** Starts the bare DHT node that lets two peers find each other (libtorrent, no torrent). */
export async function startDhtNode(lab: Lab, ns: string, address: string): Promise<Proc> {
  const proc = lab.spawn("dht node", ns, [
    PYTHON,
    `${LAB_DIR}lt_client.py`,
    "--role",
    "dht",
    "--listen",
    `${address}:6881`,
  ]);
  await proc.waitForLine(/"event": "ready"/, 30000);
  return proc;
}
