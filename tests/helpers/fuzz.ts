/**
 * A seeded packet fuzzer for the decoder and the full analyzer: random bytes, truncations, bit
 * flips and field-level mutations of real packets (the project's fixtures and, when present, the
 * shared corpus), wrapped in every supported link type. Used by tests/fuzz_test.ts (a short
 * seeded run in CI) and bench/fuzz.ts (the long run).
 *
 * @module
 */

import { Analyzer } from "../../dpi/analyzer.ts";
import { LinkType } from "../../dpi/decode.ts";
import { NextResult, PcapHandle } from "../../ffi/libpcap.ts";
import { ascii } from "../../dpi/bytes.ts";

/** A seed packet: link type and bytes. */
export interface Seed {
  /** Link type of the bytes. */
  linkType: number;
  /** The frame. */
  bytes: Uint8Array;
}

/** Deterministic xoshiro128** generator, seeded through splitmix32, so runs are reproducible. */
export class Random {
  readonly #s = new Uint32Array(4);

  /** @param seed any integer */
  constructor(seed: number) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** A random unsigned 32-bit integer. */
  u32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A random integer in `[0, n)`. */
  below(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }

  /** Fills `out` with random bytes. */
  fill(out: Uint8Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.u32() & 0xff;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Reads every packet of a capture into seeds (copies). */
export function seedsFromCapture(path: string, limit = Infinity): Seed[] {
  const seeds: Seed[] = [];
  const h = PcapHandle.openOffline(path);
  try {
    const linkType = h.linkType;
    while (seeds.length < limit && h.next() === NextResult.PACKET) {
      seeds.push({
        linkType,
        bytes: h.data.slice(h.dataOffset, h.dataOffset + h.capturedLength),
      });
    }
  } finally {
    h.close();
  }
  return seeds;
}

/** Link-layer headers that carry an IP packet, by link type (IPv4 variant / IPv6 variant). */
const WRAPPERS: [number, (v6: boolean) => number[]][] = [
  [LinkType.ETHERNET, (v6) => [...new Array(12).fill(2), v6 ? 0x86 : 0x08, v6 ? 0xdd : 0x00]],
  [
    LinkType.ETHERNET,
    (v6) => [...new Array(12).fill(2), 0x81, 0, 0, 7, v6 ? 0x86 : 0x08, v6 ? 0xdd : 0x00],
  ],
  [LinkType.RAW, () => []],
  [LinkType.RAW_FILE, () => []],
  [LinkType.IPV4, () => []],
  [LinkType.IPV6, () => []],
  [
    LinkType.LINUX_SLL,
    (v6) => [0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, v6 ? 0x86 : 0x08, v6 ? 0xdd : 0],
  ],
  [
    LinkType.LINUX_SLL2,
    (v6) => [v6 ? 0x86 : 0x08, v6 ? 0xdd : 0, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0],
  ],
  [LinkType.NULL, (v6) => [v6 ? 10 : 2, 0, 0, 0]],
  [LinkType.LOOP, (v6) => [0, 0, 0, v6 ? 24 : 2]],
  [LinkType.PPP, (v6) => [0xff, 0x03, 0x00, v6 ? 0x57 : 0x21]],
  [LinkType.C_HDLC, (v6) => [0x0f, 0, v6 ? 0x86 : 0x08, v6 ? 0xdd : 0]],
  [
    LinkType.PPI,
    (v6) => [0, 0, 8, 0, 1, 0, 0, 0, ...new Array(12).fill(2), v6 ? 0x86 : 0x08, v6 ? 0xdd : 0],
  ],
  [
    LinkType.IEEE802_11,
    (
      v6,
    ) => [
      8,
      1,
      0,
      0,
      ...new Array(20).fill(2),
      0xaa,
      0xaa,
      3,
      0,
      0,
      0,
      v6 ? 0x86 : 8,
      v6 ? 0xdd : 0,
    ],
  ],
];

/** Byte strings worth planting at a payload's start: BitTorrent magics and lookalikes. */
const MAGICS = [
  Uint8Array.of(19, ...ascii("BitTorrent protocol")),
  ascii("d1:ad2:id20:"),
  ascii("d1:rd2:id20:"),
  Uint8Array.of(0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0),
  Uint8Array.of(0x41, 0x01),
  Uint8Array.of(0x21, 0x01),
  Uint8Array.of(0x01, 0x00),
  ascii("GET /announce?info_hash="),
  ascii("BT-SEARCH * HTTP/1.1\r\n"),
  Uint8Array.of(0, 0, 0, 1),
  Uint8Array.of(0, 0, 0, 13, 6),
  Uint8Array.of(0x16, 0x03, 0x01),
  Uint8Array.of(5, 1, 0),
];

/**
 * Produces mutated packets from seeds. {@linkcode next} returns the link type and fills
 * {@linkcode buffer} with the packet's bytes ({@linkcode length} of them).
 */
export class Mutator {
  /** Scratch buffer holding the current packet. */
  readonly buffer: Uint8Array = new Uint8Array(4096);
  /** Bytes of the current packet. */
  length = 0;
  /** What the last mutation was (for reporting a crash). */
  kind = "";
  readonly #seeds: Seed[];
  readonly #random: Random;

  /**
   * @param seeds real packets to mutate (may be empty: then only random and wrapped packets)
   * @param seed the random seed
   */
  constructor(seeds: Seed[], seed: number) {
    this.#seeds = seeds;
    this.#random = new Random(seed);
  }

  /** Makes the next packet; returns its link type. */
  next(): number {
    const r = this.#random;
    const choice = r.below(100);
    if (choice < 8 || this.#seeds.length === 0) return this.#randomBytes();
    const seed = this.#seeds[r.below(this.#seeds.length)];
    const buf = this.buffer;
    let linkType = seed.linkType;
    const n = Math.min(seed.bytes.length, buf.length);
    buf.set(seed.bytes.subarray(0, n));
    this.length = n;
    if (choice < 20) {
      this.kind = "rewrapped";
      linkType = this.#rewrap(seed);
    }
    if (r.below(10) < 6) this.#respread(linkType);
    const mutations = r.below(4);
    for (let m = 0; m < mutations; m++) this.#mutate(linkType);
    return linkType;
  }

  /**
   * Moves the packet into one of a few thousand sibling flows (the source address's last byte
   * and the source port's low byte), so flows keep being created, evicted and inspected instead
   * of being decided or given up once: a few long recordings then reach the detectors as often
   * as many short captures do.
   */
  #respread(linkType: number): void {
    const buf = this.buffer;
    const ip = ipStart({ linkType, bytes: buf.subarray(0, this.length) });
    if (ip < 0 || ip + 40 > this.length) return;
    const v4 = buf[ip] >> 4 === 4;
    buf[v4 ? ip + 15 : ip + 23] = this.#random.below(48);
    const l4 = v4 ? ip + (buf[ip] & 15) * 4 : ip + 40;
    if (l4 + 2 <= this.length) buf[l4 + 1] = this.#random.below(64);
  }

  #randomBytes(): number {
    const r = this.#random;
    this.kind = "random";
    this.length = r.below(1600);
    r.fill(this.buffer.subarray(0, this.length));
    return WRAPPERS[r.below(WRAPPERS.length)][0];
  }

  /** Moves the seed's IP packet into another link layer. */
  #rewrap(seed: Seed): number {
    const r = this.#random;
    const ip = ipStart(seed);
    if (ip < 0) return seed.linkType;
    const v6 = seed.bytes[ip] >> 4 === 6;
    const [linkType, header] = WRAPPERS[r.below(WRAPPERS.length)];
    const h = header(v6);
    const body = seed.bytes.subarray(ip, ip + this.buffer.length - h.length);
    this.buffer.set(h);
    this.buffer.set(body, h.length);
    this.length = h.length + body.length;
    return linkType;
  }

