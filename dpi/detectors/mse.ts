/**
 * Message Stream Encryption / Protocol Encryption (MSE/PE): BitTorrent's obfuscated handshake,
 * recognised by the shape of a TCP flow from its first byte, never by one packet's entropy.
 *
 * The key exchange (A: initiator, B: responder; sizes in bytes):
 *
 * ```text
 * 1 A->B  Ya (96, Diffie-Hellman public key), PadA (0–512 random)
 * 2 B->A  Yb (96), PadB (0–512)
 * 3 A->B  HASH('req1', S) (20), HASH('req2', SKEY) xor HASH('req3', S) (20),
 *         ENCRYPT(VC (8), crypto_provide (4), len(PadC) (2), PadC (0–512), len(IA) (2)), ENCRYPT(IA)
 * 4 B->A  ENCRYPT(VC, crypto_select, len(PadD), PadD), then the encrypted stream
 * ```
 *
 * Every byte of it looks random. The detector follows the flights (all bytes a side sends before
 * the other side sends new data, summed over TCP segments by sequence number, so segmentation,
 * retransmissions and snap-length truncation do not matter) and reports {@linkcode Reason.MSE}
 * as soon as the initiator's second flight reaches 56 bytes (step 3's fixed part: 20 + 20 + 8 +
 * 4 + 2 + 2), when all of this holds:
 *
 * - the flow was seen from its start (a SYN or SYN+ACK seen, first payload right after it);
 * - the initiator speaks first, and the flights strictly alternate: A1, B1, A2;
 * - A1 and B1 each total 96–608 bytes on the wire; B sends no new data while A2 is under 56 bytes;
 * - A1, B1 and A2 each look random: every segment with at least 48 bytes present has about as
 *   many distinct byte values as random bytes would (at least the expected count minus five
 *   standard deviations, see {@linkcode minDistinctRandom}) and is not text; the first segment of
 *   A1 and of B1 (which carry Ya and Yb, each written at once) must be such a segment, and A2 must
 *   contain one; no flight starts like another protocol ({@linkcode isOtherTcpProtocol}) or
 *   with a small integer ({@linkcode startsWithSmallInteger}): Ya, Yb and HASH('req1', S) do not;
 * - neither first flight starts with its own length ({@linkcode startsWithOwnLength}: RLPx's EIP-8
 *   auth and ack, Noise-framed handshakes such as Hyperswarm's), and they are not legacy RLPx's
 *   307-byte auth and 210-byte ack.
 *
 * Waiting for step 3 rather than stopping at step 2 rejects one-way floods, responders that speak
 * first, and request/response protocols whose second client message is short; the verdict comes
 * with the initiator's third payload packet or so (flow packet 6 to 8 with the TCP handshake).
 * Flows on ports that are usually not BitTorrent (`x.sensitivePort`) are never judged. On random
 * handshakes with random pads and segmentation the rules miss about 4 in 10⁴ (mostly a key that
 * starts with two zero bytes); libtorrent, Transmission and aria2 handshakes are all detected.
 *
 * That verdict is a heuristic (`Confidence.HEURISTIC`): sizes and randomness are all it sees.
 * The detector then follows the flow ({@linkcode MseDetector.confirm}) and upgrades it when the
 * BitTorrent message grammar shows through RC4, which keeps lengths: measured on libtorrent,
 * Transmission and aria2 (tests/fixtures), the 68-byte handshake, 5-byte unchoke/interested,
 * 13-byte piece headers, 17·k-byte request trains and 16397-byte pieces appear within a few dozen
 * segments of step 3 (aria2 even sends its handshake in plaintext after step 4).
 *
 * What remains possible: other fully-random handshakes with the same flight sizes. obfs4 client
 * and server hellos are 141–8192 bytes (about one connection in 300 falls in 96–608 both ways);
 * Shadowsocks and VMess (without TLS) start with a random salt/header plus the first proxied
 * request, so a short proxied exchange can fit; MTProto's obfuscated transport (64 random bytes
 * plus `req_pq`) usually gets a `res_pq` shorter than 96 bytes back but padded variants can reach
 * it; Psiphon's obfuscated SSH sends a random seed and random padding both ways. Tor is TLS and
 * SSH begins with its text banner (whatever its software name), so neither matches. These
 * protocols run mostly on 443 (a sensitive port); elsewhere they stay heuristic detections, which
 * the ban rule never bans alone (shadowsocks-libev carrying short HTTP requests does match, see
 * tests/fixtures/lookalike_shadowsocks_loopback.pcap).
 *
 * @module
 */

