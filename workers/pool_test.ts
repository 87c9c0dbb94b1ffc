/**
 * The worker pool with real workers: verdicts equal to the inline path's, flow ids unique
 * across workers, several interfaces, back-pressure (a deliberately slow pool drops and counts,
 * never stalls and never grows), waiting instead of dropping for files, shared slabs read by
 * every worker, and crash recovery.
 */
import assert from "node:assert/strict";
import { Analyzer, Verdict } from "../dpi/analyzer.ts";
import { LinkType } from "../dpi/decode.ts";
import type { DetectionEvent } from "../dpi/detection.ts";
import { FlowHasher } from "../dpi/flow_hash.ts";
import { frame, peerWireHandshake, randomBytes } from "../tests/helpers/packets.ts";
import { pcapBytes } from "../tests/helpers/pcap_writer.ts";
import { type WorkerCrash, WorkerPool, type WorkerPoolOptions } from "./pool.ts";

/** Bytes of a pcap file header, before the records. */
const PCAP_FILE_HEADER_BYTES = 24;

const handshake = peerWireHandshake(randomBytes(20, 4), "-qB4250-abcdefghijkl");

interface Packet {
  bytes: Uint8Array;
  time: number;
}

/** `flows` TCP flows: every third one opens with a BitTorrent handshake, the others with noise. */
function traffic(flows: number, packetsPerFlow = 4, start = 1_700_000_000): Packet[] {
  const out: Packet[] = [];
  let time = start;
  for (let k = 0; k < packetsPerFlow; k++) {
    for (let i = 0; i < flows; i++) {
      const client = { ip: `10.${(i >> 8) & 255}.${i & 255}.2`, port: 40000 + (i % 20000) };
      const server = { ip: `198.51.${(i >> 8) & 255}.${i & 255}`, port: 6881 };
      const fromClient = k % 2 === 0;
      const payload = i % 3 === 0 && k < 2 ? handshake : randomBytes(100 + (i % 50), i * 7 + k);
      time += 0.0001;
      out.push({
        bytes: frame({
          l4: 6,
          src: fromClient ? client : server,
          dst: fromClient ? server : client,
          payload,
          seq: fromClient ? 1000 + 200 * k : 9000 + 200 * k,
          ack: fromClient ? 9000 + 200 * k : 1000 + 200 * k,
        }),
        time,
      });
    }
  }
  return out;
}

/** The flow and reason of an event, direction-independent (flow ids differ by design). */
function key(e: DetectionEvent): string {
  const a = `${e.src_ip}:${e.src_port}`;
  const b = `${e.dest_ip}:${e.dest_port}`;
  return `${e.proto} ${a < b ? `${a} ${b}` : `${b} ${a}`} ${e.reason} packet ${e.flow_packet}`;
}

function inline(packets: Packet[]): string[] {
  const a = new Analyzer({ maxFlows: 4096 });
  const out: string[] = [];
  for (const p of packets) {
    const v = a.analyze(LinkType.ETHERNET, p.bytes, 0, p.bytes.length, p.bytes.length, p.time);
    if (v === Verdict.DETECTION) out.push(key(a.detection.toEvent()));
  }
  return out.sort();
}

interface Seen {
  iface: number;
  verdict: number;
  event: DetectionEvent;
}

async function startPool(
  seen: Seen[],
  options: Partial<WorkerPoolOptions> = {},
): Promise<WorkerPool> {
  return await WorkerPool.start({
    workers: 2,
    interfaces: 1,
    engine: { maxFlows: 4096 },
    onVerdict: (iface, verdict, d) => seen.push({ iface, verdict, event: d.toEvent() }),
    ...options,
  });
}

async function feed(pool: WorkerPool, packets: Packet[], iface = 0): Promise<void> {
  for (const p of packets) {
    const wait = pool.packet(
      iface,
      LinkType.ETHERNET,
      p.bytes,
      0,
      p.bytes.length,
      p.bytes.length,
      p.time,
    );
    if (wait !== undefined) await wait;
  }
}

/** Waits (yielding to the event loop) until `done()` or `ms` passed. */
async function until(done: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
}

