/**
 * The channel alone: packets through the worker pool's ring of slabs to 1 and 2 workers (the
 * workers only count them: `analyze: false`, the hashing and copying on the capture side are
 * real), next to one `postMessage` per packet, each in its own transferred buffer. Every
 * iteration moves the same 20 000 frames (8.5 MB, 60 to 1514 bytes) lying back to back in one
 * buffer, as in a live capture ring, and waits until every buffer is back: packets/s and MB/s
 * are those numbers divided by the time per iteration (`bench/channel.sh` prints them).
 */
import { LinkType } from "../dpi/decode.ts";
import { EventLoopYield } from "../live/capture.ts";
import { frame, randomBytes } from "../tests/helpers/packets.ts";
import { WorkerPool } from "./pool.ts";

/** Frames moved per iteration. */
export const PACKETS = 20000;
const SIZES = [60, 60, 90, 120, 200, 400, 1000, 1514];
const built = Array.from({ length: PACKETS }, (_, i) => {
  const size = SIZES[i % SIZES.length];
  return frame({
    l4: i % 3 === 0 ? 17 : 6,
    src: { ip: `10.0.${(i >> 8) & 255}.${i & 255}`, port: 40000 + (i % 5000) },
    dst: { ip: "198.51.100.7", port: 6881 },
    payload: randomBytes(size - 54, i),
  }).subarray(0, size);
});
/** Bytes moved per iteration. */
export const BYTES = built.reduce((n, f) => n + f.length, 0);
/** All frames back to back, as in a capture ring. */
const ring = new Uint8Array(BYTES);
const offsets = new Int32Array(PACKETS);
const lengths = new Int32Array(PACKETS);
built.reduce((at, f, i) => {
  ring.set(f, at);
  offsets[i] = at;
  lengths[i] = f.length;
  return at + f.length;
}, 0);

const yielder = new EventLoopYield();
const pools = new Map<number, WorkerPool>();
for (const workers of [1, 2]) {
  const pool = await WorkerPool.start({
    workers,
    interfaces: 1,
    engine: {},
    analyze: false,
    whenFull: "wait",
    onVerdict: () => {},
  });
  pools.set(workers, pool);
}

async function throughRing(pool: WorkerPool): Promise<void> {
  let sent = pool.slabsSent;
  for (let i = 0; i < PACKETS; i++) {
    const n = lengths[i];
    const wait = pool.packet(0, LinkType.ETHERNET, ring, offsets[i], n, n, i);
    if (wait !== undefined) await wait;
    if (pool.slabsSent !== sent) {
      sent = pool.slabsSent;
      await yielder.yield();
    }
  }
  pool.flush();
  while (pool.inFlight > 0) await yielder.yield();
}

const echo = new Worker(new URL("../bench/packet_echo_worker.ts", import.meta.url), {
  type: "module",
});
let returned = 0;
let allBack: (() => void) | null = null;
echo.onmessage = () => {
  if (++returned === PACKETS) allBack?.();
};

async function onePostMessagePerPacket(): Promise<void> {
  returned = 0;
  const done = new Promise<void>((resolve) => allBack = resolve);
  for (let i = 0; i < PACKETS; i++) {
    const buffer = new ArrayBuffer(lengths[i]);
    new Uint8Array(buffer).set(ring.subarray(offsets[i], offsets[i] + lengths[i]));
    echo.postMessage(buffer, [buffer]);
    if ((i & 255) === 255) await yielder.yield();
  }
  await done;
}

const label = `${PACKETS} packets, ${(BYTES / 1e6).toFixed(1)} MB`;
Deno.bench(
  `ring of slabs → 1 worker (${label})`,
  { group: "channel", baseline: true },
  async () => {
    await throughRing(pools.get(1)!);
  },
);
Deno.bench(`ring of slabs → 2 workers (${label})`, { group: "channel" }, async () => {
  await throughRing(pools.get(2)!);
});
Deno.bench(`one postMessage per packet → 1 worker (${label})`, { group: "channel" }, async () => {
  await onePostMessagePerPacket();
});

globalThis.addEventListener("unload", () => {
  echo.terminate();
  yielder.close();
  for (const p of pools.values()) p.close();
});
