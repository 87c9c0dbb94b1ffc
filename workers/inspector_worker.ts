/**
 * Entry point of an inspector worker (a Web Worker started by {@linkcode WorkerPool}): one
 * {@linkcode Analyzer} per interface, fed from slabs of packets. For each slab it analyses
 * every packet, then transfers the slab back with the verdicts it produced (packets never
 * travel back). Flow affinity in the pool sends every packet of a flow to the same worker, so
 * each flow's state lives in exactly one analyzer; the endpoint memory of each interface is one
 * table shared by the analyzers of all workers.
 *
 * @module
 */

import { Analyzer, Verdict } from "../dpi/analyzer.ts";
import {
  addTotals,
  emptyTotals,
  type FromWorker,
  type InitMessage,
  type ToWorker,
  VerdictWriter,
  type WorkerTotals,
} from "./protocol.ts";
import { SlabReader } from "./slab.ts";

/** The parts of the worker global scope used here (typed without the worker lib). */
interface WorkerScope {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;
const reader = new SlabReader();
const verdicts = new VerdictWriter();
/** Something to `Atomics.wait` on for the slow-worker test hook. */
const sleeper = new Int32Array(new SharedArrayBuffer(4));
let settings: InitMessage | null = null;
let analyzers: (Analyzer | undefined)[] = [];
/** Packets counted when analysis is off (channel benchmark). */
let countedPackets = 0;
let countedBytes = 0;

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const m = event.data;
  switch (m.type) {
    case "init":
      settings = m;
      analyzers = new Array(m.interfaces);
      scope.postMessage({ type: "ready" });
      break;
    case "slab":
      inspect(m.id, m.buffer);
      break;
    case "totals":
      m.now.forEach((now, iface) => {
        if (now > 0) analyzers[iface]?.flows.expire(now);
      });
      scope.postMessage({ type: "totals", totals: totals() });
      break;
    case "crash":
      throw new Error("inspector worker crashed on request (pool test hook)");
  }
};

function inspect(id: number, buffer: ArrayBuffer): void {
  const s = settings;
  if (s === null) throw new Error("slab received before init");
  const r = reader;
  r.lay(buffer);
  if (s.analyze) {
    while (r.next()) {
      const iface = r.iface;
      const a = analyzers[iface] ?? analyzerFor(iface);
      const v = a.analyze(
        r.linkType,
        r.bytes,
        r.offset,
        r.capturedLength,
        r.wireLength,
        r.timestamp,
      );
      if (v !== Verdict.NONE) verdicts.add(v, iface, a.detection);
    }
  } else {
    while (r.next()) countedBytes += r.capturedLength;
    countedPackets += r.count;
  }
  if (s.delayPerSlabMs > 0) Atomics.wait(sleeper, 0, 0, s.delayPerSlabMs);
  const records = verdicts.take();
  scope.postMessage(
    { type: "return", id, buffer, verdicts: records },
    records === null ? [buffer] : [buffer, records],
  );
}

function analyzerFor(iface: number): Analyzer {
  const s = settings!;
  if (!(iface >= 0 && iface < s.interfaces)) {
    throw new RangeError(`packet of interface ${iface}; the pool has ${s.interfaces}`);
  }
  const a = new Analyzer(s.engine, undefined, s.endpoints[iface]);
  analyzers[iface] = a;
  return a;
}

function totals(): WorkerTotals {
  const t = emptyTotals();
  t.packets = countedPackets;
  t.bytes = countedBytes;
  for (const a of analyzers) {
    if (a === undefined) continue;
    const f = a.flows;
    addTotals(t, {
      ...a.stats,
      flowsCreated: f.flowsCreated,
      flowsExpired: f.flowsExpired,
      flowsEvicted: f.flowsEvicted,
      flowsActive: f.size,
      endpointsLearned: a.memory.learned,
    });
  }
  return t;
}
