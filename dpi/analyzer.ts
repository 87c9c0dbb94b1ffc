/**
 * The flow-aware analyzer: decode a packet, find its flow, run the detectors on the first
 * payload packets of each undecided flow, remember BitTorrent endpoints, and report a
 * {@linkcode Detection} at the moment a flow is classified.
 *
 * Pure: no I/O and no Deno APIs, and nothing allocated per packet, so the same code runs in
 * the inline path, in workers, in tests and in benchmarks.
 *
 * @module
 */

import { type EngineConfig, engineConfig } from "./config.ts";
import { startsWithWord } from "./bytes.ts";
import { Decoded, decodePacket } from "./decode.ts";
import { Detection } from "./detection.ts";
import { type Detector, Inspection, NOT_BITTORRENT } from "./detector.ts";
import { createDetectors } from "./detectors/registry.ts";
import { socks5UdpPayloadOffset } from "./detectors/socks5.ts";
import { EndpointMemory } from "./endpoint_memory.ts";
import { Answered, FlowState, FlowTable } from "./flow_table.ts";
import { IPPROTO_TCP, IPPROTO_UDP, Packet } from "./packet.ts";
import { Confidence, isEndpointReason, Reason, REASON_COUNT, reasonConfidence } from "./reason.ts";

/** What {@linkcode Analyzer.analyze} found in a packet. */
export const Verdict = {
  /** Nothing new (the packet may still have been counted, inspected or skipped). */
  NONE: 0,
  /** The packet's flow was just classified as BitTorrent: see {@linkcode Analyzer.detection}. */
  DETECTION: 1,
  /**
   * A BitTorrent flow's evidence grew (an endpoint answered, or payload now flows both ways):
   * {@linkcode Analyzer.detection} describes the flow again with this packet, so a ban that
   * lacked evidence at the detection can follow.
   */
  EVIDENCE: 2,
  /**
   * A flow decided on a heuristic was confirmed by its structure: {@linkcode Analyzer.detection}
   * describes the flow again with its stronger `confidence`, so a ban that the heuristic alone
   * did not allow can follow.
   */
  CONFIRMED: 3,
} as const;

/** Payload bytes kept with a detection, for false-positive work. */
export const DETECTION_PAYLOAD_BYTES = 512;

/** Decided UDP flows keep being inspected for evidence up to this many budgets of packets. */
const EVIDENCE_BUDGETS = 4;
/** Bit of the reported-evidence byte: payload seen in both directions. */
const BIDIRECTIONAL = 4;

/** Counters kept by the analyzer. */
export class AnalyzerStats {
  /** Packets given to the analyzer. */
  packets = 0;
  /** Wire bytes given to the analyzer. */
  bytes = 0;
  /** TCP/UDP packets decoded. */
  decoded = 0;
  /** Frames carrying no IP (ARP, …). */
  notIp = 0;
  /** IP packets carrying neither TCP nor UDP. */
  otherTransport = 0;
  /** Non-first IP fragments (no L4 header to inspect). */
  fragments = 0;
  /** Packets with truncated or inconsistent headers, skipped. */
  malformed = 0;
  /** Packets of a link type the decoder does not support. */
  unsupportedLink = 0;
  /** Payload packets run through the detectors. */
  inspected = 0;
  /** Detections per reason code (index: `Reason`). */
  readonly detections: Float64Array = new Float64Array(REASON_COUNT);
}

/**
 * The detection engine for one stream of packets (one capture, one worker).
 *
 * @example
 * ```ts
 * import { Analyzer, LinkType, Verdict } from "../mod.ts";
 * const analyzer = new Analyzer({ maxFlows: 1024 });
 * const frame = new Uint8Array(64); // a captured Ethernet frame
 * if (analyzer.analyze(LinkType.ETHERNET, frame, 0, frame.length, frame.length, 0) === Verdict.DETECTION) {
 *   console.log(analyzer.detection.toEvent());
 * }
 * ```
 */
export class Analyzer {
  /** The validated configuration. */
  readonly config: EngineConfig;
  /** The flow table. */
  readonly flows: FlowTable;
  /** Endpoints remembered as BitTorrent. */
  readonly memory: EndpointMemory;
  /** The packet being analysed (overwritten by every call). */
  readonly packet: Packet = new Packet();
  /** Counters. */
  readonly stats: AnalyzerStats = new AnalyzerStats();
  /** The latest detection (valid after `Verdict.DETECTION` until the next call). */
  readonly detection: Detection = new Detection();

