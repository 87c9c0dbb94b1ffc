import assert from "node:assert/strict";
import { pcapBytes } from "../tests/helpers/pcap_writer.ts";
import {
  ENTRY_BYTES,
  maxSlabPacketBytes,
  maxSlabRecords,
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
    assert.ok(r.next());
    assert.equal(r.iface, p.iface);
    assert.equal(r.linkType, p.lt);
    assert.equal(r.wireLength, p.wire);
    assert.equal(r.timestamp, p.ts);
    assert.deepEqual(r.bytes.slice(r.offset, r.offset + r.capturedLength), p.bytes, `packet ${i}`);
  });
  assert.equal(r.next(), false);
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
    assert.ok(r.next());
    assert.deepEqual(r.bytes.slice(r.offset, r.offset + 60), src.slice(0, 60), `packet ${i}`);
  });
});

/** Standard pcap records (16-byte header, host byte order) of the given frames. */
function records(frames: Uint8Array[], firstSecond: number): Uint8Array {
  const file = pcapBytes(
    1,
    frames.map((data, i) => ({
      data,
      time: firstSecond + i + i / 4,
      wireLength: data.length + 100,
    })),
  );
  return file.subarray(24); // the file header
}

Deno.test("slab: runs of pcap records of several interfaces read back packet by packet", () => {
  const slab = new Slab(0, 2, MIN_SLAB_BYTES);
  slab.lay(new ArrayBuffer(MIN_SLAB_BYTES));
  const first = [pattern(60, 1), pattern(61, 2), pattern(1500, 3)];
  const second = [pattern(99, 4)];
  const a = records(first, 100);
  const spare = new Uint8Array(a.length + 50); // a batch buffer longer than its batch
  spare.set(a);
  slab.appendRecords(0, 1, spare, a.length, first.length);
  const b = records(second, 200);
  slab.appendRecords(1, 113, b, b.length, second.length);
  assert.equal(slab.packets, 4);
  assert.deepEqual(Array.from(slab.perInterface), [3, 1]);
  assert.equal(slab.recordRoom(), MIN_SLAB_BYTES - 2 * ENTRY_BYTES - slab.dataEnd - ENTRY_BYTES);
  const r = new SlabReader();
  r.lay(slab.seal());
  assert.equal(r.count, 4);
  const expected = [
    ...first.map((f, i) => ({ f, iface: 0, lt: 1, ts: 100 + i + i / 4 })),
    ...second.map((f) => ({ f, iface: 1, lt: 113, ts: 200 })),
  ];
  for (const [i, e] of expected.entries()) {
    assert.ok(r.next(), `packet ${i}`);
    assert.equal(r.iface, e.iface);
    assert.equal(r.linkType, e.lt);
    assert.equal(r.timestamp, e.ts);
    assert.equal(r.wireLength, e.f.length + 100);
    assert.deepEqual(r.bytes.slice(r.offset, r.offset + r.capturedLength), e.f, `packet ${i}`);
  }
  assert.equal(r.next(), false);
});