  #mutate(linkType: number): void {
    const r = this.#random;
    const buf = this.buffer;
    const k = r.below(6);
    if (k === 0 && this.length > 0) {
      this.kind += "+truncate";
      this.length = r.below(this.length + 1);
    } else if (k === 1 && this.length > 0) {
      this.kind += "+bitflip";
      const flips = 1 + r.below(8);
      for (let i = 0; i < flips; i++) buf[r.below(this.length)] ^= 1 << r.below(8);
    } else if (k === 2 && this.length > 0) {
      this.kind += "+field";
      // Header fields live in the first 80 bytes: set one to a boundary value.
      const at = r.below(Math.min(this.length, 80));
      const values = [0, 1, 0x7f, 0x80, 0xff, r.u32() & 0xff];
      buf[at] = values[r.below(values.length)];
      if (at + 1 < this.length && r.below(2) === 0) buf[at + 1] = values[r.below(values.length)];
    } else if (k === 3) {
      this.kind += "+magic";
      const payload = payloadStart(linkType, buf, this.length);
      const magic = MAGICS[r.below(MAGICS.length)];
      if (payload >= 0 && payload + magic.length <= buf.length) {
        buf.set(magic, payload);
        if (this.length < payload + magic.length) this.length = payload + magic.length;
      }
    } else if (k === 4 && this.length < buf.length) {
      this.kind += "+extend";
      const extra = Math.min(r.below(400), buf.length - this.length);
      r.fill(buf.subarray(this.length, this.length + extra));
      this.length += extra;
    } else {
      this.kind += "+randomize";
      const start = r.below(this.length + 1);
      const end = Math.min(this.length, start + r.below(64));
      r.fill(buf.subarray(start, end));
    }
  }
}