  readonly #tcp: Detector[];
  readonly #udp: Detector[];
  readonly #stateful: Detector[];
  /** TCP harvesters by the reason of the flows they want to see. */
  readonly #tcpHarvesters: Detector[][];
  /** TCP detectors that can confirm a heuristic detection, by its reason. */
  readonly #confirmers: Detector[][];
  /** UDP harvesters: they see every packet of decided UDP flows (DHT and uTP share a port). */
  readonly #udpHarvesters: Detector[];
  /** Evidence bits last reported per flow (`Answered` bits, and {@linkcode BIDIRECTIONAL}). */
  readonly #reported: Uint8Array;
  /** `Confidence` of each decided flow. */
  readonly #confidence: Uint8Array;
  /** 1 when an endpoint of a decided flow was in the endpoint memory (see `#describe`). */
  readonly #corroborated: Uint8Array;
  readonly #sensitivePorts: Uint8Array;
  readonly #x: Inspection;

  /**
   * @param config engine settings (defaults for what is left out)
   * @param detectors the detectors to run, in order; defaults to every detector of the engine
   * @param endpoints a table of `EndpointMemory.bytes(maxEndpoints)` bytes for the endpoint
   *   memory to attach to, such as a `SharedArrayBuffer` the analyzers of other workers share;
   *   a private table when left out
   */
  constructor(
    config: Partial<EngineConfig> = {},
    detectors?: Detector[],
    endpoints?: ArrayBufferLike,
  ) {
    this.config = engineConfig(config);
    const c = this.config;
    this.#sensitivePorts = new Uint8Array(65536);
    for (const port of c.notBitTorrentPorts) this.#sensitivePorts[port] = 1;
    this.flows = new FlowTable(c.maxFlows, c.flowIdleTimeout, c.firstFlowId, c.flowIdStride);
    this.memory = new EndpointMemory(
      c.maxEndpoints,
      c.endpointTtl,
      this.#sensitivePorts,
      endpoints,
    );
    const list = detectors ?? createDetectors(c);
    this.#tcp = list.filter((d) => d.transport !== IPPROTO_UDP);
    this.#udp = list.filter((d) => d.transport !== IPPROTO_TCP);
    this.#stateful = list.filter((d) => d.reset !== undefined);
    this.#tcpHarvesters = Array.from({ length: REASON_COUNT }, () => []);
    this.#confirmers = Array.from({ length: REASON_COUNT }, () => []);
    for (const d of this.#tcp) {
      for (const r of d.harvests ?? []) {
        if (d.harvest !== undefined) this.#tcpHarvesters[r].push(d);
        if (d.confirm !== undefined) this.#confirmers[r].push(d);
      }
    }
    this.#udpHarvesters = this.#udp.filter((d) => d.harvest !== undefined);
    this.#reported = new Uint8Array(c.maxFlows);
    this.#confidence = new Uint8Array(c.maxFlows);
    this.#corroborated = new Uint8Array(c.maxFlows);
    this.#x = new Inspection(this.packet, this.flows, this.memory, c);
  }

  /**
   * Analyses one captured frame.
   *
   * @param linkType the capture's link type (`LinkType`)
   * @param buf bytes holding the frame (only read during the call)
   * @param offset where the frame starts in `buf`
   * @param capturedLength bytes captured
   * @param wireLength bytes on the wire
   * @param timestamp capture time in seconds
   * @returns a {@linkcode Verdict}
   */
  analyze(
    linkType: number,
    buf: Uint8Array,
    offset: number,
    capturedLength: number,
    wireLength: number,
    timestamp: number,
  ): number {
    const p = this.packet;
    const stats = this.stats;
    stats.packets++;
    stats.bytes += wireLength;
    p.timestamp = timestamp;
    p.wireLength = wireLength;
    const status = decodePacket(linkType, buf, offset, capturedLength, p);
    if (status !== Decoded.OK) {
      this.#countUndecoded(status);
      return Verdict.NONE;
    }
    stats.decoded++;
    const flows = this.flows;
    flows.expire(timestamp);
    const slot = flows.lookup(p, timestamp);
    if (flows.created) {
      const stateful = this.#stateful;
      for (let i = 0; i < stateful.length; i++) stateful[i].reset!(slot);
    }
    const state = flows.state[slot];
    if (state === FlowState.BITTORRENT) return this.#follow(slot);
    if (p.payloadLength === 0 || state !== FlowState.INSPECTING) return Verdict.NONE;
    stats.inspected++;
    const x = this.#prepare(slot);
    let verdict = p.l4 === IPPROTO_TCP ? this.#run(this.#tcp, x) : this.#inspectUdp(x);
    if (verdict === 0 && !x.sensitivePort) verdict = this.#recallEndpoints(x);
    if (verdict > 0) return this.#decide(slot, verdict);
    if (verdict === NOT_BITTORRENT) flows.state[slot] = FlowState.OTHER;
    else if (x.payloadIndex >= this.config.inspectBudget) flows.state[slot] = FlowState.GIVEN_UP;
    return Verdict.NONE;
  }

