/**
 * uTP, the Micro Transport Protocol (BEP 29): BitTorrent's congestion-controlled transport over
 * UDP, used by libtorrent, µTorrent/libutp and Transmission for peer connections.
 *
 * Every uTP packet starts with a 20-byte header: `type << 4 | 1`, the first extension type,
 * `connection_id` (u16), `timestamp_microseconds` (u32), `timestamp_difference_microseconds`
 * (u32), `wnd_size` (u32), `seq_nr` (u16) and `ack_nr` (u16), then a chain of extensions
 * (`next type`, `length`, data). That header is too weak to judge a single datagram (QUIC short
 * headers start `0x41`, a WireGuard handshake `01 00 00 00`, a STUN success response `01 01`), so
 * this detector only reports a flow whose two directions behave like the two ends of one uTP
 * connection:
 *
 * - **connection ids pair up**: the initiator's `ST_SYN` carries its receive id `X` and all its
 *   later packets `X + 1`, while the responder always sends `X`; without a SYN (a capture that
 *   starts mid-connection) the two directions' ids differ by exactly one.
 * - **each side acknowledges the other**: an `ack_nr` answers when it names a sequence number
 *   the other direction was seen sending (the SYN's `seq_nr` for the `ST_STATE` that accepts
 *   it; `seq_nr − 1` of an `ST_STATE`, which carries the *next* number to be sent; the
 *   `seq_nr` of a `ST_DATA`). Each such answer is evidence that the sender saw the other side's
 *   packets, which a forged source address cannot ({@linkcode Inspection.markAnswered}).
 * - **the connection moves**: some direction's `seq_nr` advances by a small step (data flows),
 *   and each direction's timestamps follow the capture clock.
 *
 * The flow is reported once both directions have answered and a sequence number advanced: at the
 * initiator's first `DATA` after `SYN` and `STATE` for a connection seen from its start; three
 * uTP packets at best for one picked up mid-connection (three to ten in real captures). Packets of
 * other protocols sharing the socket (DHT) are ignored, and a `RESET`, like `STATE` and `FIN`,
 * only counts as an acknowledgement.
 *
 * @module
 */

import type { Detector, Inspection } from "../detector.ts";
import { IPPROTO_UDP } from "../packet.ts";
import { Reason } from "../reason.ts";
import { u16, u32 } from "../bytes.ts";

/** uTP packet types (the high nibble of the first header byte). */
export const UtpType = {
  /** Carries payload; consumes a sequence number. */
  DATA: 0,
  /** Closes the sender's half of the connection. */
  FIN: 1,
  /** Acknowledgement without payload; `seq_nr` is the next number the sender will use. */
  STATE: 2,
  /** Aborts the connection. */
  RESET: 3,
  /** Opens a connection; `connection_id` is the id the initiator will receive on. */
  SYN: 4,
} as const;

const HEADER_LENGTH = 20;
const VERSION = 1;
const EXT_SELECTIVE_ACK = 1;
/** libutp's extension bits: always 8 bytes. */
const EXT_BITS = 2;
/** libtorrent's close reason: always 4 bytes. */
const EXT_CLOSE_REASON = 3;
const EXT_BITS_LENGTH = 8;
const EXT_CLOSE_REASON_LENGTH = 4;
/** Each extension appears at most once. */
const MAX_EXTENSIONS = 3;
/** STUN's magic cookie, at the offset of uTP's timestamp in every RFC 5389 message. */
const STUN_MAGIC_COOKIE = 0x2112a442;

/**
 * Largest forward step between consecutive sequence numbers seen from one side (packets the
 * capture missed); a larger jump is not the same connection.
 */
const MAX_SEQ_STEP = 128;
/**
 * Tolerance, in microseconds, between a side's timestamp progress and the capture clock
 * (queueing on the path between sender and capture point, bursts stamped at once).
 */
const CLOCK_SLACK_US = 2_000_000;

/** A packet of the tracked connection was seen in this direction. */
const SEEN = 1;
/** This direction opened the connection with a SYN (its id is the SYN's id + 1). */
const OPENED = 2;
/** This direction acknowledged a sequence number the other direction sent. */
const ANSWERED = 4;
/** This direction's sequence number advanced. */
const ADVANCED = 8;

