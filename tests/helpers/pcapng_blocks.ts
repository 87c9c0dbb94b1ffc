/**
 * Test helper: pcapng blocks, byte by byte, in either byte order, so that tests can build the
 * files libpcap and the pcapng chunk reader must agree on (sections, interfaces with options,
 * packets, any other block, and malformed ones).
 *
 * @module
 */

import { concat } from "./packets.ts";

/** Block types. */
export const BLOCK = {
  sectionHeader: 0x0a0d0d0a,
  interfaceDescription: 1,
  obsoletePacket: 2,
  simplePacket: 3,
  nameResolution: 4,
  interfaceStatistics: 5,
  enhancedPacket: 6,
  decryptionSecrets: 0x0a,
  custom: 0x00000bad,
} as const;

/** One option: code and value (padded to 4 bytes when written). */
export interface BlockOption {
  code: number;
  value: Uint8Array;
}

/** A block of `type` with `body` (padded to 4 bytes), and its total length in both places. */
export function block(
  little: boolean,
  type: number,
  body: Uint8Array,
  trailer?: number,
): Uint8Array {
  const padded = (body.length + 3) & ~3;
  const out = new Uint8Array(12 + padded);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, little);
  v.setUint32(4, out.length, little);
  out.set(body, 8);
  v.setUint32(out.length - 4, trailer ?? out.length, little);
  return out;
}

/** Options as written in a block: each padded, then the end of options. */
export function options(little: boolean, list: BlockOption[]): Uint8Array {
  const size = list.reduce((n, o) => n + 4 + ((o.value.length + 3) & ~3), 4);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  let at = 0;
  for (const o of list) {
    v.setUint16(at, o.code, little);
    v.setUint16(at + 2, o.value.length, little);
    out.set(o.value, at + 4);
    at += 4 + ((o.value.length + 3) & ~3);
  }
  return out; // the last 4 bytes are zero: opt_endofopt
}

/** A section header block, version 1.0, section length unknown. */
export function sectionHeader(little: boolean): Uint8Array {
  const body = new Uint8Array(16);
  const v = new DataView(body.buffer);
  v.setUint32(0, 0x1a2b3c4d, little);
  v.setUint16(4, 1, little);
  v.setUint16(6, 0, little);
  v.setBigInt64(8, -1n, little);
  return block(little, BLOCK.sectionHeader, body);
}

/** An interface description block with the given options (none when empty). */
export function interfaceDescription(
  little: boolean,
  linkType: number,
  snaplen: number,
  list: BlockOption[] = [],
): Uint8Array {
  const opts = list.length === 0 ? new Uint8Array(0) : options(little, list);
  const body = new Uint8Array(8 + opts.length);
  const v = new DataView(body.buffer);
  v.setUint16(0, linkType, little);
  v.setUint32(4, snaplen, little);
  body.set(opts, 8);
  return block(little, BLOCK.interfaceDescription, body);
}

/** The `if_tsresol` option: 10^-`exponent` seconds (or 2^-`exponent` with `binary`). */
export function resolution(exponent: number, binary = false): BlockOption {
  return { code: 9, value: Uint8Array.of(binary ? 0x80 | exponent : exponent) };
}

/** The `if_tsoffset` option: seconds added to every time stamp. */
export function timeOffset(little: boolean, seconds: bigint): BlockOption {
  const value = new Uint8Array(8);
  new DataView(value.buffer).setBigInt64(0, seconds, little);
  return { code: 14, value };
}

/** An enhanced packet block: interface, time stamp in the interface's units, data. */
export function enhancedPacket(
  little: boolean,
  iface: number,
  units: bigint,
  data: Uint8Array,
  more: { caplen?: number; wire?: number; options?: BlockOption[] } = {},
): Uint8Array {
  const opts = more.options === undefined ? new Uint8Array(0) : options(little, more.options);
  const padded = (data.length + 3) & ~3;
  const body = new Uint8Array(20 + padded + opts.length);
  const v = new DataView(body.buffer);
  v.setUint32(0, iface, little);
  v.setUint32(4, Number(units >> 32n), little);
  v.setUint32(8, Number(units & 0xffffffffn), little);
  v.setUint32(12, more.caplen ?? data.length, little);
  v.setUint32(16, more.wire ?? data.length, little);
  body.set(data, 20);
  body.set(opts, 20 + padded);
  return block(little, BLOCK.enhancedPacket, body);
}

/** A simple packet block (no interface, no time stamp). */
export function simplePacket(little: boolean, data: Uint8Array): Uint8Array {
  const body = new Uint8Array(4 + data.length);
  new DataView(body.buffer).setUint32(0, data.length, little);
  body.set(data, 4);
  return block(little, BLOCK.simplePacket, body);
}

/**
 * The packets of a classic little-endian microsecond pcap file image as a pcapng file image
 * of `sections` sections (the packets divided evenly), each with one interface of the file's
 * link type and snapshot length in nanoseconds.
 */
export function pcapAsPcapng(pcap: Uint8Array, sections: number): Uint8Array<ArrayBuffer> {
  const v = new DataView(pcap.buffer, pcap.byteOffset, pcap.byteLength);
  if (v.getUint32(0, true) !== 0xa1b2c3d4) throw new Error("not a little-endian µs pcap file");
  const snaplen = v.getUint32(16, true);
  const linkType = v.getUint32(20, true);
  const packets: Uint8Array[] = [];
  for (let at = 24; at + 16 <= pcap.length;) {
    const caplen = v.getUint32(at + 8, true);
    const units = BigInt(v.getUint32(at, true)) * 1_000_000_000n +
      BigInt(v.getUint32(at + 4, true)) * 1000n;
    const data = pcap.subarray(at + 16, at + 16 + caplen);
    packets.push(enhancedPacket(true, 0, units, data, { wire: v.getUint32(at + 12, true) }));
    at += 16 + caplen;
  }
  const blocks: Uint8Array[] = [];
  const per = Math.ceil(packets.length / sections);
  for (let s = 0; s < sections; s++) {
    blocks.push(
      sectionHeader(true),
      interfaceDescription(true, linkType, snaplen, [resolution(9)]),
    );
    blocks.push(...packets.slice(s * per, (s + 1) * per));
  }
  return concat(...blocks);
}
