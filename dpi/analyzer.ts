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
import { Decoded, decodePacket } from "./decode.ts";
import { Detection } from "./detection.ts";
import { type Detector, Inspection, NOT_BITTORRENT } from "./detector.ts";
import { createDetectors } from "./detectors/registry.ts";
import { socks5UdpPayloadOffset } from "./detectors/socks5.ts";
import { EndpointMemory } from "./endpoint_memory.ts";
import { Answered, FlowState, FlowTable } from "./flow_table.ts";
import { IPPROTO_TCP, IPPROTO_UDP, Packet } from "./packet.ts";
import { isEndpointReason, Reason, REASON_COUNT } from "./reason.ts";

/** What {@linkcode Analyzer.analyze} found in a packet. */
export const Verdict = {
  /** Nothing new (the packet may still have been counted, inspected or skipped). */
  NONE: 0,
  /** The packet's flow was just classified as BitTorrent: see {@linkcode Analyzer.detection}. */
  DETECTION: 1,
} as const;

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
  readonly #harvesters: (Detector | undefined)[];
  readonly #sensitivePorts: Uint8Array;
  readonly #x: Inspection;

  /**
   * @param config engine settings (defaults for what is left out)
   * @param detectors the detectors to run, in order; defaults to every detector of the engine
   */
  constructor(config: Partial<EngineConfig> = {}, detectors?: Detector[]) {
    this.config = engineConfig(config);
    const c = this.config;
    this.#sensitivePorts = new Uint8Array(65536);
    for (const port of c.notBitTorrentPorts) this.#sensitivePorts[port] = 1;
    this.flows = new FlowTable(c.maxFlows, c.flowIdleTimeout);
    this.memory = new EndpointMemory(c.maxEndpoints, c.endpointTtl, this.#sensitivePorts);
    const list = detectors ?? createDetectors(c);
    this.#tcp = list.filter((d) => d.transport !== IPPROTO_UDP);
    this.#udp = list.filter((d) => d.transport !== IPPROTO_TCP);
    this.#stateful = list.filter((d) => d.reset !== undefined);
    this.#harvesters = new Array(REASON_COUNT);
    for (const d of list) for (const r of d.harvests ?? []) this.#harvesters[r] = d;
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
    if (p.payloadLength === 0) return Verdict.NONE;
    const state = flows.state[slot];
    if (state === FlowState.BITTORRENT) {
      const harvester = this.#harvesters[flows.reason[slot]];
      if (harvester !== undefined) harvester.harvest!(this.#prepare(slot));
      return Verdict.NONE;
    }
    if (state !== FlowState.INSPECTING) return Verdict.NONE;
    stats.inspected++;
    const x = this.#prepare(slot);
    let verdict = p.l4 === IPPROTO_TCP ? this.#run(this.#tcp, x) : this.#inspectUdp(x);
    if (verdict === 0 && !x.sensitivePort) verdict = this.#recallEndpoints(timestamp);
    if (verdict > 0) return this.#decide(slot, verdict);
    if (verdict === NOT_BITTORRENT) flows.state[slot] = FlowState.OTHER;
    else if (x.payloadIndex >= this.config.inspectBudget) flows.state[slot] = FlowState.GIVEN_UP;
    return Verdict.NONE;
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

  #recallEndpoints(now: number): number {
    const p = this.packet;
    const memory = this.memory;
    const r = memory.recall(p.dst, p.ipVersion, p.dstPort, now);
    return r !== 0 ? r : memory.recall(p.src, p.ipVersion, p.srcPort, now);
  }

  #decide(slot: number, reason: number): number {
    const flows = this.flows;
    const p = this.packet;
    flows.state[slot] = FlowState.BITTORRENT;
    flows.reason[slot] = reason;
    const flowPacket = flows.totalPackets(slot);
    flows.decidedAt[slot] = flowPacket;
    this.stats.detections[reason]++;
    if (
      !isEndpointReason(reason) && reason !== Reason.WEBSEED &&
      reason !== Reason.BT_USER_AGENT && reason !== Reason.SOCKS5
    ) {
      this.#rememberFlowEndpoints();
    }
    const d = this.detection;
    const fromResponder = flows.direction === 1;
    const answered = flows.answered[slot];
    d.flowId = flows.id[slot];
    d.reason = reason;
    d.flowPacket = flowPacket;
    d.timestamp = p.timestamp;
    d.ipVersion = p.ipVersion;
    d.l4 = p.l4;
    d.src.set(p.src);
    d.dst.set(p.dst);
    d.srcPort = p.srcPort;
    d.dstPort = p.dstPort;
    d.fromResponder = fromResponder;
    d.initiatorAnswered = (answered & Answered.INITIATOR) !== 0;
    d.responderAnswered = (answered & Answered.RESPONDER) !== 0;
    d.bidirectional = flows.payloadPackets[slot * 2] > 0 && flows.payloadPackets[slot * 2 + 1] > 0;
    return Verdict.DETECTION;
  }

  /**
   * A decided flow's endpoints become known BitTorrent endpoints: both for UDP (DHT and uTP
   * listen on their sending port), the responder's for TCP (the initiator's port is ephemeral).
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
