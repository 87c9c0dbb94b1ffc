/**
 * Pure packet decoding: link layer, IPv4/IPv6 (with extension headers, fragments and IP-in-IP
 * tunnels) and TCP/UDP headers, written as offsets into the captured bytes.
 *
 * Every read is bounds-checked against the captured length; a packet that cannot be decoded
 * yields {@linkcode Decoded.MALFORMED} and is never thrown on. A packet cut short by the snap
 * length decodes as long as its headers are present; the payload is whatever bytes were captured.
 *
 * @module
 */

import { IPPROTO_TCP, IPPROTO_UDP, type Packet } from "./packet.ts";

/** Link-layer header types (the DLT_ values libpcap reports). */
export const LinkType = {
  /** BSD loopback: 4-byte address family in host byte order. */
  NULL: 0,
  /** Ethernet II, with 802.1Q / 802.1ad tags, PPPoE sessions and MPLS. */
  ETHERNET: 1,
  /** PPP without HDLC framing (protocol field first, optionally after ff 03). */
  PPP: 9,
  /** Raw IP as DLT_RAW reports it on most systems. */
  RAW: 12,
  /** Raw IP as DLT_RAW reports it on OpenBSD. */
  RAW_OPENBSD: 14,
  /** PPP in HDLC-like framing. */
  PPP_SERIAL: 50,
  /** Raw IP as stored in files (LINKTYPE_RAW). */
  RAW_FILE: 101,
  /** Cisco HDLC. */
  C_HDLC: 104,
  /** IEEE 802.11 frames without a radio header: data frames with an LLC/SNAP header. */
  IEEE802_11: 105,
  /** OpenBSD loopback: 4-byte address family in network byte order. */
  LOOP: 108,
  /** Linux cooked capture v1. */
  LINUX_SLL: 113,
  /**
   * Per-Packet Information: a header (version, flags, little-endian length, little-endian
   * link type of what follows) before a frame of another link type, usually 802.11 or Ethernet.
   */
  PPI: 192,
  /** Raw IPv4. */
  IPV4: 228,
  /** Raw IPv6. */
  IPV6: 229,
  /** Linux cooked capture v2. */
  LINUX_SLL2: 276,
} as const;

/** Outcome of {@linkcode decodePacket}. */
export const Decoded = {
  /** An IPv4/IPv6 TCP or UDP packet; all `Packet` fields are valid. */
  OK: 0,
  /** A well-formed frame that carries no IP (ARP, LLDP, …). */
  NOT_IP: 1,
  /** IP carrying something other than TCP/UDP (ICMP, …). */
  OTHER_L4: 2,
  /** A non-first IP fragment: it carries no L4 header. */
  FRAGMENT: 3,
  /** Truncated or inconsistent headers. */
  MALFORMED: 4,
  /** A link type this decoder does not know. */
  UNSUPPORTED_LINK: 5,
} as const;

/** A value of {@linkcode Decoded}. */
export type DecodeResult = typeof Decoded[keyof typeof Decoded];

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_VLAN = 0x8100;
const ETH_QINQ = 0x88a8;
const ETH_QINQ_OLD = 0x9100;
const ETH_PPPOE_SESSION = 0x8864;
const ETH_MPLS = 0x8847;
const ETH_MPLS_MULTI = 0x8848;
const PPP_IPV4 = 0x0021;
const PPP_IPV6 = 0x0057;
/** 802.11 frame control: the type bits, and the data frame type. */
const WLAN_TYPE_MASK = 0x0c;
const WLAN_TYPE_DATA = 0x08;
/** 802.11 frame control: subtype bits of data frames without a body (null data). */
const WLAN_SUBTYPE_NO_DATA = 0x40;
/** 802.11 frame control: subtype bit of QoS data frames (2 more header bytes). */
const WLAN_SUBTYPE_QOS = 0x80;
/** 802.11 flags: both distribution-system bits (a fourth address), protected, order (+HT). */
const WLAN_FLAGS_DS = 0x03;
const WLAN_FLAG_PROTECTED = 0x40;
const WLAN_FLAG_ORDER = 0x80;
const MAX_TUNNEL_DEPTH = 2;

