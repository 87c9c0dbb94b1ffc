/**
 * Test helper: writes classic pcap files (microsecond timestamps) from frames, so tests can
 * craft captures — including corrupt ones — and read them back through libpcap.
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
