/**
 * The BitTorrent peer wire protocol over TCP, in three strengths:
 *
 * - the BEP 3 handshake `\x13BitTorrent protocol` at the start of a direction's stream (the
 *   payload following its SYN, or the first payload seen), also when split over several segments
 *   (matched through a small per-direction header buffer) → `BT_HANDSHAKE`. It is never searched
 *   for elsewhere in a stream;
 * - a BEP 10 extension handshake (message 20, extended id 0, a bencoded dictionary whose `m`
 *   maps extension names to numbers) found on a message boundary mid-flow → `BT_EXTENSION`;
 * - mid-flow peer wire messages (BEP 3, 6, 10, 52) for captures that begin after the handshake:
 *   a direction is followed message by message across segments by TCP sequence number, each
 *   segment must be tiled exactly by well-formed messages with plausible fields, and the flow is
 *   reported only after several weighted messages in at least two segments, one of them a block
 *   reference (request, piece, cancel, reject), a v2 hash message or a bencoded extended message
 *   → `BT_MESSAGE`.
 *
 * A direction whose observed stream start is not a handshake never hunts for messages (plain
 * peer connections open with the handshake), and a direction that loses the message framing it
 * had found vetoes `BT_MESSAGE` for the flow. On ports that are usually not BitTorrent only the
 * handshake at the stream start counts.
 *
 * Decided flows are harvested cheaply: the messages at the start of a segment are walked, PEX
 * (BEP 11) `added`/`added6` peers are remembered as `PEX_PEER`, and the DHT port announced by a
 * PORT message is remembered with the sender's address as `KNOWN_PEER`.
 *
 * @module
 */

import {
  BENCODE_TRUNCATED,
  dictGet,
  intValue,
  stringLength,
  stringStart,
  valueEnd,
} from "../bencode.ts";
import { ascii, matchAt, u16, u32 } from "../bytes.ts";
import type { Detector, Inspection } from "../detector.ts";
import { IPPROTO_TCP, TcpFlag } from "../packet.ts";
import { Reason } from "../reason.ts";

/** Message ids of the peer wire protocol (BEP 3, FAST extension BEP 6, BEP 10, BEP 52). */
export const PeerWireId = {
  CHOKE: 0,
  UNCHOKE: 1,
  INTERESTED: 2,
  NOT_INTERESTED: 3,
  HAVE: 4,
  BITFIELD: 5,
  REQUEST: 6,
  PIECE: 7,
  CANCEL: 8,
  PORT: 9,
  SUGGEST_PIECE: 0x0d,
  HAVE_ALL: 0x0e,
  HAVE_NONE: 0x0f,
  REJECT_REQUEST: 0x10,
  ALLOWED_FAST: 0x11,
  EXTENDED: 20,
  HASH_REQUEST: 21,
  HASHES: 22,
  HASH_REJECT: 23,
} as const;

/** Returned by {@linkcode peerWireMessageLength} for bytes that are not a plausible message. */
export const MESSAGE_INVALID = -1;
/** Returned by {@linkcode peerWireMessageLength} when the bytes end inside the message header. */
export const MESSAGE_TRUNCATED = -2;

/** Length of the BEP 3 handshake: protocol string, reserved bytes, info_hash, peer_id. */
export const HANDSHAKE_LENGTH = 68;

const PROTOCOL = ascii("\x13BitTorrent protocol");
const KEY_M = ascii("m");
const KEY_ADDED = ascii("added");
const KEY_ADDED6 = ascii("added6");

/** Largest block a request may ask for (clients refuse more than 128 KiB). */
const MAX_BLOCK = 0x20000;
/** The standard block size; block offsets are multiples of it. */
const BLOCK = 0x4000;
/** Largest plausible piece index (4 Mi pieces). */
const MAX_PIECES = 1 << 22;
/** Largest plausible offset of a block in a piece (128 MiB pieces). */
const MAX_BEGIN = 1 << 27;
/** Largest message length accepted: a maximal piece message. */
const MAX_MESSAGE = MAX_BLOCK + 9;
/** BEP 52 hash request and hash reject length: id, pieces root, four u32 fields. */
const HASH_REQUEST_LENGTH = 49;
/** BEP 52: at most 512 base-layer hashes per request. */
const MAX_HASHES = 512;
/** BEP 52: layer numbers fit a Merkle tree of a file up to 2^64 bytes. */
const MAX_LAYER = 64;

