/**
 * A Web Worker for `workers/shared_endpoint_memory_test.ts`: attaches an `EndpointMemory` to the
 * shared table it is given and, as fast as it can, remembers every endpoint of the test (the
 * reason and time of each depend on the worker) while recalling them, then reports what it saw.
 *
 * @module
 */

import { EndpointMemory } from "../../dpi/endpoint_memory.ts";
import { Reason } from "../../dpi/reason.ts";

/** What the test sends. */
export interface StressTask {
  /** The shared table. */
  buffer: SharedArrayBuffer;
  /** Its capacity. */
  capacity: number;
  /** This worker's number (0 …). */
  worker: number;
  /** Endpoints: 192.0.2.0 + i, port 6881, for i below this. */
  endpoints: number;
  /** Passes over all endpoints. */
  rounds: number;
}

/** What the worker answers. */
export interface StressReport {
  /** Recalls done. */
  recalls: number;
  /** Recalls that answered something neither 0 nor an endpoint reason (a torn entry). */
  invalid: number;
  /** Operations that gave up waiting for a set. */
  contended: number;
  /** Endpoints this worker remembered (refreshes included). */
  learned: number;
}

/** The reason worker `w` teaches endpoint `i`: every worker another one, for the same endpoint. */
export function stressReason(w: number, i: number): number {
  return Reason.KNOWN_PEER + (w + i) % 4;
}

/** The capture time at which worker `w` teaches endpoint `i`. */
export function stressTime(w: number, i: number): number {
  return 1000 + 10 * w + (i % 7);
}

interface Scope {
  onmessage: ((e: MessageEvent<StressTask>) => void) | null;
  postMessage(m: StressReport): void;
}

const scope = globalThis as unknown as Scope;
scope.onmessage = (e) => {
  const t = e.data;
  const m = new EndpointMemory(t.capacity, 3600, new Uint8Array(65536), t.buffer);
  const address = Uint32Array.of(0, 0, 0xffff, 0);
  const report: StressReport = { recalls: 0, invalid: 0, contended: 0, learned: 0 };
  for (let round = 0; round < t.rounds; round++) {
    for (let k = 0; k < t.endpoints; k++) {
      // Each worker walks the endpoints from another starting point.
      const i = (k + t.worker * 977) % t.endpoints;
      address[3] = 0xc0000200 + i;
      m.remember(address, 4, 6881, stressReason(t.worker, i), stressTime(t.worker, i));
      address[3] = 0xc0000200 + ((i * 31) % t.endpoints);
      const r = m.recall(address, 4, 6881, 2000);
      report.recalls++;
      if (r !== 0 && !(r >= Reason.KNOWN_PEER && r <= Reason.PEX_PEER)) report.invalid++;
    }
  }
  report.contended = m.contended;
  report.learned = m.learned;
  scope.postMessage(report);
};