/**
 * The uTP packet type of the datagram at `[off, end)` whose UDP payload is `wireLength` bytes on
 * the wire, or -1 when it cannot be a uTP version 1 packet. Checks the header, walks the
 * extension chain (selective-ack lengths are positive multiples of 4, extension bits 8 bytes,
 * close reason 4 bytes, all within the datagram), and requires `ST_SYN` and `ST_STATE` to carry
 * nothing after their extensions and `ST_DATA` to carry something. Extension headers beyond the
 * captured bytes cannot be checked and reject the packet.
 *
 * @example
 * ```ts
 * import { utpPacketType, UtpType } from "./utp.ts";
 * const syn = new Uint8Array(20);
 * syn[0] = 0x41; // ST_SYN, version 1
 * syn[4] = 0x12; // timestamp_microseconds
 * utpPacketType(syn, 0, 20, 20) === UtpType.SYN; // true
 * utpPacketType(syn, 0, 20, 24); // -1: a SYN carries no payload
 * ```
 */
export function utpPacketType(
  buf: Uint8Array,
  off: number,
  end: number,
  wireLength: number,
): number {
  if (end - off < HEADER_LENGTH) return -1; // shorter than the fixed header
  const type = buf[off] >> 4;
  if ((buf[off] & 0x0f) !== VERSION) return -1; // only version 1 exists
  if (type > UtpType.SYN) return -1; // five packet types
  const timestamp = u32(buf, off + 4);
  if (timestamp === 0) return -1; // senders stamp every packet with their clock
  if (timestamp === STUN_MAGIC_COOKIE) return -1; // a STUN message
  const wireEnd = off + wireLength;
  let extension = buf[off + 1];
  let p = off + HEADER_LENGTH;
  for (let n = 0; extension !== 0; n++) {
    if (n === MAX_EXTENSIONS) return -1; // more extensions than exist
    if (extension > EXT_CLOSE_REASON) return -1; // unknown extension
    if (p + 2 > end) return -1; // extension header not captured: cannot judge
    const length = buf[p + 1];
    if (extension === EXT_SELECTIVE_ACK && (length === 0 || (length & 3) !== 0)) return -1;
    if (extension === EXT_BITS && length !== EXT_BITS_LENGTH) return -1;
    if (extension === EXT_CLOSE_REASON && length !== EXT_CLOSE_REASON_LENGTH) return -1;
    extension = buf[p];
    p += 2 + length;
    if (p > wireEnd) return -1; // extension overruns the datagram
  }
  const payload = wireEnd - p;
  if ((type === UtpType.SYN || type === UtpType.STATE) && payload !== 0) return -1;
  if (type === UtpType.DATA && payload === 0) return -1; // an empty DATA would be a STATE
  return type;
}

/**
 * Detects uTP flows by following one connection in both directions (see the module
 * documentation): paired connection ids, sequence numbers acknowledged across directions,
 * progress, and timestamps that follow the capture clock. Heuristic: off on sensitive ports.
 */
export class UtpDetector implements Detector {
  readonly transport = IPPROTO_UDP;
  /** Per direction (`slot * 2 + direction`): state bits. */
  readonly #flags: Uint8Array;
  /** Per direction: the connection id this side sends (the SYN's id + 1 for the initiator). */
  readonly #conn: Uint16Array;
  /** Per direction: oldest sequence number this side was seen sending. */
  readonly #first: Uint16Array;
  /** Per direction: newest sequence number this side was seen sending. */
  readonly #last: Uint16Array;
  /** Per direction: timestamp of this side's latest packet. */
  readonly #stamp: Uint32Array;
  /** Per direction: capture time (seconds) of this side's latest packet. */
  readonly #seenAt: Float64Array;

  /** @param capacity the flow table's capacity */
  constructor(capacity: number) {
    this.#flags = new Uint8Array(capacity * 2);
    this.#conn = new Uint16Array(capacity * 2);
    this.#first = new Uint16Array(capacity * 2);
    this.#last = new Uint16Array(capacity * 2);
    this.#stamp = new Uint32Array(capacity * 2);
    this.#seenAt = new Float64Array(capacity * 2);
  }

  reset(slot: number): void {
    this.#flags[slot * 2] = 0;
    this.#flags[slot * 2 + 1] = 0;
  }