/** Bytes of a header carried over to the next segment (protocol string, request header). */
const HEADER_MAX = 20;
/** Weight that reports `BT_MESSAGE`, gathered from at least two segments. */
const SCORE_THRESHOLD = 6;
/** Messages walked per segment by `harvest`. */
const HARVEST_MESSAGES = 8;

const MODE_START = 0; // no payload seen in this direction yet
const MODE_PREFIX = 1; // the stream starts with a part of the protocol string (in the carry)
const MODE_HUNT = 2; // mid-flow, framing unknown: each new segment start is tried
const MODE_SYNC = 3; // framing known: `next` is the sequence number of the next header
const MODE_FAILED = 4; // not plain peer wire (or framing lost after it was found)

/**
 * Whether `[off, end)` starts with the BEP 3 protocol string `\x13BitTorrent protocol`.
 *
 * @example
 * ```ts
 * import { ascii } from "../bytes.ts";
 * import { isPeerWireHandshake } from "./peer_wire.ts";
 * const b = ascii("\x13BitTorrent protocol\0\0\0\0\0\x10\0\x05");
 * isPeerWireHandshake(b, 0, b.length); // true
 * ```
 */
export function isPeerWireHandshake(buf: Uint8Array, off: number, end: number): boolean {
  if (end - off < PROTOCOL.length) return false;
  if (buf[off] !== 0x13) return false;
  return matchAt(buf, off, end, PROTOCOL);
}

/**
 * Total length (4-byte length prefix included) of the peer wire message whose header starts at
 * `off`, when the header is well-formed and its fields plausible; {@linkcode MESSAGE_INVALID}
 * otherwise, or {@linkcode MESSAGE_TRUNCATED} when `end` comes before the bytes needed to judge.
 * Only the header is judged: the message may extend past `end`.
 *
 * @example
 * ```ts
 * import { peerWireMessageLength } from "./peer_wire.ts";
 * // request: piece 3, offset 32 KiB, 16 KiB
 * const b = Uint8Array.of(0, 0, 0, 13, 6, 0, 0, 0, 3, 0, 0, 0x80, 0, 0, 0, 0x40, 0);
 * peerWireMessageLength(b, 0, b.length); // 17
 * ```
 */
export function peerWireMessageLength(buf: Uint8Array, off: number, end: number): number {
  if (off + 4 > end) return MESSAGE_TRUNCATED;
  const length = u32(buf, off);
  if (length === 0) return 4; // keep-alive
  if (length > MAX_MESSAGE) return MESSAGE_INVALID;
  if (off + 5 > end) return MESSAGE_TRUNCATED;
  switch (buf[off + 4]) {
    case PeerWireId.CHOKE:
    case PeerWireId.UNCHOKE:
    case PeerWireId.INTERESTED:
    case PeerWireId.NOT_INTERESTED:
    case PeerWireId.HAVE_ALL:
    case PeerWireId.HAVE_NONE:
      if (length !== 1) return MESSAGE_INVALID;
      return 5;
    case PeerWireId.HAVE:
    case PeerWireId.SUGGEST_PIECE:
    case PeerWireId.ALLOWED_FAST:
      if (length !== 5) return MESSAGE_INVALID;
      if (off + 9 > end) return MESSAGE_TRUNCATED;
      if (u32(buf, off + 5) >= MAX_PIECES) return MESSAGE_INVALID;
      return 9;
    case PeerWireId.BITFIELD:
      if (length < 2) return MESSAGE_INVALID;
      return 4 + length;
    case PeerWireId.REQUEST:
    case PeerWireId.CANCEL:
    case PeerWireId.REJECT_REQUEST:
      if (length !== 13) return MESSAGE_INVALID;
      if (off + 17 > end) return MESSAGE_TRUNCATED;
      if (!isBlockStart(buf, off + 5)) return MESSAGE_INVALID;
      if (!isRequestedLength(u32(buf, off + 13))) return MESSAGE_INVALID;
      return 17;
    case PeerWireId.PIECE:
      if (length < 10) return MESSAGE_INVALID; // at least one byte of block
      if (off + 13 > end) return MESSAGE_TRUNCATED;
      if (!isBlockStart(buf, off + 5)) return MESSAGE_INVALID;
      return 4 + length;
    case PeerWireId.PORT:
      if (length !== 3) return MESSAGE_INVALID;
      if (off + 7 > end) return MESSAGE_TRUNCATED;
      if (u16(buf, off + 5) === 0) return MESSAGE_INVALID;
      return 7;
    case PeerWireId.EXTENDED:
      if (length < 2) return MESSAGE_INVALID; // extended id, then the payload
      if (off + 6 > end) return MESSAGE_TRUNCATED;
      return 4 + length;
    case PeerWireId.HASH_REQUEST:
    case PeerWireId.HASH_REJECT:
      if (length !== HASH_REQUEST_LENGTH) return MESSAGE_INVALID;
      if (off + 4 + HASH_REQUEST_LENGTH > end) return MESSAGE_TRUNCATED;
      if (!isHashRange(buf, off + 37)) return MESSAGE_INVALID;
      return 4 + length;
    case PeerWireId.HASHES:
      if (length < HASH_REQUEST_LENGTH + 64) return MESSAGE_INVALID; // at least two hashes
      if ((length - HASH_REQUEST_LENGTH) % 32 !== 0) return MESSAGE_INVALID;
      if (off + 4 + HASH_REQUEST_LENGTH > end) return MESSAGE_TRUNCATED;
      if (!isHashRange(buf, off + 37)) return MESSAGE_INVALID;
      return 4 + length;
    default:
      return MESSAGE_INVALID;
  }
}

