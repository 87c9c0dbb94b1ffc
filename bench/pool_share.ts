/**
 * How a `--read` would scale with a core for every worker, measured one worker at a time so
 * that no two threads share a core: each worker's share of a pcap or pcapng file (what
 * `WorkerPool.broadcast` gives it: the shared slabs, its block of the owner table to hash, its
 * own flows' packets to analyse) is run alone in a fresh process, as a fresh worker would run
 * it (its code starts cold), with the owner table's other blocks filled beforehand as the other
 * workers would fill them meanwhile. The reading thread's share (the file read in 2 MiB chunks)
 * is timed apart. The projected speed-up over inline is inline's time over the slowest share
 * (the reader's or a worker's). Unlike `bench/pool_cpu.ts`, the workers do not take turns on
 * the cores; like it, memory bandwidth and caches shared by many busy cores are not modelled,
 * nor the handing over of slabs and verdicts (one message per 2 MiB chunk each way).
 * Each process runs its share twice: cold (the first pass, as a fresh worker, whose code
 * starts in V8's interpreter), and warm (a fresh analyzer over the capture again, code already
 * compiled, as a worker that has been running a while, live). Rounds interleaved (inline, then
 * every share), medians of RUNS.
 *
 *   deno run --allow-all bench/pool_share.ts [CAPTURE] [RUNS] [WORKER COUNTS...]
 *
 * CAPTURE defaults to bench/out/big.pcap (bench/big_capture.sh builds it), RUNS to 3, the
 * worker counts to 1 2 4 8.
 *
 * @module
 */

import { Analyzer } from "../dpi/analyzer.ts";
import { DEFAULT_ENGINE_CONFIG } from "../dpi/config.ts";
import { FlowHasher } from "../dpi/flow_hash.ts";
import { NextResult, PcapHandle } from "../ffi/libpcap.ts";
import { SHARED_SLAB_BYTES } from "../workers/pool.ts";
import { OWNER_FOLLOWS, OWNER_UNKNOWN } from "../workers/protocol.ts";
import { SharedSlabSplit } from "../workers/shared_split.ts";
import { maxSlabRecords, Slab, SlabReader } from "../workers/slab.ts";
import { analyzeAll, poolBenchArgs, readChunks } from "./pool_bench.ts";

/** Stands in a hash file for a frame that is not TCP/UDP. */
const NO_FLOW = 0xffffffff;

/** Inline: every packet read with `pcap_next_ex` and analysed on one thread; ms. */
function inline(path: string): number {
  const handle = PcapHandle.openOffline(path);
  const analyzer = new Analyzer({});
  const started = performance.now();
  analyzeAll(handle, analyzer);
  const ms = performance.now() - started;
  handle.close();
  return ms;
}

/**
 * Worker `slot` of `workers` alone: for every chunk, the other workers' blocks of the owner
 * table are filled from `hashes` (untimed), then this worker's claim and analysis are timed.
 * Returns `[reader ms, worker ms]`.
 */
function share(path: string, workers: number, slot: number, hashes: Uint32Array): number[] {
  // A worker's share of the flow table, as the pool gives it.
  const analyzer = new Analyzer({ maxFlows: Math.ceil(DEFAULT_ENGINE_CONFIG.maxFlows / workers) });
  const reader = new SlabReader();
  const owners = new Int16Array(maxSlabRecords(SHARED_SLAB_BYTES));
  const split = workers > 1 ? new SharedSlabSplit(slot, workers, 1) : null;
  let first = 0;
  let working = 0;
  const take = () =>
    analyzer.analyze(
      reader.linkType,
      reader.bytes,
      reader.offset,
      reader.capturedLength,
      reader.wireLength,
      reader.timestamp,
    );
  const slab = new Slab(0, 1, SHARED_SLAB_BYTES);
  slab.lay(new SharedArrayBuffer(SHARED_SLAB_BYTES));
  if (split !== null) slab.recordOffsets = new Uint32Array(owners.length);
  const handle = PcapHandle.openOffline(path);
  const { readingMs } = readChunks(path, handle, slab, () => {
    reader.lay(slab.buffer!, true);
    const n = reader.count;
    if (split !== null) {
      const from = Math.floor(slot * n / workers);
      const to = Math.floor((slot + 1) * n / workers);
      for (let i = 0; i < n; i++) {
        const h = hashes[first + i];
        owners[i] = i >= from && i < to
          ? OWNER_UNKNOWN
          : h === NO_FLOW
          ? OWNER_FOLLOWS
          : h % workers;
      }
    }
    first += n;
    const t = performance.now();
    if (split === null) {
      while (reader.next()) take();
    } else {
      split.claim(reader, owners, slab.recordOffsets!);
      while (split.nextOwn(reader, owners, slab.recordOffsets!)) take();
    }
    working += performance.now() - t;
  });
  handle.close();
  return [readingMs, working];
}

