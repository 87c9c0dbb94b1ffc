import assert from "node:assert/strict";
import { TokenBucket } from "./rate_limit.ts";

Deno.test("the bucket allows a burst, then the rate, and counts what it refuses", () => {
  const b = new TokenBucket(10, 5);
  let allowed = 0;
  for (let i = 0; i < 100; i++) if (b.take(1000)) allowed++;
  assert.equal(allowed, 5);
  assert.equal(b.suppressed, 95);
  // Over ten seconds at one event per millisecond: the burst is spent, then 10 per second.
  allowed = 0;
  for (let t = 0; t < 10000; t++) if (b.take(1000 + t / 1000)) allowed++;
  assert.ok(allowed >= 99 && allowed <= 101, `${allowed}`);
  assert.equal(b.drainSuppressed(), 95 + 10000 - allowed);
  assert.equal(b.suppressed, 0);
  assert.equal(b.suppressedTotal, 95 + 10000 - allowed);
});

Deno.test("time going backwards grants nothing", () => {
  const b = new TokenBucket(1, 1);
  assert.ok(b.take(100));
  assert.ok(!b.take(50));
  assert.ok(!b.take(100.5));
  assert.ok(b.take(101.01));
});

Deno.test("bad settings are refused", () => {
  assert.throws(() => new TokenBucket(0, 1), RangeError);
  assert.throws(() => new TokenBucket(1, 0), RangeError);
});