/** Piece index and block offset at `off` (8 bytes): a plausible index, an aligned offset. */
function isBlockStart(buf: Uint8Array, off: number): boolean {
  if (u32(buf, off) >= MAX_PIECES) return false;
  const begin = u32(buf, off + 4);
  if (begin >= MAX_BEGIN) return false;
  if (begin % BLOCK !== 0) return false;
  return true;
}

/** A requested block length: a power of two up to 128 KiB, or a short last block. */
function isRequestedLength(length: number): boolean {
  if (length === 0) return false;
  if (length > MAX_BLOCK) return false;
  return length < BLOCK || (length & (length - 1)) === 0;
}

/** BEP 52 base layer, index, length, proof layers at `off` (16 bytes). */
function isHashRange(buf: Uint8Array, off: number): boolean {
  const length = u32(buf, off + 8);
  if (u32(buf, off) >= MAX_LAYER) return false;
  if (length < 2 || length > MAX_HASHES) return false;
  if ((length & (length - 1)) !== 0) return false; // a power of two
  if (u32(buf, off + 4) % length !== 0) return false; // index is a multiple of length
  if (u32(buf, off + 12) >= MAX_LAYER) return false;
  return true;
}

/**
 * Whether the message at `off` is a BEP 10 extension handshake: message 20 with extended id 0
 * and a bencoded dictionary holding `m`, a non-empty dictionary of extension numbers. The
 * dictionary must end exactly with the message, or be well-formed up to `end` when the message
 * continues past it (with `m` complete before `end`).
 *
 * @example
 * ```ts
 * import { ascii } from "../bytes.ts";
 * import { isExtensionHandshake } from "./peer_wire.ts";
 * // length 20, message 20, extended id 0, then the dictionary
 * const b = ascii("\0\0\0\x14\x14\0d1:md6:ut_pexi1eee");
 * isExtensionHandshake(b, 0, b.length); // true
 * ```
 */
export function isExtensionHandshake(buf: Uint8Array, off: number, end: number): boolean {
  if (off + 7 > end) return false;
  const length = u32(buf, off);
  if (length < 3 || length > MAX_MESSAGE) return false;
  if (buf[off + 4] !== PeerWireId.EXTENDED) return false;
  if (buf[off + 5] !== 0) return false; // extended id 0: the handshake
  if (buf[off + 6] !== 0x64) return false; // 'd'
  const messageEnd = off + 4 + length;
  const stop = messageEnd < end ? messageEnd : end;
  const dictEnd = valueEnd(buf, off + 6, stop);
  if (messageEnd <= end && dictEnd !== messageEnd) return false;
  if (messageEnd > end && dictEnd !== BENCODE_TRUNCATED) return false; // well-formed so far
  const m = dictGet(buf, off + 6, stop, KEY_M);
  if (m < 0) return false;
  return isExtensionMap(buf, m, stop);
}

