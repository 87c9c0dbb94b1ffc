/**
 * Detection records: the verdict the analyzer hands out when a flow is classified as
 * BitTorrent, and its rendering as an event object.
 *
 * @module
 */

import { formatAddress } from "./address.ts";
import { reasonName } from "./reason.ts";

/**
 * A flow classified as BitTorrent, as reported by the packet that decided it. The analyzer
 * reuses one instance; copy what you keep (or call {@linkcode toEvent}).
 */
export class Detection {
  /** Unique id of the flow within the analyzer's lifetime. */
  flowId = 0;
  /** A `Reason` code. */
  reason = 0;
  /** 1-based index of the deciding packet within its flow. */
  flowPacket = 0;
  /** Capture time of the deciding packet (seconds). */
  timestamp = 0;
  /** 4 or 6. */
  ipVersion = 0;
  /** 6 (TCP) or 17 (UDP). */
  l4 = 0;
  /** Source address of the deciding packet (four words). */
  readonly src: Uint32Array = new Uint32Array(4);
  /** Destination address of the deciding packet. */
  readonly dst: Uint32Array = new Uint32Array(4);
  /** Source port of the deciding packet. */
  srcPort = 0;
  /** Destination port of the deciding packet. */
  dstPort = 0;
  /** Whether the deciding packet went from the flow's responder to its initiator. */
  fromResponder = false;
  /** Whether the flow's initiator has answered the responder (see `Answered`). */
  initiatorAnswered = false;
  /** Whether the flow's responder has answered the initiator. */
  responderAnswered = false;
  /** Whether both directions carried payload. */
  bidirectional = false;
  /** The first bytes (up to 512) of the reporting packet's payload. */
  readonly payload: Uint8Array = new Uint8Array(512);
  /** How many bytes of {@linkcode payload} are valid. */
  payloadLength = 0;

  /** The detection as a plain event object (the `jsonl` format's fields). */
  toEvent(): DetectionEvent {
    const srcAnswered = this.fromResponder ? this.responderAnswered : this.initiatorAnswered;
    const dstAnswered = this.fromResponder ? this.initiatorAnswered : this.responderAnswered;
    return {
      event_type: "detection",
      timestamp: new Date(this.timestamp * 1000).toISOString(),
      proto: this.l4 === 6 ? "TCP" : "UDP",
      src_ip: formatAddress(this.src, this.ipVersion),
      src_port: this.srcPort,
      dest_ip: formatAddress(this.dst, this.ipVersion),
      dest_port: this.dstPort,
      reason: reasonName(this.reason),
      flow_packet: this.flowPacket,
      flow_id: this.flowId,
      evidence: {
        bidirectional: this.bidirectional,
        src_answered: srcAnswered,
        dest_answered: dstAnswered,
      },
    };
  }
}

/** A detection event as printed by `--format jsonl`. */
export interface DetectionEvent {
  /** Always `"detection"`. */
  event_type: "detection";
  /** ISO 8601 time of the deciding packet. */
  timestamp: string;
  /** `"TCP"` or `"UDP"`. */
  proto: "TCP" | "UDP";
  /** Source address of the deciding packet. */
  src_ip: string;
  /** Source port of the deciding packet. */
  src_port: number;
  /** Destination address of the deciding packet. */
  dest_ip: string;
  /** Destination port of the deciding packet. */
  dest_port: number;
  /** Stable reason name (`bt_handshake`, `dht_krpc`, …). */
  reason: string;
  /** 1-based index of the deciding packet within its flow. */
  flow_packet: number;
  /** Flow id, unique within one run. */
  flow_id: number;
  /**
   * What the flow proves about its endpoints: whether both directions carried payload, and
   * whether each endpoint answered the other (acknowledged its TCP data or echoed its
   * transaction id), which a sender with a forged address cannot do.
   */
  evidence: { bidirectional: boolean; src_answered: boolean; dest_answered: boolean };
}