/** Whether `linkType` is one {@linkcode decodePacket} understands. */
export function isSupportedLinkType(linkType: number): boolean {
  for (const v of Object.values(LinkType)) if (v === linkType) return true;
  return false;
}

/**
 * Decodes one captured frame into `out`.
 *
 * @param linkType the capture's link type (a {@linkcode LinkType} value)
 * @param buf bytes holding the frame
 * @param offset where the frame starts in `buf`
 * @param capturedLength bytes captured; only `buf[offset, offset + capturedLength)` is read
 * @param out the packet to fill (its `buf` and `capturedLength` are set here)
 * @returns a {@linkcode Decoded} code; `out` is fully valid only for `Decoded.OK`
 *
 * @example
 * ```ts
 * import { Decoded, decodePacket, LinkType, Packet } from "../mod.ts";
 * const p = new Packet();
 * // a raw IPv4/UDP packet 10.0.0.1:1000 -> 10.0.0.2:2000 carrying "hi"
 * const ip = Uint8Array.from([0x45, 0, 0, 30, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
 *   0x03, 0xe8, 0x07, 0xd0, 0, 10, 0, 0, 0x68, 0x69]);
 * if (decodePacket(LinkType.IPV4, ip, 0, ip.length, p) !== Decoded.OK) throw new Error();
 * if (p.dstPort !== 2000 || p.payloadLength !== 2) throw new Error();
 * ```
 */
export function decodePacket(
  linkType: number,
  buf: Uint8Array,
  offset: number,
  capturedLength: number,
  out: Packet,
): DecodeResult {
  out.buf = buf;
  out.capturedLength = capturedLength;
  out.ipVersion = 0;
  out.l4 = 0;
  return decodeLink(linkType, buf, offset, offset + capturedLength, out, true);
}

/** Decodes a frame of link type `linkType` in `buf[o, end)`; PPI only when `ppiAllowed`. */
function decodeLink(
  linkType: number,
  buf: Uint8Array,
  o: number,
  end: number,
  out: Packet,
  ppiAllowed: boolean,
): DecodeResult {
  switch (linkType) {
    case LinkType.ETHERNET:
      return decodeEthernet(buf, o, end, out);
    case LinkType.RAW:
    case LinkType.RAW_OPENBSD:
    case LinkType.RAW_FILE:
      return decodeIpByVersion(buf, o, end, out, 0);
    case LinkType.IPV4:
      return decodeIpv4(buf, o, end, out, 0);
    case LinkType.IPV6:
      return decodeIpv6(buf, o, end, out, 0);
    case LinkType.LINUX_SLL:
      if (end < o + 16) return Decoded.MALFORMED;
      return decodeEtherType((buf[o + 14] << 8) | buf[o + 15], buf, o + 16, end, out);
    case LinkType.LINUX_SLL2:
      if (end < o + 20) return Decoded.MALFORMED;
      return decodeEtherType((buf[o] << 8) | buf[o + 1], buf, o + 20, end, out);
    case LinkType.NULL:
    case LinkType.LOOP:
      return decodeLoopback(buf, o, end, out, linkType === LinkType.LOOP);
    case LinkType.PPP:
    case LinkType.PPP_SERIAL:
      return decodePpp(buf, o, end, out);
    case LinkType.C_HDLC:
      if (end < o + 4) return Decoded.MALFORMED;
      return decodeEtherType((buf[o + 2] << 8) | buf[o + 3], buf, o + 4, end, out);
    case LinkType.IEEE802_11:
      return decodeWlan(buf, o, end, out);
    case LinkType.PPI:
      return ppiAllowed ? decodePpi(buf, o, end, out) : Decoded.MALFORMED;
    default:
      return Decoded.UNSUPPORTED_LINK;
  }
}

function decodeEthernet(buf: Uint8Array, off: number, len: number, out: Packet): DecodeResult {
  if (len < off + 14) return Decoded.MALFORMED;
  return decodeEtherType((buf[off + 12] << 8) | buf[off + 13], buf, off + 14, len, out);
}

