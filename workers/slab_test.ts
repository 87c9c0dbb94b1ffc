import assert from "node:assert/strict";
import {
  ENTRY_BYTES,
  maxSlabPacketBytes,
  MIN_SLAB_BYTES,
  PacketCopier,
  Slab,
  SLAB_HEADER_BYTES,
  SlabReader,
} from "./slab.ts";

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

Deno.test("slab: packets written on the capture side read back alike in the worker", () => {
  const slab = new Slab(0, 3, MIN_SLAB_BYTES);
  slab.lay(new ArrayBuffer(MIN_SLAB_BYTES));
  const copier = new PacketCopier();
  // One capture buffer, packets at offset 0 (cached views) and at odd offsets (word copy),
  // and a source view that does not start at its buffer's start.
  const capture = pattern(9000, 1);
  const shifted = new Uint8Array(capture.buffer, 3, 8000);
  const sent: { iface: number; bytes: Uint8Array; wire: number; ts: number; lt: number }[] = [];
  const cases: [Uint8Array, number, number][] = [
    [capture, 0, 60],
    [capture, 0, 1514],
    [capture, 7, 61],
    [capture, 1, 3],
    [shifted, 0, 200],
    [shifted, 5, 999],
    [capture, 0, 60],
    [capture, 2, 0],
  ];
  cases.forEach(([buf, offset, length], i) => {
    assert.ok(slab.fits(length));
    const iface = i % 3;
    const ts = 1_700_000_000 + i / 7;
    slab.append(copier, iface, i === 3 ? 276 : 1, buf, offset, length, length + 10, ts);
    sent.push({
      iface,
      bytes: buf.slice(offset, offset + length),
      wire: length + 10,
      ts,
      lt: i === 3 ? 276 : 1,
    });
  });
  assert.deepEqual(Array.from(slab.perInterface), [3, 3, 2]);
  const buffer = slab.seal();
  assert.equal(slab.buffer, null);
  const r = new SlabReader();
  r.lay(buffer);
  assert.equal(r.count, cases.length);
  sent.forEach((p, i) => {
    r.select(i);
    assert.equal(r.iface, p.iface);
    assert.equal(r.linkType, p.lt);
    assert.equal(r.wireLength, p.wire);
    assert.equal(r.timestamp, p.ts);
    assert.deepEqual(r.bytes.slice(r.offset, r.offset + r.capturedLength), p.bytes, `packet ${i}`);
  });
});

Deno.test("slab: full when the packet bytes would reach the index; the header bounds the reader", () => {
  const slab = new Slab(0, 1, MIN_SLAB_BYTES);
  slab.lay(new ArrayBuffer(MIN_SLAB_BYTES));
  const copier = new PacketCopier();
  const packet = pattern(1000, 2);
  let n = 0;
  while (slab.fits(packet.length)) {
    slab.append(copier, 0, 1, packet, 0, packet.length, packet.length, n);
    n++;
  }
  const used = SLAB_HEADER_BYTES + n * (packet.length + ENTRY_BYTES);
  assert.ok(used <= MIN_SLAB_BYTES && used + packet.length + ENTRY_BYTES + 3 > MIN_SLAB_BYTES);
  assert.ok(slab.fits(maxSlabPacketBytes(MIN_SLAB_BYTES)) === false);
  const empty = new Slab(1, 1, MIN_SLAB_BYTES);
  empty.lay(new ArrayBuffer(MIN_SLAB_BYTES));
  assert.ok(empty.fits(maxSlabPacketBytes(MIN_SLAB_BYTES)));
  assert.ok(!empty.fits(maxSlabPacketBytes(MIN_SLAB_BYTES) + 1));
  const buffer = slab.seal();
  const r = new SlabReader();
  r.lay(buffer);
  assert.equal(r.count, n);
  new Uint32Array(buffer)[0] = n + 1000; // an index that would overlap the packet bytes
  assert.throws(() => r.lay(buffer), RangeError);
  assert.throws(() => r.lay(new ArrayBuffer(1000)), RangeError);
});

Deno.test("slab: a buffer comes back through reset and lay with fresh views", () => {
  const slab = new Slab(0, 1, MIN_SLAB_BYTES);
  assert.throws(() => slab.lay(new ArrayBuffer(MIN_SLAB_BYTES * 2)), RangeError);
  assert.throws(() => new Slab(0, 1, 1000), RangeError);
  slab.lay(new ArrayBuffer(MIN_SLAB_BYTES));
  slab.append(new PacketCopier(), 0, 1, pattern(10, 0), 0, 10, 10, 0);
  const moved = structuredClone(slab.seal(), { transfer: [] });
  slab.lay(moved);
  assert.equal(slab.count, 0);
  assert.equal(slab.dataEnd, SLAB_HEADER_BYTES);
  assert.equal(slab.perInterface[0], 0);
});

Deno.test("packet copier: views cached for one source are never used for another", () => {
  const slab = new Slab(0, 1, MIN_SLAB_BYTES);
  slab.lay(new ArrayBuffer(MIN_SLAB_BYTES));
  const copier = new PacketCopier();
  const a = pattern(100, 1);
  const b = pattern(100, 2);
  const order = [a, a, a, b, b, b, a, a];
  for (const src of order) slab.append(copier, 0, 1, src, 0, 60, 60, 0);
  const r = new SlabReader();
  r.lay(slab.seal());
  order.forEach((src, i) => {
    r.select(i);
    assert.deepEqual(r.bytes.slice(r.offset, r.offset + 60), src.slice(0, 60), `packet ${i}`);
  });
});
