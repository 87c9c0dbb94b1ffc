import assert from "node:assert/strict";
import { LinkType } from "../dpi/decode.ts";
import { FlowHasher } from "../dpi/flow_hash.ts";
import { frame, randomBytes } from "../tests/helpers/packets.ts";
import { pcapBytes } from "../tests/helpers/pcap_writer.ts";
import { OWNER_FOLLOWS, OWNER_UNKNOWN } from "./protocol.ts";
import { SharedSlabSplit } from "./shared_split.ts";
import { maxSlabRecords, MIN_SLAB_BYTES, Slab, SlabReader } from "./slab.ts";

const SIZE = 4 * MIN_SLAB_BYTES;

/** TCP and UDP packets of `flows` flows in both directions, and now and then a frame that is neither. */
function frames(flows: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; k < 3; k++) {
    for (let i = 0; i < flows; i++) {
      const a = { ip: `10.0.${i >> 8}.${i & 255}`, port: 40000 + i };
      const b = { ip: `192.0.2.${i & 255}`, port: 6881 };
      const forth = (i + k) % 2 === 0;
      out.push(frame({
        l4: i % 4 === 0 ? 17 : 6,
        src: forth ? a : b,
        dst: forth ? b : a,
        payload: randomBytes(20 + (i % 30), i * 3 + k),
      }));
      if (i % 7 === 3) out.push(new Uint8Array(40)); // not IP: goes with the packet before
    }
  }
  return out;
}

/** A shared slab holding `packets` as one run of pcap records (packet i at time 1000 + i). */
function sharedSlab(packets: Uint8Array[]): Slab {
  const slab = new Slab(0, 1, SIZE);
  slab.lay(new SharedArrayBuffer(SIZE));
  const records = pcapBytes(
    LinkType.ETHERNET,
    packets.map((data, i) => ({ data, time: 1000 + i })),
  ).subarray(24);
  slab.bytes.set(records, slab.dataEnd);
  slab.addRun(0, LinkType.ETHERNET, records.length, packets.length);
  slab.writeHeader();
  slab.recordOffsets = new Uint32Array(maxSlabRecords(SIZE));
  slab.indexRecords();
  return slab;
}

/** Per packet, the worker `hash % workers` would send it to (a non-IP frame: the one before). */
function expectedOwners(packets: Uint8Array[], workers: number): number[] {
  const hasher = new FlowHasher();
  let owner = 0;
  return packets.map((p) => {
    const h = hasher.hash(0, LinkType.ETHERNET, p, 0, p.length);
    if (h >= 0) owner = h % workers;
    return owner;
  });
}

/** One worker's side: its split, reader and the packet indices (by timestamp) it took. */
class Side {
  readonly split: SharedSlabSplit;
  readonly reader = new SlabReader();
  readonly taken: number[] = [];
  readonly offsets: Uint32Array;
  constructor(slot: number, workers: number, slab: Slab) {
    this.split = new SharedSlabSplit(slot, workers, 1);
    this.reader.lay(slab.buffer!, true);
    this.offsets = slab.recordOffsets!;
  }
  /** Hashes its block. */
  claim(owners: Int16Array): void {
    this.split.claim(this.reader, owners, this.offsets);
  }
  /** Takes up to `n` more of its packets; false once the slab is done. */
  take(owners: Int16Array, n = Infinity): boolean {
    for (let i = 0; i < n; i++) {
      if (!this.split.nextOwn(this.reader, owners, this.offsets)) return false;
      this.taken.push(this.reader.timestamp - 1000);
    }
    return true;
  }
}

for (const workers of [2, 3, 4, 8]) {
  Deno.test(`shared split among ${workers}: each packet taken once, by its flow's worker, whatever the order`, () => {
    const packets = frames(300);
    const expected = expectedOwners(packets, workers);
    const slab = sharedSlab(packets);
    const orders: [string, (sides: Side[], owners: Int16Array) => void][] = [
      ["all claim, then all read", (sides, owners) => {
        for (const s of sides) s.claim(owners);
        for (const s of sides) s.take(owners);
      }],
      ["each claims and reads before the next starts", (sides, owners) => {
        for (const s of sides.toReversed()) {
          s.claim(owners);
          s.take(owners);
        }
      }],
      ["claims and reads interleaved, a few packets at a time", (sides, owners) => {
        sides.forEach((s, i) => {
          if (i % 2 === 0) s.claim(owners);
        });
        let busy = true;
        sides.forEach((s, i) => {
          if (i % 2 === 1) s.claim(owners);
        });
        while (busy) {
          busy = false;
          for (const s of sides) busy = s.take(owners, 5) || busy;
        }
      }],
    ];
    for (const [name, run] of orders) {
      const owners = new Int16Array(maxSlabRecords(SIZE)).fill(OWNER_UNKNOWN);
      const sides = Array.from({ length: workers }, (_, slot) => new Side(slot, workers, slab));
      run(sides, owners);
      const owner = new Array(packets.length).fill(-1);
      for (const [slot, s] of sides.entries()) {
        for (const i of s.taken) {
          assert.equal(owner[i], -1, `${name}: packet ${i} taken twice`);
          owner[i] = slot;
        }
      }
      assert.deepEqual(owner, expected, `${name}: every packet taken by its flow's worker`);
      for (let i = 0; i < packets.length; i++) {
        assert.notEqual(owners[i], OWNER_UNKNOWN, `${name}: owner of packet ${i} computed`);
      }
      assert.equal(owners[packets.length], OWNER_UNKNOWN, `${name}: nothing written past the slab`);
      for (const s of sides) {
        assert.equal(s.split.latest[0], 1000 + packets.length - 1, `${name}: latest TCP/UDP time`);
      }
    }
  });
}

