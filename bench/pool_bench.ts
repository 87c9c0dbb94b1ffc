/**
 * What the per-thread pool benchmarks (`pool_cpu.ts`, `pool_share.ts`) share: their arguments
 * (`[CAPTURE] [RUNS] [WORKER COUNTS...]`, with defaults, the capture checked) and the inline
 * read they compare with.
 *
 * @module
 */

import type { Analyzer } from "../dpi/analyzer.ts";
import { NextResult, type PcapHandle } from "../ffi/libpcap.ts";

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
