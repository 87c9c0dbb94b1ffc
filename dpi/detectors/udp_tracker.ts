/**
 * UDP tracker protocol (BEP 15, with BEP 41 announce options). All integers are big-endian.
 *
 * ```text
 * connect request    protocol_id 0x41727101980 (8) · action 0 (4) · transaction_id (4)      16 bytes
 * connect response   action 0 · transaction_id · connection_id (8)                            16 bytes
 * announce request   connection_id (8) · action 1 · transaction_id · info_hash (20) ·
 *                    peer_id (20) · downloaded (8) · left (8) · uploaded (8) · event (0–3) ·
 *                    IP · key · num_want · port (2) · [BEP 41 options]                        98+ bytes
 * announce response  action 1 · transaction_id · interval · leechers · seeders ·
 *                    6-byte (IPv4) or 18-byte (IPv6) peers                                    20 + 6n / 18n
 * scrape request     connection_id (8) · action 2 · transaction_id · info_hash (20) × n         16 + 20n
 * scrape response    action 2 · transaction_id · (seeders, completed, leechers) × n            8 + 12n
 * error              action 3 · transaction_id · message                                      8+ bytes
 * ```
 *
 * Only the connect request carries a constant (the 64-bit protocol id): it alone decides a flow,
 * on any port. Every other message is a few small integers that random or foreign binary can
 * imitate, so it is accepted only when the flow ties it to an earlier message of the other
 * direction: a response must echo the transaction id of a request the other side sent (with the
 * same action, or be an error), and an announce or scrape must carry the connection id a connect
 * response gave its sender. Such an echo also proves the sender saw the other side's packet
 * ({@linkcode Inspection.markAnswered}). Flow ties are heuristic evidence and stay off on
 * sensitive ports.
 *
 * Peers listed in announce responses (that echo a request) are learned as
 * {@linkcode Reason.TRACKER_PEER} endpoints: 6-byte entries over IPv4, 18-byte entries over IPv6
 * (BEP 15 picks the format by the address family of the datagram).
 *
 * @module
 */

import { u32 } from "../bytes.ts";
import type { Detector, Inspection } from "../detector.ts";
import { IPPROTO_UDP } from "../packet.ts";
import { Reason } from "../reason.ts";

/** Actions of BEP 15 messages (the 32-bit `action` field). */
export const TrackerAction = {
  /** Obtain a connection id. */
  CONNECT: 0,
  /** Announce a torrent and get peers. */
  ANNOUNCE: 1,
  /** Ask for swarm statistics. */
  SCRAPE: 2,
  /** Error response carrying a message. */
  ERROR: 3,
} as const;

const PROTOCOL_ID_HIGH = 0x417;
const PROTOCOL_ID_LOW = 0x27101980;
/** Length of a connect request and of a connect response. */
const CONNECT_LENGTH = 16;
/** Length of an announce request without BEP 41 options. */
const ANNOUNCE_LENGTH = 98;
/** Offset of `event` in an announce request. */
const EVENT_OFFSET = 80;
/** Highest `event` value (0 none, 1 completed, 2 started, 3 stopped). */
const MAX_EVENT = 3;
/** Header of an announce response before its peers. */
const ANNOUNCE_RESPONSE_HEADER = 20;
const SCRAPE_REQUEST_HEADER = 16;
const INFO_HASH_LENGTH = 20;
const RESPONSE_HEADER = 8;
const SCRAPE_ENTRY = 12;
const PEER_V4 = 6;
const PEER_V6 = 18;
/** Outstanding requests remembered per flow and direction. */
const PENDING = 4;

/**
 * Whether `buf[off, end)` starts a BEP 15 connect request: the 64-bit protocol id
 * `0x41727101980`, action 0 and a transaction id (16 bytes present).
 *
 * @example
 * ```ts
 * import { isUdpTrackerConnect } from "./udp_tracker.ts";
 * const b = Uint8Array.of(0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 1, 2, 3, 4);
 * isUdpTrackerConnect(b, 0, b.length); // true
 * ```
 */
export function isUdpTrackerConnect(buf: Uint8Array, off: number, end: number): boolean {
  if (end - off < CONNECT_LENGTH) return false;
  if (u32(buf, off) !== PROTOCOL_ID_HIGH) return false;
  if (u32(buf, off + 4) !== PROTOCOL_ID_LOW) return false;
  return u32(buf, off + 8) === TrackerAction.CONNECT;
}

