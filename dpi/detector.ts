/**
 * The contract between the analyzer and the per-protocol detectors in `dpi/detectors/`.
 *
 * @module
 */

import type { EngineConfig } from "./config.ts";
import type { EndpointMemory } from "./endpoint_memory.ts";
import type { FlowTable } from "./flow_table.ts";
import type { Packet } from "./packet.ts";

/** Returned by {@linkcode Detector.inspect} when the payload is positively another protocol. */
export const NOT_BITTORRENT = -1;

/**
 * What a detector sees of one payload packet: the decoded packet, its flow and direction,
 * and the payload window `[offset, end)` (which SOCKS5 unwrapping may narrow). One instance
 * is reused for every packet.
 */
export class Inspection {
  /** The decoded packet. */
  packet: Packet;
  /** The flow table (per-flow state, evidence marking). */
  readonly flows: FlowTable;
  /** Endpoint memory, for detectors that learn peers from peer lists. */
  readonly memory: EndpointMemory;
  /** Engine settings. */
  readonly config: EngineConfig;
  /** Slot of the packet's flow in `flows`. */
  slot = 0;
  /** 0 when the packet goes from the flow's initiator to its responder, 1 otherwise. */
  direction = 0;
  /** 1-based index of this payload packet within its direction. */
  directionPayloadIndex = 0;
  /** 1-based index of this payload packet within the flow (both directions). */
  payloadIndex = 0;
  /** Whether the flow touches a port that is usually not BitTorrent (heuristics stay off). */
  sensitivePort = false;
  /** The bytes being inspected (usually `packet.buf`). */
  buf: Uint8Array = new Uint8Array(0);
  /** Start of the payload window in `buf`. */
  offset = 0;
  /** End (exclusive) of the bytes present in the payload window. */
  end = 0;
  /** Payload length on the wire (may exceed `end - offset` when the capture was truncated). */
  wireLength = 0;
  /** Packet time in seconds. */
  now = 0;

  /** @param packet the analyzer's reusable packet */
  constructor(packet: Packet, flows: FlowTable, memory: EndpointMemory, config: EngineConfig) {
    this.packet = packet;
    this.flows = flows;
    this.memory = memory;
    this.config = config;
  }

  /** Bytes of payload present. */
  get length(): number {
    return this.end - this.offset;
  }

  /** Records that the sender of this packet answered the other side (evidence against forgery). */
  markAnswered(): void {
    this.flows.markAnswered(this.slot, this.direction);
  }
}

/**
 * A detector for one protocol family. The analyzer calls `inspect` for each payload packet of
 * a flow still being inspected (in a fixed order; the first non-zero answer wins), `reset`
 * when a slot starts a new flow, `harvest` for payload packets of flows this detector already
 * decided (to learn peers from later messages), and `confirm` for those of flows it decided on
 * a heuristic (to upgrade the detection when the flow's structure proves it).
 */
export interface Detector {
  /** Transport this detector looks at: 6 (TCP), 17 (UDP) or 0 for both. */
  readonly transport: number;
  /**
   * Judges one payload packet.
   * @returns a `Reason` code on detection, 0 for no verdict, {@linkcode NOT_BITTORRENT} when the
   *   payload is positively another protocol
   */
  inspect(x: Inspection): number;
  /** Forgets per-flow state of `slot` (a new flow starts there). */
  reset?(slot: number): void;
  /** Reasons this detector reports and whose flows it wants to keep seeing via `harvest`. */
  readonly harvests?: readonly number[];
  /** Sees a payload packet of a flow already decided with one of `harvests`. */
  harvest?(x: Inspection): void;
  /**
   * Follows a payload packet of a TCP flow this detector decided (a reason in `harvests`) with
   * `HEURISTIC` confidence, within a bound of its own.
   * @returns a stronger `Confidence` level once the flow's structure confirms the detection,
   *   0 otherwise
   */
  confirm?(x: Inspection): number;
}
