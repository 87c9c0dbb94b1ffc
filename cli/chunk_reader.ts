/**
 * Reading a capture file in large chunks of whole pcap records, for the worker pool's offline
 * path: one `read` per chunk straight into a shared slab, no FFI call per packet on the reading
 * thread. A classic pcap file ({@linkcode PcapChunkReader}) or a pcapng file
 * ({@linkcode PcapngChunkReader}); either way the chunk holds pcap records (little-endian
 * headers, microseconds: see `workers/slab.ts`), exactly the packets libpcap would return.
 *
 * @module
 */

import type { Slab } from "../workers/slab.ts";
import { PcapChunkReader } from "./pcap_chunks.ts";
import { PcapngChunkReader } from "./pcapng_chunks.ts";

/** What the pool's offline reader needs from a chunk reader. */
export interface ChunkReader {
  /** Packets in the chunk of the last {@linkcode fill}. */
  readonly chunkPackets: number;
  /** Packets of every chunk filled so far. */
  readonly packets: number;
  /** File bytes behind the chunk of the last {@linkcode fill} (for progress). */
  readonly chunkFileBytes: number;
  /**
   * Why reading ended early, in libpcap's words, or "" (the file ended cleanly, has not ended
   * yet, or the rest is left to libpcap: {@linkcode handOff}).
   */
  readonly error: string;
  /**
   * `true` once the reader stopped at a part of the file it leaves to libpcap: the caller reads
   * on with libpcap, after skipping the {@linkcode packets} packets this reader gave. Only the
   * pcapng reader hands off (a block it does not read, or one libpcap would refuse, so that
   * libpcap decides with its own wording).
   */
  readonly handOff: boolean;
  /**
   * Fills `target[start, end)` with the next whole records and returns their bytes (0 at the
   * end of the file, at a bad record, or at a hand-off); when `offsets` is given, writes where
   * each record starts (the chunk's `k`-th at `offsets[k]`; it holds at least
   * `(end - start) / 16` entries).
   *
   * @throws {RangeError} when the region is smaller than `MIN_CHUNK_BYTES`, or `offsets` too
   *   short for it
   */
  fill(target: Uint8Array, start: number, end: number, offsets?: Uint32Array): number;
  /** Closes the file. */
  close(): void;
}

/**
 * Opens `path` with the chunk reader for its format, positioned at its first packet, or returns
 * `null` when neither reads it (the caller then reads it packet by packet through libpcap).
 *
 * @param path the capture, already opened successfully by libpcap
 * @param snapshot the snapshot length libpcap reports for it (`pcap_snapshot`)
 * @param linkType the link type libpcap reports for it (`pcap_datalink`)
 */
export function openChunkReader(
  path: string,
  snapshot: number,
  linkType: number,
): ChunkReader | null {
  return PcapChunkReader.open(path, snapshot) ?? PcapngChunkReader.open(path, snapshot, linkType);
}

/**
 * Fills the record room of `slab` (after what it holds) from `reader` and registers the records
 * as a run of interface `iface`, with their offsets when the slab has a table for them
 * (`Slab.recordOffsets`): one chunk of a capture file, as the worker pool reads it.
 *
 * @returns the bytes of records added (0 at the end of the file, at a bad record, or at a
 *   hand-off)
 */
export function fillSlab(reader: ChunkReader, slab: Slab, iface: number, linkType: number): number {
  const start = slab.dataEnd;
  const table = slab.recordOffsets;
  const offsets = table === null
    ? undefined
    : slab.packets === 0
    ? table
    : table.subarray(slab.packets);
  const bytes = reader.fill(slab.bytes, start, start + slab.recordRoom(), offsets);
  if (bytes > 0) slab.addRun(iface, linkType, bytes, reader.chunkPackets, table !== null);
  return bytes;
}