/**
 * The action of the client request (announce or scrape, which carry a connection id) whose
 * shape `buf[off, end)` has, or -1. `wireLength` is the datagram's payload length on the wire
 * (the bytes present may be fewer when the capture cut it).
 *
 * - announce: at least 98 bytes, action 1, `event` 0–3 (when present);
 * - scrape: 16 + 20n bytes (n ≥ 1), action 2.
 *
 * @example
 * ```ts
 * import { trackerRequestAction } from "./udp_tracker.ts";
 * const scrape = new Uint8Array(36);
 * scrape[11] = 2; // action 2 after the 8-byte connection id
 * trackerRequestAction(scrape, 0, scrape.length, scrape.length); // 2
 * ```
 */
export function trackerRequestAction(
  buf: Uint8Array,
  off: number,
  end: number,
  wireLength: number,
): number {
  if (end - off < CONNECT_LENGTH) return -1; // connection id, action and transaction id
  const action = u32(buf, off + 8);
  if (action === TrackerAction.ANNOUNCE) {
    if (wireLength < ANNOUNCE_LENGTH) return -1;
    if (off + EVENT_OFFSET + 4 <= end && u32(buf, off + EVENT_OFFSET) > MAX_EVENT) return -1;
    return action;
  }
  if (action === TrackerAction.SCRAPE) {
    if (wireLength < SCRAPE_REQUEST_HEADER + INFO_HASH_LENGTH) return -1;
    if ((wireLength - SCRAPE_REQUEST_HEADER) % INFO_HASH_LENGTH !== 0) return -1;
    return action;
  }
  return -1;
}

/**
 * The action of the tracker response whose shape `buf[off, end)` has, or -1. `peerSize` is the
 * size of an announce response's peer entries (6 over IPv4, 18 over IPv6).
 *
 * - connect: exactly 16 bytes (all present), action 0;
 * - announce: 20 + n·`peerSize` bytes, action 1;
 * - scrape: 8 + 12n bytes, action 2;
 * - error: at least 8 bytes, action 3.
 *
 * @example
 * ```ts
 * import { trackerResponseAction } from "./udp_tracker.ts";
 * const announce = new Uint8Array(26); // header and one IPv4 peer
 * announce[3] = 1;
 * trackerResponseAction(announce, 0, announce.length, announce.length, 6); // 1
 * ```
 */
export function trackerResponseAction(
  buf: Uint8Array,
  off: number,
  end: number,
  wireLength: number,
  peerSize: number,
): number {
  if (end - off < RESPONSE_HEADER) return -1; // action and transaction id
  const action = u32(buf, off);
  if (action === TrackerAction.CONNECT) {
    if (end - off < CONNECT_LENGTH) return -1; // the connection id is needed
    return wireLength === CONNECT_LENGTH ? action : -1;
  }
  if (action === TrackerAction.ANNOUNCE) {
    if (wireLength < ANNOUNCE_RESPONSE_HEADER) return -1;
    return (wireLength - ANNOUNCE_RESPONSE_HEADER) % peerSize === 0 ? action : -1;
  }
  if (action === TrackerAction.SCRAPE) {
    return (wireLength - RESPONSE_HEADER) % SCRAPE_ENTRY === 0 ? action : -1;
  }
  return action === TrackerAction.ERROR ? action : -1;
}

/**
 * Detects UDP tracker flows (BEP 15): at once on a connect request, otherwise on a request or
 * response tied to the other direction by its transaction or connection id; marks answered
 * sides; learns the peers of announce responses as {@linkcode Reason.TRACKER_PEER} endpoints.
 */
export class UdpTrackerDetector implements Detector {
  readonly transport: number = IPPROTO_UDP;
  readonly harvests: readonly number[] = [Reason.UDP_TRACKER];

  /** Transaction ids of recent requests, at `(slot * 2 + dir) * PENDING + i`. */
  readonly #transaction: Uint32Array;
  /** Their actions plus one (0: empty entry). */
  readonly #requestAction: Uint8Array;
  /** Next entry to overwrite, per flow and direction. */
  readonly #nextRequest: Uint8Array;
  /** Connection id handed to each direction by the other's connect response (`slot * 2 + dir`). */
  readonly #connectionHigh: Uint32Array;
  readonly #connectionLow: Uint32Array;
  /** 1 when a connection id was handed to the direction. */
  readonly #connected: Uint8Array;

  /**
   * Creates the detector with per-flow state for `capacity` flows.
   *
   * @param capacity the flow table's capacity
   */
  constructor(capacity: number) {
    this.#transaction = new Uint32Array(capacity * 2 * PENDING);
    this.#requestAction = new Uint8Array(capacity * 2 * PENDING);
    this.#nextRequest = new Uint8Array(capacity * 2);
    this.#connectionHigh = new Uint32Array(capacity * 2);
    this.#connectionLow = new Uint32Array(capacity * 2);
    this.#connected = new Uint8Array(capacity * 2);
  }

