/**
 * Bidirectional flow table: one entry per L4 protocol and unordered endpoint pair, with
 * per-direction counters, first/last seen, inspection state and the evidence that each side
 * really took part in the conversation. Bounded: idle flows expire and, when the table is full,
 * the least recently seen flow is evicted.
 *
 * Direction 0 is the initiator's (the sender of the first packet seen, or the receiver of a
 * SYN+ACK seen first); direction 1 is the responder's.
 *
 * @module
 */

import { type Packet, TcpFlag } from "./packet.ts";
import { SlotTable } from "./slot_table.ts";

/** Inspection state of a flow. */
export const FlowState = {
  /** Payload packets are still being inspected. */
  INSPECTING: 0,
  /** Classified as BitTorrent; see the flow's reason. */
  BITTORRENT: 1,
  /** The payload budget ran out without a verdict. */
  GIVEN_UP: 2,
  /** Identified as another protocol; no longer inspected. */
  OTHER: 3,
} as const;

/** Bits of {@linkcode FlowTable.answered}: the side that proved it saw the other side's packets. */
export const Answered = {
  /** The initiator answered the responder (acknowledged its data, echoed its transaction id). */
  INITIATOR: 1,
  /** The responder answered the initiator. */
  RESPONDER: 2,
} as const;

const KEY_WORDS = 10;

/**
 * The flow table. Per-flow values live in typed arrays indexed by slot (and by
 * `slot * 2 + direction` for per-direction values).
 *
 * @example
 * ```ts
 * import { FlowTable, Packet } from "../mod.ts";
 * const flows = new FlowTable(1024, 120);
 * const p = new Packet(); // filled by decodePacket in real use
 * p.ipVersion = 4; p.l4 = 17; p.src[3] = 1; p.dst[3] = 2; p.srcPort = 1000; p.dstPort = 2000;
 * const slot = flows.lookup(p, 0);
 * if (flows.direction !== 0 || !flows.created) throw new Error();
 * ```
 */
export class FlowTable {
  /** The underlying keyed slots (canonical endpoint order). */
  readonly slots: SlotTable;
  /** Idle time in seconds after which a flow expires. */
  readonly idleTimeout: number;
  /** Unique id of the flow in each slot (increasing). */
  readonly id: Float64Array;
  /** 1 when the initiator is the canonical low endpoint of the key. */
  readonly initiatorLow: Uint8Array;
  /** Time of the flow's first packet (seconds). */
  readonly firstSeen: Float64Array;
  /** Time of the flow's latest packet (seconds). */
  readonly lastSeen: Float64Array;
  /** Packets per direction (`slot * 2 + dir`). */
  readonly packets: Uint32Array;
  /** Wire bytes per direction. */
  readonly bytes: Float64Array;
  /** Packets carrying payload, per direction. */
  readonly payloadPackets: Uint32Array;
  /** A {@linkcode FlowState} per flow. */
  readonly state: Uint8Array;
  /** The {@linkcode Reason} of a BitTorrent flow. */
  readonly reason: Uint8Array;
  /** 1-based index within the flow of the packet that decided it. */
  readonly decidedAt: Uint32Array;
  /** Union of TCP flags seen per direction. */
  readonly tcpFlags: Uint8Array;
  /** First TCP sequence number seen per direction. */
  readonly seqFirst: Uint32Array;
  /** One past the highest TCP sequence number sent per direction. */
  readonly seqEnd: Uint32Array;
  /** {@linkcode Answered} bits. */
  readonly answered: Uint8Array;

  /** Direction of the packet given to the last {@linkcode lookup}. */
  direction = 0;
  /** Whether the last {@linkcode lookup} created the flow. */
  created = false;
  /** Flows created since construction. */
  flowsCreated = 0;
  /** Flows removed after their idle timeout. */
  flowsExpired = 0;
  /** Flows evicted while still active because the table was full. */
  flowsEvicted = 0;

  #nextId: number;
  readonly #idStride: number;

