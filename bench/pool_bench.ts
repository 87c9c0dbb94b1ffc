/**
 * What the pool benchmarks share: the arguments of the per-thread ones (`pool_cpu.ts`,
 * `pool_share.ts`: `[CAPTURE] [RUNS] [WORKER COUNTS...]`, with defaults, the capture checked),
 * the inline read they compare with, and the pool's chunked read of a pcap or pcapng file
 * (`pool_share.ts`, `offline_split.ts`).
 *
 * @module
 */

import { fillSlab, openChunkReader } from "../cli/chunk_reader.ts";
import type { Analyzer } from "../dpi/analyzer.ts";
import { NextResult, type PcapHandle } from "../ffi/libpcap.ts";
import type { Slab } from "../workers/slab.ts";

/**
 * Reads the pcap or pcapng file `path` (opened as `handle`, for its snap length and link type) in
 * chunks of whole records straight into `slab`, a shared slab, as `--read --worker-pool` does
 * (with the records' offsets when the slab has a table for them), and calls `each` after every
 * chunk.
 *
 * @returns the packets read, and the ms spent reading (not in `each`)
 * @throws {Error} when the file is neither, or a pcapng file holds a part left to libpcap
 */
export function readChunks(
  path: string,
  handle: PcapHandle,
  slab: Slab,
  each: () => void,
): { packets: number; readingMs: number } {
  const reader = openChunkReader(path, handle.snaplen, handle.linkType);
  if (reader === null) throw new Error(`${path} is neither a classic pcap nor a pcapng file`);
  let readingMs = 0;
  try {
    for (;;) {
      const t = performance.now();
      slab.reset();
      const bytes = fillSlab(reader, slab, 0, handle.linkType);
      if (bytes > 0) slab.writeHeader();
      readingMs += performance.now() - t;
      if (bytes === 0) {
        if (reader.handOff) throw new Error(`${path}: part of it is left to libpcap`);
        return { packets: reader.packets, readingMs };
      }
      each();
    }
  } finally {
    reader.close();
  }
}

/** Inline: every packet of `handle` read with `pcap_next_ex` and analysed, on this thread. */
export function analyzeAll(handle: PcapHandle, analyzer: Analyzer): void {
  const linkType = handle.linkType;
  while (handle.next() === NextResult.PACKET) {
    analyzer.analyze(
      linkType,
      handle.data,
      handle.dataOffset,
      handle.capturedLength,
      handle.wireLength,
      handle.timestamp,
    );
  }
}

/** What a pool benchmark measures: a capture, runs per setting, worker counts. */
export interface PoolBenchArgs {
  /** The capture to read (default bench/out/big.pcap). */
  path: string;
  /** Runs per setting (default 3). */
  runs: number;
  /** Worker counts (default 1 2 4 8). */
  counts: number[];
}

/**
 * Parses `args`; exits 1 with a message naming benchmark `name` when the capture is missing.
 */
export function poolBenchArgs(name: string, args: string[]): PoolBenchArgs {
  const path = args[0] ?? "bench/out/big.pcap";
  const runs = Number(args[1] ?? 3);
  const counts = args.length > 2 ? args.slice(2).map(Number) : [1, 2, 4, 8];
  try {
    Deno.statSync(path);
  } catch {
    console.error(`${name}: ${path} not found (build it: bash bench/big_capture.sh)`);
    Deno.exit(1);
  }
  return { path, runs, counts };
}