Deno.test("slab: records found by their offsets, in any order, read as in order; indexRecords finds the offsets", () => {
  const slab = new Slab(0, 2, MIN_SLAB_BYTES);
  slab.lay(new SharedArrayBuffer(MIN_SLAB_BYTES));
  slab.recordOffsets = new Uint32Array(maxSlabRecords(MIN_SLAB_BYTES));
  assert.throws(() => new Slab(1, 1, MIN_SLAB_BYTES).indexRecords(), TypeError);
  const first = [pattern(60, 1), pattern(61, 2), pattern(1500, 3)];
  const second = [pattern(99, 4), pattern(0, 5)];
  const a = records(first, 100);
  slab.appendRecords(0, 1, a, a.length, first.length);
  // The writer of the second run gives its offsets (as PcapChunkReader.fill does), but the
  // first run's are missing: they are not counted as indexed.
  const b = records(second, 200);
  slab.recordOffsets.set([a.length + 16, a.length + 16 + 16 + 99], first.length);
  slab.appendRecords(1, 113, b, b.length, second.length);
  assert.equal(slab.indexed, 0);
  const inPlace = new Slab(1, 1, MIN_SLAB_BYTES);
  inPlace.lay(new ArrayBuffer(MIN_SLAB_BYTES));
  inPlace.bytes.set(a, inPlace.dataEnd);
  inPlace.addRun(0, 1, a.length, first.length, true);
  assert.equal(inPlace.indexed, first.length, "a run whose offsets its writer gave");
  inPlace.reset();
  assert.equal(inPlace.indexed, 0);
  slab.indexRecords();
  assert.equal(slab.indexed, 5);
  const offsets = Array.from(slab.recordOffsets.subarray(0, 5));
  slab.writeHeader();
  const inOrder = new SlabReader();
  inOrder.lay(slab.buffer!, true);
  const seen: unknown[] = [];
  while (inOrder.next()) {
    seen.push([inOrder.offset - 16, inOrder.iface, inOrder.linkType, inOrder.timestamp]);
  }
  assert.deepEqual(seen.map((s) => (s as number[])[0]), offsets);
  const byOffset = new SlabReader();
  byOffset.lay(slab.buffer!, true);
  for (const i of [4, 0, 3, 1, 2, 2]) {
    byOffset.recordAt(offsets[i]);
    assert.deepEqual(
      [byOffset.offset - 16, byOffset.iface, byOffset.linkType, byOffset.timestamp],
      seen[i],
      `record ${i}`,
    );
  }
  // recordAt keeps its own place: next goes on from where it was, on its own run.
  inOrder.rewind();
  inOrder.next();
  inOrder.recordAt(offsets[3]);
  assert.ok(inOrder.next());
  assert.deepEqual([inOrder.offset - 16, inOrder.iface, inOrder.linkType], [offsets[1], 0, 1]);
  assert.throws(() => byOffset.recordAt(8), /no pcap record/);
  assert.throws(() => byOffset.recordAt(slab.dataEnd), /no pcap record/);
  // A record whose captured length runs past its run.
  new DataView(slab.buffer!).setUint32(offsets[4] + 8, 1000, true);
  assert.throws(() => byOffset.recordAt(offsets[4]), /runs past its run/);
  slab.indexed = 0;
  assert.throws(() => slab.indexRecords(), /runs past its run/);
});

Deno.test("slab: a slab holds packets or records, never both; a cut record is refused", () => {
  const slab = new Slab(0, 1, MIN_SLAB_BYTES);
  slab.lay(new ArrayBuffer(MIN_SLAB_BYTES));
  slab.append(new PacketCopier(), 0, 1, pattern(60, 1), 0, 60, 60, 0);
  const run = records([pattern(60, 2)], 1);
  assert.throws(() => slab.appendRecords(0, 1, run, run.length, 1), RangeError);
  const other = new Slab(1, 1, MIN_SLAB_BYTES);
  other.lay(new ArrayBuffer(MIN_SLAB_BYTES));
  assert.throws(() => other.appendRecords(0, 1, run, other.recordRoom() + 1, 1), RangeError);
  other.appendRecords(0, 1, run, run.length - 1, 1); // the record's bytes end early
  const r = new SlabReader();
  r.lay(other.seal());
  assert.throws(() => r.next(), RangeError);
});

Deno.test("slab: a shared slab of the most records it can hold, read, rewound and read again alike", () => {
  const slab = new Slab(0, 1, MIN_SLAB_BYTES);
  slab.lay(new SharedArrayBuffer(MIN_SLAB_BYTES));
  const run = records(Array.from({ length: 4000 }, () => new Uint8Array(0)), 1);
  slab.appendRecords(0, 1, run, run.length, 4000);
  const rest = records([new Uint8Array(0)], 2);
  while (slab.recordRoom() >= rest.length) slab.appendRecords(0, 1, rest, rest.length, 1);
  slab.writeHeader();
  // Runs of one record each: still at most as many as the owner table has entries.
  assert.ok(slab.packets <= maxSlabRecords(MIN_SLAB_BYTES));
  assert.ok(slab.packets > 4000);
  const r = new SlabReader();
  r.lay(slab.buffer!, true);
  const read = () => {
    const times: number[] = [];
    while (r.next()) times.push(r.timestamp);
    return times;
  };
  const first = read();
  assert.equal(first.length, slab.packets);
  r.rewind();
  assert.deepEqual(read(), first);
  // The biggest possible count: records alone, 16 bytes each, in one run.
  assert.equal(maxSlabRecords(MIN_SLAB_BYTES), (MIN_SLAB_BYTES - SLAB_HEADER_BYTES) / 16);
});