  /**
   * @param capacity maximum number of flows held at once
   * @param idleTimeout seconds of silence after which a flow is forgotten
   * @param firstId id of the first flow created
   * @param idStride step between consecutive flow ids (tables sharing one id space each take
   *   their own `firstId` modulo the stride)
   */
  constructor(capacity: number, idleTimeout: number, firstId = 1, idStride = 1) {
    this.slots = new SlotTable(KEY_WORDS, capacity);
    this.idleTimeout = idleTimeout;
    this.#nextId = firstId;
    this.#idStride = idStride;
    this.id = new Float64Array(capacity);
    this.initiatorLow = new Uint8Array(capacity);
    this.firstSeen = new Float64Array(capacity);
    this.lastSeen = new Float64Array(capacity);
    this.packets = new Uint32Array(capacity * 2);
    this.bytes = new Float64Array(capacity * 2);
    this.payloadPackets = new Uint32Array(capacity * 2);
    this.state = new Uint8Array(capacity);
    this.reason = new Uint8Array(capacity);
    this.decidedAt = new Uint32Array(capacity);
    this.tcpFlags = new Uint8Array(capacity * 2);
    this.seqFirst = new Uint32Array(capacity * 2);
    this.seqEnd = new Uint32Array(capacity * 2);
    this.answered = new Uint8Array(capacity);
  }

  /** Number of flows held. */
  get size(): number {
    return this.slots.size;
  }

  /**
   * Finds or creates the flow of a decoded packet, updates its counters and LRU position,
   * and returns its slot. Sets {@linkcode direction} and {@linkcode created}.
   */
  lookup(p: Packet, now: number): number {
    const key = this.slots.key;
    const srcIsLow = fillKey(key, p);
    let slot = this.slots.find();
    if (slot < 0) {
      slot = this.slots.insert();
      if (this.slots.lastEvicted >= 0) this.flowsEvicted++;
      this.#reset(slot, now);
      // A SYN+ACK seen first was sent by the responder.
      const fromResponder = (p.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) ===
        (TcpFlag.SYN | TcpFlag.ACK);
      this.initiatorLow[slot] = srcIsLow !== fromResponder ? 1 : 0;
      this.created = true;
    } else {
      this.slots.touch(slot);
      this.created = false;
    }
    const dir = srcIsLow === (this.initiatorLow[slot] === 1) ? 0 : 1;
    this.direction = dir;
    const d = slot * 2 + dir;
    this.packets[d]++;
    this.bytes[d] += p.wireLength;
    if (p.payloadWireLength > 0) this.payloadPackets[d]++;
    this.lastSeen[slot] = now;
    if (p.l4 === 6) this.#trackTcp(slot, dir, p);
    return slot;
  }

  /** Total packets of the flow in `slot`, both directions. */
  totalPackets(slot: number): number {
    return this.packets[slot * 2] + this.packets[slot * 2 + 1];
  }

  /**
   * Whether both sides of the flow have carried payload and each side has answered the
   * other, so neither endpoint can be a forged source (see {@linkcode Answered}).
   */
  isEstablished(slot: number): boolean {
    return this.payloadPackets[slot * 2] > 0 && this.payloadPackets[slot * 2 + 1] > 0 &&
      this.answered[slot] === (Answered.INITIATOR | Answered.RESPONDER);
  }

  /** Records that the side `dir` answered the other side (see {@linkcode Answered}). */
  markAnswered(slot: number, dir: number): void {
    this.answered[slot] |= dir === 0 ? Answered.INITIATOR : Answered.RESPONDER;
  }

  /** Removes flows idle for longer than the idle timeout at time `now`. */
  expire(now: number): void {
    const slots = this.slots;
    const limit = now - this.idleTimeout;
    while (slots.oldest >= 0 && this.lastSeen[slots.oldest] < limit) {
      slots.remove(slots.oldest);
      this.flowsExpired++;
    }
  }

