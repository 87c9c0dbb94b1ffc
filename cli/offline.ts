/**
 * Offline mode: read a pcap or pcapng file through libpcap, analyse every packet, print a
 * detection event per BitTorrent flow as it is classified, then a summary. The packets are
 * analysed on the main thread ({@linkcode readCapture}) or on the worker pool
 * ({@linkcode readCaptureWithPool}, `--worker-pool`).
 *
 * @module
 */

import { Analyzer, AnalyzerStats } from "../dpi/analyzer.ts";
import type { EngineConfig } from "../dpi/config.ts";
import { isSupportedLinkType } from "../dpi/decode.ts";
import { NextResult, PcapError, PcapHandle } from "../ffi/libpcap.ts";
import { EventLoopYield } from "../live/capture.ts";
import { type PoolTotals, WorkerPool } from "../workers/pool.ts";
import { fillSlab, openChunkReader } from "./chunk_reader.ts";
import { RuntimeError, TruncatedCaptureError } from "./errors.ts";
import type { EventPrinter, RunSummary } from "./output.ts";

/** Files at least this large show progress on a terminal by default. */
const PROGRESS_MIN_BYTES = 32 << 20;
/** Packets between progress checks. */
const PROGRESS_STRIDE = 65536;
/** Approximate per-packet record overhead in a capture file (pcap 16, pcapng ~32). */
const RECORD_OVERHEAD = 20;

/** Where and how offline mode reports. */
export interface OfflineOptions {
  /** The capture file. */
  path: string;
  /** Engine settings. */
  engine: Partial<EngineConfig>;
  /** Force progress on or off; `undefined` decides by terminal and file size. */
  progress: boolean | undefined;
}

/**
 * Reads and analyses a whole capture, printing as it goes, and returns the summary (already
 * printed too).
 *
 * @throws {RuntimeError} when the file cannot be opened, has an unsupported link type, or is
 *   corrupt part-way (the summary of what was read is printed first)
 * @throws {TruncatedCaptureError} when the file is cut off mid-record (the detections and the
 *   summary of what was read are printed first)
 */
export function readCapture(options: OfflineOptions, printer: EventPrinter): RunSummary {
  const handle = openCapture(options.path);
  try {
    const linkType = handle.linkType;
    const linkTypeName = handle.linkTypeName;
    const analyzer = new Analyzer(options.engine);
    const progress = startProgress(options);
    const started = performance.now();
    let result: number;
    while ((result = handle.next()) === NextResult.PACKET) {
      const verdict = analyzer.analyze(
        linkType,
        handle.data,
        handle.dataOffset,
        handle.capturedLength,
        handle.wireLength,
        handle.timestamp,
      );
      printer.verdict(verdict, analyzer.detection);
      progress?.read(handle.capturedLength + RECORD_OVERHEAD, 1);
    }
    progress?.done();
    const summary: RunSummary = {
      file: options.path,
      linkType: linkTypeName,
      stats: analyzer.stats,
      flows: {
        created: analyzer.flows.flowsCreated,
        expired: analyzer.flows.flowsExpired,
        evicted: analyzer.flows.flowsEvicted,
        active: analyzer.flows.size,
      },
      endpointsLearned: analyzer.memory.learned,
      seconds: (performance.now() - started) / 1000,
    };
    const error = result === NextResult.ERROR ? handle.error : "";
    return finish(printer, summary, { packets: analyzer.stats.packets, error });
  } finally {
    handle.close();
  }
}

/**
 * Like {@linkcode readCapture}, with the analysis on a worker pool of `workers` workers.
 * Nothing is dropped: when every slab is in use the reader waits for one. Detection events
 * are printed as workers report them, so events of different flows may come in another order
 * than inline; each flow's events are the same.
 *
 * @throws {RuntimeError} as {@linkcode readCapture}, and when the workers cannot start
 */
