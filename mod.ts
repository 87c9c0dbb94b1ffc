/**
 * btblocker's detection engine: a pure, flow-aware BitTorrent classifier for packet bytes.
 *
 * Feed captured frames to an {@linkcode Analyzer}; it decodes them, tracks flows, runs the
 * protocol detectors on the first payload packets of each flow, and reports a
 * {@linkcode Detection} the moment a flow is classified. No I/O and no Deno APIs: the same
 * engine runs inline, in workers, in tests and in benchmarks.
 *
 * @example
 * ```ts
 * import { Analyzer, LinkType, Verdict } from "./mod.ts";
 * const analyzer = new Analyzer();
 * const frame = new Uint8Array(64); // bytes from libpcap, a pcap file, …
 * if (analyzer.analyze(LinkType.ETHERNET, frame, 0, frame.length, frame.length, 0) === Verdict.DETECTION) {
 *   console.log(analyzer.detection.toEvent().reason);
 * }
 * ```
 *
 * @module
 */

export { Analyzer, AnalyzerStats, DETECTION_PAYLOAD_BYTES, Verdict } from "./dpi/analyzer.ts";
export { DEFAULT_ENGINE_CONFIG, type EngineConfig, engineConfig } from "./dpi/config.ts";
export {
  Decoded,
  decodePacket,
  type DecodeResult,
  isSupportedLinkType,
  LinkType,
} from "./dpi/decode.ts";
export { Detection, type DetectionEvent } from "./dpi/detection.ts";
export { type Detector, Inspection, NOT_BITTORRENT } from "./dpi/detector.ts";
export { createDetectors } from "./dpi/detectors/registry.ts";
export {
  HANDSHAKE_LENGTH,
  isExtensionHandshake,
  isPeerWireHandshake,
  MESSAGE_INVALID,
  MESSAGE_TRUNCATED,
  PeerWireDetector,
  PeerWireId,
  peerWireMessageLength,
} from "./dpi/detectors/peer_wire.ts";
export { DhtDetector, KrpcKind, KrpcMessage, parseKrpc } from "./dpi/detectors/dht.ts";
export {
  HttpDetector,
  httpRequestReason,
  isBitTorrentUserAgent,
  isClientPeerId,
} from "./dpi/detectors/http.ts";
export {
  isUdpTrackerConnect,
  TrackerAction,
  trackerRequestAction,
  trackerResponseAction,
  UdpTrackerDetector,
} from "./dpi/detectors/udp_tracker.ts";
export { UtpDetector, utpPacketType, UtpType } from "./dpi/detectors/utp.ts";
export { isLsdAnnouncement, LSD_PORT, LsdDetector } from "./dpi/detectors/lsd.ts";
export {
  looksRandom,
  minDistinctRandom,
  MseDetector,
  startsWithSmallInteger,
} from "./dpi/detectors/mse.ts";
export {
  isDtlsRecord,
  isFramedStun,
  isOtherTcpProtocol,
  isOtherUdpProtocol,
  isQuicWithVersion,
  isRtsp,
  isSip,
  isSmb,
  isSshBanner,
  isStun,
  isTlsRecord,
  isTpktConnection,
  isWireGuard,
  OtherProtocolsDetector,
} from "./dpi/detectors/other_protocols.ts";
export { Socks5Detector, socks5UdpPayloadOffset } from "./dpi/detectors/socks5.ts";
export { EndpointMemory } from "./dpi/endpoint_memory.ts";
export { Answered, FlowState, FlowTable } from "./dpi/flow_table.ts";
export { IPPROTO_TCP, IPPROTO_UDP, Packet, TcpFlag } from "./dpi/packet.ts";
export {
  Confidence,
  type ConfidenceLevel,
  confidenceName,
  isEndpointReason,
  Reason,
  type ReasonCode,
  reasonConfidence,
  reasonName,
} from "./dpi/reason.ts";
export { formatAddress, isUnicastHost, parseAddress } from "./dpi/address.ts";
