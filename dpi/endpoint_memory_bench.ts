/**
 * Cost of the endpoint memory's `remember` and `recall` (a hit, a miss, and a hit on a table
 * that other workers share through a `SharedArrayBuffer`), on a table holding 65536 endpoints
 * (the default capacity), 4096 endpoints per run.
 */
import { EndpointMemory } from "./endpoint_memory.ts";
import { Reason } from "./reason.ts";

const CAPACITY = 65536;
const BATCH = 4096;
const ignored = new Uint8Array(65536);
/** Addresses (4 words each) of 2 × CAPACITY distinct endpoints. */
const addresses = new Uint32Array(8 * CAPACITY);
for (let i = 0; i < 2 * CAPACITY; i++) {
  addresses[4 * i + 2] = 0xffff;
  addresses[4 * i + 3] = (0x0a000000 + i * 7919) >>> 0;
}
const address = new Uint32Array(4);

function endpoint(i: number): Uint32Array {
  address.set(addresses.subarray(4 * i, 4 * i + 4));
  return address;
}

function filled(memory: EndpointMemory): EndpointMemory {
  for (let i = 0; i < CAPACITY; i++) memory.remember(endpoint(i), 4, 6881, Reason.DHT_PEER, 0);
  return memory;
}

const plain = filled(new EndpointMemory(CAPACITY, 3600, ignored));
const shared = filled(
  new EndpointMemory(
    CAPACITY,
    3600,
    ignored,
    new SharedArrayBuffer(EndpointMemory.bytes(CAPACITY)),
  ),
);
let next = 0;
let found = 0;

Deno.bench(
  `remember (${BATCH} endpoints, replacing in a full table)`,
  { group: "remember" },
  () => {
    for (let k = 0; k < BATCH; k++) {
      plain.remember(endpoint(next++ & (2 * CAPACITY - 1)), 4, 6881, Reason.TRACKER_PEER, 1);
    }
  },
);

Deno.bench(`recall, hit (${BATCH} endpoints)`, { group: "recall", baseline: true }, () => {
  for (let k = 0; k < BATCH; k++) {
    found += plain.recall(endpoint(next++ & (CAPACITY - 1)), 4, 6881, 2) === 0 ? 0 : 1;
  }
});

Deno.bench(`recall, miss (${BATCH} endpoints)`, { group: "recall" }, () => {
  for (let k = 0; k < BATCH; k++) {
    found += plain.recall(endpoint(next++ & (CAPACITY - 1)), 4, 6882, 2) === 0 ? 0 : 1;
  }
});

Deno.bench(`recall, hit, shared table (${BATCH} endpoints)`, { group: "recall" }, () => {
  for (let k = 0; k < BATCH; k++) {
    found += shared.recall(endpoint(next++ & (CAPACITY - 1)), 4, 6881, 2) === 0 ? 0 : 1;
  }
});

Deno.bench(`remember, shared table (${BATCH} endpoints)`, { group: "remember" }, () => {
  for (let k = 0; k < BATCH; k++) {
    shared.remember(endpoint(next++ & (2 * CAPACITY - 1)), 4, 6881, Reason.TRACKER_PEER, 1);
  }
});

globalThis.addEventListener("unload", () => {
  if (found < 0) console.log(found); // keeps the recalls observable
});