function decodeEtherType(
  etherType: number,
  buf: Uint8Array,
  off: number,
  len: number,
  out: Packet,
): DecodeResult {
  // VLAN tags (any depth, bounded by the frame), then the payload's EtherType.
  while (etherType === ETH_VLAN || etherType === ETH_QINQ || etherType === ETH_QINQ_OLD) {
    if (len < off + 4) return Decoded.MALFORMED;
    etherType = (buf[off + 2] << 8) | buf[off + 3];
    off += 4;
  }
  switch (etherType) {
    case ETH_IPV4:
      return decodeIpv4(buf, off, len, out, 0);
    case ETH_IPV6:
      return decodeIpv6(buf, off, len, out, 0);
    case ETH_PPPOE_SESSION:
      // version/type, code, session id, length, then the PPP protocol field
      if (len < off + 8) return Decoded.MALFORMED;
      return decodePppProtocol((buf[off + 6] << 8) | buf[off + 7], buf, off + 8, len, out);
    case ETH_MPLS:
    case ETH_MPLS_MULTI:
      return decodeMpls(buf, off, len, out);
    default:
      return Decoded.NOT_IP;
  }
}

/** PPI: version 0, an 8-byte header at least, the frame of the link type it names after it. */
function decodePpi(buf: Uint8Array, o: number, end: number, out: Packet): DecodeResult {
  if (end < o + 8) return Decoded.MALFORMED;
  if (buf[o] !== 0) return Decoded.MALFORMED;
  const length = buf[o + 2] | (buf[o + 3] << 8);
  if (length < 8) return Decoded.MALFORMED;
  if (end < o + length) return Decoded.MALFORMED;
  const inner = (buf[o + 4] | (buf[o + 5] << 8) | (buf[o + 6] << 16) | (buf[o + 7] << 24)) >>> 0;
  return decodeLink(inner, buf, o + length, end, out, false);
}

/**
 * An 802.11 data frame: the MAC header (24 bytes, 30 with a fourth address, 2 more for QoS, 4
 * more for HT control), then LLC/SNAP and the EtherType. Management, control, null-data and
 * protected (encrypted) frames carry no IP we can read.
 */
function decodeWlan(buf: Uint8Array, o: number, end: number, out: Packet): DecodeResult {
  if (end < o + 24) return Decoded.MALFORMED;
  const fc = buf[o];
  const flags = buf[o + 1];
  if ((fc & WLAN_TYPE_MASK) !== WLAN_TYPE_DATA) return Decoded.NOT_IP;
  if (fc & WLAN_SUBTYPE_NO_DATA) return Decoded.NOT_IP;
  if (flags & WLAN_FLAG_PROTECTED) return Decoded.NOT_IP;
  let off = o + ((flags & WLAN_FLAGS_DS) === WLAN_FLAGS_DS ? 30 : 24);
  if (fc & WLAN_SUBTYPE_QOS) off += flags & WLAN_FLAG_ORDER ? 6 : 2;
  if (end < off + 8) return Decoded.MALFORMED;
  // LLC with SNAP (DSAP and SSAP 0xaa, unnumbered information), then OUI and EtherType.
  if (buf[off] !== 0xaa) return Decoded.NOT_IP;
  if (buf[off + 1] !== 0xaa) return Decoded.NOT_IP;
  if (buf[off + 2] !== 0x03) return Decoded.NOT_IP;
  return decodeEtherType((buf[off + 6] << 8) | buf[off + 7], buf, off + 8, end, out);
}

function decodeMpls(buf: Uint8Array, off: number, len: number, out: Packet): DecodeResult {
  for (;;) {
    if (len < off + 4) return Decoded.MALFORMED;
    const bottom = buf[off + 2] & 1;
    off += 4;
    if (bottom) break;
  }
  return decodeIpByVersion(buf, off, len, out, 0);
}

function decodeLoopback(
  buf: Uint8Array,
  o: number,
  len: number,
  out: Packet,
  bigEndian: boolean,
): DecodeResult {
  if (len < o + 4) return Decoded.MALFORMED;
  const family = bigEndian
    ? ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0
    : ((buf[o + 3] << 24) | (buf[o + 2] << 16) | (buf[o + 1] << 8) | buf[o]) >>> 0;
  if (family === 2) return decodeIpv4(buf, o + 4, len, out, 0);
  // AF_INET6 differs by system: 10 Linux, 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS.
  if (family === 10 || family === 24 || family === 28 || family === 30) {
    return decodeIpv6(buf, o + 4, len, out, 0);
  }
  return Decoded.NOT_IP;
}