for (const workers of [1, 2, 4]) {
  Deno.test(`pool of ${workers}: the same detections as the inline path, unique flow ids`, async () => {
    const packets = traffic(600);
    const seen: Seen[] = [];
    const pool = await startPool(seen, { workers, whenFull: "wait" });
    await feed(pool, packets);
    const totals = await pool.close();
    const detections = seen.filter((s) => s.verdict === Verdict.DETECTION);
    assert.deepEqual(detections.map((s) => key(s.event)).sort(), inline(packets));
    assert.equal(detections.length, 200);
    assert.equal(totals.packets, packets.length);
    assert.equal(totals.dropped + totals.lost, 0);
    assert.equal(totals.flowsCreated, 600);
    const ids = detections.map((s) => s.event.flow_id);
    assert.equal(new Set(ids).size, ids.length, "flow ids unique across workers");
    // Each worker's ids are its slot + 1 modulo the pool size.
    const hasher = new FlowHasher();
    for (const s of detections) {
      const p = packets.find((p) => {
        const f = hasher.hash(0, LinkType.ETHERNET, p.bytes, 0, p.bytes.length);
        return f >= 0 && hasher.packet.srcPort === s.event.src_port &&
          hasher.packet.dstPort === s.event.dest_port && p.bytes.length > 100;
      })!;
      const slot = hasher.hash(0, LinkType.ETHERNET, p.bytes, 0, p.bytes.length) % workers;
      assert.equal((s.event.flow_id - 1) % workers, slot);
    }
  });
}

Deno.test("pool: several interfaces share one pool; each has its own analyzers", async () => {
  const packets = traffic(30, 2);
  const seen: Seen[] = [];
  const pool = await startPool(seen, { interfaces: 3, whenFull: "wait" });
  await feed(pool, packets, 0);
  await feed(pool, packets, 2);
  const totals = await pool.close();
  const byIface = [0, 1, 2].map((i) =>
    seen.filter((s) => s.iface === i && s.verdict === Verdict.DETECTION).map((s) => key(s.event))
      .sort()
  );
  assert.deepEqual(byIface[0], inline(packets));
  assert.deepEqual(byIface[1], []);
  assert.deepEqual(byIface[2], inline(packets));
  assert.equal(totals.packets, 2 * packets.length);
});

Deno.test("pool: partial slabs are handed over when the capture goes idle, at most every flushAfterMs", async () => {
  const seen: Seen[] = [];
  const pool = await startPool(seen, { flushAfterMs: 30 });
  try {
    const flows = traffic(4, 1); // flows 0 and 3 open with a handshake
    await feed(pool, flows.slice(0, 1));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen.length, 0, "a partial slab waits for more packets or an idle capture");
    pool.idle(); // its first packet is older than 30 ms: handed over at once
    await until(() => seen.length > 0, 2000);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].event.reason, "bt_handshake");

    const started = performance.now();
    await feed(pool, flows.slice(3, 4));
    pool.idle(); // too young: a timer hands it over 30 ms after its first packet
    await until(() => seen.length > 1, 2000);
    const waited = performance.now() - started;
    assert.equal(seen.length, 2);
    assert.ok(waited >= 25 && waited < 1000, `handed over after ${waited} ms`);
  } finally {
    await pool.close();
  }
});

Deno.test("back-pressure: a deliberately slow pool drops and counts, never stalls or grows", async () => {
  const seen: Seen[] = [];
  const reports: number[] = [];
  const pool = await startPool(seen, {
    workers: 1,
    slabBytes: 64 * 1024,
    slabsPerWorker: 2,
    delayPerSlabMs: 200, // test hook: each slab keeps the worker busy 200 ms
    onDrop: (n) => reports.push(n),
  });
  const packets = traffic(500, 4);
  let rssWarm = 0;
  let fed = 0;
  let peakInFlight = 0;
  for (let round = 0; round < 50; round++) {
    for (const p of packets) {
      const r = pool.packet(
        0,
        LinkType.ETHERNET,
        p.bytes,
        0,
        p.bytes.length,
        p.bytes.length,
        p.time + round * 10,
      );
      assert.equal(r, undefined, "dropping never makes the capture wait");
      fed++;
      peakInFlight = Math.max(peakInFlight, pool.inFlight);
    }
    pool.idle();
    await new Promise((r) => setTimeout(r, 0));
    if (round === 9) rssWarm = Deno.memoryUsage().rss;
  }
  const grown = Deno.memoryUsage().rss - rssWarm;
  const totals = await pool.close();
  const dropped = pool.dropped[0];
  // 100 000 packets (~20 MB) offered far faster than the slow worker takes them.
  assert.ok(dropped > fed / 2, `only ${dropped} of ${fed} dropped`);
  assert.equal(totals.packets + dropped, fed, "every packet analysed or counted as dropped");
  assert.equal(totals.dropped, dropped);
  assert.equal(totals.lost, 0);
  assert.ok(peakInFlight <= pool.capacity);
  assert.equal(pool.capacity, 2);
  // The last 80 000 packets (~16 MB) left no trace in memory.
  assert.ok(grown < 8 << 20, `RSS grew by ${grown >> 20} MiB while dropping`);
  // Warned at the first drop, then at most once per 10 s (this test takes less).
  assert.deepEqual(reports, [1]);
});

