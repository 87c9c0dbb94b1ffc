import assert from "node:assert/strict";
import { fillSlab } from "./chunk_reader.ts";
import { MAX_CAPTURE_LENGTH, MIN_CHUNK_BYTES } from "./chunk_file.ts";
import { PcapChunkReader } from "./pcap_chunks.ts";
import {
  assertSamePackets,
  inTempDir,
  readInChunks,
  type Reading,
  readWithLibpcap,
  write,
} from "../tests/helpers/chunk_reading.ts";
import { pcapngBytes } from "../tests/helpers/pcap_writer.ts";
import { maxSlabRecords, Slab } from "../workers/slab.ts";

const MAGIC_MICRO = 0xa1b2c3d4;
const MAGIC_NANO = 0xa1b23c4d;
const MAGIC_KUZNETZOV = 0xa1b2cd34;
const ETHERNET = 1;

/** The file header of a crafted capture. */
interface FileFormat {
  /** Byte order of every header field. */
  littleEndian: boolean;
  /** Magic number (microseconds unless told). */
  magic?: number;
  /** Minor version (4 unless told). */
  minor?: number;
  /** Snapshot length of the file header (262144 unless told). */
  snaplen?: number;
}

/** A crafted record: bytes kept, time, and optionally a header that disagrees with them. */
interface CraftedRecord {
  seconds: number;
  /** Microseconds or nanoseconds, as the file's magic says. */
  fraction: number;
  data: Uint8Array;
  /** Captured length in the header (the data's length unless told). */
  caplen?: number;
  /** Length on the wire (the captured length unless told). */
  wire?: number;
}

