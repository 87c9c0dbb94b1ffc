/**
 * Negative signatures: protocols that are positively *not* BitTorrent, recognised by strong,
 * well-known structure at the start of a direction (TLS and DTLS records, SSH banners, RDP
 * connection requests, SMB, STUN, QUIC long headers, WireGuard, SIP and RTSP). A flow matching
 * one is marked `NOT_BITTORRENT`, so it stops being inspected and no heuristic (MSE, uTP,
 * remembered endpoints) can misfire on it.
 *
 * Each signature fixes many bits at once (magic numbers, version fields, lengths that must agree
 * with each other or with the datagram size; the weakest, a lone TLS record header, fixes about
 * 22), and only the first payload packet of each direction is judged, so a BitTorrent payload —
 * plain peer wire, MSE random bytes, uTP, KRPC, UDP tracker — practically never matches one. Plain
 * HTTP requests and responses are deliberately *not* here: HTTP trackers and web seeds are
 * BitTorrent over HTTP.
 *
 * The predicates are pure and exported; the MSE detector uses {@linkcode isOtherTcpProtocol} to
 * refuse flights that start like another protocol.
 *
 * @module
 */

import { ascii, matchAt, matchAtIgnoreCase, u16, u32 } from "../bytes.ts";
import { type Detector, type Inspection, NOT_BITTORRENT } from "../detector.ts";
import { IPPROTO_TCP } from "../packet.ts";

const TLS_MAX_RECORD = 16384 + 2048; // TLSCiphertext limit (RFC 5246 §6.2.3)

/** Whether a TLS record header (type 20–24, version 3.1–3.4) starts at `off` (caller checks bounds). */
function isTlsRecordHeader(buf: Uint8Array, off: number): boolean {
  const type = buf[off];
  if (type < 20 || type > 24) return false; // change_cipher_spec, alert, handshake, data, heartbeat
  if (buf[off + 1] !== 3) return false;
  const minor = buf[off + 2];
  return minor >= 1 && minor <= 4;
}

/**
 * Whether `[off, end)` starts with a TLS record: content type 20–24, version 3.1–3.4, a length of
 * 1–18432 bytes; and when the bytes present reach past that record, the next one starts with a
 * record header of the same version. Matches the hellos that open a TLS connection as well as the
 * records of a connection picked up mid-stream.
 *
 * @example
 * ```ts
 * import { isTlsRecord } from "./other_protocols.ts";
 * const hello = Uint8Array.of(0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3);
 * isTlsRecord(hello, 0, hello.length); // true
 * ```
 */
export function isTlsRecord(buf: Uint8Array, off: number, end: number): boolean {
  if (end - off < 5) return false;
  if (!isTlsRecordHeader(buf, off)) return false;
  const length = u16(buf, off + 3);
  if (length === 0 || length > TLS_MAX_RECORD) return false;
  const next = off + 5 + length;
  if (next + 3 > end) return true;
  if (!isTlsRecordHeader(buf, next)) return false;
  return buf[next + 2] === buf[off + 2];
}

const SSH_20 = ascii("SSH-2.0-");
const SSH_199 = ascii("SSH-1.99-");
const SSH_15 = ascii("SSH-1.5-");

/**
 * Whether `[off, end)` starts with an SSH identification string (`SSH-2.0-`, `SSH-1.99-` or
 * `SSH-1.5-`, RFC 4253 §4.2).
 *
 * @example
 * ```ts
 * import { ascii } from "../bytes.ts";
 * import { isSshBanner } from "./other_protocols.ts";
 * const b = ascii("SSH-2.0-OpenSSH_9.2\r\n");
 * isSshBanner(b, 0, b.length); // true
 * ```
 */
export function isSshBanner(buf: Uint8Array, off: number, end: number): boolean {
  return matchAt(buf, off, end, SSH_20) || matchAt(buf, off, end, SSH_199) ||
    matchAt(buf, off, end, SSH_15);
}

const X224_CONNECTION_REQUEST = 0xe0;
const X224_CONNECTION_CONFIRM = 0xd0;