export async function readCaptureWithPool(
  options: OfflineOptions,
  workers: number,
  printer: EventPrinter,
): Promise<RunSummary> {
  const handle = openCapture(options.path);
  let pool: WorkerPool | null = null;
  const yielder = new EventLoopYield();
  try {
    const linkTypeName = handle.linkTypeName;
    try {
      pool = await WorkerPool.start({
        workers,
        interfaces: 1,
        engine: options.engine,
        whenFull: "wait",
        sharedSlabs: SHARED_SLABS,
        onVerdict: (_iface, verdict, d) => printer.verdict(verdict, d),
      });
    } catch (e) {
      throw new RuntimeError(`cannot start the worker pool: ${(e as Error).message}`);
    }
    const progress = startProgress(options);
    const started = performance.now();
    const fed = await feedPool(pool, 0, handle, options.path, yielder, progress);
    const totals = await pool.close();
    pool = null;
    progress?.done();
    const summary = poolSummary(options.path, linkTypeName, totals, started);
    return finish(printer, summary, fed);
  } finally {
    yielder.close();
    await pool?.close();
    handle.close();
  }
}

/** Shared slabs of the pool reading a file: a chunk being read while workers read others. */
const SHARED_SLABS = 4;

/** How reading a capture into the pool ended. */
export interface Fed {
  /** Packets handed to the pool. */
  packets: number;
  /**
   * Why reading stopped before the end of the file, in libpcap's words (a record cut off by
   * the end of the file, or a corrupt one), or "" when the whole file was read.
   */
  error: string;
}

/** Told of what was read: file bytes (exact or estimated) and packets. */
export interface ReadObserver {
  read(bytes: number, packets: number): void;
}

/**
 * Hands every packet of an offline capture (`handle`, opened from `path`) to the pool as
 * interface `iface`. A classic pcap or a pcapng file is read in chunks straight into the pool's
 * shared slabs as pcap records, which every worker reads in place (`chunk_reader.ts`,
 * {@linkcode WorkerPool.broadcast}); this needs a pool started with `sharedSlabs`. What the
 * chunk readers leave to libpcap (another format, a pool without shared slabs, or the rest of a
 * pcapng file from a block the pcapng reader does not read) is read packet by packet through
 * libpcap and each packet copied to its flow's worker. Either way the reader waits when every
 * slab is in use and lets the event loop run after each slab sent (slabs come back only while
 * it runs).
 */
export async function feedPool(
  pool: WorkerPool,
  iface: number,
  handle: PcapHandle,
  path: string,
  yielder: EventLoopYield,
  observer?: ReadObserver,
): Promise<Fed> {
  const linkType = handle.linkType;
  const chunks = pool.freeSharedSlab() === null
    ? null
    : openChunkReader(path, handle.snaplen, linkType);
  if (chunks === null) return await feedPackets(pool, iface, handle, yielder, observer);
  try {
    for (;;) {
      let slab = pool.freeSharedSlab();
      while (slab === null) {
        await pool.roomFreed(1000);
        slab = pool.freeSharedSlab();
      }
      const bytes = fillSlab(chunks, slab, iface, linkType);
      if (bytes === 0) break;
      pool.broadcast(slab);
      observer?.read(chunks.chunkFileBytes, chunks.chunkPackets);
      await yielder.yield();
    }
    if (!chunks.handOff) return { packets: chunks.packets, error: chunks.error };
  } finally {
    chunks.close();
  }
  // libpcap reads on from where the chunk reader stopped: past the packets it gave.
  for (let skipped = 0; skipped < chunks.packets; skipped++) {
    if (handle.next() !== NextResult.PACKET) {
      throw new Error(`libpcap ended before the ${chunks.packets} packets read in chunks`);
    }
  }
  const rest = await feedPackets(pool, iface, handle, yielder, observer);
  return { packets: chunks.packets + rest.packets, error: rest.error };
}

/** {@linkcode feedPool} packet by packet. */
async function feedPackets(
  pool: WorkerPool,
  iface: number,
  handle: PcapHandle,
  yielder: EventLoopYield,
  observer?: ReadObserver,
): Promise<Fed> {
  const linkType = handle.linkType;
  let sent = pool.slabsSent;
  let packets = 0;
  let result: number;
  while ((result = handle.next()) === NextResult.PACKET) {
    const wait = pool.packet(
      iface,
      linkType,
      handle.data,
      handle.dataOffset,
      handle.capturedLength,
      handle.wireLength,
      handle.timestamp,
    );
    if (wait !== undefined) await wait;
    if (pool.slabsSent !== sent) {
      sent = pool.slabsSent;
      await yielder.yield();
    }
    packets++;
    observer?.read(handle.capturedLength + RECORD_OVERHEAD, 1);
  }
  return { packets, error: result === NextResult.ERROR ? handle.error : "" };
}