Deno.test("files wait instead of dropping: a slow pool still sees every packet", async () => {
  const seen: Seen[] = [];
  const pool = await startPool(seen, {
    workers: 2,
    slabBytes: 64 * 1024,
    slabsPerWorker: 1,
    delayPerSlabMs: 20,
    whenFull: "wait",
  });
  const packets = traffic(900, 4);
  let waited = 0;
  for (const p of packets) {
    const r = pool.packet(0, LinkType.ETHERNET, p.bytes, 0, p.bytes.length, p.bytes.length, p.time);
    if (r !== undefined) {
      waited++;
      await r;
    }
  }
  const totals = await pool.close();
  assert.ok(waited > 0, "the ring filled up");
  assert.equal(totals.packets, packets.length);
  assert.equal(totals.dropped + totals.lost, 0);
  assert.deepEqual(
    seen.filter((s) => s.verdict === Verdict.DETECTION).map((s) => key(s.event)).sort(),
    inline(packets),
  );
});

Deno.test("a crashed worker is replaced: its slabs are counted lost, its flows start over", async () => {
  const seen: Seen[] = [];
  const crashes: WorkerCrash[] = [];
  const pool = await startPool(seen, { workers: 2, onCrash: (c) => crashes.push(c) });
  const flow = traffic(1, 1);
  const hasher = new FlowHasher();
  const slot = hasher.hash(0, LinkType.ETHERNET, flow[0].bytes, 0, flow[0].bytes.length) % 2;
  try {
    await feed(pool, flow);
    pool.flush();
    await until(() => seen.length === 1);
    assert.equal(seen[0].event.reason, "bt_handshake");
    assert.ok(seen[0].event.flow_id < 2 ** 40);

    // Test hook: the worker throws from its message handler; what is sent to it after the
    // crash (before the pool learns of it) is lost with it.
    pool.crashWorker(slot);
    await feed(pool, flow.map((p) => ({ ...p, time: p.time + 1 })));
    pool.flush();
    await until(() => crashes.length === 1);
    assert.equal(crashes.length, 1);
    assert.equal(crashes[0].slot, slot);
    assert.match(crashes[0].error, /crashed on request/);
    assert.equal(pool.crashes, 1);
    assert.equal(pool.lost[0], 1);

    // The replacement knows nothing of the flow: the handshake decides it again, as a new
    // flow with an id from the replacement's own range.
    await feed(pool, flow.map((p) => ({ ...p, time: p.time + 2 })));
    pool.flush();
    await until(() => seen.length === 2);
    assert.equal(seen.length, 2);
    assert.equal(seen[1].event.reason, "bt_handshake");
    assert.ok(seen[1].event.flow_id > 2 ** 40);
  } finally {
    const totals = await pool.close();
    assert.equal(totals.crashes, 1);
    assert.equal(totals.lost, 1);
    // Counters live in the analyzers: the crashed worker's died with it.
    assert.equal(totals.packets, 1, "the replacement analysed the last packet");
  }
});

/** Standard pcap records (16-byte header, host byte order) of `packets`, as `pcap_dump` writes. */
function pcapRecords(packets: Packet[]): Uint8Array {
  const file = pcapBytes(LinkType.ETHERNET, packets.map((p) => ({ data: p.bytes, time: p.time })));
  return file.subarray(PCAP_FILE_HEADER_BYTES);
}