/**
 * Whether `[off, end)` starts with a TPKT packet (RFC 1006: version 3, reserved 0, 16-bit length)
 * carrying an X.224 connection request or confirm whose length indicator agrees with the TPKT
 * length: how RDP (and other ISO-over-TCP protocols) open a connection.
 *
 * @example
 * ```ts
 * import { isTpktConnection } from "./other_protocols.ts";
 * const cr = Uint8Array.of(3, 0, 0, 11, 6, 0xe0, 0, 0, 0, 0, 0);
 * isTpktConnection(cr, 0, cr.length); // true
 * ```
 */
export function isTpktConnection(buf: Uint8Array, off: number, end: number): boolean {
  if (end - off < 7) return false;
  if (buf[off] !== 3 || buf[off + 1] !== 0) return false; // TPKT version 3, reserved
  const length = u16(buf, off + 2);
  if (length < 11) return false; // TPKT header 4 + X.224 CR/CC 7
  if (buf[off + 4] !== length - 5) return false; // X.224 length indicator
  const code = buf[off + 5] & 0xf0;
  if (code !== X224_CONNECTION_REQUEST && code !== X224_CONNECTION_CONFIRM) return false;
  return true;
}

const SMB_TAIL = ascii("SMB");
const NBSS_SESSION_MESSAGE = 0x00;
const NBSS_SESSION_REQUEST = 0x81;
const NETBIOS_NAME_LENGTH = 32;

/**
 * Whether `[off, end)` starts with SMB over TCP: a NetBIOS session message (or its port 445
 * direct-TCP form) holding an SMB1 (`\xffSMB`), SMB2 (`\xfeSMB`) or SMB3 transform (`\xfdSMB`)
 * header, or a NetBIOS session request (RFC 1002) with a first-level encoded called name.
 *
 * @example
 * ```ts
 * import { isSmb } from "./other_protocols.ts";
 * const b = Uint8Array.of(0, 0, 0, 68, 0xfe, 0x53, 0x4d, 0x42, 64, 0);
 * isSmb(b, 0, b.length); // true
 * ```
 */
export function isSmb(buf: Uint8Array, off: number, end: number): boolean {
  if (end - off < 8) return false;
  const type = buf[off];
  if (type === NBSS_SESSION_MESSAGE) {
    if ((buf[off + 1] & 0xfe) !== 0) return false; // only the length-extension bit may be set
    const length = ((buf[off + 1] & 1) << 16) | u16(buf, off + 2);
    if (length < 32) return false; // shorter than an SMB header
    const protocol = buf[off + 4];
    if (protocol !== 0xff && protocol !== 0xfe && protocol !== 0xfd) return false;
    return matchAt(buf, off + 5, end, SMB_TAIL);
  }
  if (type !== NBSS_SESSION_REQUEST) return false;
  if (buf[off + 1] !== 0) return false; // flags
  if (u16(buf, off + 2) < 2 * (2 + NETBIOS_NAME_LENGTH)) return false; // called + calling names
  if (buf[off + 4] !== NETBIOS_NAME_LENGTH) return false;
  const nameEnd = off + 5 + NETBIOS_NAME_LENGTH;
  if (nameEnd > end) return false;
  for (let i = off + 5; i < nameEnd; i++) {
    if (buf[i] < 0x41 || buf[i] > 0x50) return false; // half-bytes encoded as 'A'..'P'
  }
  return true;
}

const STUN_MAGIC_COOKIE = 0x2112a442;
const STUN_HEADER = 20;

/**
 * Whether `[off, end)` starts with a STUN message (RFC 5389/8489): top two bits zero, a body
 * length that is a multiple of 4 and fits in the bytes present, and the magic cookie 0x2112A442.
 *
 * @example
 * ```ts
 * import { isStun } from "./other_protocols.ts";
 * const request = Uint8Array.of(0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, ...new Uint8Array(12));
 * isStun(request, 0, request.length); // true
 * ```
 */