/** A complete, non-empty dictionary from names to extension numbers (0 to 255). */
function isExtensionMap(buf: Uint8Array, off: number, end: number): boolean {
  if (off >= end || buf[off] !== 0x64) return false;
  let p = off + 1;
  let entries = 0;
  while (p < end && buf[p] !== 0x65) { // 'e'
    const keyLength = stringLength(buf, p, end);
    if (keyLength <= 0) return false;
    const value = stringStart(p, keyLength) + keyLength;
    const id = intValue(buf, value, end);
    if (!(id >= 0 && id <= 255)) return false;
    p = valueEnd(buf, value, end);
    if (p < 0) return false;
    entries++;
  }
  return p < end && entries > 0;
}

/**
 * Whether the extended message at `off`, complete before `end`, carries a well-formed bencoded
 * dictionary (PEX, ut_metadata, …; ut_metadata data follows its dictionary with raw bytes).
 */
function hasBencodedPayload(buf: Uint8Array, off: number, end: number): boolean {
  const messageEnd = off + 4 + u32(buf, off);
  if (messageEnd > end) return false;
  if (messageEnd <= off + 6) return false; // no payload after the extended id
  if (buf[off + 6] !== 0x64) return false;
  return valueEnd(buf, off + 6, messageEnd) > 0;
}

/** Whether `[off, end)` equals the first `end - off` bytes of `pattern`. */
function isPrefixOf(buf: Uint8Array, off: number, end: number, pattern: Uint8Array): boolean {
  if (end - off > pattern.length) return false;
  for (let i = off; i < end; i++) if (buf[i] !== pattern[i - off]) return false;
  return true;
}

/**
 * Detects the BitTorrent peer wire protocol on TCP flows (see the module documentation) and
 * harvests peers from PEX and PORT messages of decided flows.
 */
export class PeerWireDetector implements Detector {
  /** Peer wire runs over TCP. */
  readonly transport = IPPROTO_TCP;
  /** Decided peer wire flows are harvested for PEX and PORT messages. */
  readonly harvests: readonly number[] = [
    Reason.BT_HANDSHAKE,
    Reason.BT_MESSAGE,
    Reason.BT_EXTENSION,
  ];

  // Per direction (`slot * 2 + direction`).
  readonly #mode: Uint8Array;
  readonly #next: Uint32Array;
  readonly #carryLength: Uint8Array;
  readonly #carry: Uint8Array;
  readonly #stateIds: Uint16Array;
  // Per flow.
  readonly #score: Uint8Array;
  readonly #segments: Uint8Array;
  readonly #rich: Uint8Array;

  /** @param capacity the flow table's capacity */
  constructor(capacity: number) {
    this.#mode = new Uint8Array(capacity * 2);
    this.#next = new Uint32Array(capacity * 2);
    this.#carryLength = new Uint8Array(capacity * 2);
    this.#carry = new Uint8Array(capacity * 2 * HEADER_MAX);
    this.#stateIds = new Uint16Array(capacity * 2);
    this.#score = new Uint8Array(capacity);
    this.#segments = new Uint8Array(capacity);
    this.#rich = new Uint8Array(capacity);
  }

  /** Forgets the framing and evidence of both directions of `slot`. */
  reset(slot: number): void {
    for (let i = slot * 2; i < slot * 2 + 2; i++) {
      this.#mode[i] = MODE_START;
      this.#carryLength[i] = 0;
      this.#stateIds[i] = 0;
    }
    this.#score[slot] = 0;
    this.#segments[slot] = 0;
    this.#rich[slot] = 0;
  }