function decodePpp(buf: Uint8Array, off: number, len: number, out: Packet): DecodeResult {
  if (len < off + 2) return Decoded.MALFORMED;
  if (buf[off] === 0xff && buf[off + 1] === 0x03) off += 2; // HDLC address and control
  if (len < off + 1) return Decoded.MALFORMED;
  // The protocol field is one byte when its low bit is set (protocol field compression).
  if (buf[off] & 1) return decodePppProtocol(buf[off], buf, off + 1, len, out);
  if (len < off + 2) return Decoded.MALFORMED;
  return decodePppProtocol((buf[off] << 8) | buf[off + 1], buf, off + 2, len, out);
}

function decodePppProtocol(
  protocol: number,
  buf: Uint8Array,
  off: number,
  len: number,
  out: Packet,
): DecodeResult {
  if (protocol === PPP_IPV4) return decodeIpv4(buf, off, len, out, 0);
  if (protocol === PPP_IPV6) return decodeIpv6(buf, off, len, out, 0);
  return Decoded.NOT_IP;
}

function decodeIpByVersion(
  buf: Uint8Array,
  off: number,
  len: number,
  out: Packet,
  depth: number,
): DecodeResult {
  if (len < off + 1) return Decoded.MALFORMED;
  const version = buf[off] >> 4;
  if (version === 4) return decodeIpv4(buf, off, len, out, depth);
  if (version === 6) return decodeIpv6(buf, off, len, out, depth);
  return Decoded.MALFORMED;
}

function decodeIpv4(
  buf: Uint8Array,
  off: number,
  len: number,
  out: Packet,
  depth: number,
): DecodeResult {
  if (len < off + 20) return Decoded.MALFORMED;
  const vihl = buf[off];
  if (vihl >> 4 !== 4) return Decoded.MALFORMED;
  const ihl = (vihl & 0x0f) << 2;
  if (ihl < 20 || len < off + ihl) return Decoded.MALFORMED;
  let total = (buf[off + 2] << 8) | buf[off + 3];
  // A total length of 0 comes from segmentation offload: the frame is the packet.
  if (total === 0) total = len - off;
  if (total < ihl) return Decoded.MALFORMED;
  const src = out.src;
  const dst = out.dst;
  src[0] = 0;
  src[1] = 0;
  src[2] = 0xffff;
  src[3] =
    ((buf[off + 12] << 24) | (buf[off + 13] << 16) | (buf[off + 14] << 8) | buf[off + 15]) >>>
    0;
  dst[0] = 0;
  dst[1] = 0;
  dst[2] = 0xffff;
  dst[3] =
    ((buf[off + 16] << 24) | (buf[off + 17] << 16) | (buf[off + 18] << 8) | buf[off + 19]) >>>
    0;
  out.ipVersion = 4;
  const fragOffset = ((buf[off + 6] & 0x1f) << 8) | buf[off + 7];
  if (fragOffset !== 0) return Decoded.FRAGMENT;
  const end = off + total < len ? off + total : len;
  const moreFragments = (buf[off + 6] & 0x20) !== 0;
  return decodeTransport(buf[off + 9], buf, off + ihl, end, total - ihl, moreFragments, out, depth);
}

