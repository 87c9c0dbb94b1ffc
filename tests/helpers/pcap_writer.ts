/**
 * Test helper: writes classic pcap and pcapng files (microsecond timestamps) from frames, so
 * tests can craft captures — including corrupt ones — and read them back through libpcap.
 *
 * @module
 */

/** One record: frame bytes, capture time, and optionally a wire length above the bytes kept. */
export interface Record {
  /** Captured bytes. */
  data: Uint8Array;
  /** Seconds since the epoch. */
  time: number;
  /** Length on the wire (defaults to the captured length). */
  wireLength?: number;
}

/** Builds a pcap file image with the given link type and snap length. */
export function pcapBytes(linkType: number, records: Record[], snaplen = 262144): Uint8Array {
  const size = 24 + records.reduce((n, r) => n + 16 + r.data.length, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0xa1b2c3d4, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setUint32(16, snaplen, true);
  v.setUint32(20, linkType, true);
  let off = 24;
  for (const r of records) {
    const seconds = Math.floor(r.time);
    v.setUint32(off, seconds, true);
    v.setUint32(off + 4, Math.round((r.time - seconds) * 1e6), true);
    v.setUint32(off + 8, r.data.length, true);
    v.setUint32(off + 12, r.wireLength ?? r.data.length, true);
    out.set(r.data, off + 16);
    off += 16 + r.data.length;
  }
  return out;
}

/**
 * Builds a pcapng file image: a section header, one interface of the given link type and snap
 * length, and an enhanced packet block per record.
 */
export function pcapngBytes(linkType: number, records: Record[], snaplen = 262144): Uint8Array {
  const padded = (n: number) => (n + 3) & ~3;
  const size = 28 + 20 + records.reduce((n, r) => n + 32 + padded(r.data.length), 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  const block = (off: number, type: number, length: number) => {
    v.setUint32(off, type, true);
    v.setUint32(off + 4, length, true);
    v.setUint32(off + length - 4, length, true);
  };
  block(0, 0x0a0d0d0a, 28);
  v.setUint32(8, 0x1a2b3c4d, true);
  v.setUint16(12, 1, true);
  v.setBigInt64(16, -1n, true);
  block(28, 1, 20);
  v.setUint16(36, linkType, true);
  v.setUint32(40, snaplen, true);
  let off = 48;
  for (const r of records) {
    const length = 32 + padded(r.data.length);
    block(off, 6, length);
    const micros = BigInt(Math.round(r.time * 1e6));
    v.setUint32(off + 12, Number(micros >> 32n), true);
    v.setUint32(off + 16, Number(micros & 0xffffffffn), true);
    v.setUint32(off + 20, r.data.length, true);
    v.setUint32(off + 24, r.wireLength ?? r.data.length, true);
    out.set(r.data, off + 28);
    off += length;
  }
  return out;
}

let directory: string | undefined;
let count = 0;

/** A temporary directory for this test process, removed when the process exits. */
export function testDirectory(): string {
  if (directory === undefined) {
    const dir = Deno.makeTempDirSync({ prefix: "btblocker-test-" });
    directory = dir;
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  }
  return directory;
}

/** Writes a pcap file into the test directory and returns its path. */
export async function writePcap(
  linkType: number,
  records: Record[],
  snaplen?: number,
): Promise<string> {
  const path = `${testDirectory()}/capture-${++count}.pcap`;
  await Deno.writeFile(path, pcapBytes(linkType, records, snaplen));
  return path;
}
