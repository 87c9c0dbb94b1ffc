/**
 * Flow affinity: a hash of a packet's flow that is the same for both directions, so every
 * packet of a flow can be sent to the same worker. It decodes the packet with the engine's own
 * decoder ({@linkcode decodePacket}) into a scratch {@linkcode Packet}, so the flow the hash
 * names is exactly the flow the analyzer will track (same tunnels, VLANs, extension headers).
 *
 * Pure and allocation-free per packet.
 *
 * @module
 */

import { Decoded, decodePacket } from "./decode.ts";
import { Packet } from "./packet.ts";

/**
 * Hashes packets by their bidirectional flow key (L4 protocol and the unordered pair of
 * address:port endpoints), per interface.
 *
 * @example
 * ```ts
 * import { FlowHasher } from "./flow_hash.ts";
 * import { LinkType } from "./decode.ts";
 * const hasher = new FlowHasher();
 * const ip = Uint8Array.from([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
 *   0x03, 0xe8, 0x07, 0xd0, 0, 8, 0, 0]);
 * const reply = Uint8Array.from([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0,
 *   1, 0x07, 0xd0, 0x03, 0xe8, 0, 8, 0, 0]);
 * const a = hasher.hash(0, LinkType.IPV4, ip, 0, ip.length);
 * if (a < 0 || a !== hasher.hash(0, LinkType.IPV4, reply, 0, reply.length)) throw new Error();
 * ```
 */
export class FlowHasher {
  /** The scratch packet the hashed packet is decoded into (valid until the next call). */
  readonly packet: Packet = new Packet();
  /** The `Decoded` result of the last {@linkcode hash} (e.g. to count malformed packets). */
  status = 0;

  /**
   * The flow hash of a captured frame: a 32-bit unsigned value, equal for both directions of
   * a flow on the same interface, or -1 when the frame does not decode to a TCP/UDP packet
   * (such frames belong to no flow).
   *
   * @param iface the interface index (mixed in: each interface has its own flows)
   * @param linkType the capture's link type
   * @param buf bytes holding the frame
   * @param offset where the frame starts
   * @param capturedLength bytes captured
   */
  hash(
    iface: number,
    linkType: number,
    buf: Uint8Array,
    offset: number,
    capturedLength: number,
  ): number {
    const p = this.packet;
    const status = decodePacket(linkType, buf, offset, capturedLength, p);
    this.status = status;
    if (status !== Decoded.OK) return -1;
    const s = p.src;
    const d = p.dst;
    const a = endpointHash(s[0], s[1], s[2], s[3], p.srcPort);
    const b = endpointHash(d[0], d[1], d[2], d[3], p.dstPort);
    // Order-independent combination: both directions give the same value.
    const lo = a < b ? a : b;
    const hi = a < b ? b : a;
    let h = Math.imul(lo ^ (p.l4 << 24) ^ iface, 0x9e3779b1) ^ hi;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }
}

/** Mixes one endpoint (four address words and a port) into 32 bits. */
function endpointHash(a0: number, a1: number, a2: number, a3: number, port: number): number {
  let h = Math.imul(a3 ^ (port << 16) ^ port, 0xcc9e2d51);
  h = Math.imul(h ^ a2 ^ (h >>> 15), 0x1b873593);
  h = Math.imul(h ^ a1 ^ (h >>> 13), 0xcc9e2d51);
  h = Math.imul(h ^ a0 ^ (h >>> 16), 0x1b873593);
  return (h ^ (h >>> 15)) >>> 0;
}