import { distinctBytes, indexOfByte, isText, u32 } from "../bytes.ts";
import type { Detector, Inspection } from "../detector.ts";
import { IPPROTO_TCP, TcpFlag } from "../packet.ts";
import { Confidence, Reason } from "../reason.ts";
import { isOtherTcpProtocol } from "./other_protocols.ts";
import { isPeerWireHandshake } from "./peer_wire.ts";

/** Size of a Diffie-Hellman public key (768-bit prime). */
const KEY = 96;
/** Largest padding the spec allows. */
const PAD_MAX = 512;
/** Smallest step 3: two hashes, VC, crypto_provide, len(PadC), len(IA). */
const STEP3_MIN = 20 + 20 + 8 + 4 + 2 + 2;
/** Segments with fewer bytes present are not judged for randomness. */
const JUDGE_MIN = 48;
/** At most this many bytes of a segment are judged (bounds the cost of big segments). */
const JUDGE_MAX = 512;
/** Standard deviations below the random expectation still accepted. */
const TOLERANCE = 5;
/** Legacy (pre-EIP-8) RLPx auth message: the initiator's whole first flight. */
const RLPX_AUTH = 307;
/** Legacy RLPx auth-ack message: the responder's whole first flight. */
const RLPX_ACK = 210;
/** New segments of a heuristic detection followed for its confirmation. */
const CONFIRM_SEGMENTS = 64;
/** Request trains are counted up to this many 17-byte requests in one segment. */
const REQUESTS_MAX = 64;
/** A peer wire message carrying a 16 KiB block: 4 + 1 + 4 + 4 + 16384. */
const PIECE_MESSAGE = 16397;
/** Size hits (one of them short) that confirm a detection. */
const CONFIRM_HITS = 2;
/** The longest short message (a request; keep-alive, have, piece header are shorter). */
const SHORT_MAX = 17;
/**
 * How far into a direction's first segment after the detection a plaintext handshake is looked
 * for: past the rest of step 4 (VC, crypto_select, len(PadD), PadD) and the 20 bytes that name it.
 */
const HANDSHAKE_SEARCH = 8 + 4 + 2 + PAD_MAX + 20;

// Phases of a flow (per-flow state).
/** Nothing seen yet. */
const NEW = 0;
/** In the initiator's first flight (Ya, PadA). */
const A1 = 1;
/** In the responder's first flight (Yb, PadB). */
const B1 = 2;
/** In the initiator's second flight (step 3). */
const A2 = 3;
/** Not MSE, or decided and confirmed (or never confirmed): nothing more to do. */
const DONE = 4;
/** Decided on the heuristic; following the flow for its confirmation. */
const CONFIRMING = 5;

/**
 * The fewest distinct byte values that `n` random bytes show, within {@linkcode TOLERANCE}
 * standard deviations: `n` draws from 256 values hit `E = 256·(1 − (255/256)^n)` of them, with
 * variance `256·255·(254/256)^n + 256·(255/256)^n − 256²·(255/256)^2n`. Measured on random data,
 * fewer than 1 segment in 10⁵ falls below it.
 *
 * @example
 * ```ts
 * import { minDistinctRandom } from "./mse.ts";
 * minDistinctRandom(96); // 64 (random 96 bytes hold about 80 distinct values)
 * ```
 */
export function minDistinctRandom(n: number): number {
  const q1 = Math.pow(255 / 256, n);
  const q2 = Math.pow(254 / 256, n);
  const mean = 256 * (1 - q1);
  const variance = 256 * 255 * q2 + 256 * q1 - 256 * 256 * q1 * q1;
  return Math.floor(mean - TOLERANCE * Math.sqrt(variance));
}

/** {@linkcode minDistinctRandom} for every judged length, computed once. */
const MIN_DISTINCT: Uint16Array = (() => {
  const table = new Uint16Array(JUDGE_MAX + 1);
  for (let n = JUDGE_MIN; n <= JUDGE_MAX; n++) table[n] = minDistinctRandom(n);
  return table;
})();

/**
 * Whether the bytes present in `[off, end)` look like the output of a cipher: enough distinct byte
 * values ({@linkcode minDistinctRandom}) and not text. At most the first 512 bytes are judged;
 * fewer than 48 bytes prove nothing and return `false`.
 *
 * @example
 * ```ts
 * import { looksRandom } from "./mse.ts";
 * const random = crypto.getRandomValues(new Uint8Array(96));
 * looksRandom(random, 0, random.length); // true (but for about 1 in 10⁵)
 * looksRandom(new Uint8Array(96), 0, 96); // false
 * ```
 */