  /**
   * A packet of a flow already classified: harvest peers from it, keep decided UDP flows
   * under inspection until both sides answered (bounded), follow a heuristic TCP detection
   * until its structure confirms it (bounded by its detector), and report evidence that grew.
   */
  #follow(slot: number): number {
    const p = this.packet;
    const flows = this.flows;
    if (p.payloadLength > 0) {
      const x = this.#prepare(slot);
      if (this.#confirm(x)) {
        this.#reported[slot] = this.#evidence(slot);
        this.#describe(slot, flows.reason[slot]);
        return Verdict.CONFIRMED;
      }
      if (p.l4 === IPPROTO_UDP) {
        const complete = flows.answered[slot] === (Answered.INITIATOR | Answered.RESPONDER);
        if (!complete && x.payloadIndex <= EVIDENCE_BUDGETS * this.config.inspectBudget) {
          this.#inspectUdp(x);
        } else {
          const harvesters = this.#udpHarvesters;
          for (let i = 0; i < harvesters.length; i++) harvesters[i].harvest!(x);
        }
      } else {
        const harvesters = this.#tcpHarvesters[flows.reason[slot]];
        for (let i = 0; i < harvesters.length; i++) harvesters[i].harvest!(x);
      }
    }
    const evidence = this.#evidence(slot);
    if (evidence === this.#reported[slot]) return Verdict.NONE;
    this.#reported[slot] = evidence;
    this.#describe(slot, flows.reason[slot]);
    return Verdict.EVIDENCE;
  }