/** Offset of the IP header of a seed, or -1. */
function ipStart(seed: Seed): number {
  const b = seed.bytes;
  switch (seed.linkType) {
    case LinkType.ETHERNET: {
      let off = 12;
      while (off + 2 <= b.length && (b[off] === 0x81 || b[off] === 0x88) && b[off + 1] === 0x00) {
        off += 4;
      }
      if (off + 2 > b.length) return -1;
      const type = (b[off] << 8) | b[off + 1];
      return type === 0x0800 || type === 0x86dd ? off + 2 : -1;
    }
    case LinkType.LINUX_SLL:
      return 16;
    case LinkType.LINUX_SLL2:
      return 20;
    case LinkType.NULL:
    case LinkType.LOOP:
      return 4;
    case LinkType.RAW:
    case LinkType.RAW_FILE:
    case LinkType.IPV4:
    case LinkType.IPV6:
      return 0;
    default:
      return -1;
  }
}

/** A rough guess of where the L4 payload starts (for planting magics); -1 if unknown. */
function payloadStart(linkType: number, buf: Uint8Array, length: number): number {
  const ip = ipStart({ linkType, bytes: buf.subarray(0, length) });
  if (ip < 0 || ip >= length) return -1;
  const v = buf[ip] >> 4;
  const headerLength = v === 4 ? (buf[ip] & 15) * 4 : 40;
  const l4 = ip + headerLength;
  const proto = v === 4 ? buf[ip + 9] : buf[ip + 6];
  if (proto === 17) return l4 + 8;
  if (proto === 6 && l4 + 12 < length) return l4 + ((buf[l4 + 12] >> 4) << 2);
  return -1;
}

/** Results of {@linkcode fuzz}. */
export interface FuzzReport {
  /** Packets fed. */
  packets: number;
  /** Payload packets that reached the detectors. */
  inspected: number;
  /** Exceptions thrown by the analyzer (must be 0), with the mutation that caused the first. */
  exceptions: number;
  /** The first exception, if any. */
  firstError: string | null;
  /** Slowest single packet, milliseconds. */
  maxMs: number;
  /** Packets slower than `slowMs`. */
  slow: number;
  /** The analyzer's counters (they must add up to `packets`). */
  counted: number;
  /** Malformed packets counted. */
  malformed: number;
  /** Detections made along the way. */
  detections: number;
}

/**
 * Feeds `count` mutated packets to one analyzer (a small flow table, so eviction is exercised
 * too) and reports exceptions, timing and counting.
 */
export function fuzz(seeds: Seed[], seed: number, count: number, slowMs = 10): FuzzReport {
  const mutator = new Mutator(seeds, seed);
  const analyzer = new Analyzer({ maxFlows: 4096, maxEndpoints: 1024, detectSocks: true });
  const report: FuzzReport = {
    packets: 0,
    inspected: 0,
    exceptions: 0,
    firstError: null,
    maxMs: 0,
    slow: 0,
    counted: 0,
    malformed: 0,
    detections: 0,
  };
  let time = 1_700_000_000;
  for (let i = 0; i < count; i++) {
    const linkType = mutator.next();
    time += 0.0001;
    const started = performance.now();
    try {
      if (
        analyzer.analyze(linkType, mutator.buffer, 0, mutator.length, mutator.length, time) !== 0
      ) {
        report.detections++;
      }
    } catch (e) {
      report.exceptions++;
      report.firstError ??= `${mutator.kind} (link ${linkType}, ${mutator.length} bytes: ${
        [...mutator.buffer.subarray(0, mutator.length)].map((b) => b.toString(16).padStart(2, "0"))
          .join("")
      }): ${(e as Error).stack ?? e}`;
    }
    const ms = performance.now() - started;
    if (ms > report.maxMs) report.maxMs = ms;
    if (ms > slowMs) report.slow++;
    report.packets++;
  }
  const s = analyzer.stats;
  report.counted = s.decoded + s.malformed + s.notIp + s.otherTransport + s.fragments +
    s.unsupportedLink;
  report.malformed = s.malformed;
  report.inspected = s.inspected;
  return report;
}