export function looksRandom(buf: Uint8Array, off: number, end: number): boolean {
  const n = Math.min(end - off, JUDGE_MAX);
  if (n < JUDGE_MIN) return false;
  if (distinctBytes(buf, off, off + n) < MIN_DISTINCT[n]) return false;
  if (isText(buf, off, off + n)) return false;
  return true;
}

/**
 * Whether two or more of the first four bytes present are zero: the length or type field that
 * framed binary protocols start a message with (random bytes do this about once in 11000).
 *
 * @example
 * ```ts
 * import { startsWithSmallInteger } from "./mse.ts";
 * const framed = Uint8Array.of(0, 0, 5, 0xf8, 3);
 * startsWithSmallInteger(framed, 0, framed.length); // true
 * ```
 */
export function startsWithSmallInteger(buf: Uint8Array, off: number, end: number): boolean {
  const n = Math.min(end - off, 4);
  let zeros = 0;
  for (let i = off; i < off + n; i++) if (buf[i] === 0) zeros++;
  return zeros >= 2;
}

/**
 * Whether a first flight of `size` bytes starting with the four bytes `head` (big-endian) starts
 * with its own length: the framing of RLPx's EIP-8 handshake (2-byte big-endian size) and of
 * Noise-framed protocols such as Hyperswarm's secret stream (3-byte little-endian length).
 * Random keys do this about 3 times in 65536.
 *
 * @example
 * ```ts
 * import { startsWithOwnLength } from "./mse.ts";
 * startsWithOwnLength(0x01940000, 406); // true: EIP-8 auth of 404 bytes behind its size
 * ```
 */
export function startsWithOwnLength(head: number, size: number): boolean {
  if (head >>> 16 === size - 2) return true; // u16 big-endian (RLPx EIP-8)
  if ((((head >>> 16) & 0xff) << 8 | head >>> 24) === size - 2) return true; // u16 little-endian
  if ((((head >>> 8) & 0xff) << 16 | ((head >>> 16) & 0xff) << 8 | head >>> 24) === size - 3) {
    return true; // u24 little-endian (Noise framing, Hyperswarm secret stream)
  }
  return false;
}

/**
 * Whether a TCP segment of `size` payload bytes has the size of a peer wire message or of a
 * common run of them: keep-alive (4), a message without fields (choke, unchoke, interested,
 * have_all…: 5), have (9), a piece header sent apart from its block (13), requests (17 each, in
 * trains of up to 64; the 68-byte handshake is four of them long), a 16 KiB piece message.
 * RC4 keeps lengths, so MSE shows them; protocols with authentication tags send no record
 * shorter than 18 bytes, and RLPx sends multiples of 16.
 *
 * @example
 * ```ts
 * import { isPeerWireSize } from "./mse.ts";
 * isPeerWireSize(68); // true
 * isPeerWireSize(64); // false
 * ```
 */
export function isPeerWireSize(size: number): boolean {
  if (size === 4 || size === 5 || size === 9 || size === 13) return true;
  if (size === PIECE_MESSAGE) return true;
  return size % 17 === 0 && size > 0 && size <= 17 * REQUESTS_MAX;
}

/** Whether `[off, end)` contains the plaintext peer wire handshake (MSE's plaintext mode). */
function containsHandshake(buf: Uint8Array, off: number, end: number): boolean {
  for (let i = indexOfByte(buf, off, end, 0x13); i >= 0; i = indexOfByte(buf, i + 1, end, 0x13)) {
    if (isPeerWireHandshake(buf, i, end)) return true;
  }
  return false;
}

/**
 * Detects the MSE/PE key exchange on TCP flows (see the module documentation for the rules),
 * reports it with `HEURISTIC` confidence, then follows the flow to confirm it: see
 * {@linkcode MseDetector.confirm}. Per-flow state lives in typed arrays indexed by slot.
 */