/** A classic pcap file image of `records` in `format`. */
function pcapFile(format: FileFormat, records: CraftedRecord[]): Uint8Array {
  const size = 24 + records.reduce((n, r) => n + 16 + r.data.length, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  const le = format.littleEndian;
  v.setUint32(0, format.magic ?? MAGIC_MICRO, le);
  v.setUint16(4, 2, le);
  v.setUint16(6, format.minor ?? 4, le);
  v.setUint32(16, format.snaplen ?? MAX_CAPTURE_LENGTH, le);
  v.setUint32(20, ETHERNET, le);
  let at = 24;
  for (const r of records) {
    const caplen = r.caplen ?? r.data.length;
    v.setUint32(at, r.seconds, le);
    v.setUint32(at + 4, r.fraction, le);
    v.setUint32(at + 8, caplen, le);
    v.setUint32(at + 12, r.wire ?? caplen, le);
    out.set(r.data, at + 16);
    at += 16 + r.data.length;
  }
  return out;
}

/** `count` bytes that differ from record to record (`seed`) and along the record. */
function payload(count: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(count);
  for (let i = 0; i < count; i++) bytes[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff;
  return bytes;
}

/** Records of the given sizes, one second and some fraction apart. */
function records(sizes: number[], nano: boolean): CraftedRecord[] {
  return sizes.map((size, i) => ({
    seconds: 1_700_000_000 + i,
    fraction: nano ? 999_999_999 - i * 123_457 : 999_999 - i * 1_237,
    data: payload(size, i),
  }));
}

/**
 * Reads `path` with both readers and asserts the same packets; the error must say "truncated"
 * exactly when libpcap's does, else equal libpcap's. Returns both readings.
 */
function compareReaders(path: string, start = 0): {
  libpcap: Reading & { snaplen: number };
  chunked: Reading & { perChunk: number[] };
} {
  const libpcap = readWithLibpcap(path);
  const reader = PcapChunkReader.open(path, libpcap.snaplen);
  assert.notEqual(reader, null, `${path}: the chunk reader refused a classic pcap file`);
  const chunked = readInChunks(reader!, start);
  assertSamePackets(chunked, libpcap);
  if (libpcap.error.includes("truncated")) {
    assert.match(chunked.error, /truncated/, `libpcap said "${libpcap.error}"`);
  } else {
    assert.equal(chunked.error, libpcap.error);
  }
  return { libpcap, chunked };
}

/**
 * Record sizes whose records straddle chunk ends many times: 60 000-byte records (several
 * cut by each chunk's end), small ones, a record of the longest length, and an empty one.
 */
const STRADDLING_SIZES = [
  60_000,
  60_000,
  60_000,
  60_000,
  60_000,
  60_000,
  1_514,
  60_000,
  0,
  60_000,
  60_000,
  MAX_CAPTURE_LENGTH,
  60_000,
  64,
  60_000,
  60_000,
  60_000,
  60_000,
  42,
  60_000,
];

for (
  const [name, format] of [
    ["native byte order, microseconds", { littleEndian: true }],
    ["big-endian, microseconds", { littleEndian: false }],
    ["native byte order, nanoseconds", { littleEndian: true, magic: MAGIC_NANO }],
    ["big-endian, nanoseconds", { littleEndian: false, magic: MAGIC_NANO }],
  ] as [string, FileFormat][]
) {
  Deno.test(`PcapChunkReader: ${name}: records straddling chunk ends read as libpcap reads them`, async () => {
    await inTempDir((dir) => {
      const nano = format.magic === MAGIC_NANO;
      const crafted = records(STRADDLING_SIZES, nano);
      crafted[3].wire = 70_000; // a record captured shorter than it was on the wire
      const path = write(dir, "straddling.pcap", pcapFile(format, crafted));
      const { libpcap, chunked } = compareReaders(path);
      assert.equal(libpcap.error, "");
      assert.equal(libpcap.packets.length, STRADDLING_SIZES.length);
      assert.ok(chunked.perChunk.length >= 5, `${chunked.perChunk.length} chunks`);
      assert.equal(chunked.packets[3].wire, 70_000);
      // Nanoseconds are cut (not rounded) to microseconds, as libpcap does: 999 999 999 ns
      // is 999 999 µs.
      assert.equal(chunked.packets[0].timestamp, 1_700_000_000 + 999_999 / 1e6);
    });
  });
}

Deno.test("PcapChunkReader: a record header cut by a chunk's end is carried to the next chunk", async () => {
  await inTempDir((dir) => {
    // Four 60 000-byte records and one sized so the sixth record's header starts 8 bytes
    // before the first chunk ends.
    const fifth = MIN_CHUNK_BYTES - 8 - 4 * 60_016 - 16;
    const sizes = [60_000, 60_000, 60_000, 60_000, fifth, 100, 60_000];
    for (const littleEndian of [true, false]) {
      const path = write(
        dir,
        `header_cut_${littleEndian}.pcap`,
        pcapFile({ littleEndian }, records(sizes, false)),
      );
      const { chunked } = compareReaders(path);
      assert.deepEqual(chunked.perChunk, [5, 2]);
    }
  });
});

Deno.test("PcapChunkReader: a region at an offset of a larger buffer", async () => {
  await inTempDir((dir) => {
    const path = write(
      dir,
      "offset.pcap",
      pcapFile({ littleEndian: false, magic: MAGIC_NANO }, records(STRADDLING_SIZES, true)),
    );
    const { chunked } = compareReaders(path, 13);
    assert.equal(chunked.packets.length, STRADDLING_SIZES.length);
  });
});

Deno.test("PcapChunkReader: records longer than the snapshot length are cut to it, as libpcap does", async () => {
  await inTempDir((dir) => {
    for (const littleEndian of [true, false]) {
      for (const magic of [MAGIC_MICRO, MAGIC_NANO]) {
        const sizes = [100, 60_000, 40_000, 50_001, 10, 60_000, 60_000, 60_000, 60_000, 60_000, 3];
        const crafted = records(sizes, magic === MAGIC_NANO);
        const path = write(
          dir,
          `snapshot_${littleEndian}_${magic}.pcap`,
          pcapFile({ littleEndian, magic, snaplen: 50_000 }, crafted),
        );
        const { libpcap, chunked } = compareReaders(path);
        assert.equal(libpcap.snaplen, 50_000);
        assert.equal(libpcap.error, "");
        assert.deepEqual(
          chunked.packets.map((p) => p.caplen),
          [100, 50_000, 40_000, 50_000, 10, 50_000, 50_000, 50_000, 50_000, 50_000, 3],
        );
        assert.equal(chunked.packets[1].wire, 60_000);
        assert.deepEqual(chunked.packets[1].bytes, crafted[1].data.subarray(0, 50_000));
      }
    }
  });
});

Deno.test("PcapChunkReader: a record longer than libpcap's maximum ends the read as corrupt", async () => {
  await inTempDir((dir) => {
    // libpcap words it by the snapshot length of the file header (which it does not lower
    // to the maximum): "bigger than snaplen of N" when the record is longer than that too.
    const cases: [number, number][] = [
      [MAX_CAPTURE_LENGTH, MAX_CAPTURE_LENGTH + 1],
      [65_535, 500_000],
      [300_000, MAX_CAPTURE_LENGTH + 1],
      [300_000, 500_000],
      [0x7fffffff, 0xffffffff],
    ];
    // Before the corrupt record: a record straddling the first chunk's end, or records that
    // leave its header cut by that end.
    const layouts = [
      [60_000, 60_000, 60_000, 60_000, 60_000, 200],
      [60_000, 60_000, 60_000, 60_000, MIN_CHUNK_BYTES - 8 - 4 * 60_016 - 16],
    ];
    for (const littleEndian of [true, false]) {
      for (const [snaplen, caplen] of cases) {
        for (const [layout, sizes] of layouts.entries()) {
          const crafted = records(sizes, false);
          crafted.push({ seconds: 1, fraction: 2, data: payload(300, 9), caplen });
          crafted.push(...records([100], false));
          const name = `corrupt_${littleEndian}_${snaplen}_${caplen}_${layout}.pcap`;
          const path = write(dir, name, pcapFile({ littleEndian, snaplen }, crafted));
          const { libpcap, chunked } = compareReaders(path);
          assert.equal(libpcap.packets.length, sizes.length, name);
          assert.match(libpcap.error, new RegExp(`^invalid packet capture length ${caplen}, `));
          assert.equal(chunked.error, libpcap.error, name);
        }
      }
    }
  });
});

Deno.test("PcapChunkReader: a file cut inside a record header or its data ends as truncated", async () => {
  await inTempDir((dir) => {
    const sizes = [60_000, 60_000, 60_000, 60_000, 60_000, 500];
    const lastRecord = 24 + 5 * 60_016;
    const fifthData = 24 + 4 * 60_016 + 16;
    const cuts: [string, number][] = [
      ["header", lastRecord + 9],
      ["data", lastRecord + 16 + 123],
      ["straddling data", fifthData + 30_000],
      ["straddling data past 50 000 bytes", fifthData + 55_000],
    ];
    for (const littleEndian of [true, false]) {
      // With a snapshot length of 50 000, libpcap cuts the 60 000-byte records and the last
      // cut falls in the part it drops.
      for (const snaplen of [MAX_CAPTURE_LENGTH, 50_000]) {
        const whole = pcapFile({ littleEndian, snaplen }, records(sizes, false));
        for (const [name, cut] of cuts) {
          const file = `cut_${name}_${littleEndian}_${snaplen}.pcap`;
          const path = write(dir, file, whole.subarray(0, cut));
          const { libpcap, chunked } = compareReaders(path);
          assert.match(libpcap.error, /truncated/, file);
          assert.match(chunked.error, /^truncated dump file; /, file);
          assert.equal(chunked.packets.length, cut > lastRecord ? 5 : 4, file);
        }
      }
    }
  });
});

Deno.test("PcapChunkReader: a file of its header only has no packets and no error", async () => {
  await inTempDir((dir) => {
    for (const littleEndian of [true, false]) {
      const path = write(dir, `empty_${littleEndian}.pcap`, pcapFile({ littleEndian }, []));
      const { libpcap, chunked } = compareReaders(path);
      assert.equal(libpcap.packets.length, 0);
      assert.equal(chunked.error, "");
      assert.deepEqual(chunked.perChunk, []);
    }
  });
});

Deno.test("PcapChunkReader: open returns null for what libpcap reads but this reader does not", async () => {
  await inTempDir((dir) => {
    const frame = payload(60, 1);
    const others: [string, Uint8Array][] = [
      ["pcapng", pcapngBytes(ETHERNET, [{ data: frame, time: 1_700_000_000.5 }])],
      ["version 2.3", pcapFile({ littleEndian: true, minor: 3 }, records([60], false))],
      ["Kuznetzov", pcapFile({ littleEndian: true, magic: MAGIC_KUZNETZOV }, [])],
      ["Kuznetzov, big-endian", pcapFile({ littleEndian: false, magic: MAGIC_KUZNETZOV }, [])],
    ];
    for (const [name, bytes] of others) {
      const path = write(dir, `${name}.cap`, bytes);
      // libpcap reads each, so the caller's fallback to it is what makes them readable.
      const { snaplen } = readWithLibpcap(path);
      assert.equal(PcapChunkReader.open(path, snaplen), null, name);
    }
    assert.equal(PcapChunkReader.open(dir, 262144), null, "a directory");
    assert.equal(PcapChunkReader.open(`${dir}/missing.pcap`, 262144), null, "a missing file");
    const short = write(dir, "short.pcap", pcapFile({ littleEndian: true }, []).subarray(0, 20));
    assert.equal(PcapChunkReader.open(short, 262144), null, "a file shorter than its header");
  });
});

Deno.test("PcapChunkReader: fill refuses a region smaller than MIN_CHUNK_BYTES, or too few record offsets for it", async () => {
  await inTempDir((dir) => {
    const path = write(
      dir,
      "small_region.pcap",
      pcapFile({ littleEndian: true }, records([60], false)),
    );
    const reader = PcapChunkReader.open(path, 262144);
    assert.notEqual(reader, null);
    try {
      const chunk = new Uint8Array(2 * MIN_CHUNK_BYTES);
      assert.throws(
        () => reader!.fill(new Uint8Array(MIN_CHUNK_BYTES - 1), 0, MIN_CHUNK_BYTES - 1),
        RangeError,
      );
      assert.throws(() => reader!.fill(chunk, 100, 100 + MIN_CHUNK_BYTES - 1), RangeError);
      const few = new Uint32Array(MIN_CHUNK_BYTES / 16 - 1);
      assert.throws(() => reader!.fill(chunk, 0, MIN_CHUNK_BYTES, few), /too few/);
      // Refusing consumed nothing: the record is still there.
      assert.ok(reader!.fill(chunk, 0, MIN_CHUNK_BYTES) > 0);
      assert.equal(reader!.chunkPackets, 1);
    } finally {
      reader!.close();
    }
  });
});

Deno.test("PcapChunkReader: a recorded fixture reads as libpcap reads it", () => {
  const path = new URL("../tests/fixtures/lab_libtorrent_dht.pcap", import.meta.url).pathname;
  const { libpcap, chunked } = compareReaders(path);
  assert.equal(libpcap.error, "");
  assert.ok(libpcap.packets.length > 100, `${libpcap.packets.length} packets`);
  assert.deepEqual(chunked.perChunk, [libpcap.packets.length]);
});

Deno.test("PcapChunkReader: fillSlab adds the records as a run, their offsets after the slab's earlier ones", async () => {
  await inTempDir((dir) => {
    const path = write(
      dir,
      "slab.pcap",
      pcapFile({ littleEndian: false }, records([60, 1514, 0, 300, 42], false)),
    );
    const size = 1 << 20;
    const slab = new Slab(0, 2, size);
    slab.lay(new ArrayBuffer(size));
    slab.recordOffsets = new Uint32Array(maxSlabRecords(size));
    for (const iface of [0, 1]) {
      const reader = PcapChunkReader.open(path, 262144)!;
      try {
        assert.ok(fillSlab(reader, slab, iface, ETHERNET) > 0);
        assert.equal(fillSlab(reader, slab, iface, ETHERNET), 0, "the end of the file");
      } finally {
        reader.close();
      }
    }
    assert.equal(slab.packets, 10);
    assert.equal(slab.indexed, 10, "both runs came with their offsets");
    const given = slab.recordOffsets.slice(0, 10);
    slab.indexed = 0;
    slab.indexRecords();
    assert.deepEqual(given, slab.recordOffsets.slice(0, 10), "the offsets a walk finds");
    assert.deepEqual(Array.from(slab.perInterface), [5, 5]);
  });
});