  inspect(x: Inspection): number {
    if (x.sensitivePort) return 0;
    const buf = x.buf;
    const off = x.offset;
    const type = utpPacketType(buf, off, x.end, x.wireLength);
    if (type < 0) return 0;
    const d = x.slot * 2 + x.direction;
    const o = d ^ 1;
    const flags = this.#flags;
    const conn = u16(buf, off + 2);
    const stamp = u32(buf, off + 4);
    const seq = u16(buf, off + 16);
    if (type === UtpType.SYN) {
      this.#syn(d, o, conn, seq, stamp, x.now);
      return 0;
    }
    // DATA was sent with its seq_nr; STATE (and, conservatively, FIN and RESET) names the next.
    const sent = type === UtpType.DATA ? seq : (seq - 1) & 0xffff;
    if ((flags[d] & SEEN) === 0 || this.#conn[d] !== conn) {
      this.#start(d, o, conn, SEEN, sent, stamp, x.now);
    } else {
      if (!this.#clockFollows(d, stamp, x.now)) return 0;
      if (!this.#advance(d, sent)) return 0;
      this.#stamp[d] = stamp;
      this.#seenAt[d] = x.now;
    }
    if (this.#answers(d, o, u16(buf, off + 18))) {
      flags[d] |= ANSWERED;
      x.markAnswered();
    }
    if ((flags[d] & flags[o] & ANSWERED) === 0) return 0;
    if (((flags[d] | flags[o]) & ADVANCED) === 0) return 0;
    return Reason.UTP;
  }

  /** A SYN opens a connection from `d`, unless it repeats the one already open. */
  #syn(d: number, o: number, id: number, seq: number, stamp: number, now: number): void {
    const sendId = (id + 1) & 0xffff;
    if ((this.#flags[d] & OPENED) !== 0 && this.#conn[d] === sendId && this.#first[d] === seq) {
      this.#stamp[d] = stamp; // retransmitted SYN
      this.#seenAt[d] = now;
      return;
    }
    this.#start(d, o, sendId, SEEN | OPENED, seq, stamp, now);
  }

  /** Starts following a new connection in direction `d`; `o`'s answers were about another. */
  #start(
    d: number,
    o: number,
    conn: number,
    flags: number,
    sent: number,
    stamp: number,
    now: number,
  ): void {
    this.#flags[d] = flags;
    this.#flags[o] &= ~ANSWERED;
    this.#conn[d] = conn;
    this.#first[d] = sent;
    this.#last[d] = sent;
    this.#stamp[d] = stamp;
    this.#seenAt[d] = now;
  }

  /** Whether `stamp` moved from direction `d`'s previous timestamp as the capture clock did. */
  #clockFollows(d: number, stamp: number, now: number): boolean {
    const stamped = (stamp - this.#stamp[d]) | 0;
    const elapsed = (now - this.#seenAt[d]) * 1e6;
    return stamped >= elapsed - CLOCK_SLACK_US && stamped <= elapsed + CLOCK_SLACK_US;
  }

  /**
   * Records that direction `d` sent sequence number `sent`: a small step forward advances it, a
   * number already inside the seen range is a retransmission, anything else breaks continuity.
   */
  #advance(d: number, sent: number): boolean {
    const last = this.#last[d];
    const step = (sent - last) & 0xffff;
    if (step === 0) return true;
    if (step <= MAX_SEQ_STEP) {
      this.#last[d] = sent;
      this.#flags[d] |= ADVANCED;
      return true;
    }
    return ((last - sent) & 0xffff) <= ((last - this.#first[d]) & 0xffff);
  }

  /**
   * Whether `ack` from direction `d` acknowledges a sequence number direction `o` was seen
   * sending, with the connection ids of both directions belonging to one connection.
   */
  #answers(d: number, o: number, ack: number): boolean {
    const flags = this.#flags;
    if ((flags[o] & SEEN) === 0) return false;
    const delta = (this.#conn[d] - this.#conn[o]) & 0xffff;
    if ((flags[d] & OPENED) !== 0 && delta !== 1) return false; // initiator sends X + 1
    if ((flags[o] & OPENED) !== 0 && delta !== 0xffff) return false; // responder sends X
    if (delta !== 1 && delta !== 0xffff) return false; // ids of one connection differ by one
    const first = this.#first[o];
    return ((ack - first) & 0xffff) <= ((this.#last[o] - first) & 0xffff);
  }
}