function decodeIpv6(
  buf: Uint8Array,
  off: number,
  len: number,
  out: Packet,
  depth: number,
): DecodeResult {
  if (len < off + 40) return Decoded.MALFORMED;
  if (buf[off] >> 4 !== 6) return Decoded.MALFORMED;
  let payload = (buf[off + 4] << 8) | buf[off + 5];
  if (payload === 0) payload = len - off - 40; // jumbogram or offload: the frame is the packet
  const src = out.src;
  const dst = out.dst;
  for (let i = 0; i < 4; i++) {
    const s = off + 8 + 4 * i;
    const d = off + 24 + 4 * i;
    src[i] = ((buf[s] << 24) | (buf[s + 1] << 16) | (buf[s + 2] << 8) | buf[s + 3]) >>> 0;
    dst[i] = ((buf[d] << 24) | (buf[d + 1] << 16) | (buf[d + 2] << 8) | buf[d + 3]) >>> 0;
  }
  out.ipVersion = 6;
  let next = buf[off + 6];
  let p = off + 40;
  const end = off + 40 + payload < len ? off + 40 + payload : len;
  let remaining = payload;
  let moreFragments = false;
  // Extension headers: hop-by-hop, routing, fragment, destination options, authentication.
  for (;;) {
    if (next === 0 || next === 43 || next === 60 || next === 135 || next === 139 || next === 140) {
      if (end < p + 8) return Decoded.MALFORMED;
      const size = (buf[p + 1] + 1) << 3;
      next = buf[p];
      p += size;
      remaining -= size;
    } else if (next === 44) {
      if (end < p + 8) return Decoded.MALFORMED;
      const fragOffset = (buf[p + 2] << 5) | (buf[p + 3] >> 3);
      if (fragOffset !== 0) return Decoded.FRAGMENT;
      moreFragments = (buf[p + 3] & 1) !== 0;
      next = buf[p];
      p += 8;
      remaining -= 8;
    } else if (next === 51) {
      if (end < p + 8) return Decoded.MALFORMED;
      const size = (buf[p + 1] + 2) << 2;
      next = buf[p];
      p += size;
      remaining -= size;
    } else {
      break;
    }
    if (remaining < 0 || p > end) return Decoded.MALFORMED;
  }
  return decodeTransport(next, buf, p, end, remaining, moreFragments, out, depth);
}

/**
 * Decodes the transport header at `off`. `end` bounds the bytes present; `wireLength` is the
 * L4 length according to the IP header; `moreFragments` tells a first fragment, whose UDP
 * length covers the whole datagram.
 */
function decodeTransport(
  protocol: number,
  buf: Uint8Array,
  off: number,
  end: number,
  wireLength: number,
  moreFragments: boolean,
  out: Packet,
  depth: number,
): DecodeResult {
  if (protocol === IPPROTO_TCP) {
    if (end < off + 20) return Decoded.MALFORMED;
    const dataOffset = (buf[off + 12] >> 4) << 2;
    if (dataOffset < 20 || wireLength < dataOffset) return Decoded.MALFORMED;
    const payloadOffset = off + dataOffset;
    if (end < payloadOffset) return Decoded.MALFORMED;
    out.l4 = IPPROTO_TCP;
    out.srcPort = (buf[off] << 8) | buf[off + 1];
    out.dstPort = (buf[off + 2] << 8) | buf[off + 3];
    out.seq = ((buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7]) >>>
      0;
    out.ack =
      ((buf[off + 8] << 24) | (buf[off + 9] << 16) | (buf[off + 10] << 8) | buf[off + 11]) >>> 0;
    out.tcpFlags = buf[off + 13] & 0x3f;
    out.payloadOffset = payloadOffset;
    out.payloadLength = end - payloadOffset;
    out.payloadWireLength = wireLength - dataOffset;
    return Decoded.OK;
  }
  if (protocol === IPPROTO_UDP) {
    if (end < off + 8) return Decoded.MALFORMED;
    const udpLength = (buf[off + 4] << 8) | buf[off + 5];
    // A zero UDP length appears with offload and IPv6 jumbograms: trust the IP length then.
    const l4Length = udpLength === 0 ? wireLength : udpLength;
    if (l4Length < 8) return Decoded.MALFORMED;
    if (l4Length > wireLength && !moreFragments) return Decoded.MALFORMED;
    out.l4 = IPPROTO_UDP;
    out.srcPort = (buf[off] << 8) | buf[off + 1];
    out.dstPort = (buf[off + 2] << 8) | buf[off + 3];
    out.tcpFlags = 0;
    out.seq = 0;
    out.ack = 0;
    out.payloadOffset = off + 8;
    const present = end - off - 8;
    out.payloadWireLength = l4Length - 8;
    const inPacket = (l4Length < wireLength ? l4Length : wireLength) - 8;
    out.payloadLength = present < inPacket ? present : inPacket;
    return Decoded.OK;
  }
  if (protocol === 4 && depth < MAX_TUNNEL_DEPTH) return decodeIpv4(buf, off, end, out, depth + 1);
  if (protocol === 41 && depth < MAX_TUNNEL_DEPTH) return decodeIpv6(buf, off, end, out, depth + 1);
  return Decoded.OTHER_L4;
}
