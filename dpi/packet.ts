/**
 * The decoded view of one captured packet: header fields and offsets into the captured bytes.
 *
 * One `Packet` is allocated per analyzer and overwritten by every call to
 * {@linkcode decodePacket}; nothing on the per-packet path allocates.
 *
 * @module
 */

/** IP protocol number of TCP. */
export const IPPROTO_TCP = 6;
/** IP protocol number of UDP. */
export const IPPROTO_UDP = 17;

/** TCP flag bits as they appear in the TCP header. */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
} as const;

/**
 * A decoded packet. Addresses are held as four 32-bit words in network order; an IPv4
 * address is stored IPv4-mapped (`::ffff:a.b.c.d`) so both families share one layout, and
 * `ipVersion` tells them apart.
 *
 * @example
 * ```ts
 * import { Packet, decodePacket, LinkType } from "../mod.ts";
 * const p = new Packet();
 * const frame = new Uint8Array(60); // an Ethernet frame would go here
 * decodePacket(LinkType.ETHERNET, frame, 0, frame.length, p);
 * ```
 */
export class Packet {
  /** The captured bytes of the current packet (valid only until the next packet). */
  buf: Uint8Array = new Uint8Array(0);
  /** Bytes captured (may be less than `wireLength` when the snap length cut the packet). */
  capturedLength = 0;
  /** Length of the packet on the wire. */
  wireLength = 0;
  /** Capture time in seconds since the epoch (microsecond resolution). */
  timestamp = 0;
  /** 4 or 6; 0 until an IP header is decoded. */
  ipVersion = 0;
  /** Source address, four big-endian 32-bit words (IPv4-mapped for IPv4). */
  readonly src: Uint32Array = new Uint32Array(4);
  /** Destination address, same layout as `src`. */
  readonly dst: Uint32Array = new Uint32Array(4);
  /** Transport protocol: {@linkcode IPPROTO_TCP} or {@linkcode IPPROTO_UDP}. */
  l4 = 0;
  /** Source port. */
  srcPort = 0;
  /** Destination port. */
  dstPort = 0;
  /** TCP flags (0 for UDP). */
  tcpFlags = 0;
  /** TCP sequence number as an unsigned 32-bit value. */
  seq = 0;
  /** TCP acknowledgement number as an unsigned 32-bit value. */
  ack = 0;
  /** Offset of the L4 payload in `buf`. */
  payloadOffset = 0;
  /** Payload bytes present in `buf` (after snap-length truncation). */
  payloadLength = 0;
  /** Payload length on the wire, from the IP/UDP length fields. */
  payloadWireLength = 0;
}