Deno.test("shared split: a worker's own block is hashed at claim; frames that are not TCP/UDP follow", () => {
  const packets = frames(100);
  const slab = sharedSlab(packets);
  const owners = new Int16Array(maxSlabRecords(SIZE)).fill(OWNER_UNKNOWN);
  const side = new Side(1, 4, slab);
  side.claim(owners);
  const from = Math.floor(packets.length / 4);
  const to = Math.floor(packets.length / 2);
  const expected = expectedOwners(packets, 4);
  for (let i = 0; i < packets.length; i++) {
    if (i < from || i >= to) {
      assert.equal(owners[i], OWNER_UNKNOWN, `packet ${i} is another worker's to hash`);
    } else if (packets[i].length === 40) {
      assert.equal(owners[i], OWNER_FOLLOWS, `packet ${i} is not IP`);
    } else {
      assert.equal(owners[i], expected[i], `packet ${i}`);
    }
  }
});

Deno.test("shared split: the owner of frames at a slab's start carries over from the slab before", () => {
  const packets = frames(40);
  const expected = expectedOwners(packets, 2);
  // Cut right before a frame that is not IP, so the second slab opens with it.
  const cut = packets.findIndex((p, i) => p.length === 40 && expected[i - 1] === 1);
  assert.ok(cut > 0);
  const first = sharedSlab(packets.slice(0, cut));
  const second = sharedSlab(packets.slice(cut));
  const splits = [new SharedSlabSplit(0, 2, 1), new SharedSlabSplit(1, 2, 1)];
  const taken = [0, 0];
  for (const slab of [first, second]) {
    const owners = new Int16Array(maxSlabRecords(SIZE)).fill(OWNER_UNKNOWN);
    for (const split of splits) {
      const reader = new SlabReader();
      reader.lay(slab.buffer!, true);
      split.claim(reader, owners, slab.recordOffsets!);
      while (split.nextOwn(reader, owners, slab.recordOffsets!)) {
        if (slab === second && reader.timestamp === 1000) taken[split.slot]++;
      }
    }
  }
  assert.deepEqual(taken, [0, 1], "the second slab's first frame went with the worker before");
});

Deno.test("shared split: a worker reads only the records it hashes or takes, found by their offsets", () => {
  const packets = frames(100);
  const expected = expectedOwners(packets, 2);
  const slab = sharedSlab(packets);
  const owners = new Int16Array(maxSlabRecords(SIZE)).fill(OWNER_UNKNOWN);
  const other = new Side(1, 2, slab);
  other.claim(owners);
  other.take(owners);
  // Every owner is known now; wreck the records of worker 1's packets (a captured length past
  // the slab): worker 0 must never read them, but for the slab's last TCP/UDP packet, whose
  // time is the clock.
  const view = new DataView(slab.buffer!);
  const clock = packets.findLastIndex((p) => p.length !== 40);
  for (let i = 0; i < packets.length; i++) {
    if (expected[i] === 1 && i !== clock) view.setUint32(slab.recordOffsets![i] + 8, SIZE, true);
  }
  const side = new Side(0, 2, slab);
  side.claim(owners);
  side.take(owners);
  assert.deepEqual(
    side.taken,
    expected.flatMap((o, i) => o === 0 ? [i] : []),
    "worker 0 took its own packets",
  );
});

Deno.test("shared split: the clock is the slab's latest TCP/UDP packet, not a later frame of another kind", () => {
  const packets = [...frames(10), new Uint8Array(40), new Uint8Array(40)];
  const slab = sharedSlab(packets);
  const owners = new Int16Array(maxSlabRecords(SIZE)).fill(OWNER_UNKNOWN);
  for (const slot of [0, 1]) {
    const side = new Side(slot, 2, slab);
    side.claim(owners);
    side.take(owners);
    assert.equal(side.split.latest[0], 1000 + packets.length - 3, `worker ${slot}`);
  }
});

Deno.test("shared split: a split is among 2 or more workers, for one of their slots", () => {
  assert.throws(() => new SharedSlabSplit(0, 1, 1), RangeError);
  assert.throws(() => new SharedSlabSplit(2, 2, 1), RangeError);
  assert.throws(() => new SharedSlabSplit(-1, 2, 1), RangeError);
  assert.throws(() => new SharedSlabSplit(0, 40000, 1), RangeError);
});
