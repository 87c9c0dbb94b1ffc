/**
 * A small HTTP BitTorrent tracker (BEP 3 announce and scrape, compact peer lists for IPv4 —
 * BEP 23 — and IPv6 — BEP 7) for what Debian's opentracker cannot do: IPv6 (Debian builds it
 * for IPv4 only) and HTTPS. Open: any info-hash is tracked. Prints `listening` once every
 * socket is bound; runs until SIGTERM.
 *
 *     deno run --allow-net --allow-read tracker.ts [--http ADDR:PORT]… \
 *         [--https ADDR:PORT… --cert C --key K]
 *
 * `ADDR:PORT` is `10.0.0.1:6969` or `[fd00::1]:6969`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseAddress } from "../../dpi/address.ts";
import { concat } from "../helpers/packets.ts";
import { bencode, type BValue, hex } from "./torrent.ts";

interface Peer {
  ip: string;
  port: number;
  complete: boolean;
  seen: number;
}

/** Percent-decodes a query value to raw bytes (info-hashes are binary). */
export function percentDecode(value: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === "%" && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      out.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c === "+") {
      out.push(0x20);
    } else {
      out.push(...new TextEncoder().encode(c));
    }
  }
  return Uint8Array.from(out);
}

/** The raw (undecoded) values of a query string, by name. */
function queryValues(url: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const q = url.indexOf("?");
  if (q < 0) return out;
  for (const part of url.slice(q + 1).split("&")) {
    const eq = part.indexOf("=");
    const name = eq < 0 ? part : part.slice(0, eq);
    const list = out.get(name) ?? [];
    list.push(eq < 0 ? "" : part.slice(eq + 1));
    out.set(name, list);
  }
  return out;
}

/** Packs an IPv4 or IPv6 address and a port into the compact form. */
function compact(ip: string, port: number): Uint8Array {
  const w = new Uint32Array(4);
  const words = parseAddress(ip, w) === 4 ? [w[3]] : [...w];
  const bytes = words.flatMap((x) => [x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255]);
  return Uint8Array.from([...bytes, port >> 8, port & 255]);
}

/** The tracker's swarms: info-hash (hex) → peers by `ip|port`. */
export class Swarms {
  readonly #swarms = new Map<string, Map<string, Peer>>();

  /** Handles an announce or scrape request from `ip`; returns the bencoded body. */
  handle(url: string, ip: string): Uint8Array<ArrayBuffer> {
    const q = queryValues(url);
    // Not `new URL`: some clients send an IPv6 Host header without brackets, which makes
    // the request URL unparsable; only the path and query matter here.
    const afterHost = url.indexOf("/", url.indexOf("://") + 3);
    const path = url.slice(afterHost).split("?")[0];
    const hashes = (q.get("info_hash") ?? []).map(percentDecode).filter((h) => h.length === 20);
    if (path === "/scrape") {
      const files: Record<string, BValue> = {};
      for (const h of hashes) {
        const peers = [...(this.#swarms.get(hex(h))?.values() ?? [])];
        const complete = peers.filter((p) => p.complete).length;
        files[String.fromCharCode(...h)] = {
          complete,
          downloaded: 0,
          incomplete: peers.length - complete,
        };
      }
      return bencodeLatin1({ files });
    }
    if (path !== "/announce") return bencode({ "failure reason": "unknown path" });
    const port = Number(q.get("port")?.[0]);
    if (hashes.length !== 1 || !(port > 0 && port < 65536)) {
      return bencode({ "failure reason": "bad announce" });
    }
    const key = hex(hashes[0]);
    const swarm = this.#swarms.get(key) ?? new Map<string, Peer>();
    this.#swarms.set(key, swarm);
    const id = `${ip}|${port}`;
    const event = q.get("event")?.[0];
    if (event === "stopped") {
      swarm.delete(id);
    } else {
      swarm.set(id, { ip, port, complete: q.get("left")?.[0] === "0", seen: Date.now() });
    }
    const others = [...swarm.entries()].filter(([k]) => k !== id).map(([, p]) => p);
    const complete = others.filter((p) => p.complete).length;
    return bencode({
      interval: 30,
      complete,
      incomplete: others.length - complete,
      peers: concat(...others.filter((p) => !p.ip.includes(":")).map((p) => compact(p.ip, p.port))),
      peers6: concat(...others.filter((p) => p.ip.includes(":")).map((p) => compact(p.ip, p.port))),
    });
  }
}

/** bencode with dictionary keys that are binary strings (scrape's `files`). */
function bencodeLatin1(value: { files: Record<string, BValue> }): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [new TextEncoder().encode("d5:filesd")];
  for (const k of Object.keys(value.files).sort()) {
    const raw = Uint8Array.from([...k].map((c) => c.charCodeAt(0)));
    parts.push(new TextEncoder().encode(`${raw.length}:`), raw, bencode(value.files[k]));
  }
  parts.push(new TextEncoder().encode("ee"));
  return concat(...parts);
}

/** Splits `ADDR:PORT` / `[ADDR]:PORT`. */
function hostPort(text: string): { hostname: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  if (m === null) throw new Error(`bad ADDR:PORT ${text}`);
  return { hostname: m[1], port: Number(m[2]) };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      http: { type: "string", multiple: true, default: [] },
      https: { type: "string", multiple: true, default: [] },
      cert: { type: "string" },
      key: { type: "string" },
    },
  });
  const tls = values.https.length > 0
    ? { cert: await Deno.readTextFile(values.cert!), key: await Deno.readTextFile(values.key!) }
    : {};
  if (values.http.length + values.https.length === 0) {
    console.error("usage: tracker.ts [--http ADDR:PORT]… [--https ADDR:PORT… --cert C --key K]");
    Deno.exit(2);
  }
  const swarms = new Swarms();
  const handler = (req: Request, info: Deno.ServeHandlerInfo) => {
    const ip = (info.remoteAddr as Deno.NetAddr).hostname;
    try {
      const body = swarms.handle(req.url, ip);
      return new Response(body, { headers: { "content-type": "text/plain" } });
    } catch (e) {
      console.error(`tracker: ${req.url} from ${ip}: ${(e as Error).stack}`);
      return new Response(bencode({ "failure reason": "tracker error" }));
    }
  };
  const servers = [
    ...values.http.map((a) => Deno.serve({ ...hostPort(a), onListen: () => {} }, handler)),
    ...values.https.map((a) => Deno.serve({ ...hostPort(a), ...tls, onListen: () => {} }, handler)),
  ];
  console.log(`listening: http ${values.http.join(" ")}; https ${values.https.join(" ")}`);
  Deno.addSignalListener("SIGTERM", async () => {
    await Promise.all(servers.map((s) => s.shutdown()));
    Deno.exit(0);
  });
}
