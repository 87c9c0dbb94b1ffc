import assert from "node:assert/strict";
import { hashWords, SlotTable } from "./slot_table.ts";

function put(t: SlotTable, a: number, b: number): number {
  t.key[0] = a;
  t.key[1] = b;
  return t.find() >= 0 ? t.find() : t.insert();
}

function get(t: SlotTable, a: number, b: number): number {
  t.key[0] = a;
  t.key[1] = b;
  return t.find();
}

Deno.test("insert, find and remove keep every other key findable", () => {
  const t = new SlotTable(2, 1000);
  for (let i = 0; i < 1000; i++) put(t, i, i * 7);
  assert.equal(t.size, 1000);
  for (let i = 0; i < 1000; i += 3) t.remove(get(t, i, i * 7));
  for (let i = 0; i < 1000; i++) {
    const slot = get(t, i, i * 7);
    if (i % 3 === 0) assert.equal(slot, -1, `key ${i} removed`);
    else assert.ok(slot >= 0, `key ${i} present`);
  }
  assert.equal(get(t, 5, 0), -1);
});

Deno.test("a full table evicts the least recently used entry", () => {
  const t = new SlotTable(2, 3);
  const s1 = put(t, 1, 1);
  put(t, 2, 2);
  put(t, 3, 3);
  t.touch(s1);
  put(t, 4, 4);
  assert.ok(t.lastEvicted >= 0);
  assert.equal(get(t, 2, 2), -1, "oldest entry evicted");
  assert.ok(get(t, 1, 1) >= 0, "touched entry kept");
  assert.equal(t.size, 3);
});

Deno.test("LRU order walks from oldest to newest", () => {
  const t = new SlotTable(2, 8);
  const slots = [1, 2, 3, 4].map((i) => put(t, i, 0));
  t.touch(slots[1]);
  const order: number[] = [];
  for (let s = t.oldest; s >= 0; s = t.newerThan(s)) order.push(t.keys[s * 2]);
  assert.deepEqual(order, [1, 3, 4, 2]);
  assert.equal(t.newest, slots[1]);
});

Deno.test("churn far beyond capacity stays consistent (backward-shift deletion)", () => {
  const t = new SlotTable(2, 64);
  let x = 12345;
  for (let i = 0; i < 20000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const k = x % 200;
    const slot = get(t, k, 0);
    if (slot >= 0 && (x & 1)) {
      t.remove(slot);
    } else if (slot < 0) {
      t.key[0] = k;
      t.key[1] = 0;
      const s = t.insert();
      assert.equal(t.keys[s * 2], k);
    }
    assert.ok(t.size <= 64);
  }
  let count = 0;
  for (let k = 0; k < 200; k++) if (get(t, k, 0) >= 0) count++;
  assert.equal(count, t.size);
});

Deno.test("hashWords mixes every word", () => {
  const a = Uint32Array.of(1, 2, 3);
  const b = Uint32Array.of(1, 2, 4);
  assert.notEqual(hashWords(a, 3), hashWords(b, 3));
  assert.equal(hashWords(a, 2), hashWords(b, 2));
});

Deno.test("capacity must be a positive integer", () => {
  assert.throws(() => new SlotTable(2, 0), RangeError);
  assert.throws(() => new SlotTable(2, 1.5), RangeError);
});
