/**
 * One endpoint memory shared by several Web Workers at once, as the worker pool uses it:
 * concurrent `remember` and `recall` on the same endpoints never tear an entry, never lose an
 * update and never duplicate an endpoint, and the final table is the same whatever the order.
 */
import assert from "node:assert/strict";
import { EndpointMemory } from "../dpi/endpoint_memory.ts";
import { Reason } from "../dpi/reason.ts";
import {
  stressReason,
  type StressReport,
  type StressTask,
  stressTime,
} from "../tests/helpers/endpoint_memory_worker.ts";

const WORKERS = 4;
const ENDPOINTS = 2000;
/** Enough room that no set overflows (4 × the endpoints): nothing may be evicted. */
const CAPACITY = 4 * ENDPOINTS;

Deno.test("workers remembering and recalling the same endpoints at once leave one exact table", async () => {
  const buffer = new SharedArrayBuffer(EndpointMemory.bytes(CAPACITY));
  const workers = Array.from(
    { length: WORKERS },
    () =>
      new Worker(new URL("../tests/helpers/endpoint_memory_worker.ts", import.meta.url), {
        type: "module",
      }),
  );
  let reports: StressReport[];
  try {
    reports = await Promise.all(
      workers.map((w, worker) =>
        new Promise<StressReport>((resolve, reject) => {
          w.onmessage = (e: MessageEvent<StressReport>) => resolve(e.data);
          w.onerror = (e) => reject(new Error(e.message));
          w.postMessage(
            {
              buffer,
              capacity: CAPACITY,
              worker,
              endpoints: ENDPOINTS,
              rounds: 50,
            } satisfies StressTask,
          );
        })
      ),
    );
  } finally {
    for (const w of workers) w.terminate();
  }
  for (const r of reports) {
    assert.equal(r.invalid, 0, "no torn entry was ever read");
    assert.equal(r.contended, 0);
    assert.equal(r.learned, 50 * ENDPOINTS);
  }
  const m = new EndpointMemory(CAPACITY, 3600, new Uint8Array(65536), buffer);
  assert.equal(m.size, ENDPOINTS, "each endpoint held once");
  const address = Uint32Array.of(0, 0, 0xffff, 0);
  for (let i = 0; i < ENDPOINTS; i++) {
    address[3] = 0xc0000200 + i;
    // Per reason, the earliest time any worker taught it; recalled: the lowest reason by then.
    const taught = Array.from({ length: WORKERS }, (_, w) => ({
      reason: stressReason(w, i),
      time: stressTime(w, i),
    }));
    const last = Math.max(...taught.map((t) => t.time));
    for (const now of [...taught.map((t) => t.time), last + 3599]) {
      const known = taught.filter((t) => t.time <= now).map((t) => t.reason);
      assert.equal(m.recall(address, 4, 6881, now), Math.min(...known), `endpoint ${i} at ${now}`);
    }
    assert.equal(m.recall(address, 4, 6881, last + 3600), 0, "expires after the latest");
    assert.equal(m.recall(address, 4, 6881, taught[0].time - 1), 0, "not known before");
  }
  assert.equal(Reason.KNOWN_PEER + 3, Reason.PEX_PEER);
});