  /** Judges one TCP payload segment (see the module documentation). */
  inspect(x: Inspection): number {
    if (x.end <= x.offset) return 0;
    const i = x.slot * 2 + x.direction;
    const mode = this.#mode[i];
    const p = x.packet;
    const seq = (p.seq + ((p.tcpFlags & TcpFlag.SYN) !== 0 ? 1 : 0)) >>> 0;
    if (isPeerWireHandshake(x.buf, x.offset, x.end) && this.#atStreamStart(x, i, seq, mode)) {
      this.harvest(x); // messages sent along with the handshake
      return Reason.BT_HANDSHAKE;
    }
    if (mode === MODE_START) return this.#start(x, i, seq);
    if (mode === MODE_PREFIX) return this.#prefix(x, i, seq);
    if (mode === MODE_HUNT) return this.#hunt(x, i, seq);
    if (mode === MODE_SYNC) return this.#sync(x, i, seq);
    return 0;
  }

  /**
   * Walks the messages at the start of a segment of a decided flow: learns PEX peers and the
   * DHT port of PORT messages. Bulk data fails the first length check and costs a few compares.
   */
  harvest(x: Inspection): void {
    const buf = x.buf;
    const end = x.end;
    let pos = x.offset;
    if (isPeerWireHandshake(buf, pos, end)) pos += HANDSHAKE_LENGTH;
    for (let n = 0; n < HARVEST_MESSAGES && pos < end; n++) {
      const total = peerWireMessageLength(buf, pos, end);
      if (total < 0) return;
      if (total > 4) {
        const id = buf[pos + 4];
        if (id === PeerWireId.PORT) {
          const p = x.packet;
          x.memory.remember(p.src, p.ipVersion, u16(buf, pos + 5), Reason.KNOWN_PEER, x.now);
        } else if (id === PeerWireId.EXTENDED && buf[pos + 5] !== 0) {
          this.#learnPex(x, pos + 6, pos + total < end ? pos + total : end);
        }
      }
      pos += total;
    }
  }