export class MseDetector implements Detector {
  readonly transport = IPPROTO_TCP;
  readonly harvests: readonly number[] = [Reason.MSE];
  /** Phase per flow (`NEW`, `A1`, `B1`, `A2`, `DONE`). */
  readonly #phase: Uint8Array;
  /** 1 when the current flight has a segment judged random. */
  readonly #random: Uint8Array;
  /** Sequence number of the first payload byte, per direction (`slot * 2 + dir`). */
  readonly #start: Uint32Array;
  /** One past the highest payload byte sent, per direction. */
  readonly #end: Uint32Array;
  /** Sequence number just past the initiator's first flight. */
  readonly #a1End: Uint32Array;
  /** First four bytes (big-endian) of each direction's first flight (`slot * 2 + dir`). */
  readonly #head: Uint32Array;
  /** New segments followed since the heuristic detection. */
  readonly #followed: Uint8Array;
  /** Segments since the detection with a peer wire message size ({@linkcode isPeerWireSize}). */
  readonly #hits: Uint8Array;
  /** 1 when one of the hits was a short message (17 bytes or fewer). */
  readonly #short: Uint8Array;
  /** Directions (bit `1 << dir`) that sent a new segment since the detection. */
  readonly #spoke: Uint8Array;

  /** @param capacity the flow table's capacity */
  constructor(capacity: number) {
    this.#phase = new Uint8Array(capacity);
    this.#random = new Uint8Array(capacity);
    this.#start = new Uint32Array(capacity * 2);
    this.#end = new Uint32Array(capacity * 2);
    this.#a1End = new Uint32Array(capacity);
    this.#head = new Uint32Array(capacity * 2);
    this.#followed = new Uint8Array(capacity);
    this.#hits = new Uint8Array(capacity);
    this.#short = new Uint8Array(capacity);
    this.#spoke = new Uint8Array(capacity);
  }

  reset(slot: number): void {
    this.#phase[slot] = NEW;
    this.#random[slot] = 0;
    this.#followed[slot] = 0;
    this.#hits[slot] = 0;
    this.#short[slot] = 0;
    this.#spoke[slot] = 0;
  }

