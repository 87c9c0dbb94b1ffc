/**
 * Cost per packet, on the dispatching thread, of the ways to split an offline capture among
 * workers while keeping flow affinity (issue 12): reading alone (`pcap_next_ex`, and one
 * `pcap_dispatch` per batch into memory as pcap records), reading and hashing each packet's
 * flow with the engine's decoder (`FlowHasher`), and reading, hashing and copying each packet
 * into a slab (what `--read --worker-pool` does per packet of a file in another format), and
 * reading a classic pcap or pcapng file in chunks into a shared slab as pcap records, noting
 * where each record starts (what it does for those), with the work a pool of several workers then does over the slab:
 * each worker goes through the slab's owner table (one entry per packet), and every packet's
 * flow is hashed once in all, by whichever worker gets to it first, which finds the packet by
 * its record's offset (see `WorkerPool.broadcast`).
 * Medians of RUNS (default 5) passes over the whole capture, in ns per packet.
 *
 *   deno run --allow-ffi --allow-read --allow-sys=loadavg bench/offline_split.ts [CAPTURE] [RUNS]
 *
 * CAPTURE defaults to bench/out/big.pcap (bench/big_capture.sh builds it).
 *
 * @module
 */

import { NextResult, PcapHandle } from "../ffi/libpcap.ts";
import { PcapBatch } from "../ffi/pcap_batch.ts";
import { FlowHasher } from "../dpi/flow_hash.ts";
import {
  maxSlabPacketBytes,
  maxSlabRecords,
  PacketCopier,
  Slab,
  SLAB_BYTES,
  SlabReader,
} from "../workers/slab.ts";
import { SHARED_SLAB_BYTES } from "../workers/pool.ts";
import { readChunks } from "./pool_bench.ts";

const path = Deno.args[0] ?? "bench/out/big.pcap";
const runs = Number(Deno.args[1] ?? 5);
try {
  Deno.statSync(path);
} catch {
  console.error(`offline_split: ${path} not found (build it: bash bench/big_capture.sh)`);
  Deno.exit(1);
}

/** Runs `pass` RUNS times; prints the median ns per packet. */
function measure(name: string, pass: (h: PcapHandle) => number): void {
  const costs: number[] = [];
  let packets = 0;
  for (let i = 0; i < runs; i++) {
    const h = PcapHandle.openOffline(path);
    const started = performance.now();
    packets = pass(h);
    costs.push((performance.now() - started) * 1e6 / packets);
    h.close();
  }
  costs.sort((a, b) => a - b);
  console.log(`${name.padEnd(52)} ${costs[runs >> 1].toFixed(0).padStart(6)} ns/packet`);
}

const hasher = new FlowHasher();
const slab = new Slab(0, 1);
slab.lay(new ArrayBuffer(SLAB_BYTES));
const copier = new PacketCopier();
const longest = maxSlabPacketBytes(SLAB_BYTES);
let workers = 0;

/** Copies the handle's current packet into the slab (emptied when full), as the pool does. */
function copy(h: PcapHandle, linkType: number): void {
  const length = h.capturedLength < longest ? h.capturedLength : longest;
  if (!slab.fits(length)) slab.reset();
  slab.append(copier, 0, linkType, h.data, h.dataOffset, length, h.wireLength, h.timestamp);
}

console.log(`${path}, medians of ${runs} passes (machine load ${Deno.loadavg()[0].toFixed(1)})`);
measure("read, pcap_next_ex per packet", (h) => {
  let n = 0;
  while (h.next() === NextResult.PACKET) n++;
  return n;
});
measure("read, one pcap_dispatch per batch (16 MiB)", (h) => {
  const batch = new PcapBatch(h, 16 << 20);
  let n = 0;
  for (
    let r = batch.dispatch(h, batch.maxPackets);
    r > 0;
    r = batch.dispatch(h, batch.maxPackets)
  ) {
    n += r;
  }
  batch.close();
  return n;
});
measure("read + flow hash (engine decoder)", (h) => {
  const linkType = h.linkType;
  let n = 0;
  while (h.next() === NextResult.PACKET) {
    workers ^= hasher.hash(0, linkType, h.data, h.dataOffset, h.capturedLength);
    n++;
  }
  return n;
});
measure("read + copy into a slab", (h) => {
  const linkType = h.linkType;
  let n = 0;
  while (h.next() === NextResult.PACKET) {
    copy(h, linkType);
    n++;
  }
  return n;
});
measure("read + flow hash + copy (pool, other files)", (h) => {
  const linkType = h.linkType;
  let n = 0;
  while (h.next() === NextResult.PACKET) {
    workers ^= hasher.hash(0, linkType, h.data, h.dataOffset, h.capturedLength);
    copy(h, linkType);
    n++;
  }
  return n;
});
const shared = new Slab(0, 1, SHARED_SLAB_BYTES);
shared.lay(new SharedArrayBuffer(SHARED_SLAB_BYTES));
const records = maxSlabRecords(SHARED_SLAB_BYTES);
shared.recordOffsets = new Uint32Array(records);
const owners = new Int16Array(records);
const reader = new SlabReader();

/** Reads the capture in chunks into the shared slab; `each` is told of every chunk. */
function chunks(h: PcapHandle, each: () => void): number {
  return readChunks(path, h, shared, each).packets;
}
measure("read in 2 MiB chunks (pool, pcap and pcapng files)", (h) => chunks(h, () => {}));
measure("  + scan of the owner table (each worker)", (h) =>
  chunks(h, () => {
    for (let i = 0; i < shared.packets; i++) workers ^= owners[i];
  }));
measure("  + flow hash of every packet (once in all)", (h) =>
  chunks(h, () => {
    reader.lay(shared.buffer!, true);
    const offsets = shared.recordOffsets!;
    for (let i = 0; i < shared.packets; i++) {
      reader.recordAt(offsets[i]);
      workers ^= hasher.hash(
        0,
        reader.linkType,
        reader.bytes,
        reader.offset,
        reader.capturedLength,
      );
    }
  }));
if (workers === 0.5) console.log("unreachable: keeps the hashes alive");
