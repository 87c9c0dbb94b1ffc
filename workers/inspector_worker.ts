/**
 * Entry point of an inspector worker (a Web Worker started by {@linkcode WorkerPool}): one
 * {@linkcode Analyzer} per interface, fed from slabs of packets. For each slab it analyses
 * every packet, then transfers the slab back with the verdicts it produced (packets never
 * travel back). A shared slab (an offline capture read in chunks) is read in place by every
 * worker, each taking the packets of its own flows, and answered with the verdicts only. Flow
 * affinity in the pool sends every packet of a flow to the same worker, so
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
import { SharedSlabSplit } from "./shared_split.ts";
import { SlabReader } from "./slab.ts";

/** The parts of the worker global scope used here (typed without the worker lib). */
interface WorkerScope {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;
const reader = new SlabReader();
const sharedReader = new SlabReader();
/** The owner table of each shared slab (see `OWNER_UNKNOWN`). */
let ownerTables: Int16Array[] = [];
/** Where each record of each shared slab starts (see `Slab.recordOffsets`). */
let offsetTables: Uint32Array[] = [];
/** In a pool of several workers, which packets of the shared slabs are this worker's. */
let split: SharedSlabSplit | null = null;
/** The pool's malformed-packet counts (see `InitMessage.malformed`), and what was added to them. */
let malformedCounts: BigUint64Array<ArrayBufferLike> = new BigUint64Array(0);
let reportedMalformed = new Float64Array(0);
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
      split = m.workers > 1 ? new SharedSlabSplit(m.slot, m.workers, m.interfaces) : null;
      ownerTables = m.owners.map((b) => new Int16Array(b));
      offsetTables = m.offsets.map((b) => new Uint32Array(b));
      malformedCounts = new BigUint64Array(m.malformed);
      reportedMalformed = new Float64Array(m.interfaces);
      scope.postMessage({ type: "ready" });
      break;
    case "slab":
      inspect(m.id, m.buffer);
      break;
    case "shared":
      inspectShared(m.id);
      break;
    case "totals":
      m.now.forEach((now, iface) => {
        const t = Math.max(now, split?.latest[iface] ?? 0);
        if (t > 0) analyzers[iface]?.flows.expire(t);
      });
      scope.postMessage({ type: "totals", totals: totals() });
      break;
    case "crash":
      throw new Error("inspector worker crashed on request (pool test hook)");
  }
};

function inspect(id: number, buffer: ArrayBuffer): void {
  const s = started();
  const r = reader;
  r.lay(buffer);
  while (r.next()) take(s, r);
  if (!s.analyze) countedPackets += r.count;
  pause(s);
  countMalformed(s);
  const records = verdicts.take();
  scope.postMessage(
    { type: "return", id, buffer, verdicts: records },
    records === null ? [buffer] : [buffer, records],
  );
}

/**
 * Reads a shared slab in place: all of its packets in a pool of one worker, else the packets
 * its owner table gives this worker (see {@linkcode SharedSlabSplit}).
 */
function inspectShared(id: number): void {
  const s = started();
  const r = sharedReader;
  r.lay(s.shared[id], true);
  if (split === null) {
    while (r.next()) take(s, r);
    if (!s.analyze) countedPackets += r.count;
  } else {
    const owners = ownerTables[id];
    const offsets = offsetTables[id];
    split.claim(r, owners, offsets);
    while (split.nextOwn(r, owners, offsets)) {
      if (!s.analyze) countedPackets++;
      take(s, r);
    }
  }
  pause(s);
  countMalformed(s);
  const records = verdicts.take();
  scope.postMessage(
    { type: "shared-return", id, verdicts: records },
    records === null ? [] : [records],
  );
}

function started(): InitMessage {
  if (settings === null) throw new Error("slab received before init");
  return settings;
}

/** Analyses the reader's current packet (or only counts its bytes, when analysis is off). */
function take(s: InitMessage, r: SlabReader): void {
  if (!s.analyze) {
    countedBytes += r.capturedLength;
    return;
  }
  const iface = r.iface;
  const a = analyzers[iface] ?? analyzerFor(iface);
  const v = a.analyze(r.linkType, r.bytes, r.offset, r.capturedLength, r.wireLength, r.timestamp);
  if (v !== Verdict.NONE) verdicts.add(v, iface, a.detection);
}

/** Adds the malformed packets counted since the last slab to this slot's shared counts. */
function countMalformed(s: InitMessage): void {
  for (let iface = 0; iface < analyzers.length; iface++) {
    const a = analyzers[iface];
    if (a === undefined) continue;
    const n = a.stats.malformed;
    if (n === reportedMalformed[iface]) continue;
    Atomics.add(
      malformedCounts,
      s.slot * s.interfaces + iface,
      BigInt(n - reportedMalformed[iface]),
    );
    reportedMalformed[iface] = n;
  }
}

/** The slow-worker test hook. */
function pause(s: InitMessage): void {
  if (s.delayPerSlabMs > 0) Atomics.wait(sleeper, 0, 0, s.delayPerSlabMs);
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
