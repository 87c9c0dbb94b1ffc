/**
 * Test helpers: craft Ethernet/IPv4/IPv6 TCP and UDP frames around a payload, and drive a
 * conversation through an {@linkcode Analyzer} to see which packet decided it.
 *
 * @module
 */

import { Analyzer, Verdict } from "../../dpi/analyzer.ts";
import type { EngineConfig } from "../../dpi/config.ts";
import { LinkType } from "../../dpi/decode.ts";
import type { DetectionEvent } from "../../dpi/detection.ts";
import type { Detector } from "../../dpi/detector.ts";
import { parseAddress } from "../../dpi/address.ts";

/** One endpoint: an IPv4 or IPv6 address and a port. */
export interface Endpoint {
  /** Address text, e.g. `10.0.0.1` or `2001:db8::1`. */
  ip: string;
  /** Port number. */
  port: number;
}

/** Options for one crafted packet. */
export interface FrameOptions {
  /** 6 (TCP) or 17 (UDP). */
  l4: number;
  /** Sender. */
  src: Endpoint;
  /** Receiver. */
  dst: Endpoint;
  /** L4 payload. */
  payload?: Uint8Array | string;
  /** TCP flags (default PSH|ACK when there is payload, ACK otherwise). */
  flags?: number;
  /** TCP sequence number. */
  seq?: number;
  /** TCP acknowledgement number. */
  ack?: number;
}

/** Bytes of a string (Latin-1) or the array itself. */
export function bytesOf(payload: Uint8Array | string | undefined): Uint8Array {
  if (payload === undefined) return new Uint8Array(0);
  if (typeof payload !== "string") return payload;
  const out = new Uint8Array(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = payload.charCodeAt(i) & 0xff;
  return out;
}

/** Concatenates byte arrays and strings. */
export function concat(...parts: (Uint8Array | string | number[])[]): Uint8Array<ArrayBuffer> {
  const arrays = parts.map((p) => Array.isArray(p) ? Uint8Array.from(p) : bytesOf(p));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let off = 0;
  for (const a of arrays) {
    out.set(a, off);
    off += a.length;
  }
  return out;
}

/** A peer wire handshake (BEP 3) with no reserved bits set, for `infoHash` and `peerId`. */
export function peerWireHandshake(infoHash: Uint8Array, peerId: string): Uint8Array {
  return concat([19], "BitTorrent protocol", new Uint8Array(8), infoHash, peerId);
}

/** Deterministic pseudo-random bytes (xorshift), for payloads that must look encrypted. */
export function randomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Builds an Ethernet frame carrying an IPv4 or IPv6 TCP/UDP packet (checksums left zero). */
export function frame(o: FrameOptions): Uint8Array {
  const payload = bytesOf(o.payload);
  const src = new Uint32Array(4);
  const dst = new Uint32Array(4);
  const version = parseAddress(o.src.ip, src);
  if (version === 0 || parseAddress(o.dst.ip, dst) !== version) {
    throw new Error(`bad addresses ${o.src.ip} ${o.dst.ip}`);
  }
  const l4Header = o.l4 === 6 ? 20 : 8;
  const l4Length = l4Header + payload.length;
  const ipHeader = version === 4 ? 20 : 40;
  const out = new Uint8Array(14 + ipHeader + l4Length);
  const v = new DataView(out.buffer);
  v.setUint16(12, version === 4 ? 0x0800 : 0x86dd);
  let p = 14;
  if (version === 4) {
    out[p] = 0x45;
    v.setUint16(p + 2, ipHeader + l4Length);
    out[p + 8] = 64;
    out[p + 9] = o.l4;
    v.setUint32(p + 12, src[3]);
    v.setUint32(p + 16, dst[3]);
  } else {
    out[p] = 0x60;
    v.setUint16(p + 4, l4Length);
    out[p + 6] = o.l4;
    out[p + 7] = 64;
    for (let i = 0; i < 4; i++) {
      v.setUint32(p + 8 + 4 * i, src[i]);
      v.setUint32(p + 24 + 4 * i, dst[i]);
    }
  }
  p += ipHeader;
  v.setUint16(p, o.src.port);
  v.setUint16(p + 2, o.dst.port);
  if (o.l4 === 6) {
    v.setUint32(p + 4, (o.seq ?? 1000) >>> 0);
    v.setUint32(p + 8, (o.ack ?? 0) >>> 0);
    out[p + 12] = 5 << 4;
    out[p + 13] = o.flags ?? (payload.length > 0 ? 0x18 : 0x10);
    v.setUint16(p + 14, 65535);
  } else {
    v.setUint16(p + 4, l4Length);
  }
  out.set(payload, p + l4Header);
  return out;
}

/** One packet of a scripted conversation: who sends it and what. */
export interface Step {
  /** `"a"`: from the first endpoint to the second; `"b"`: the reverse. */
  from: "a" | "b";
  /** Payload (empty for a bare TCP segment). */
  payload?: Uint8Array | string;
  /** TCP flags override. */
  flags?: number;
}

/** The outcome of {@linkcode converse}. */
export interface Conversation {
  /** Detection events in order. */
  detections: DetectionEvent[];
  /** Confirmations of heuristic detections (`Verdict.CONFIRMED`) in order. */
  confirmations: DetectionEvent[];
  /** The analyzer, for inspecting its state afterwards. */
  analyzer: Analyzer;
}

/**
 * Plays a conversation between endpoints `a` and `b` through an analyzer. For TCP, sequence
 * and acknowledgement numbers follow the payloads (each side acknowledges all it received),
 * `tcpHandshake` prepends SYN, SYN+ACK, ACK, and `snapLength` truncates the captured frames.
 */
export function converse(
  l4: number,
  a: Endpoint,
  b: Endpoint,
  steps: Step[],
  options: {
    detectors?: Detector[];
    config?: Partial<EngineConfig>;
    tcpHandshake?: boolean;
    analyzer?: Analyzer;
    startTime?: number;
    /** Capture only the first `snapLength` bytes of each frame, as a capture snap length does. */
    snapLength?: number;
  } = {},
): Conversation {
  const analyzer = options.analyzer ?? new Analyzer(options.config ?? {}, options.detectors);
  const detections: DetectionEvent[] = [];
  const confirmations: DetectionEvent[] = [];
  const seq = { a: 1000, b: 500000 };
  let time = options.startTime ?? 1_700_000_000;
  const send = (from: "a" | "b", payload: Uint8Array, flags?: number) => {
    const to = from === "a" ? "b" : "a";
    const f = frame({
      l4,
      src: from === "a" ? a : b,
      dst: from === "a" ? b : a,
      payload,
      flags,
      seq: seq[from],
      ack: seq[to],
    });
    if (l4 === 6) {
      seq[from] = (seq[from] + payload.length + ((flags ?? 0) & 0x03 ? 1 : 0)) >>> 0;
    }
    time += 0.001;
    const captured = Math.min(f.length, options.snapLength ?? f.length);
    const v = analyzer.analyze(LinkType.ETHERNET, f, 0, captured, f.length, time);
    if (v === Verdict.DETECTION) detections.push(analyzer.detection.toEvent());
    if (v === Verdict.CONFIRMED) confirmations.push(analyzer.detection.toEvent());
  };
  if (l4 === 6 && options.tcpHandshake) {
    send("a", new Uint8Array(0), 0x02);
    send("b", new Uint8Array(0), 0x12);
    send("a", new Uint8Array(0), 0x10);
  }
  for (const s of steps) send(s.from, bytesOf(s.payload), s.flags);
  return { detections, confirmations, analyzer };
}