export function isStun(buf: Uint8Array, off: number, end: number): boolean {
  if (end - off < STUN_HEADER) return false;
  if ((buf[off] & 0xc0) !== 0) return false;
  const length = u16(buf, off + 2);
  if ((length & 3) !== 0) return false; // attributes are 32-bit aligned
  if (STUN_HEADER + length > end - off) return false;
  if (u32(buf, off + 4) !== STUN_MAGIC_COOKIE) return false;
  return true;
}

const DTLS_HEADER = 13;

/**
 * Whether `[off, end)` starts with a DTLS record (RFC 6347/9147 plaintext header): content type
 * 20–25, version 0xfeff (DTLS 1.0) or 0xfefd (DTLS 1.2, also used by 1.3), and a non-empty record
 * length that fits in the bytes present.
 *
 * @example
 * ```ts
 * import { isDtlsRecord } from "./other_protocols.ts";
 * const r = Uint8Array.of(22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1);
 * isDtlsRecord(r, 0, r.length); // true
 * ```
 */
export function isDtlsRecord(buf: Uint8Array, off: number, end: number): boolean {
  if (end - off < DTLS_HEADER + 1) return false;
  const type = buf[off];
  if (type < 20 || type > 25) return false; // change_cipher_spec … ack
  if (buf[off + 1] !== 0xfe) return false;
  if (buf[off + 2] !== 0xff && buf[off + 2] !== 0xfd) return false;
  const length = u16(buf, off + 11);
  if (length === 0) return false;
  if (DTLS_HEADER + length > end - off) return false;
  return true;
}

const QUIC_V1 = 0x00000001;
const QUIC_V2 = 0x6b3343cf;
const QUIC_DRAFT = 0xff000000;
const QUIC_LAST_DRAFT = 34;
const QUIC_MVFST = 0xfaceb000;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Google QUIC versions are ASCII: `Q0dd` (QUIC crypto) or `T0dd` (TLS). */
function isGoogleQuicVersion(buf: Uint8Array, off: number): boolean {
  const c = buf[off];
  if (c !== 0x51 && c !== 0x54) return false; // 'Q', 'T'
  return buf[off + 1] === 0x30 && isDigit(buf[off + 2]) && isDigit(buf[off + 3]);
}

/**
 * Whether `[off, end)` starts with a QUIC packet naming a known version: a long header (top bit
 * set; the fixed bit may be greased, RFC 9287) with version 1, version 2, an IETF draft
 * (0xff0000xx), Facebook mvfst (0xfaceb0xx) or Google `Q0dd`/`T0dd`; or a Google QUIC public
 * header (flags with the version bit and an 8-byte connection id) naming `Q0dd`.
 *
 * @example
 * ```ts
 * import { isQuicWithVersion } from "./other_protocols.ts";
 * const initial = Uint8Array.of(0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0);
 * isQuicWithVersion(initial, 0, initial.length); // true
 * ```
 */
export function isQuicWithVersion(buf: Uint8Array, off: number, end: number): boolean {
  if (end - off < 13) return false;
  const first = buf[off];
  if ((first & 0x80) !== 0) {
    const version = u32(buf, off + 1);
    if (version === QUIC_V1 || version === QUIC_V2) return true;
    if ((version & 0xffffff00) >>> 0 === QUIC_DRAFT) return (version & 0xff) <= QUIC_LAST_DRAFT;
    if ((version & 0xffffff00) >>> 0 === QUIC_MVFST) return true;
    return isGoogleQuicVersion(buf, off + 1);
  }
  if ((first & 0x09) !== 0x09) return false; // gQUIC public flags: version bit + 8-byte CID
  if ((first & 0x02) !== 0) return false; // not a public reset
  return buf[off + 9] === 0x51 && isGoogleQuicVersion(buf, off + 9);
}

const WIREGUARD_INITIATION = 148;
const WIREGUARD_RESPONSE = 92;
const WIREGUARD_COOKIE_REPLY = 64;
const WIREGUARD_DATA_MIN = 32; // header 16 + empty keepalive 0 + tag 16

