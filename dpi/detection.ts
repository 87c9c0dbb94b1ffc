/**
 * Detection records: the verdict the analyzer hands out when a flow is classified as
 * BitTorrent, its rendering as an event object, and its compact binary record (how worker
 * threads hand detections to the main thread).
 *
 * @module
 */

import { formatAddress } from "./address.ts";
import { Confidence, confidenceName, reasonName } from "./reason.ts";

/**
 * Bytes of a detection record before its payload. A record is this header followed by
 * `payloadLength` payload bytes (see {@linkcode Detection.toRecord}); the longest one is
 * {@linkcode DETECTION_RECORD_MAX_BYTES}.
 *
 * Layout (little-endian): f64 flow id @0, f64 timestamp @8, u32 flow packet @16, u16 source
 * port @20, u16 destination port @22, u8 reason @24, u8 IP version @25, u8 L4 protocol @26,
 * u8 flags @27 (1 from responder, 2 initiator answered, 4 responder answered, 8 bidirectional,
 * 16 corroborated), u16 payload length @28, u8 confidence @30, 1 byte zero @31, source address
 * (four u32) @32, destination address @48, payload @64.
 */
export const DETECTION_RECORD_HEADER_BYTES = 64;
/** The longest detection record: the header and a full 512-byte payload. */
export const DETECTION_RECORD_MAX_BYTES = DETECTION_RECORD_HEADER_BYTES + 512;

const FROM_RESPONDER = 1;
const INITIATOR_ANSWERED = 2;
const RESPONDER_ANSWERED = 4;
const BIDIRECTIONAL = 8;
const CORROBORATED = 16;

/**
 * A flow classified as BitTorrent, as reported by the packet that decided it. The analyzer
 * reuses one instance; copy what you keep (or call {@linkcode toEvent}).
 */
export class Detection {
  /** Unique id of the flow within the analyzer's lifetime. */
  flowId = 0;
  /** A `Reason` code. */
  reason = 0;
  /** How strong the evidence is (a `Confidence` level). */
  confidence: number = Confidence.HEURISTIC;
  /**
   * Whether the endpoint memory knew an endpoint of the flow when it was decided (from a peer
   * list or an earlier flow of structural or signature confidence): what lets a heuristic
   * detection ban.
   */
  corroborated = false;
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

  /**
   * Writes the detection as a compact record (see {@linkcode DETECTION_RECORD_HEADER_BYTES})
   * into `out` at `offset` and returns the record's length. Off the per-packet path: it is
   * called once per verdict.
   *
   * @throws {RangeError} when the record does not fit in `out`
   */
  toRecord(out: Uint8Array, offset: number): number {
    const length = DETECTION_RECORD_HEADER_BYTES + this.payloadLength;
    if (offset < 0 || offset + length > out.length) {
      throw new RangeError(`detection record of ${length} bytes does not fit at ${offset}`);
    }
    const v = new DataView(out.buffer, out.byteOffset + offset, DETECTION_RECORD_HEADER_BYTES);
    v.setFloat64(0, this.flowId, true);
    v.setFloat64(8, this.timestamp, true);
    v.setUint32(16, this.flowPacket, true);
    v.setUint16(20, this.srcPort, true);
    v.setUint16(22, this.dstPort, true);
    v.setUint8(24, this.reason);
    v.setUint8(25, this.ipVersion);
    v.setUint8(26, this.l4);
    v.setUint8(
      27,
      (this.fromResponder ? FROM_RESPONDER : 0) |
        (this.initiatorAnswered ? INITIATOR_ANSWERED : 0) |
        (this.responderAnswered ? RESPONDER_ANSWERED : 0) |
        (this.bidirectional ? BIDIRECTIONAL : 0) |
        (this.corroborated ? CORROBORATED : 0),
    );
    v.setUint16(28, this.payloadLength, true);
    v.setUint8(30, this.confidence);
    v.setUint8(31, 0);
    for (let i = 0; i < 4; i++) {
      v.setUint32(32 + 4 * i, this.src[i], true);
      v.setUint32(48 + 4 * i, this.dst[i], true);
    }
    out.set(this.payload.subarray(0, this.payloadLength), offset + DETECTION_RECORD_HEADER_BYTES);
    return length;
  }

  /**
   * Overwrites this detection with the record at `offset` in `bytes` (written by
   * {@linkcode toRecord}) and returns the record's length.
   *
   * @throws {RangeError} when the record is truncated or its payload length is impossible
   */
  fromRecord(bytes: Uint8Array, offset: number): number {
    if (offset < 0 || offset + DETECTION_RECORD_HEADER_BYTES > bytes.length) {
      throw new RangeError(`no detection record header at ${offset}`);
    }
    const v = new DataView(bytes.buffer, bytes.byteOffset + offset, DETECTION_RECORD_HEADER_BYTES);
    const payloadLength = v.getUint16(28, true);
    const length = DETECTION_RECORD_HEADER_BYTES + payloadLength;
    if (payloadLength > this.payload.length || offset + length > bytes.length) {
      throw new RangeError(`detection record at ${offset} is truncated`);
    }
    this.flowId = v.getFloat64(0, true);
    this.timestamp = v.getFloat64(8, true);
    this.flowPacket = v.getUint32(16, true);
    this.srcPort = v.getUint16(20, true);
    this.dstPort = v.getUint16(22, true);
    this.reason = v.getUint8(24);
    this.ipVersion = v.getUint8(25);
    this.l4 = v.getUint8(26);
    const flags = v.getUint8(27);
    this.fromResponder = (flags & FROM_RESPONDER) !== 0;
    this.initiatorAnswered = (flags & INITIATOR_ANSWERED) !== 0;
    this.responderAnswered = (flags & RESPONDER_ANSWERED) !== 0;
    this.bidirectional = (flags & BIDIRECTIONAL) !== 0;
    this.corroborated = (flags & CORROBORATED) !== 0;
    this.confidence = v.getUint8(30);
    for (let i = 0; i < 4; i++) {
      this.src[i] = v.getUint32(32 + 4 * i, true);
      this.dst[i] = v.getUint32(48 + 4 * i, true);
    }
    const start = offset + DETECTION_RECORD_HEADER_BYTES;
    this.payload.set(bytes.subarray(start, start + payloadLength));
    this.payloadLength = payloadLength;
    return length;
  }

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
      confidence: confidenceName(this.confidence),
      corroborated: this.corroborated,
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
  /**
   * `"detection"` when the flow was classified; `"confirmation"` (offline output) when a
   * heuristic detection of the flow was later confirmed by its structure.
   */
  event_type: "detection" | "confirmation";
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
  /** How strong the evidence is: `signature`, `structural` or `heuristic`. */
  confidence: string;
  /**
   * Whether the endpoint memory knew an endpoint of the flow (from a peer list or an earlier
   * flow of structural or signature confidence): what lets a heuristic detection ban.
   */
  corroborated: boolean;
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
