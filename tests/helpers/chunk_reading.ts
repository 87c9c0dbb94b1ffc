/**
 * Test helper: reads capture files with libpcap packet by packet and with a chunk reader
 * (`cli/chunk_reader.ts`), so that the chunk readers' tests can compare both, packet by packet.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ChunkReader } from "../../cli/chunk_reader.ts";
import { MIN_CHUNK_BYTES } from "../../cli/chunk_file.ts";
import { NextResult, PcapHandle } from "../../ffi/libpcap.ts";

/** One packet as a reader returned it. */
export interface Packet {
  timestamp: number;
  caplen: number;
  wire: number;
  bytes: Uint8Array;
}

/** Everything a reader returned for a file. */
export interface Reading {
  packets: Packet[];
  error: string;
}

/** Reads `path` packet by packet through libpcap; also gives libpcap's snapshot length. */
export function readWithLibpcap(path: string): Reading & { snaplen: number } {
  const handle = PcapHandle.openOffline(path);
  try {
    return { ...readRest(handle), snaplen: handle.snaplen };
  } finally {
    handle.close();
  }
}

/** Reads the rest of `handle`, packet by packet. */
export function readRest(handle: PcapHandle): Reading {
  const packets: Packet[] = [];
  let result: number;
  while ((result = handle.next()) === NextResult.PACKET) {
    const start = handle.dataOffset;
    packets.push({
      timestamp: handle.timestamp,
      caplen: handle.capturedLength,
      wire: handle.wireLength,
      bytes: handle.data.slice(start, start + handle.capturedLength),
    });
  }
  assert.ok(result === NextResult.END || result === NextResult.ERROR, `next() gave ${result}`);
  return { packets, error: result === NextResult.ERROR ? handle.error : "" };
}

/**
 * Reads everything `reader` gives into regions of exactly `MIN_CHUNK_BYTES` starting at `start`
 * of a larger buffer, walking the little-endian microsecond records of each chunk and checking
 * the reader's counts and record offsets against the walk; closes the reader.
 */
export function readInChunks(
  reader: ChunkReader,
  start = 0,
): Reading & { perChunk: number[]; handOff: boolean } {
  const chunk = new Uint8Array(start + MIN_CHUNK_BYTES + 7);
  const v = new DataView(chunk.buffer);
  const offsets = new Uint32Array(MIN_CHUNK_BYTES / 16);
  const packets: Packet[] = [];
  const perChunk: number[] = [];
  try {
    let bytes: number;
    while ((bytes = reader.fill(chunk, start, start + MIN_CHUNK_BYTES, offsets)) > 0) {
      assert.ok(bytes <= MIN_CHUNK_BYTES, `chunk of ${bytes} bytes`);
      const end = start + bytes;
      let at = start;
      let inChunk = 0;
      while (at < end) {
        assert.ok(end - at >= 16, `a record header cut at ${at - start} of a ${bytes}-byte chunk`);
        const caplen = v.getUint32(at + 8, true);
        assert.ok(at + 16 + caplen <= end, `a record cut by the end of a ${bytes}-byte chunk`);
        assert.equal(offsets[inChunk], at, `offset of record ${inChunk} of the chunk`);
        packets.push({
          timestamp: v.getUint32(at, true) + v.getUint32(at + 4, true) / 1e6,
          caplen,
          wire: v.getUint32(at + 12, true),
          bytes: chunk.slice(at + 16, at + 16 + caplen),
        });
        at += 16 + caplen;
        inChunk++;
      }
      assert.equal(reader.chunkPackets, inChunk, "chunkPackets");
      perChunk.push(inChunk);
    }
    assert.equal(reader.chunkPackets, 0, "chunkPackets after the last chunk");
    assert.equal(reader.packets, packets.length, "packets");
    // Once ended, the reader stays ended.
    assert.equal(reader.fill(chunk, start, start + MIN_CHUNK_BYTES), 0);
    assert.equal(reader.packets, packets.length, "packets after the end");
    return { packets, error: reader.error, perChunk, handOff: reader.handOff };
  } finally {
    reader.close();
  }
}

/** Asserts that both readings hold the same packets, field by field. */
export function assertSamePackets(chunked: Reading, libpcap: Reading): void {
  assert.equal(chunked.packets.length, libpcap.packets.length, "packet count");
  for (let i = 0; i < libpcap.packets.length; i++) {
    const got = chunked.packets[i];
    const want = libpcap.packets[i];
    assert.equal(got.timestamp, want.timestamp, `packet ${i}: timestamp`);
    assert.equal(got.caplen, want.caplen, `packet ${i}: captured length`);
    assert.equal(got.wire, want.wire, `packet ${i}: wire length`);
    assert.deepEqual(got.bytes, want.bytes, `packet ${i}: bytes`);
  }
}

/** Runs `body` with a temporary directory, removed afterwards. */
export async function inTempDir(body: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "btblocker-chunks-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes `bytes` as `name` in `dir` and returns its path. */
export function write(dir: string, name: string, bytes: Uint8Array): string {
  const path = `${dir}/${name}`;
  Deno.writeFileSync(path, bytes);
  return path;
}