/**
 * Prints the summary and returns it, or throws when reading ended on a cut-off or corrupt
 * record (`fed.error`) after `fed.packets` packets.
 */
function finish(printer: EventPrinter, summary: RunSummary, fed: Fed): RunSummary {
  printer.summary(summary);
  const reason = fed.error;
  if (reason === "") return summary;
  // libpcap says "truncated dump file" (pcap) or "truncated pcapng dump file" for a record
  // cut off by the end of the file; anything else is a corrupt record.
  if (/\btruncated\b/.test(reason)) {
    throw new TruncatedCaptureError(
      `warning: ${summary.file} is cut off: ${fed.packets} packets read before the cut, and ` +
        `reported (${reason})`,
    );
  }
  throw new RuntimeError(
    `${summary.file}: capture is corrupt after ${fed.packets} packets: ${reason}`,
  );
}

function poolSummary(
  file: string,
  linkType: string,
  t: PoolTotals,
  started: number,
): RunSummary {
  const stats = new AnalyzerStats();
  stats.packets = t.packets;
  stats.bytes = t.bytes;
  stats.decoded = t.decoded;
  stats.notIp = t.notIp;
  stats.otherTransport = t.otherTransport;
  stats.fragments = t.fragments;
  stats.malformed = t.malformed;
  stats.unsupportedLink = t.unsupportedLink;
  stats.inspected = t.inspected;
  t.detections.forEach((n, r) => stats.detections[r] = n);
  return {
    file,
    linkType,
    stats,
    flows: {
      created: t.flowsCreated,
      expired: t.flowsExpired,
      evicted: t.flowsEvicted,
      active: t.flowsActive,
    },
    endpointsLearned: t.endpointsLearned,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Opens a capture file and checks its link type.
 *
 * @throws {RuntimeError} when it cannot be read or its link type is not supported
 */
function openCapture(path: string): PcapHandle {
  let handle: PcapHandle;
  try {
    handle = PcapHandle.openOffline(path);
  } catch (e) {
    if (e instanceof PcapError) throw new RuntimeError(`cannot read ${path}: ${e.message}`);
    throw e;
  }
  const linkType = handle.linkType;
  if (!isSupportedLinkType(linkType)) {
    const name = handle.linkTypeName;
    handle.close();
    throw new RuntimeError(`${path}: unsupported link type ${name} (${linkType})`);
  }
  return handle;
}

/** A one-line progress indicator on stderr. */
class Progress implements ReadObserver {
  readonly #total: number;
  readonly #started = performance.now();
  readonly #encoder = new TextEncoder();
  #packets = 0;
  #nextUpdate = PROGRESS_STRIDE;
  /** File bytes read so far (estimated from the packets' captured lengths when read one by one). */
  #bytes = 0;

  constructor(total: number) {
    this.#total = total;
  }

  /** Counts what was read; updates the line every {@linkcode PROGRESS_STRIDE} packets. */
  read(bytes: number, packets: number): void {
    this.#bytes += bytes;
    this.#packets += packets;
    if (this.#packets >= this.#nextUpdate) {
      this.#nextUpdate = this.#packets + PROGRESS_STRIDE;
      this.#update();
    }
  }

  #update(): void {
    const packets = this.#packets;
    const percent = Math.min(99, Math.floor((this.#bytes / this.#total) * 100));
    const seconds = (performance.now() - this.#started) / 1000;
    const rate = Math.round(packets / Math.max(seconds, 1e-3) / 1000);
    this.#write(`\r${percent}%  ${packets} packets  ${rate} k packets/s `);
  }

  done(): void {
    this.#write("\r\x1b[K");
  }

  #write(text: string): void {
    Deno.stderr.writeSync(this.#encoder.encode(text));
  }
}

function startProgress(options: OfflineOptions): Progress | undefined {
  if (options.progress === false) return undefined;
  let size = 0;
  try {
    size = Deno.statSync(options.path).size;
  } catch {
    return undefined;
  }
  if (options.progress === true) return new Progress(size);
  return Deno.stderr.isTerminal() && size >= PROGRESS_MIN_BYTES ? new Progress(size) : undefined;
}
