/**
 * Detection reasons: a small integer on the hot path, a stable machine name in events.
 *
 * @module
 */

/** Why a flow was classified as BitTorrent. `NONE` (0) means no detection. */
export const Reason = {
  NONE: 0,
  /** Peer wire handshake `\x13BitTorrent protocol` (BEP 3). */
  BT_HANDSHAKE: 1,
  /** Peer wire messages seen mid-flow, without the handshake (BEP 3, 6). */
  BT_MESSAGE: 2,
  /** Extension protocol handshake or extended message (BEP 10, 11). */
  BT_EXTENSION: 3,
  /** DHT KRPC message (BEP 5 and extensions). */
  DHT_KRPC: 4,
  /** HTTP tracker announce or scrape (BEP 3, 23, 48). */
  HTTP_TRACKER: 5,
  /** UDP tracker protocol (BEP 15). */
  UDP_TRACKER: 6,
  /** Micro Transport Protocol (BEP 29). */
  UTP: 7,
  /** Local Service Discovery (BEP 14). */
  LSD: 8,
  /** Message Stream Encryption / Protocol Encryption key exchange. */
  MSE: 9,
  /** HTTP/FTP seeding request (BEP 19, BEP 17, BitComet persistent seeds). */
  WEBSEED: 10,
  /** HTTP request with a BitTorrent client's User-Agent. */
  BT_USER_AGENT: 11,
  /** Endpoint seen in an earlier BitTorrent flow. */
  KNOWN_PEER: 12,
  /** Endpoint learned from a tracker response's peer list. */
  TRACKER_PEER: 13,
  /** Endpoint learned from a DHT response (`values`, `nodes`, `nodes6`). */
  DHT_PEER: 14,
  /** Endpoint learned from a PEX message (BEP 11). */
  PEX_PEER: 15,
  /** A SOCKS5 connection (only when SOCKS detection is enabled). */
  SOCKS5: 16,
} as const;

/** A value of {@linkcode Reason}. */
export type ReasonCode = typeof Reason[keyof typeof Reason];

const NAMES: readonly string[] = [
  "none",
  "bt_handshake",
  "bt_message",
  "bt_extension",
  "dht_krpc",
  "http_tracker",
  "udp_tracker",
  "utp",
  "lsd",
  "mse",
  "webseed",
  "bt_user_agent",
  "known_peer",
  "tracker_peer",
  "dht_peer",
  "pex_peer",
  "socks5",
];

/** Number of reason codes, `NONE` included (sizes per-reason counters). */
export const REASON_COUNT: number = NAMES.length;

/**
 * The stable machine name of a reason, as printed in events (`bt_handshake`, `dht_krpc`, …).
 *
 * @example
 * ```ts
 * import { Reason, reasonName } from "../mod.ts";
 * reasonName(Reason.UTP); // "utp"
 * ```
 */
export function reasonName(reason: number): string {
  return NAMES[reason] ?? "unknown";
}

/**
 * How strong the evidence behind a detection is; a larger value is stronger.
 *
 * - `SIGNATURE`: the cleartext BitTorrent grammar itself (the peer wire handshake, bencoded
 *   KRPC, a tracker request, an LSD announce, a client's User-Agent).
 * - `STRUCTURAL`: a binary structure no other common protocol shows (uTP's header grammar with
 *   acknowledged sequence numbers, peer wire messages mid-flow, MSE confirmed by the BitTorrent
 *   message sizes that show through its length-preserving cipher), or an endpoint learned from
 *   such a flow or from a BitTorrent peer list.
 * - `HEURISTIC`: a statistical rule alone (MSE recognised by flight sizes and randomness): any
 *   protocol whose handshake is random bytes of the same sizes matches it, so it never bans
 *   alone and never teaches the endpoint memory.
 */
export const Confidence = {
  /** A statistical rule alone. */
  HEURISTIC: 1,
  /** A structure of the protocol that others do not show. */
  STRUCTURAL: 2,
  /** The protocol's cleartext grammar. */
  SIGNATURE: 3,
} as const;

/** A value of {@linkcode Confidence}. */
export type ConfidenceLevel = typeof Confidence[keyof typeof Confidence];

const S = Confidence.SIGNATURE;
const T = Confidence.STRUCTURAL;
/** The confidence of a first detection, by reason (index: `Reason`). */
const CONFIDENCE: readonly ConfidenceLevel[] = [
  Confidence.HEURISTIC, // none (never reported)
  S, // bt_handshake
  T, // bt_message: message lengths and ids that fit together, without the handshake
  S, // bt_extension
  S, // dht_krpc
  S, // http_tracker
  S, // udp_tracker: the connect magic or an answer echoing a transaction id
  T, // utp: header grammar, answered sequence numbers
  S, // lsd
  Confidence.HEURISTIC, // mse: flight sizes and randomness (the detector may confirm it later)
  S, // webseed
  S, // bt_user_agent
  T, // known_peer: seen in an earlier flow of structural or signature confidence
  T, // tracker_peer
  T, // dht_peer
  T, // pex_peer
  S, // socks5: the SOCKS5 greeting (only when the operator enabled it)
];

/**
 * The confidence a detection with `reason` starts with (an MSE detection may be upgraded).
 *
 * @example
 * ```ts
 * import { Confidence, Reason, reasonConfidence } from "../mod.ts";
 * reasonConfidence(Reason.MSE) === Confidence.HEURISTIC; // true
 * ```
 */
export function reasonConfidence(reason: number): ConfidenceLevel {
  return CONFIDENCE[reason] ?? Confidence.HEURISTIC;
}

const CONFIDENCE_NAMES: readonly string[] = ["none", "heuristic", "structural", "signature"];

/**
 * The machine name of a confidence level, as printed in events (`signature`, `structural`,
 * `heuristic`).
 *
 * @example
 * ```ts
 * import { Confidence, confidenceName } from "../mod.ts";
 * confidenceName(Confidence.STRUCTURAL); // "structural"
 * ```
 */
export function confidenceName(confidence: number): string {
  return CONFIDENCE_NAMES[confidence] ?? "unknown";
}

/** Whether `reason` means the endpoint was recognised from memory rather than by payload. */
export function isEndpointReason(reason: number): boolean {
  return reason >= Reason.KNOWN_PEER && reason <= Reason.PEX_PEER;
}