Deno.test("pool: batches of pcap records for the worker a fanout chose give the inline detections", async () => {
  const packets = traffic(300);
  const seen: Seen[] = [];
  const workers = 2;
  const pool = await startPool(seen, { workers });
  // The kernel's fanout stands here as the engine's own flow hash: both directions of a flow
  // go to one worker, in batches of 50 packets of that worker.
  const hasher = new FlowHasher();
  const shares: Packet[][] = [[], []];
  for (const p of packets) {
    shares[hasher.hash(0, LinkType.ETHERNET, p.bytes, 0, p.bytes.length) % workers].push(p);
  }
  let wire = 0;
  for (const [w, share] of shares.entries()) {
    for (let i = 0; i < share.length; i += 50) {
      const batch = share.slice(i, i + 50);
      const records = pcapRecords(batch);
      assert.ok(pool.recordRoom(w, 16 + 1514) >= records.length);
      pool.records(w, 0, LinkType.ETHERNET, records, records.length, batch.length);
      wire += batch.reduce((n, p) => n + p.bytes.length, 0);
    }
  }
  const totals = await pool.close();
  const detections = seen.filter((s) => s.verdict === Verdict.DETECTION);
  assert.deepEqual(detections.map((s) => key(s.event)).sort(), inline(packets));
  assert.equal(totals.packets, packets.length);
  assert.equal(totals.dropped + totals.lost, 0);
  assert.equal(pool.wireBytes[0], wire, "wire bytes counted by the workers");
});

Deno.test("pool: records without room in a slab are dropped and counted", async () => {
  const seen: Seen[] = [];
  const drops: number[] = [];
  const pool = await startPool(seen, {
    workers: 1,
    slabsPerWorker: 1,
    onDrop: (n) => drops.push(n),
  });
  const batch = traffic(10, 1);
  const records = pcapRecords(batch);
  assert.ok(pool.recordRoom(0, 600) > 0);
  pool.records(0, 0, LinkType.ETHERNET, records, records.length, batch.length);
  pool.flush(); // the only slab is now with the worker
  assert.equal(pool.recordRoom(0, 600), 0, "no slab free");
  pool.records(0, 0, LinkType.ETHERNET, records, records.length, batch.length);
  const totals = await pool.close();
  assert.equal(totals.packets, batch.length);
  assert.equal(totals.dropped, batch.length);
  assert.equal(pool.dropped[0], batch.length);
  assert.deepEqual(drops, [batch.length]);
});

/**
 * Hands `packets` to every worker in shared slabs of `perSlab` packets (pcap records, as a
 * capture file's chunk), waiting when none is free; returns how often it waited.
 */
async function broadcastAll(pool: WorkerPool, packets: Packet[], perSlab = 100): Promise<number> {
  let waits = 0;
  for (let i = 0; i < packets.length; i += perSlab) {
    const batch = packets.slice(i, i + perSlab);
    const records = pcapRecords(batch);
    let slab = pool.freeSharedSlab();
    while (slab === null) {
      waits++;
      await pool.roomFreed(5000);
      slab = pool.freeSharedSlab();
    }
    slab.bytes.set(records, slab.dataEnd);
    slab.addRun(0, LinkType.ETHERNET, records.length, batch.length);
    pool.broadcast(slab);
  }
  return waits;
}

for (const workers of [1, 2, 4]) {
  Deno.test(`pool of ${workers}: shared slabs read by every worker give the inline detections, each packet once`, async () => {
    const packets = traffic(600);
    const seen: Seen[] = [];
    const pool = await startPool(seen, { workers, sharedSlabs: 4 });
    await broadcastAll(pool, packets);
    const totals = await pool.close();
    const detections = seen.filter((s) => s.verdict === Verdict.DETECTION);
    assert.deepEqual(detections.map((s) => key(s.event)).sort(), inline(packets));
    assert.equal(totals.packets, packets.length, "every packet analysed by exactly one worker");
    assert.equal(totals.flowsCreated, 600, "every flow in exactly one worker");
    assert.equal(totals.dropped + totals.lost, 0);
    assert.equal(pool.packets, packets.length);
    const ids = detections.map((s) => s.event.flow_id);
    assert.equal(new Set(ids).size, ids.length, "flow ids unique across workers");
  });
}