/** The flow hash of every packet of the capture, in order ({@linkcode NO_FLOW} for others). */
function flowHashes(path: string): Uint32Array {
  const handle = PcapHandle.openOffline(path);
  const hasher = new FlowHasher();
  const linkType = handle.linkType;
  let out = new Uint32Array(1 << 20);
  let n = 0;
  while (handle.next() === NextResult.PACKET) {
    if (n === out.length) {
      const grown = new Uint32Array(2 * n);
      grown.set(out);
      out = grown;
    }
    const h = hasher.hash(0, linkType, handle.data, handle.dataOffset, handle.capturedLength);
    out[n++] = h < 0 ? NO_FLOW : h;
  }
  handle.close();
  return out.subarray(0, n);
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  return v[v.length >> 1];
}

/**
 * Runs one child (`inline`, or a share) in a fresh process; returns its reader and working ms
 * (inline: 0 and its ms) of the cold and the warm pass.
 */
async function measure(args: string[]): Promise<number[][]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL(import.meta.url).pathname, "--child", ...args],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`the child ${args.join(" ")} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

if (Deno.args[0] === "--child") {
  const [, kind, path, workers, slot, hashFile] = Deno.args;
  // Two passes: the first with cold code (a fresh worker), the second with a fresh analyzer
  // but code already compiled (a worker that has been running for a while).
  const pass = kind === "inline" ? () => [0, inline(path)] : () =>
    share(
      path,
      Number(workers),
      Number(slot),
      new Uint32Array(Deno.readFileSync(hashFile).buffer),
    );
  console.log(JSON.stringify([pass(), pass()]));
} else {
  const { path, runs, counts } = poolBenchArgs("pool_share", Deno.args);
  const hashFile = Deno.makeTempFileSync({ suffix: ".hashes" });
  try {
    Deno.writeFileSync(hashFile, new Uint8Array(flowHashes(path).slice().buffer));
    // Rounds: inline, then every share of every worker count, so that the machine's load
    // drifting over the benchmark hits every setting alike.
    const results = new Map<string, number[][][]>();
    const record = async (key: string, args: string[]) =>
      results.set(key, [...results.get(key) ?? [], await measure(args)]);
    for (let i = 0; i < runs; i++) {
      await record("inline", ["inline", path]);
      for (const workers of counts) {
        for (let slot = 0; slot < workers; slot++) {
          await record(`${workers} ${slot}`, [
            "share",
            path,
            String(workers),
            String(slot),
            hashFile,
          ]);
        }
      }
    }
    /** Median over the runs of `part` (0 reader, 1 working) of pass `pass` of `key`. */
    const ms = (key: string, pass: number, part: number) =>
      median(results.get(key)!.map((r) => r[pass][part]));
    for (
      const [pass, name] of ["cold (a fresh worker)", "warm (code already compiled)"].entries()
    ) {
      console.log(
        `\n${path}, each share alone in a fresh process, ${name}: ms, medians of ${runs}`,
      );
      console.log(
        "setting   reader  shares (fastest–slowest)  projected speed-up with a core each",
      );
      const inlineMs = ms("inline", pass, 1);
      console.log(`inline    ${inlineMs.toFixed(0).padStart(6)}  ${"".padEnd(24)}  1.00x`);
      for (const workers of counts) {
        const reading: number[] = [];
        const shares: number[] = [];
        for (let slot = 0; slot < workers; slot++) {
          reading.push(ms(`${workers} ${slot}`, pass, 0));
          shares.push(ms(`${workers} ${slot}`, pass, 1));
        }
        const reader = median(reading);
        const slowest = Math.max(...shares);
        const range = `${Math.min(...shares).toFixed(0)}–${slowest.toFixed(0)}`;
        console.log(
          `pool ${String(workers).padEnd(4)} ${reader.toFixed(0).padStart(6)}  ${
            range.padEnd(24)
          }  ${(inlineMs / Math.max(reader, slowest)).toFixed(2)}x`,
        );
      }
    }
  } finally {
    Deno.removeSync(hashFile);
  }
}
