/**
 * Shrinks a lab capture into a fixture: the first packets of every flow that carry more than
 * the snap length stay whole (the handshakes the detectors judge), later ones keep only their
 * headers and the start of their payload, and the file is capped at a number of packets. Reads the classic pcap files tcpdump writes (Ethernet, microseconds).
 *
 * @module
 */

import { pcapBytes, type Record } from "../helpers/pcap_writer.ts";

/** Options of {@linkcode trimCapture}. */
export interface TrimOptions {
  /** Packets longer than `snap` kept whole in each flow (shorter ones always are). */
  wholePerFlow: number;
  /** Bytes kept of every later packet (headers and a little payload). */
  snap: number;
  /** Packets kept in all. */
  maxPackets: number;
}

/** The longest frame kept: an Ethernet frame of a 1500-byte MTU. */
const MAX_FRAME = 1514;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;

/**
 * The flow a frame belongs to, the same for both directions: protocol, and the two
 * address-and-port ends in sorted order ("" for what is not IP).
 */
export function flowKey(frame: Uint8Array): string {
  if (frame.length < 14) return "";
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const type = v.getUint16(12);
  let proto: number, src: Uint8Array, dst: Uint8Array, l4: number;
  if (type === ETHERTYPE_IPV4 && frame.length >= 34) {
    proto = frame[23];
    src = frame.subarray(26, 30);
    dst = frame.subarray(30, 34);
    l4 = 14 + (frame[14] & 0x0f) * 4;
  } else if (type === ETHERTYPE_IPV6 && frame.length >= 54) {
    proto = frame[20];
    src = frame.subarray(22, 38);
    dst = frame.subarray(38, 54);
    l4 = 54;
  } else {
    return "";
  }
  const ports = frame.length >= l4 + 4 && (proto === 6 || proto === 17);
  const end = (a: Uint8Array, off: number) => `${a.join(".")}:${ports ? v.getUint16(off) : 0}`;
  const ends = [end(src, l4), end(dst, l4 + 2)].sort();
  return `${proto} ${ends[0]} ${ends[1]}`;
}

/** Reads the records of a classic little-endian pcap file; throws on anything else. */
export function readPcap(bytes: Uint8Array): { linkType: number; records: Record[] } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 24 || v.getUint32(0, true) !== 0xa1b2c3d4) {
    throw new Error("not a little-endian microsecond pcap file");
  }
  const records: Record[] = [];
  let off = 24;
  while (off + 16 <= bytes.length) {
    const caplen = v.getUint32(off + 8, true);
    if (off + 16 + caplen > bytes.length) break; // a record cut short by the capture's end
    records.push({
      time: v.getUint32(off, true) + v.getUint32(off + 4, true) / 1e6,
      wireLength: v.getUint32(off + 12, true),
      data: bytes.slice(off + 16, off + 16 + caplen),
    });
    off += 16 + caplen;
  }
  return { linkType: v.getUint32(20, true), records };
}

/** Writes a trimmed copy of capture `src` to `dst` and returns its packet count. */
export async function trimCapture(src: string, dst: string, o: TrimOptions): Promise<number> {
  const { linkType, records } = readPcap(await Deno.readFile(src));
  const seen = new Map<string, number>();
  const kept: Record[] = [];
  for (const r of records.slice(0, o.maxPackets)) {
    if (r.data.length <= o.snap) {
      kept.push(r);
      continue;
    }
    const key = flowKey(r.data);
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    // "Whole" stops at an Ethernet frame: on veth, tcpdump sees TCP segments the kernel has not
    // split yet (up to 64 KiB).
    const keep = n <= o.wholePerFlow ? MAX_FRAME : o.snap;
    kept.push({ ...r, data: r.data.subarray(0, keep) });
  }
  await Deno.writeFile(dst, pcapBytes(linkType, kept));
  return kept.length;
}