  /**
   * Follows a flow decided as MSE for its next {@linkcode CONFIRM_SEGMENTS} new segments and
   * confirms it when BitTorrent shows through:
   * - `SIGNATURE` when a segment starts with the plaintext handshake, or a direction's first
   *   segment holds it within {@linkcode HANDSHAKE_SEARCH} bytes (the peers chose MSE's plaintext
   *   mode: the handshake follows step 4 in clear);
   * - `STRUCTURAL` when two segments have peer wire message sizes ({@linkcode isPeerWireSize}),
   *   one of them a short message (keep-alive, have, a piece header, one request, a message
   *   without fields), which no protocol with authentication tags or 16-byte framing sends.
   * Retransmissions are skipped. A look-alike is never confirmed and stays `HEURISTIC`.
   */
  confirm(x: Inspection): number {
    const slot = x.slot;
    if (this.#phase[slot] !== CONFIRMING) return 0;
    const d = slot * 2 + x.direction;
    const dataEnd = (x.packet.seq + x.wireLength) >>> 0;
    if (((dataEnd - this.#end[d]) | 0) <= 0) return 0; // a retransmission: nothing new
    this.#end[d] = dataEnd;
    const first = (this.#spoke[slot] & (1 << x.direction)) === 0;
    this.#spoke[slot] |= 1 << x.direction;
    const searchEnd = first ? Math.min(x.end, x.offset + HANDSHAKE_SEARCH) : x.offset;
    if (
      isPeerWireHandshake(x.buf, x.offset, x.end) || containsHandshake(x.buf, x.offset, searchEnd)
    ) {
      return this.#confirmed(slot, Confidence.SIGNATURE);
    }
    if (isPeerWireSize(x.wireLength)) {
      this.#hits[slot]++;
      if (x.wireLength <= SHORT_MAX) this.#short[slot] = 1;
    }
    if (this.#hits[slot] >= CONFIRM_HITS && this.#short[slot] === 1) {
      return this.#confirmed(slot, Confidence.STRUCTURAL);
    }
    if (++this.#followed[slot] >= CONFIRM_SEGMENTS) this.#phase[slot] = DONE;
    return 0;
  }

  #confirmed(slot: number, confidence: number): number {
    this.#phase[slot] = DONE;
    return confidence;
  }

  inspect(x: Inspection): number {
    if (x.sensitivePort) return 0;
    const slot = x.slot;
    const phase = this.#phase[slot];
    if (phase === DONE) return 0;
    const p = x.packet;
    const dir = x.direction;
    const d = slot * 2 + dir;
    const dataStart = (p.tcpFlags & TcpFlag.SYN) !== 0 ? (p.seq + 1) >>> 0 : p.seq;
    const dataEnd = (dataStart + x.wireLength) >>> 0;
    if (phase === NEW) {
      if (dir !== 0 || !this.#startsStream(x, dataStart)) return this.#fail(slot);
      this.#start[d] = dataStart;
      this.#end[d] = dataStart;
      this.#phase[slot] = A1;
      return this.#extend(x, d, dataEnd, true);
    }
    if (phase === A1) {
      if (dir === 0) return this.#extend(x, d, dataEnd, false);
      if (!this.#closeFlight(slot, slot * 2)) return this.#fail(slot);
      if (!this.#startsStream(x, dataStart)) return this.#fail(slot);
      this.#a1End[slot] = this.#end[slot * 2];
      this.#start[d] = dataStart;
      this.#end[d] = dataStart;
      this.#phase[slot] = B1;
      return this.#extend(x, d, dataEnd, true);
    }
    if (((dataEnd - this.#end[d]) | 0) <= 0) return 0; // a retransmission: nothing new
    if (phase === B1) {
      if (dir === 1) return this.#extend(x, d, dataEnd, false);
      if (!this.#closeFlight(slot, slot * 2 + 1)) return this.#fail(slot);
      this.#phase[slot] = A2;
      return this.#extend(x, d, dataEnd, true);
    }
    // A2: the responder cannot answer step 3 before it has all of its fixed part.
    if (dir === 1) return this.#fail(slot);
    return this.#extend(x, d, dataEnd, false);
  }

  /**
   * Whether the direction's first payload starts its byte stream: right after its SYN when the
   * SYN was seen; for the initiator, some SYN of the flow must have been seen at all.
   */
  #startsStream(x: Inspection, dataStart: number): boolean {
    const flows = x.flows;
    const d = x.slot * 2 + x.direction;
    if ((flows.tcpFlags[d] & TcpFlag.SYN) !== 0) {
      return dataStart === ((flows.seqFirst[d] + 1) >>> 0);
    }
    if (x.direction === 1) return true;
    return (flows.tcpFlags[d + 1] & TcpFlag.SYN) !== 0; // capture began at the SYN+ACK
  }

  /**
   * Adds a segment to the current flight of direction `d`: judges its bytes, advances the
   * flight's end, checks the flight's size, and decides once step 3 is long enough.
   */
  #extend(x: Inspection, d: number, dataEnd: number, first: boolean): number {
    const slot = x.slot;
    const present = x.end - x.offset;
    if (first) {
      this.#random[slot] = 0;
      if (isOtherTcpProtocol(x.buf, x.offset, x.end)) return this.#fail(slot);
      // Ya and Yb go out in one write: a short first segment is some other protocol's header.
      // (Step 3 may follow PadA, which Nagle's algorithm can hold back into a segment of its own.)
      if (present < JUDGE_MIN && this.#phase[slot] !== A2) return this.#fail(slot);
      if (startsWithSmallInteger(x.buf, x.offset, x.end)) return this.#fail(slot);
      if (present >= 4) this.#head[d] = u32(x.buf, x.offset);
    }
    if (present >= JUDGE_MIN) {
      if (!looksRandom(x.buf, x.offset, x.end)) return this.#fail(slot);
      this.#random[slot] = 1;
    }
    if (((dataEnd - this.#end[d]) | 0) > 0) this.#end[d] = dataEnd;
    const phase = this.#phase[slot];
    if (phase === A2) {
      const step3 = (this.#end[d] - this.#a1End[slot]) >>> 0;
      if (step3 < STEP3_MIN || this.#random[slot] === 0) return 0;
      this.#phase[slot] = CONFIRMING;
      return Reason.MSE;
    }
    if (this.#sent(d) > KEY + PAD_MAX) return this.#fail(slot);
    return 0;
  }

  /**
   * Ends the first flight of direction `d`: 96–608 bytes, at least one segment judged random,
   * not framed by its own length, and not the pair of legacy RLPx handshake sizes.
   */
  #closeFlight(slot: number, d: number): boolean {
    const size = this.#sent(d);
    if (this.#random[slot] !== 1) return false;
    if (size < KEY) return false;
    if (startsWithOwnLength(this.#head[d], size)) return false;
    if ((d & 1) === 1 && size === RLPX_ACK && this.#sent(d - 1) === RLPX_AUTH) return false;
    return true;
  }

  /** Bytes sent in direction `d` since its first payload byte. */
  #sent(d: number): number {
    return (this.#end[d] - this.#start[d]) >>> 0;
  }

  #fail(slot: number): number {
    this.#phase[slot] = DONE;
    return 0;
  }
}
