/**
 * The worker pool finds the same detections as the inline path over every capture of the
 * labelled corpus (../shared/corpus, skipped visibly when absent) and over our own fixtures,
 * with 1, 2, 4 and 8 workers reading as `--read --worker-pool` does (classic pcap files in
 * chunks into shared slabs that every worker reads, pcapng files too), and with 2 and 4
 * workers fed every capture packet by packet (each packet copied to its flow's worker, as
 * other formats, and the part of a pcapng file the chunk reader leaves to libpcap, are).
 *
 * To keep this quick the pool runs in this process: each capture of a batch is fed as its own
 * interface of one pool (a pool keeps one analyzer per interface in each worker, and one shared
 * endpoint memory per interface, so captures cannot influence each other), exactly as the
 * capture loop feeds several interfaces.
 *
 * Same detection events means the same flows, decided by the same packet, for the same reason
 * (`tests/helpers/detection_diff.ts`). With one worker nothing may differ. With several, the
 * workers share one endpoint memory but read the capture at their own pace, so the flows
 * listed in `tests/helpers/order_dependent.ts` (each with the reason) may have another outcome;
 * they are printed and counted, and anything else fails.
 */
import assert from "node:assert/strict";
import { Analyzer, Verdict } from "../dpi/analyzer.ts";
import type { EngineConfig } from "../dpi/config.ts";
import { PcapError, PcapHandle } from "../ffi/libpcap.ts";
import { WorkerPool } from "../workers/pool.ts";
import { feedPool } from "../cli/offline.ts";
import { EventLoopYield } from "../live/capture.ts";
import { captureDetections } from "./helpers/capture_detections.ts";
import { compareDetections, type FlowEvent, flowEvent } from "./helpers/detection_diff.ts";
import { ORDER_DEPENDENT } from "./helpers/order_dependent.ts";

const root = new URL("../", import.meta.url).pathname;
const corpusDir = `${root}../shared/corpus/pcap`;
const fixturesDir = `${root}tests/fixtures`;
/** Enough for every corpus capture, flows even divided among 8 workers (at most 1994 flows, 220 endpoints). */
const ENGINE: Partial<EngineConfig> = { maxFlows: 16384, maxEndpoints: 1024 };
/** Captures fed through one pool (as as many interfaces). */
const BATCH = 32;

function captures(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => /\.(pcap|pcapng|cap)$/.test(e.name))
      .map((e) => `${dir}/${e.name}`).sort();
  } catch {
    return [];
  }
}

const corpus = captures(corpusDir);
if (corpus.length === 0) {
  console.log(
    `pool_corpus_test: corpus SKIPPED — ${corpusDir} not found (not part of the repository)`,
  );
}

function openable(path: string): PcapHandle | null {
  try {
    return PcapHandle.openOffline(path);
  } catch {
    return null; // unreadable captures are the CLI's business (tests/cli_test.ts)
  }
}

function inline(path: string): FlowEvent[] {
  try {
    return captureDetections(path, new Analyzer(ENGINE)).map(flowEvent);
  } catch (e) {
    if (e instanceof PcapError) return []; // unreadable, as in openable
    throw e;
  }
}

/** How the captures reach the workers. */
interface Feeding {
  workers: number;
  /** Classic pcap files read in chunks into shared slabs (else packet by packet). */
  chunks: boolean;
}

const FEEDINGS: Feeding[] = [
  { workers: 1, chunks: true },
  { workers: 2, chunks: true },
  { workers: 4, chunks: true },
  { workers: 8, chunks: true },
  { workers: 2, chunks: false },
  { workers: 4, chunks: false },
];

async function pooled(paths: string[], feeding: Feeding): Promise<FlowEvent[][]> {
  const out: FlowEvent[][] = paths.map(() => []);
  const pool = await WorkerPool.start({
    workers: feeding.workers,
    interfaces: paths.length,
    engine: ENGINE,
    whenFull: "wait",
    sharedSlabs: feeding.chunks ? 4 : 0,
    // Up to 8 workers start per batch on a 2-core machine that may be busy with other jobs (once
    // over the default 30 s, in a run beside 2-worker benchmarks).
    startTimeoutMs: 120_000,
    onVerdict: (iface, verdict, d) => {
      // As captureDetections: detections, and confirmations of heuristic ones.
      if (verdict === Verdict.DETECTION || verdict === Verdict.CONFIRMED) {
        out[iface].push(flowEvent(d.toEvent()));
      }
    },
  });
  const yielder = new EventLoopYield();
  try {
    for (const [iface, path] of paths.entries()) {
      const h = openable(path);
      if (h === null) continue;
      try {
        await feedPool(pool, iface, h, path, yielder);
      } finally {
        h.close();
      }
    }
  } finally {
    yielder.close();
  }
  const totals = await pool.close();
  assert.equal(totals.dropped + totals.lost + totals.crashes, 0);
  return out;
}

async function checkEquivalence(paths: string[], label: string): Promise<void> {
  const reference = paths.map(inline);
  const total = reference.reduce((n, r) => n + r.length, 0);
  assert.ok(total > 0, "the captures hold detections");
  for (const feeding of FEEDINGS) {
    const { workers } = feeding;
    const how = feeding.chunks ? "chunks" : "packet by packet";
    const differences: string[] = [];
    const orderDependent: string[] = [];
    let detections = 0;
    for (let i = 0; i < paths.length; i += BATCH) {
      const batch = paths.slice(i, i + BATCH);
      const results = await pooled(batch, feeding);
      batch.forEach((path, k) => {
        const name = path.split("/").pop()!;
        detections += results[k].length;
        const d = compareDetections(reference[i + k], results[k], ORDER_DEPENDENT[name]);
        for (const line of d.differences) differences.push(`${name}: ${line}`);
        for (const line of d.orderDependent) orderDependent.push(`${name}: ${line}`);
      });
    }
    console.log(
      `${label}, ${workers} worker(s), ${how}: ${total} detections inline, ${detections} pooled, ` +
        `${differences.length} differ, ${orderDependent.length} order-dependent`,
    );
    for (const line of orderDependent) console.log(`  ${line}`);
    assert.deepEqual(differences, [], `${workers} worker(s), ${how}`);
    if (workers === 1) assert.deepEqual(orderDependent, [], "one worker sees the inline order");
  }
}

Deno.test({
  name: "pool = inline over the labelled corpus, 1, 2, 4 and 8 workers",
  ignore: corpus.length === 0,
  async fn() {
    await checkEquivalence(corpus, `corpus (${corpus.length} captures)`);
  },
});

Deno.test("pool = inline over our own fixtures, 1, 2, 4 and 8 workers", async () => {
  const fixtures = captures(fixturesDir);
  assert.ok(fixtures.length >= 2);
  await checkEquivalence(fixtures, `fixtures (${fixtures.length} captures)`);
});
