/**
 * Where the CPU goes when a capture is read through the worker pool: for inline and each worker
 * count, the CPU time of every thread during the read alone (from `/proc/self/task`, taken after
 * the workers started and again after the pool drained): the main thread, each worker, and V8's
 * helper threads (compilers, garbage collector). From these, the speed-up the pool would reach
 * with a core for every busy thread: inline's main-thread CPU over the busiest thread's. On a
 * machine with fewer cores than threads (2 here) the wall clock cannot show that; CPU time can,
 * as long as memory and caches are not the limit. Fresh process per run, medians of RUNS.
 *
 *   deno run --allow-all bench/pool_cpu.ts [CAPTURE] [RUNS] [WORKER COUNTS...]
 *
 * (Deno lets a program read `/proc/self/task` only with every permission.)
 *
 * CAPTURE defaults to bench/out/big.pcap (bench/big_capture.sh builds it), RUNS to 3, the
 * worker counts to 1 2 4 8.
 *
 * @module
 */

import { Analyzer } from "../dpi/analyzer.ts";
import { PcapHandle } from "../ffi/libpcap.ts";
import { EventLoopYield } from "../live/capture.ts";
import { feedPool } from "../cli/offline.ts";
import { WorkerPool } from "../workers/pool.ts";
import { analyzeAll, poolBenchArgs } from "./pool_bench.ts";

/** CPU milliseconds per thread name. */
type ThreadCpu = Map<string, number>;

/** The CPU time (user + system) of every thread of this process, by thread id and name. */
function threads(): Map<string, { name: string; ms: number }> {
  const out = new Map<string, { name: string; ms: number }>();
  const tick = 10; // USER_HZ 100
  for (const t of Deno.readDirSync("/proc/self/task")) {
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/self/task/${t.name}/stat`);
    } catch {
      continue; // the thread ended
    }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out.set(t.name, { name, ms: (Number(fields[11]) + Number(fields[12])) * tick });
  }
  return out;
}

/** CPU used by each thread between two snapshots, summed by kind. */
function used(before: ReturnType<typeof threads>, after: ReturnType<typeof threads>): ThreadCpu {
  const out: ThreadCpu = new Map();
  const main = String(Deno.pid);
  for (const [tid, t] of after) {
    const ms = t.ms - (before.get(tid)?.ms ?? 0);
    const kind = tid === main
      ? "main"
      : /^worker-/.test(t.name)
      ? `worker ${tid}`
      : /^V8 /.test(t.name)
      ? "v8"
      : "other";
    out.set(kind, (out.get(kind) ?? 0) + ms);
  }
  return out;
}

/** One read in this process; prints its CPU use as JSON. */
async function child(path: string, workers: number): Promise<void> {
  const handle = PcapHandle.openOffline(path);
  let before: ReturnType<typeof threads>;
  let started: number;
  if (workers === 0) {
    const analyzer = new Analyzer({});
    before = threads();
    started = performance.now();
    analyzeAll(handle, analyzer);
  } else {
    const pool = await WorkerPool.start({
      workers,
      interfaces: 1,
      engine: {},
      whenFull: "wait",
      sharedSlabs: 4,
      onVerdict: () => {},
    });
    const yielder = new EventLoopYield();
    before = threads();
    started = performance.now();
    await feedPool(pool, 0, handle, path, yielder);
    await pool.close();
    yielder.close();
  }
  const wall = performance.now() - started;
  const cpu = used(before, threads());
  handle.close();
  console.log(JSON.stringify({ wall, cpu: Object.fromEntries(cpu) }));
}

interface Run {
  wall: number;
  main: number;
  busiestWorker: number;
  workers: number;
  v8: number;
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  return v[v.length >> 1];
}

async function measure(path: string, workers: number): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL(import.meta.url).pathname,
      "--child",
      path,
      String(workers),
    ],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`the ${workers}-worker run failed`);
  const r = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    wall: number;
    cpu: Record<string, number>;
  };
  const perWorker = Object.entries(r.cpu).filter(([k]) => k.startsWith("worker ")).map(([, v]) =>
    v
  );
  return {
    wall: r.wall,
    main: r.cpu.main ?? 0,
    busiestWorker: perWorker.length > 0 ? Math.max(...perWorker) : 0,
    workers: perWorker.reduce((a, b) => a + b, 0),
    v8: r.cpu.v8 ?? 0,
  };
}

if (Deno.args[0] === "--child") {
  await child(Deno.args[1], Number(Deno.args[2]));
} else {
  const { path, runs, counts } = poolBenchArgs("pool_cpu", Deno.args);
  console.log(
    `${path}, CPU ms during the read, medians of ${runs} runs on ${navigator.hardwareConcurrency} cores`,
  );
  console.log(
    "setting      wall   main  busiest worker  all workers  V8 helpers  speed-up with a core each",
  );
  let inlineMain = 0;
  for (const workers of [0, ...counts]) {
    const r: Run[] = [];
    for (let i = 0; i < runs; i++) r.push(await measure(path, workers));
    const m = (f: (x: Run) => number) => median(r.map(f));
    const main = m((x) => x.main);
    const busiest = m((x) => Math.max(x.main, x.busiestWorker));
    if (workers === 0) inlineMain = main;
    const label = workers === 0 ? "inline" : `pool ${workers}`;
    console.log(
      `${label.padEnd(9)} ${m((x) => x.wall).toFixed(0).padStart(7)} ${
        main.toFixed(0).padStart(6)
      } ${m((x) => x.busiestWorker).toFixed(0).padStart(15)} ${
        m((x) => x.workers).toFixed(0).padStart(12)
      } ${m((x) => x.v8).toFixed(0).padStart(11)}  ${(inlineMain / busiest).toFixed(2)}x`,
    );
  }
}