  reset(slot: number): void {
    this.#requestAction.fill(0, slot * 2 * PENDING, (slot + 1) * 2 * PENDING);
    this.#nextRequest[slot * 2] = 0;
    this.#nextRequest[slot * 2 + 1] = 0;
    this.#connected[slot * 2] = 0;
    this.#connected[slot * 2 + 1] = 0;
  }

  inspect(x: Inspection): number {
    if (isUdpTrackerConnect(x.buf, x.offset, x.end)) {
      this.#rememberRequest(x, TrackerAction.CONNECT);
      return Reason.UDP_TRACKER;
    }
    if (x.sensitivePort) return 0;
    return this.#observe(x) ? Reason.UDP_TRACKER : 0;
  }

  harvest(x: Inspection): void {
    if (isUdpTrackerConnect(x.buf, x.offset, x.end)) {
      this.#rememberRequest(x, TrackerAction.CONNECT);
    } else this.#observe(x);
  }

  /**
   * Follows one datagram that is not a connect request; returns whether the flow ties it to
   * the other direction (a response echoing a request, a request carrying a granted id).
   */
  #observe(x: Inspection): boolean {
    const buf = x.buf;
    const off = x.offset;
    const peerSize = x.packet.ipVersion === 6 ? PEER_V6 : PEER_V4;
    const response = trackerResponseAction(buf, off, x.end, x.wireLength, peerSize);
    // Granted even when its request was not seen: only an announce or scrape that echoes the
    // id can make use of it.
    if (response === TrackerAction.CONNECT) this.#grantConnection(x);
    if (response >= 0 && this.#answers(x, response, u32(buf, off + 4))) {
      x.markAnswered();
      if (response === TrackerAction.ANNOUNCE) learnPeers(x, peerSize);
      return true;
    }
    const request = trackerRequestAction(buf, off, x.end, x.wireLength);
    if (request < 0) return false;
    this.#rememberRequest(x, request);
    if (!this.#carriesGrantedConnection(x)) return false;
    x.markAnswered();
    return true;
  }

  #rememberRequest(x: Inspection, action: number): void {
    const d = x.slot * 2 + x.direction;
    const i = d * PENDING + this.#nextRequest[d];
    this.#nextRequest[d] = (this.#nextRequest[d] + 1) % PENDING;
    this.#transaction[i] = u32(x.buf, x.offset + 12);
    this.#requestAction[i] = action + 1;
  }

  /** Whether the other direction sent a request with `transaction` that `action` answers. */
  #answers(x: Inspection, action: number, transaction: number): boolean {
    const base = (x.slot * 2 + (1 - x.direction)) * PENDING;
    for (let i = base; i < base + PENDING; i++) {
      const requested = this.#requestAction[i];
      if (requested === 0 || this.#transaction[i] !== transaction) continue;
      if (action === TrackerAction.ERROR || requested === action + 1) return true;
    }
    return false;
  }

  /** A connect response hands its connection id to the other direction (the client). */
  #grantConnection(x: Inspection): void {
    const d = x.slot * 2 + (1 - x.direction);
    this.#connectionHigh[d] = u32(x.buf, x.offset + 8);
    this.#connectionLow[d] = u32(x.buf, x.offset + 12);
    this.#connected[d] = 1;
  }

  /** Whether a request carries the connection id the other direction granted its sender. */
  #carriesGrantedConnection(x: Inspection): boolean {
    const d = x.slot * 2 + x.direction;
    if (this.#connected[d] === 0) return false;
    if (u32(x.buf, x.offset) !== this.#connectionHigh[d]) return false;
    return u32(x.buf, x.offset + 4) === this.#connectionLow[d];
  }
}

/** Remembers the peers of an announce response (entries entirely present only). */
function learnPeers(x: Inspection, peerSize: number): void {
  const buf = x.buf;
  const wireEnd = x.offset + x.wireLength;
  const stop = x.end < wireEnd ? x.end : wireEnd;
  const memory = x.memory;
  for (let e = x.offset + ANNOUNCE_RESPONSE_HEADER; e + peerSize <= stop; e += peerSize) {
    if (peerSize === PEER_V4) memory.rememberCompactV4(buf, e, Reason.TRACKER_PEER, x.now);
    else memory.rememberCompactV6(buf, e, Reason.TRACKER_PEER, x.now);
  }
}