Deno.test("pool: a shared slab is free again only once every worker has answered", async () => {
  const seen: Seen[] = [];
  const pool = await startPool(seen, { workers: 2, sharedSlabs: 2, delayPerSlabMs: 50 });
  const packets = traffic(100, 4);
  try {
    assert.ok(pool.freeSharedSlab() !== null);
    const waits = await broadcastAll(pool, packets, 40);
    assert.ok(waits > 0, "both shared slabs were with the slow workers");
    assert.equal(pool.freeSharedSlab(), null, "the last two slabs are still being read");
    assert.equal(pool.inFlight, 4, "each slab is in flight once per worker");
    await pool.roomFreed(5000);
    await until(() => pool.freeSharedSlab() !== null);
    assert.ok(pool.freeSharedSlab() !== null);
  } finally {
    const totals = await pool.close();
    assert.equal(totals.packets, packets.length);
    assert.equal(totals.dropped + totals.lost, 0);
  }
  assert.deepEqual(
    seen.filter((s) => s.verdict === Verdict.DETECTION).map((s) => key(s.event)).sort(),
    inline(packets),
  );
});

Deno.test("pool: broadcast takes only the free shared slab it gave; a pool without shared slabs has none", async () => {
  const seen: Seen[] = [];
  const plain = await startPool(seen, { workers: 1 });
  assert.equal(plain.freeSharedSlab(), null);
  await plain.close();
  const pool = await startPool(seen, { workers: 1, sharedSlabs: 2, delayPerSlabMs: 100 });
  try {
    const slab = pool.freeSharedSlab()!;
    pool.broadcast(slab);
    assert.throws(() => pool.broadcast(slab), /broadcast takes the slab freeSharedSlab gave/);
    const other = pool.freeSharedSlab()!;
    assert.notEqual(other, slab);
  } finally {
    await pool.close();
  }
});

Deno.test("a worker that crashes holding a shared slab: the slab's packets are counted lost, the slab freed", async () => {
  const seen: Seen[] = [];
  const crashes: WorkerCrash[] = [];
  const pool = await startPool(seen, {
    workers: 2,
    sharedSlabs: 1,
    onCrash: (c) => crashes.push(c),
  });
  const packets = traffic(10, 1);
  try {
    // The crash request is queued before the slab: the worker dies without answering it.
    pool.crashWorker(1);
    await broadcastAll(pool, packets);
    await until(() => crashes.length === 1 && pool.freeSharedSlab() !== null);
    assert.equal(crashes.length, 1);
    assert.equal(crashes[0].lostPackets, packets.length, "all of the slab: an upper bound");
    assert.equal(pool.lost[0], packets.length);
    assert.ok(pool.freeSharedSlab() !== null, "freed once the survivor answered");
    // The replacement reads the next slab with the others.
    await broadcastAll(pool, traffic(10, 1, 1_700_000_100));
  } finally {
    const totals = await pool.close();
    assert.equal(totals.crashes, 1);
    assert.equal(totals.lost, packets.length);
  }
});

Deno.test("pool: the workers count malformed packets for the capture side, whichever way they came", async () => {
  const seen: Seen[] = [];
  const pool = await startPool(seen, { workers: 2, sharedSlabs: 1, whenFull: "wait" });
  // An IPv4 header that claims 4 bytes (IHL 1): malformed.
  const bad = traffic(12, 1).map((p) => {
    const bytes = p.bytes.slice();
    bytes[14] = 0x41;
    return { bytes, time: p.time };
  });
  const good = traffic(12, 1, 1_700_000_050);
  await feed(pool, [...bad.slice(0, 4), ...good]); // one by one (a pcapng file)
  pool.flush(); // a slab holds packets or records, not both
  const records = pcapRecords(bad.slice(4, 8)); // a batch of records (a live fanout socket)
  assert.ok(pool.recordRoom(0, 600) >= records.length);
  pool.records(0, 0, LinkType.ETHERNET, records, records.length, 4);
  pool.flush();
  await broadcastAll(pool, bad.slice(8)); // a shared slab (a classic pcap file)
  await until(() => pool.malformed(0) === 12);
  assert.equal(pool.malformed(0), 12, "counted while running");
  const totals = await pool.close();
  assert.equal(totals.malformed, 12);
  assert.equal(pool.malformed(0), 12);
  assert.equal(totals.packets, 12 + good.length);
});