/**
 * Whether a UDP payload is a WireGuard message: type 1–4 followed by three zero bytes, with the
 * exact size of its type (initiation 148, response 92, cookie reply 64) or, for transport data,
 * at least 32 bytes in a multiple of 16. Sizes are judged on `wireLength`, the datagram's payload
 * length on the wire.
 *
 * @example
 * ```ts
 * import { isWireGuard } from "./other_protocols.ts";
 * const init = new Uint8Array(148);
 * init[0] = 1;
 * isWireGuard(init, 0, init.length, 148); // true
 * ```
 */
export function isWireGuard(
  buf: Uint8Array,
  off: number,
  end: number,
  wireLength: number,
): boolean {
  if (end - off < 4) return false;
  const type = buf[off];
  if (buf[off + 1] !== 0 || buf[off + 2] !== 0 || buf[off + 3] !== 0) return false; // reserved
  if (type === 1) return wireLength === WIREGUARD_INITIATION;
  if (type === 2) return wireLength === WIREGUARD_RESPONSE;
  if (type === 3) return wireLength === WIREGUARD_COOKIE_REPLY;
  if (type === 4) return wireLength >= WIREGUARD_DATA_MIN && wireLength % 16 === 0;
  return false;
}

const SIP_VERSION = ascii("SIP/2.0 ");
const SIP_SCHEMES = [ascii("sip:"), ascii("sips:"), ascii("tel:")];
const RTSP_VERSIONS = [ascii("RTSP/1.0 "), ascii("RTSP/2.0 ")];
const RTSP_SCHEMES = [ascii("rtsp://"), ascii("rtsps://"), ascii("rtspu://")];
const METHOD_MIN = 3;
const METHOD_MAX = 16;

/** Whether a status line `<version>NNN ` starts at `off` (version pattern includes its space). */
function isStatusLine(buf: Uint8Array, off: number, end: number, version: Uint8Array): boolean {
  const code = off + version.length;
  if (code + 4 > end) return false;
  if (!matchAt(buf, off, end, version)) return false;
  if (!isDigit(buf[code]) || !isDigit(buf[code + 1]) || !isDigit(buf[code + 2])) return false;
  return buf[code + 3] === 0x20;
}

/**
 * Whether a request line starts at `off` with an upper-case method token (`A–Z`, `_`) followed by
 * one space and a URI of one of `schemes` (lower-case patterns, matched ignoring case).
 */
function isRequestLine(
  buf: Uint8Array,
  off: number,
  end: number,
  schemes: readonly Uint8Array[],
): boolean {
  let i = off;
  const limit = Math.min(end, off + METHOD_MAX);
  while (i < limit && ((buf[i] >= 0x41 && buf[i] <= 0x5a) || buf[i] === 0x5f)) i++;
  if (i - off < METHOD_MIN || i >= end || buf[i] !== 0x20) return false;
  for (let s = 0; s < schemes.length; s++) {
    if (matchAtIgnoreCase(buf, i + 1, end, schemes[s])) return true;
  }
  return false;
}

/**
 * Whether `[off, end)` starts with a SIP message (RFC 3261): a status line `SIP/2.0 NNN ` or a
 * request line whose Request-URI is `sip:`, `sips:` or `tel:`.
 *
 * @example
 * ```ts
 * import { ascii } from "../bytes.ts";
 * import { isSip } from "./other_protocols.ts";
 * const b = ascii("INVITE sip:bob@example.org SIP/2.0\r\n");
 * isSip(b, 0, b.length); // true
 * ```
 */
export function isSip(buf: Uint8Array, off: number, end: number): boolean {
  return isStatusLine(buf, off, end, SIP_VERSION) || isRequestLine(buf, off, end, SIP_SCHEMES);
}