  /**
   * Writes the endpoints of the flow in `slot` as seen from its initiator into `initiator`
   * and `responder` (four address words each) and returns `[initiatorPort, responderPort]`
   * packed as `initiatorPort << 16 | responderPort`. Off the hot path (event reporting).
   */
  endpoints(slot: number, initiator: Uint32Array, responder: Uint32Array): number {
    const keys = this.slots.keys;
    const base = slot * KEY_WORDS;
    const low = this.initiatorLow[slot] === 1;
    for (let i = 0; i < 4; i++) {
      initiator[i] = keys[base + (low ? i : 4 + i)];
      responder[i] = keys[base + (low ? 4 + i : i)];
    }
    const ports = keys[base + 8];
    const lowPort = ports >>> 16;
    const highPort = ports & 0xffff;
    return low ? ((lowPort << 16) | highPort) >>> 0 : ((highPort << 16) | lowPort) >>> 0;
  }

  #reset(slot: number, now: number): void {
    this.flowsCreated++;
    this.id[slot] = this.#nextId;
    this.#nextId += this.#idStride;
    this.firstSeen[slot] = now;
    const d = slot * 2;
    this.packets[d] = this.packets[d + 1] = 0;
    this.bytes[d] = this.bytes[d + 1] = 0;
    this.payloadPackets[d] = this.payloadPackets[d + 1] = 0;
    this.tcpFlags[d] = this.tcpFlags[d + 1] = 0;
    this.state[slot] = FlowState.INSPECTING;
    this.reason[slot] = 0;
    this.decidedAt[slot] = 0;
    this.answered[slot] = 0;
  }

  /**
   * Tracks sequence ranges and marks a side as answered when it acknowledges bytes the other
   * side really sent: an off-path sender with a forged address cannot know them.
   */
  #trackTcp(slot: number, dir: number, p: Packet): void {
    const d = slot * 2 + dir;
    const o = slot * 2 + (1 - dir);
    const flags = p.tcpFlags;
    const first = this.tcpFlags[d] === 0;
    this.tcpFlags[d] |= flags | 0x80; // 0x80: a packet was seen in this direction
    let length = p.payloadWireLength;
    if (flags & TcpFlag.SYN) length++;
    if (flags & TcpFlag.FIN) length++;
    const end = (p.seq + length) >>> 0;
    if (first) {
      this.seqFirst[d] = p.seq;
      this.seqEnd[d] = end;
    } else if (((end - this.seqEnd[d]) | 0) > 0) {
      this.seqEnd[d] = end;
    }
    if ((flags & TcpFlag.ACK) && this.tcpFlags[o] !== 0) {
      const sent = (this.seqEnd[o] - this.seqFirst[o]) >>> 0;
      const acked = (p.ack - this.seqFirst[o]) >>> 0;
      if (acked > 0 && acked <= sent) this.markAnswered(slot, dir);
    }
  }
}

/**
 * Fills the 10-word canonical key of a packet's flow and returns whether the packet's source
 * is the canonical low endpoint (smaller address, then smaller port).
 */
function fillKey(key: Uint32Array, p: Packet): boolean {
  const s = p.src;
  const t = p.dst;
  let cmp = 0;
  for (let i = 0; i < 4 && cmp === 0; i++) cmp = s[i] === t[i] ? 0 : s[i] < t[i] ? -1 : 1;
  if (cmp === 0) cmp = p.srcPort <= p.dstPort ? -1 : 1;
  const srcLow = cmp < 0;
  const a = srcLow ? s : t;
  const b = srcLow ? t : s;
  key[0] = a[0];
  key[1] = a[1];
  key[2] = a[2];
  key[3] = a[3];
  key[4] = b[0];
  key[5] = b[1];
  key[6] = b[2];
  key[7] = b[3];
  key[8] = srcLow ? ((p.srcPort << 16) | p.dstPort) >>> 0 : ((p.dstPort << 16) | p.srcPort) >>> 0;
  key[9] = (p.ipVersion << 8) | p.l4;
  return srcLow;
}