  /** PEX (BEP 11): remembers the compact peers of `added` and `added6` in the dictionary. */
  #learnPex(x: Inspection, dict: number, end: number): void {
    const buf = x.buf;
    if (dict >= end || buf[dict] !== 0x64) return;
    const added = dictGet(buf, dict, end, KEY_ADDED);
    if (added >= 0) this.#learnCompact(x, added, end, 6);
    const added6 = dictGet(buf, dict, end, KEY_ADDED6);
    if (added6 >= 0) this.#learnCompact(x, added6, end, 18);
  }

  /** Remembers each complete `stride`-byte compact peer of the byte string at `off`. */
  #learnCompact(x: Inspection, off: number, end: number, stride: number): void {
    const buf = x.buf;
    const length = stringLength(buf, off, end);
    if (length <= 0 || length % stride !== 0) return;
    const start = stringStart(off, length);
    const stop = start + length < end ? start + length : end;
    for (let p = start; p + stride <= stop; p += stride) {
      if (stride === 6) x.memory.rememberCompactV4(buf, p, Reason.PEX_PEER, x.now);
      else x.memory.rememberCompactV6(buf, p, Reason.PEX_PEER, x.now);
    }
  }

  /**
   * Whether the segment at `seq` starts the direction's stream: it follows the SYN seen in that
   * direction, or, the SYN unseen, it is the first payload seen.
   */
  #atStreamStart(x: Inspection, i: number, seq: number, mode: number): boolean {
    if ((x.flows.tcpFlags[i] & TcpFlag.SYN) === 0) return mode === MODE_START;
    return seq === ((x.flows.seqFirst[i] + 1) >>> 0);
  }

  /** First payload of a direction: part of a handshake, or a mid-flow capture. */
  #start(x: Inspection, i: number, seq: number): number {
    const atStart = this.#atStreamStart(x, i, seq, MODE_START);
    if (atStart) {
      if (isPrefixOf(x.buf, x.offset, x.end, PROTOCOL)) {
        if (x.end - x.offset < x.wireLength) return this.#lose(x, i, seq); // cut by the snap length
        this.#mode[i] = MODE_PREFIX;
        this.#next[i] = seq;
        this.#carryLength[i] = 0;
        this.#appendCarry(i, x.buf, x.offset, x.end);
        return 0;
      }
      // A plain peer connection opens with the handshake: this stream is something else.
      if ((x.flows.tcpFlags[i] & TcpFlag.SYN) !== 0) return this.#fail(i);
    }
    if (x.sensitivePort) return this.#fail(i);
    this.#mode[i] = MODE_HUNT;
    this.#next[i] = seq;
    return this.#hunt(x, i, seq);
  }

  /** The stream began with part of the protocol string: continue it from the carry. */
  #prefix(x: Inspection, i: number, seq: number): number {
    const carried = this.#carryLength[i];
    const rel = (this.#next[i] + carried - seq) | 0;
    if (rel < 0) return this.#lose(x, i, seq); // bytes of the handshake were not captured
    if (rel >= x.wireLength) return 0; // a retransmission
    const pos = x.offset + rel;
    if (pos >= x.end) return this.#lose(x, i, seq); // the bytes needed were not captured
    const added = this.#appendCarry(i, x.buf, pos, x.end);
    const base = i * HEADER_MAX;
    const have = carried + added;
    if (!isPrefixOf(this.#carry, base, base + have, PROTOCOL)) {
      const known = (x.flows.tcpFlags[i] & TcpFlag.SYN) !== 0; // the prefix began the stream
      return known ? this.#fail(i) : this.#lose(x, i, seq);
    }
    if (have === PROTOCOL.length) return Reason.BT_HANDSHAKE;
    if (pos + added < x.offset + x.wireLength) return this.#lose(x, i, seq); // cut short
    return 0;
  }

  /** Framing unknown: try the segment start as a message boundary (new data only). */
  #hunt(x: Inspection, i: number, seq: number): number {
    if (((seq - this.#next[i]) | 0) < 0) return 0; // overlaps data already judged
    return this.#walk(x, i, seq, x.offset, true);
  }

  /** Framing known: continue at the next header (skipping the rest of a message body). */
  #sync(x: Inspection, i: number, seq: number): number {
    const rel = (this.#next[i] + this.#carryLength[i] - seq) | 0;
    if (rel < 0) { // data was lost: start over at this segment
      this.#mode[i] = MODE_HUNT;
      this.#carryLength[i] = 0;
      this.#next[i] = seq;
      return this.#walk(x, i, seq, x.offset, true);
    }
    if (rel >= x.wireLength) return 0; // inside a message body, or a retransmission
    return this.#walk(x, i, seq, x.offset + rel, false);
  }

  /**
   * Walks messages from `pos` to the end of the segment. The segment must be tiled exactly: the
   * last message ends with it, continues past it (its body follows in later segments), or its
   * header is cut by the segment end (carried over). A malformed message ends the hunt for
   * this segment, or fails the direction when its framing was known.
   */
  #walk(x: Inspection, i: number, seq: number, pos: number, hunting: boolean): number {
    const buf = x.buf;
    const off = x.offset;
    const end = x.end;
    const wireEnd = off + x.wireLength;
    const base = i * HEADER_MAX;
    let weight = 0;
    let rich = 0;
    let keepAlives = 0;
    while (pos < end) {
      let start = pos;
      let total: number;
      let w: number;
      const carried = this.#carryLength[i];
      if (carried > 0) { // finish the header carried over from the previous segment
        const added = this.#appendCarry(i, buf, pos, end);
        total = peerWireMessageLength(this.#carry, base, base + carried + added);
        if (total === MESSAGE_TRUNCATED) {
          if (pos + added < wireEnd || carried + added === HEADER_MAX) break; // cannot follow
          return this.#commit(x, weight, rich);
        }
        if (total === MESSAGE_INVALID) return hunting ? this.#lose(x, i, seq) : this.#fail(i);
        w = this.#weight(this.#carry, base, base + carried + added, i);
        start = pos - carried;
        this.#carryLength[i] = 0;
      } else {
        total = peerWireMessageLength(buf, pos, end);
        if (total === MESSAGE_TRUNCATED) {
          if (end < wireEnd || end - pos >= HEADER_MAX) break; // cannot follow
          this.#next[i] = (seq + (pos - off)) >>> 0;
          this.#appendCarry(i, buf, pos, end);
          if (hunting && weight === 0) return this.#lose(x, i, seq);
          this.#mode[i] = MODE_SYNC;
          return this.#commit(x, weight, rich);
        }
        if (total === MESSAGE_INVALID) return hunting ? this.#lose(x, i, seq) : this.#fail(i);
        if (isExtensionHandshake(buf, pos, end)) return Reason.BT_EXTENSION;
        w = this.#weight(buf, pos, end, i);
      }
      if (total === 4 && ++keepAlives > 1) { // keep-alives are sent alone, minutes apart
        return hunting ? this.#lose(x, i, seq) : this.#fail(i);
      }
      if (total > 4) keepAlives = 0;
      weight += w;
      if (w === 2) rich = 1;
      pos = start + total;
    }
    if (pos < wireEnd || (hunting && weight === 0)) { // framing lost in bytes not captured
      const v = this.#commit(x, weight, rich);
      this.#lose(x, i, seq);
      return v;
    }
    this.#mode[i] = MODE_SYNC;
    this.#next[i] = (seq + (pos - off)) >>> 0;
    return this.#commit(x, weight, rich);
  }

  /**
   * Evidence of a message: 2 for block references, v2 hash messages and bencoded extended
   * messages; 1 for have/suggest/allowed-fast/port and for the first state message of each kind;
   * 0 for keep-alives, bitfields and opaque extended messages.
   */
  #weight(buf: Uint8Array, off: number, end: number, i: number): number {
    if (u32(buf, off) === 0) return 0;
    const id = buf[off + 4];
    switch (id) {
      case PeerWireId.REQUEST:
      case PeerWireId.PIECE:
      case PeerWireId.CANCEL:
      case PeerWireId.REJECT_REQUEST:
      case PeerWireId.HASH_REQUEST:
      case PeerWireId.HASHES:
      case PeerWireId.HASH_REJECT:
        return 2;
      case PeerWireId.HAVE:
      case PeerWireId.SUGGEST_PIECE:
      case PeerWireId.ALLOWED_FAST:
      case PeerWireId.PORT:
        return 1;
      case PeerWireId.BITFIELD:
        return 0;
      case PeerWireId.EXTENDED:
        return hasBencodedPayload(buf, off, end) ? 2 : 0;
      default: { // choke, unchoke, interested, not interested, have all, have none
        const bit = 1 << id;
        if ((this.#stateIds[i] & bit) !== 0) return 0;
        this.#stateIds[i] |= bit;
        return 1;
      }
    }
  }

  /** Adds a segment's evidence to the flow and reports `BT_MESSAGE` once it is enough. */
  #commit(x: Inspection, weight: number, rich: number): number {
    if (weight === 0) return 0;
    const slot = x.slot;
    const score = this.#score[slot] + weight;
    this.#score[slot] = score < 255 ? score : 255;
    if (this.#segments[slot] < 255) this.#segments[slot]++;
    this.#rich[slot] |= rich;
    if (this.#score[slot] < SCORE_THRESHOLD) return 0;
    if (this.#segments[slot] < 2) return 0;
    if (this.#rich[slot] === 0) return 0;
    if (this.#mode[slot * 2] === MODE_FAILED || this.#mode[slot * 2 + 1] === MODE_FAILED) return 0;
    return Reason.BT_MESSAGE;
  }

  /** Framing unknown from here: hunt again after this segment (never on sensitive ports). */
  #lose(x: Inspection, i: number, seq: number): number {
    this.#mode[i] = x.sensitivePort ? MODE_FAILED : MODE_HUNT;
    this.#carryLength[i] = 0;
    this.#next[i] = (seq + x.wireLength) >>> 0;
    return 0;
  }

  /** The direction is not plain peer wire: it vetoes `BT_MESSAGE` for the flow. */
  #fail(i: number): number {
    this.#mode[i] = MODE_FAILED;
    this.#carryLength[i] = 0;
    return 0;
  }

  /** Appends bytes from `[pos, end)` to the direction's carried header; returns how many. */
  #appendCarry(i: number, buf: Uint8Array, pos: number, end: number): number {
    const carried = this.#carryLength[i];
    let n = end - pos;
    if (n > HEADER_MAX - carried) n = HEADER_MAX - carried;
    const at = i * HEADER_MAX + carried;
    for (let k = 0; k < n; k++) this.#carry[at + k] = buf[pos + k];
    this.#carryLength[i] = carried + n;
    return n;
  }
}