  /**
   * Runs the confirmers of a heuristic TCP detection; on confirmation the flow takes the
   * stronger confidence and its endpoints become known. Returns whether it was confirmed.
   */
  #confirm(x: Inspection): boolean {
    const slot = x.slot;
    if (this.#confidence[slot] !== Confidence.HEURISTIC || this.packet.l4 !== IPPROTO_TCP) {
      return false;
    }
    const confirmers = this.#confirmers[this.flows.reason[slot]];
    for (let i = 0; i < confirmers.length; i++) {
      const confidence = confirmers[i].confirm!(x);
      if (confidence <= Confidence.HEURISTIC) continue;
      this.#confidence[slot] = confidence;
      this.#rememberFlowEndpoints();
      return true;
    }
    return false;
  }

  #evidence(slot: number): number {
    const flows = this.flows;
    const both = flows.payloadPackets[slot * 2] > 0 && flows.payloadPackets[slot * 2 + 1] > 0;
    return flows.answered[slot] | (both ? BIDIRECTIONAL : 0);
  }

  #prepare(slot: number): Inspection {
    const x = this.#x;
    const p = this.packet;
    const flows = this.flows;
    const dir = flows.direction;
    x.slot = slot;
    x.direction = dir;
    x.directionPayloadIndex = flows.payloadPackets[slot * 2 + dir];
    x.payloadIndex = flows.payloadPackets[slot * 2] + flows.payloadPackets[slot * 2 + 1];
    x.sensitivePort = this.#sensitivePorts[p.srcPort] === 1 ||
      this.#sensitivePorts[p.dstPort] === 1;
    x.buf = p.buf;
    x.offset = p.payloadOffset;
    x.end = p.payloadOffset + p.payloadLength;
    x.wireLength = p.payloadWireLength;
    x.now = p.timestamp;
    return x;
  }

  #run(detectors: Detector[], x: Inspection): number {
    for (let i = 0; i < detectors.length; i++) {
      const v = detectors[i].inspect(x);
      if (v !== 0) return v;
    }
    return 0;
  }

  /** UDP: a SOCKS5-encapsulated datagram is judged by its inner payload first. */
  #inspectUdp(x: Inspection): number {
    const inner = socks5UdpPayloadOffset(x.buf, x.offset, x.end);
    if (inner >= 0) {
      const outerOffset = x.offset;
      const outerWire = x.wireLength;
      x.wireLength -= inner - outerOffset;
      x.offset = inner;
      const v = this.#run(this.#udp, x);
      if (v > 0) return v;
      x.offset = outerOffset;
      x.wireLength = outerWire;
    }
    return this.#run(this.#udp, x);
  }

  /**
   * Endpoints remembered as BitTorrent decide a flow that no detector recognised. Endpoints
   * only announced by a peer list (not yet seen doing BitTorrent) are not trusted for a flow
   * that opens with text, such as an HTTP request: a peer list can name any server.
   */
  #recallEndpoints(x: Inspection): number {
    const p = this.packet;
    const memory = this.memory;
    const now = x.now;
    let r = memory.recall(p.dst, p.ipVersion, p.dstPort, now);
    if (r === 0) r = memory.recall(p.src, p.ipVersion, p.srcPort, now);
    if (r > Reason.KNOWN_PEER && startsWithWord(x.buf, x.offset, x.end)) return 0;
    return r;
  }

  #decide(slot: number, reason: number): number {
    const flows = this.flows;
    flows.state[slot] = FlowState.BITTORRENT;
    flows.reason[slot] = reason;
    flows.decidedAt[slot] = flows.totalPackets(slot);
    this.stats.detections[reason]++;
    const confidence = reasonConfidence(reason);
    this.#confidence[slot] = confidence;
    this.#corroborated[slot] = 0;
    if (
      confidence !== Confidence.HEURISTIC && !isEndpointReason(reason) &&
      reason !== Reason.WEBSEED && reason !== Reason.BT_USER_AGENT && reason !== Reason.SOCKS5
    ) {
      this.#rememberFlowEndpoints();
    }
    this.#reported[slot] = this.#evidence(slot);
    this.#describe(slot, reason);
    return Verdict.DETECTION;
  }

  /**
   * Fills {@linkcode detection} from the flow and the current packet. A heuristic detection is
   * corroborated once an endpoint of its flow is in the endpoint memory (learned from a peer
   * list or from a flow of structural or signature confidence); looked up only here, when the
   * flow is reported, never per packet.
   */
  #describe(slot: number, reason: number): void {
    const flows = this.flows;
    const p = this.packet;
    const d = this.detection;
    const answered = flows.answered[slot];
    const confidence = this.#confidence[slot];
    if (confidence === Confidence.HEURISTIC && this.#corroborated[slot] === 0) {
      const memory = this.memory;
      const known = memory.recall(p.dst, p.ipVersion, p.dstPort, p.timestamp) !== 0 ||
        memory.recall(p.src, p.ipVersion, p.srcPort, p.timestamp) !== 0;
      this.#corroborated[slot] = known ? 1 : 0;
    }
    d.flowId = flows.id[slot];
    d.reason = reason;
    d.confidence = confidence;
    d.corroborated = this.#corroborated[slot] === 1;
    d.flowPacket = flows.totalPackets(slot);
    d.timestamp = p.timestamp;
    d.ipVersion = p.ipVersion;
    d.l4 = p.l4;
    d.src.set(p.src);
    d.dst.set(p.dst);
    d.srcPort = p.srcPort;
    d.dstPort = p.dstPort;
    d.fromResponder = flows.direction === 1;
    d.initiatorAnswered = (answered & Answered.INITIATOR) !== 0;
    d.responderAnswered = (answered & Answered.RESPONDER) !== 0;
    d.bidirectional = flows.payloadPackets[slot * 2] > 0 && flows.payloadPackets[slot * 2 + 1] > 0;
    const length = Math.min(p.payloadLength, DETECTION_PAYLOAD_BYTES);
    d.payload.set(p.buf.subarray(p.payloadOffset, p.payloadOffset + length));
    d.payloadLength = length;
  }

  /**
   * A decided flow's endpoints become known BitTorrent endpoints: both for UDP (DHT and uTP
   * listen on their sending port), the responder's for TCP (the initiator's port is ephemeral).
   * Never for a heuristic detection: a look-alike protocol must not spread to its other flows.
   */
  #rememberFlowEndpoints(): void {
    const p = this.packet;
    const now = p.timestamp;
    const memory = this.memory;
    const fromInitiator = this.flows.direction === 0;
    if (p.l4 === IPPROTO_UDP) {
      memory.remember(p.src, p.ipVersion, p.srcPort, Reason.KNOWN_PEER, now);
      memory.remember(p.dst, p.ipVersion, p.dstPort, Reason.KNOWN_PEER, now);
    } else if (fromInitiator) {
      memory.remember(p.dst, p.ipVersion, p.dstPort, Reason.KNOWN_PEER, now);
    } else {
      memory.remember(p.src, p.ipVersion, p.srcPort, Reason.KNOWN_PEER, now);
    }
  }

  #countUndecoded(status: number): void {
    const stats = this.stats;
    switch (status) {
      case Decoded.NOT_IP:
        stats.notIp++;
        break;
      case Decoded.OTHER_L4:
        stats.otherTransport++;
        break;
      case Decoded.FRAGMENT:
        stats.fragments++;
        break;
      case Decoded.UNSUPPORTED_LINK:
        stats.unsupportedLink++;
        break;
      default:
        stats.malformed++;
    }
  }
}