Deno.test("pool: roomFreed resolves when a slab comes back, or after its timeout", async () => {
  const seen: Seen[] = [];
  const pool = await startPool(seen, { workers: 1, slabsPerWorker: 1, delayPerSlabMs: 200 });
  const started = performance.now();
  await pool.roomFreed(50); // nothing in flight: only the timeout ends the wait
  assert.ok(performance.now() - started >= 45);
  const batch = traffic(10, 1);
  const records = pcapRecords(batch);
  assert.ok(pool.recordRoom(0, 600) > 0);
  pool.records(0, 0, LinkType.ETHERNET, records, records.length, batch.length);
  pool.flush();
  assert.equal(pool.recordRoom(0, 600), 0, "the only slab is with the slow worker");
  const waiting = performance.now();
  await pool.roomFreed(5000);
  assert.ok(performance.now() - waiting < 4000, "woken by the slab, not the timeout");
  assert.ok(pool.recordRoom(0, 600) > 0, "the slab is back");
  const totals = await pool.close();
  assert.equal(totals.packets, batch.length);
  assert.equal(totals.dropped, 0);
});

Deno.test("workers share one endpoint memory; a replacement worker attaches to the same", async () => {
  const hasher = new FlowHasher();
  const server = { ip: "198.51.100.77", port: 6881 };
  /** A TCP flow from client port `port` to the server, opening with `payload`, and its worker. */
  const flow = (port: number, payload: Uint8Array, time: number) => {
    const bytes = frame({ l4: 6, src: { ip: "10.0.0.2", port }, dst: server, payload });
    return {
      packet: { bytes, time },
      slot: hasher.hash(0, LinkType.ETHERNET, bytes, 0, bytes.length) % 2,
    };
  };
  const teacher = flow(40000, handshake, 1_700_000_000);
  const others = Array.from(
    { length: 64 },
    (_, i) => flow(40001 + i, randomBytes(300, i), 1_700_000_010 + i),
  );
  const elsewhere = others.find((f) => f.slot !== teacher.slot)!;
  const replaced = others.find((f) => f.slot === teacher.slot)!;
  const seen: Seen[] = [];
  const crashes: WorkerCrash[] = [];
  const pool = await startPool(seen, { workers: 2, onCrash: (c) => crashes.push(c) });
  const decided = (n: number) => until(() => seen.length === n).then(() => seen[n - 1].event);
  try {
    await feed(pool, [teacher.packet]);
    pool.flush();
    assert.equal((await decided(1)).reason, "bt_handshake");
    // Random bytes to the same server: only the memory can tell, and the other worker knows.
    await feed(pool, [elsewhere.packet]);
    pool.flush();
    const e = await decided(2);
    assert.equal(e.reason, "known_peer");
    assert.equal(e.src_port, 40001 + others.indexOf(elsewhere));
    pool.crashWorker(teacher.slot);
    await until(() => crashes.length === 1);
    await feed(pool, [replaced.packet]);
    pool.flush();
    assert.equal((await decided(3)).reason, "known_peer", "the replacement remembers too");
  } finally {
    const totals = await pool.close();
    assert.equal(totals.crashes, 1);
  }
});

Deno.test("--max-endpoints sizes the one shared table: not divided among the workers", async () => {
  const servers = Array.from(
    { length: 8 },
    (_, i) => ({ ip: `198.51.100.${100 + i}`, port: 6881 }),
  );
  const flow = (i: number, port: number, payload: Uint8Array, time: number) => ({
    bytes: frame({ l4: 6, src: { ip: "10.0.0.3", port }, dst: servers[i], payload }),
    time,
  });
  const seen: Seen[] = [];
  // Room for exactly 8 endpoints in all: divided among 4 workers, each would hold 2.
  const pool = await startPool(seen, { workers: 4, engine: { maxFlows: 4096, maxEndpoints: 8 } });
  try {
    await feed(pool, servers.map((_, i) => flow(i, 40000 + i, handshake, 1_700_000_000 + i)));
    pool.flush();
    await until(() => seen.length === 8);
    assert.deepEqual(seen.map((s) => s.event.reason), new Array(8).fill("bt_handshake"));
    await feed(
      pool,
      servers.map((_, i) => flow(i, 41000 + i, randomBytes(300, i), 1_700_000_100 + i)),
    );
    pool.flush();
    await until(() => seen.length === 16);
    assert.deepEqual(seen.slice(8).map((s) => s.event.reason), new Array(8).fill("known_peer"));
  } finally {
    await pool.close();
  }
});