/**
 * Whether `[off, end)` starts with an RTSP message (RFC 2326/7826): a status line
 * `RTSP/1.0 NNN ` (or 2.0) or a request line whose URI is `rtsp://`, `rtsps://` or `rtspu://`.
 *
 * @example
 * ```ts
 * import { ascii } from "../bytes.ts";
 * import { isRtsp } from "./other_protocols.ts";
 * const b = ascii("DESCRIBE rtsp://cam.example/stream RTSP/1.0\r\n");
 * isRtsp(b, 0, b.length); // true
 * ```
 */
export function isRtsp(buf: Uint8Array, off: number, end: number): boolean {
  for (let v = 0; v < RTSP_VERSIONS.length; v++) {
    if (isStatusLine(buf, off, end, RTSP_VERSIONS[v])) return true;
  }
  return isRequestLine(buf, off, end, RTSP_SCHEMES);
}

/**
 * Whether `[off, end)` starts with a STUN message framed by a two-byte length as ICE-TCP does
 * (RFC 4571), the frame length agreeing with the STUN message length.
 *
 * @example
 * ```ts
 * import { isFramedStun } from "./other_protocols.ts";
 * const f = Uint8Array.of(0, 20, 0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, ...new Uint8Array(12));
 * isFramedStun(f, 0, f.length); // true
 * ```
 */
export function isFramedStun(buf: Uint8Array, off: number, end: number): boolean {
  if (end - off < 2 + STUN_HEADER) return false;
  if (u16(buf, off) !== STUN_HEADER + u16(buf, off + 4)) return false;
  return isStun(buf, off + 2, end);
}

/**
 * Whether the first payload of a TCP direction starts like another protocol: TLS record, SSH
 * banner, TPKT/X.224 (RDP), SMB, STUN (bare or with the RFC 4571 two-byte length framing of
 * ICE-TCP), SIP or RTSP.
 *
 * @example
 * ```ts
 * import { ascii } from "../bytes.ts";
 * import { isOtherTcpProtocol } from "./other_protocols.ts";
 * const b = ascii("SSH-2.0-dropbear\r\n");
 * isOtherTcpProtocol(b, 0, b.length); // true
 * ```
 */
export function isOtherTcpProtocol(buf: Uint8Array, off: number, end: number): boolean {
  return isTlsRecord(buf, off, end) || isSshBanner(buf, off, end) ||
    isTpktConnection(buf, off, end) || isSmb(buf, off, end) || isStun(buf, off, end) ||
    isFramedStun(buf, off, end) || isSip(buf, off, end) || isRtsp(buf, off, end);
}

/**
 * Whether a UDP payload is another protocol: STUN, DTLS, QUIC with a known version, WireGuard
 * or SIP. `wireLength` is the payload length on the wire (WireGuard sizes).
 *
 * @example
 * ```ts
 * import { isOtherUdpProtocol } from "./other_protocols.ts";
 * const keepalive = Uint8Array.of(4, 0, 0, 0, ...new Uint8Array(28));
 * isOtherUdpProtocol(keepalive, 0, keepalive.length, 32); // true
 * ```
 */
export function isOtherUdpProtocol(
  buf: Uint8Array,
  off: number,
  end: number,
  wireLength: number,
): boolean {
  return isStun(buf, off, end) || isDtlsRecord(buf, off, end) ||
    isQuicWithVersion(buf, off, end) || isWireGuard(buf, off, end, wireLength) ||
    isSip(buf, off, end);
}

/**
 * Marks flows that are positively another protocol as `NOT_BITTORRENT`, judging the first payload
 * packet of each direction (TCP: {@linkcode isOtherTcpProtocol}; UDP:
 * {@linkcode isOtherUdpProtocol}). Stateless; place it after the BitTorrent signature detectors
 * and before the heuristics.
 */
export class OtherProtocolsDetector implements Detector {
  readonly transport = 0;

  inspect(x: Inspection): number {
    if (x.directionPayloadIndex !== 1) return 0;
    const other = x.packet.l4 === IPPROTO_TCP
      ? isOtherTcpProtocol(x.buf, x.offset, x.end)
      : isOtherUdpProtocol(x.buf, x.offset, x.end, x.wireLength);
    return other ? NOT_BITTORRENT : 0;
  }
}
