/**
 * The worker pool: packet inspection on Web Workers fed through a bounded ring of transferable
 * slabs (see `slab.ts`).
 *
 * - **Channel.** The ring holds `slabsPerWorker × workers` slabs (4 × workers by default); a
 *   *unit* of the channel is one slab (512 KiB by default) carrying many packets and their index.
 *   The capture loop copies each packet into the slab being filled for its worker; a full slab
 *   is transferred to the worker at once, a partial one when the capture loop goes idle and
 *   its first packet is `flushAfterMs` old, provided the worker holds no other slab (see
 *   {@linkcode WorkerPool.idle}). The worker transfers the slab back after analysis. Memory is
 *   bounded by the ring: nothing grows and nothing is allocated per packet.
 * - **Shared slabs.** Reading a capture file, the reader fills a shared slab (a
 *   `SharedArrayBuffer`, `sharedSlabs` of them, 2 MiB each) with a chunk of pcap records read
 *   straight from the file, and {@linkcode WorkerPool.broadcast} hands the same slab to every
 *   worker: each reads it in place and analyses its own flows' packets, then answers. The
 *   slab is free again once all have answered. Which worker owns a packet is found once per
 *   packet, by the workers together: each hashes the flows of its own block of the slab into
 *   the slab's owner table, and computes itself any entry it needs that is not there yet. The
 *   reading thread neither touches nor copies a packet; it notes where each record starts as it
 *   checks the chunk (the slab's record offsets), so a worker goes straight to the packets it
 *   hashes or analyses and never walks the others' records.
 * - **Flow affinity.** Live, the kernel chooses: each worker has its own `PACKET_FANOUT` socket
 *   on every interface, whose symmetric flow hash sends both directions of a flow to it, and the
 *   capture loop hands each socket's batch of pcap records to its worker
 *   ({@linkcode WorkerPool.recordRoom}, {@linkcode WorkerPool.records}): no hash and no
 *   JavaScript per packet here. Offline ({@linkcode WorkerPool.packet}), a packet goes to worker
 *   `hash % workers`, where the hash names its flow in both directions on its interface
 *   ({@linkcode FlowHasher}). Either way each flow's state lives in one analyzer and its verdicts
 *   equal the inline path's. Frames that are not TCP/UDP belong to no flow (they are only
 *   counted) and go to the worker of the previous packet.
 * - **One endpoint memory.** The pool creates one `SharedArrayBuffer` endpoint table per
 *   interface, sized by `maxEndpoints` as the inline path's, and every worker (a replacement
 *   after a crash too) attaches its analyzer of that interface to it: a peer learned in one
 *   worker is known to all (see `dpi/endpoint_memory.ts`).
 * - **Verdicts.** Workers send verdict records, never packets, beside each returned slab; the
 *   pool rebuilds each {@linkcode Detection} on the main thread and calls the same handler as
 *   the inline path, so bans, logs and statistics stay on the main thread.
 * - **Back-pressure.** With no free slab a packet is dropped and counted per interface
 *   (`whenFull: "drop"`, live capture: never grow, never stall the capture loop), or the caller
 *   waits for a slab (`whenFull: "wait"`, reading a file: nothing may be lost).
 * - **Crashes.** A worker that fails (an `error` event) is terminated and replaced at once;
 *   the slabs it held are lost (their packets counted in `lost`, fresh buffers keep the ring
 *   full), its flows start over in the replacement, and the pool keeps running.
 * - **Shutdown drains.** {@linkcode WorkerPool.close} hands over the partial slabs, waits for
 *   every slab in flight to come back and delivers its verdicts, then terminates the workers.
 *   Only a worker that does not answer within `drainTimeoutMs` has its slabs discarded (and
 *   counted in `lost`).
 *
 * @module
 */

import { DEFAULT_ENGINE_CONFIG, type EngineConfig } from "../dpi/config.ts";
import { Detection } from "../dpi/detection.ts";
import { EndpointMemory } from "../dpi/endpoint_memory.ts";
import { FlowHasher } from "../dpi/flow_hash.ts";
import type { PacketSink } from "../live/capture.ts";
import type { VerdictHandler } from "../live/inline.ts";
import {
  addTotals,
  emptyTotals,
  type FromWorker,
  OWNER_UNKNOWN,
  readVerdicts,
  type ToWorker,
  type WorkerTotals,
} from "./protocol.ts";
import { maxSlabPacketBytes, maxSlabRecords, PacketCopier, Slab, SLAB_BYTES } from "./slab.ts";

/** Ring slabs per worker. */
export const SLABS_PER_WORKER = 4;
/**
 * Bytes of a shared slab: a chunk of a capture file. Measured on 2 cores (bench/pool_read.sh),
 * the larger the unit the fewer the hand-overs that keep a worker waiting.
 */
export const SHARED_SLAB_BYTES = 2 * 1024 * 1024;
/** Flow ids of successive incarnations of a worker slot are this far apart. */
const ID_LANE = 2 ** 40;
/** Packets between checks for partial slabs held too long. */
const STALE_CHECK_MASK = 255;
/** Batches of records between checks for partial slabs held too long. */
const RECORDS_CHECK_MASK = 7;

/** Settings of a {@linkcode WorkerPool}. */
export interface WorkerPoolOptions {
  /** Number of workers (at least 1; see {@linkcode resolveWorkerCount} for "auto"). */
  workers: number;
  /** Number of interfaces (each worker runs one analyzer per interface). */
  interfaces: number;
  /**
   * Engine settings. Each worker's analyzers get `maxFlows` divided by the number of workers
   * (rounded up), so the pool holds as many flows as the inline path, and flow ids
   * `slot + 1 + k × workers` (unique across workers); `maxEndpoints` sizes the one endpoint
   * table per interface that all workers share.
   */
  engine: Partial<EngineConfig>;
  /** Told of every detection and evidence event, on the main thread. */
  onVerdict: VerdictHandler;
  /** No free slab: `"drop"` the packet and count it (default) or `"wait"` for a slab. */
  whenFull?: "drop" | "wait";
  /** Slabs in the ring per worker (default {@linkcode SLABS_PER_WORKER}). */
  slabsPerWorker?: number;
  /** Bytes per slab (default {@linkcode SLAB_BYTES}, 512 KiB). */
  slabBytes?: number;
  /** Shared slabs for {@linkcode WorkerPool.broadcast} (default 0: none). */
  sharedSlabs?: number;
  /** A partial slab is handed over once its first packet is this old (default 2 ms). */
  flushAfterMs?: number;
  /** How long {@linkcode WorkerPool.close} waits for slabs in flight (default 5000 ms). */
  drainTimeoutMs?: number;
  /** How long {@linkcode WorkerPool.start} waits for the workers to load (default 30 s). */
  startTimeoutMs?: number;
  /** Told when a worker crashed and was replaced. */
  onCrash?: (crash: WorkerCrash) => void;
  /**
   * Told that packets were dropped because the ring was full: at the first drop, then at
   * most once per `dropWarningIntervalMs`, with the number dropped since the previous call.
   */
  onDrop?: (dropped: number) => void;
  /** Least time between two `onDrop` calls (default 10 000 ms). */
  dropWarningIntervalMs?: number;
  /** Benchmark hook: `false` makes workers only count packets (measures the channel alone). */
  analyze?: boolean;
  /**
   * Test hook: every worker sleeps this long after each slab, making the pool deliberately
   * slower than the capture (default 0).
   */
  delayPerSlabMs?: number;
}

/** A worker crash, as told to {@linkcode WorkerPoolOptions.onCrash}. */
export interface WorkerCrash {
  /** The worker's slot. */
  slot: number;
  /** The error's message. */
  error: string;
  /** Packets in the slabs the worker held, lost with it. */
  lostPackets: number;
}

/** A snapshot of the pool for the periodic status line. */
export interface PoolStatus {
  /** Workers in the pool. */
  workers: number;
  /** Workers holding at least one slab (analysing or with slabs queued). */
  busy: number;
  /** Slabs handed to workers and not back yet. */
  inFlight: number;
  /** Highest `inFlight` since the previous status. */
  peakInFlight: number;
  /** Slabs in the ring. */
  capacity: number;
  /** Packets dropped because the ring was full, per interface (since start). */
  dropped: number[];
  /** Packets lost in crashed workers or discarded at shutdown, per interface. */
  lost: number[];
  /** Workers replaced after a crash. */
  crashes: number;
}

/** Counters of the whole pool after {@linkcode WorkerPool.close}. */
export interface PoolTotals extends WorkerTotals {
  /** Packets dropped because the ring was full. */
  dropped: number;
  /** Packets lost in crashed workers or discarded at shutdown. */
  lost: number;
  /** Workers replaced after a crash. */
  crashes: number;
}

/**
 * Workers of a pool when `--workers` is 0: the most that keep live mode within its 150 MiB
 * memory budget. Measured (bench/pool_memory.sh, 100 k packets/s into a veth, one interface,
 * default settings): peak RSS 103 MiB inline, 131 MiB with one worker after 1 min (141 MiB in a
 * 10-min soak), a plateau of 152–154 MiB with two over 5 min, 184 MiB with four and 250 MiB with
 * eight after 1 min: each worker adds about 15 MiB (its V8 isolate and its 4 slabs). Larger
 * pools are for hosts with more memory to give (`--workers N`).
 */
export const DEFAULT_WORKERS = 1;

/** The pool size for a `--workers` value: the value itself, or {@linkcode DEFAULT_WORKERS} for 0. */
export function resolveWorkerCount(requested: number): number {
  return requested > 0 ? requested : DEFAULT_WORKERS;
}

/** One worker slot and its current incarnation. */
interface WorkerSlot {
  worker: Worker;
  generation: number;
  ready: boolean;
  /** Slabs this incarnation holds. */
  inFlight: number;
  totals: ((t: WorkerTotals) => void) | null;
}

/**
 * Inspects packets on a pool of workers; a {@linkcode PacketSink} for the capture loop and the
 * offline reader. Start it with {@linkcode WorkerPool.start}, end it with
 * {@linkcode WorkerPool.close}.
 *
 * @example
 * ```ts ignore
 * import { WorkerPool } from "./pool.ts";
 * const pool = await WorkerPool.start({
 *   workers: 2,
 *   interfaces: 1,
 *   engine: {},
 *   onVerdict: (iface, verdict, d) => console.log(d.toEvent()),
 * });
 * pool.packet(0, 1, frame, 0, frame.length, frame.length, Date.now() / 1000);
 * const totals = await pool.close();
 * ```
 */
export class WorkerPool implements PacketSink {
  /** Workers in the pool. */
  readonly size: number;
  /** Slabs in the ring. */
  readonly capacity: number;
  /** Bytes per slab. */
  readonly slabBytes: number;
  /** Packets taken into slabs. */
  packets = 0;
  /** Slabs handed to workers. */
  slabsSent = 0;
  /** Workers replaced after a crash. */
  crashes = 0;
  /** Packets dropped because the ring was full, per interface. */
  readonly dropped: Float64Array;
  /** Packets lost in crashed workers or discarded at shutdown, per interface. */
  readonly lost: Float64Array;
  /**
   * Wire bytes per interface of the packets taken as pcap records ({@linkcode records}),
   * counted by the workers as they read them.
   */
  readonly wireBytes: Float64Array;
  /**
   * Malformed packets per worker slot and interface (`[slot × interfaces + iface]`), added by
   * the workers after each slab, whichever way the packets came (see {@linkcode malformed}).
   */
  readonly #malformed: BigUint64Array;

  readonly #options: WorkerPoolOptions;
  readonly #interfaces: number;
  readonly #wait: boolean;
  readonly #flushAfterMs: number;
  readonly #maxPacket: number;
  readonly #slabs: Slab[];
  readonly #free: Int32Array;
  #freeCount: number;
  /** The slab being filled for each worker, or `null`. */
  readonly #filling: (Slab | null)[];
  readonly #slots: WorkerSlot[] = [];
  /** The shared slabs, their free list, and per slab the workers yet to answer. */
  readonly #shared: Slab[];
  /** Per shared slab, its owner table (none in a pool of one worker). */
  readonly #owners: Int16Array<SharedArrayBuffer>[];
  readonly #sharedFree: Int32Array;
  #sharedFreeCount: number;
  readonly #sharedPending: Int32Array;
  /** Whether worker `slot` has yet to answer shared slab `id`: `[id × size + slot]`. */
  readonly #sharedAwaited: Uint8Array;
  /** The endpoint table of each interface, shared by all workers. */
  readonly #endpoints: SharedArrayBuffer[];
  readonly #hasher = new FlowHasher();
  readonly #copier = new PacketCopier();
  readonly #detection = new Detection();
  /**
   * Per interface, the capture time of the latest TCP/UDP packet taken one by one by a pool
   * of several workers (0 otherwise: a single worker saw every packet itself).
   */
  readonly #latest: Float64Array;
  #lastWorker = 0;
  #sinceCheck = 0;
  #inFlight = 0;
  #peakInFlight = 0;
  #waiters: (() => void)[] = [];
  #drained: (() => void) | null = null;
  #starting: { resolve: () => void; reject: (e: Error) => void } | null = null;
  #failure: unknown = null;
  #closed = false;
  #flushTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  #dropsToReport = 0;
  #nextDropReport = 0;

  private constructor(options: WorkerPoolOptions) {
    if (!(Number.isInteger(options.workers) && options.workers >= 1)) {
      throw new RangeError(`a pool needs at least one worker, got ${options.workers}`);
    }
    if (!(Number.isInteger(options.interfaces) && options.interfaces >= 1)) {
      throw new RangeError(`a pool needs at least one interface, got ${options.interfaces}`);
    }
    if (options.interfaces > 0xffff) {
      throw new RangeError(`at most 65535 interfaces, got ${options.interfaces}`);
    }
    this.#options = options;
    this.size = options.workers;
    this.#interfaces = options.interfaces;
    this.#wait = options.whenFull === "wait";
    this.#flushAfterMs = options.flushAfterMs ?? 2;
    this.capacity = this.size * (options.slabsPerWorker ?? SLABS_PER_WORKER);
    if (this.capacity < this.size) throw new RangeError("at least one slab per worker");
    this.slabBytes = options.slabBytes ?? SLAB_BYTES;
    this.#maxPacket = maxSlabPacketBytes(this.slabBytes);
    this.dropped = new Float64Array(options.interfaces);
    this.#malformed = new BigUint64Array(
      new SharedArrayBuffer(8 * this.size * options.interfaces),
    );
    this.wireBytes = new Float64Array(options.interfaces);
    this.#latest = new Float64Array(options.interfaces);
    this.lost = new Float64Array(options.interfaces);
    this.#slabs = [];
    this.#free = new Int32Array(this.capacity);
    for (let i = 0; i < this.capacity; i++) {
      const slab = new Slab(i, options.interfaces, this.slabBytes);
      slab.lay(new ArrayBuffer(this.slabBytes));
      this.#slabs.push(slab);
      this.#free[i] = this.capacity - 1 - i;
    }
    this.#freeCount = this.capacity;
    const shared = options.sharedSlabs ?? 0;
    this.#shared = Array.from({ length: shared }, (_, i) => {
      const slab = new Slab(i, options.interfaces, SHARED_SLAB_BYTES);
      slab.lay(new SharedArrayBuffer(SHARED_SLAB_BYTES));
      return slab;
    });
    const records = maxSlabRecords(SHARED_SLAB_BYTES);
    this.#owners = [];
    if (this.size > 1) {
      for (const slab of this.#shared) {
        slab.recordOffsets = new Uint32Array(new SharedArrayBuffer(4 * records));
        this.#owners.push(new Int16Array(new SharedArrayBuffer(2 * records)));
      }
    }
    this.#sharedFree = Int32Array.from({ length: shared }, (_, i) => shared - 1 - i);
    this.#sharedFreeCount = shared;
    this.#sharedPending = new Int32Array(shared);
    this.#sharedAwaited = new Uint8Array(shared * this.size);
    this.#filling = new Array(this.size).fill(null);
    const { maxEndpoints } = { ...DEFAULT_ENGINE_CONFIG, ...options.engine };
    const endpointBytes = EndpointMemory.bytes(maxEndpoints);
    this.#endpoints = Array.from(
      { length: options.interfaces },
      () => new SharedArrayBuffer(endpointBytes),
    );
  }

  /**
   * Starts the workers and resolves once every one has loaded.
   *
   * @throws {Error} when a worker fails to load (e.g. its module is missing from a compiled
   *   binary) or does not answer within `startTimeoutMs`; no worker is left running
   */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        pool.#starting = { resolve, reject };
        for (let slot = 0; slot < pool.size; slot++) pool.#slots.push(pool.#spawn(slot, 0));
        timer = setTimeout(
          () => reject(new Error("inspector workers did not start in time")),
          options.startTimeoutMs ?? 30000,
        );
      });
    } catch (e) {
      for (const s of pool.#slots) s.worker.terminate();
      pool.#closed = true;
      throw e;
    } finally {
      clearTimeout(timer);
      pool.#starting = null;
    }
    return pool;
  }

  /**
   * Takes one packet: copies it into the slab of its flow's worker. Returns nothing, except
   * with `whenFull: "wait"` when the ring is full: then a promise that resolves once the
   * packet was taken (the bytes must stay valid until then).
   *
   * @throws the error of a verdict handler that failed since the previous call
   */
  packet(
    iface: number,
    linkType: number,
    buf: Uint8Array,
    offset: number,
    capturedLength: number,
    wireLength: number,
    timestamp: number,
  ): Promise<void> | void {
    if (this.#failure !== null) this.#rethrow();
    let w = this.#lastWorker;
    if (this.size > 1) {
      const h = this.#hasher.hash(iface, linkType, buf, offset, capturedLength);
      if (h >= 0) {
        w = h % this.size;
        this.#lastWorker = w;
        this.#latest[iface] = timestamp;
      }
    }
    const max = this.#maxPacket;
    const length = capturedLength < max ? capturedLength : max;
    let slab = this.#filling[w];
    if (slab !== null && !slab.fits(length)) {
      this.#send(slab);
      slab = null;
    }
    if (slab === null) {
      slab = this.#open(w);
      if (slab === null) {
        return this.#full(iface, linkType, buf, offset, capturedLength, wireLength, timestamp);
      }
    }
    slab.append(this.#copier, iface, linkType, buf, offset, length, wireLength, timestamp);
    this.packets++;
    if ((++this.#sinceCheck & STALE_CHECK_MASK) === 0) this.#handOverStale();
  }

  /**
   * Room for pcap records in the slab being filled for `worker` (see {@linkcode records}):
   * opens a slab when it has none, and hands the current one over first when fewer than
   * `atLeast` bytes are left in it. 0 when no slab is free.
   *
   * A live capture with one fanout socket per worker (`live/capture.ts`) reads each socket's
   * batch with one `pcap_dispatch` of at most this many bytes straight into the batch buffer.
   */
  recordRoom(worker: number, atLeast: number): number {
    let slab = this.#filling[worker];
    if (slab !== null && slab.recordRoom() < atLeast) {
      this.#send(slab);
      slab = null;
    }
    if (slab === null) slab = this.#open(worker);
    return slab === null ? 0 : slab.recordRoom();
  }

  /**
   * Resolves when a slab comes back from a worker (or the pool closes), or after `ms`. A live
   * capture that found no room ({@linkcode recordRoom} 0) waits here and leaves the packets in
   * the kernel's capture buffer meanwhile.
   */
  roomFreed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        const i = this.#waiters.indexOf(done);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.push(done);
    });
  }

  /**
   * Takes a batch of `packets` pcap records of one interface, `source[0, length)`, for
   * `worker` (the kernel's fanout chose the worker: no hash here), with one copy into its slab
   * (`length` at most what {@linkcode recordRoom} said). Records without room are dropped and
   * counted, as {@linkcode packet} drops.
   *
   * @throws the error of a verdict handler that failed since the previous call
   */
  records(
    worker: number,
    iface: number,
    linkType: number,
    source: Uint8Array,
    length: number,
    packets: number,
  ): void {
    if (this.#failure !== null) this.#rethrow();
    const slab = this.#filling[worker];
    if (slab === null || slab.recordRoom() < length) {
      this.#drop(iface, packets);
      return;
    }
    slab.appendRecords(iface, linkType, source, length, packets);
    this.packets += packets;
    if ((++this.#sinceCheck & RECORDS_CHECK_MASK) === 0) this.#handOverStale();
  }

  /**
   * A free shared slab, emptied, to fill with pcap records ({@linkcode Slab.addRun}) and
   * {@linkcode broadcast}; it stays free until then. `null` when every shared slab is with the
   * workers (wait with {@linkcode roomFreed}) or the pool has none.
   */
  freeSharedSlab(): Slab | null {
    if (this.#sharedFreeCount === 0) return null;
    const slab = this.#shared[this.#sharedFree[this.#sharedFreeCount - 1]];
    slab.reset();
    return slab;
  }

  /**
   * Hands the shared slab from {@linkcode freeSharedSlab}, filled, to every worker; it is free
   * again once all have answered. Its packets count as taken. In a pool of several workers the
   * slab has record offsets (`Slab.recordOffsets`): those its writer did not give (see
   * `Slab.addRun`) are found here, by walking the records.
   *
   * @throws the error of a verdict handler that failed since the previous call
   */
  broadcast(slab: Slab): void {
    if (this.#failure !== null) this.#rethrow();
    const free = this.#sharedFreeCount - 1;
    if (free < 0 || this.#sharedFree[free] !== slab.id || this.#shared[slab.id] !== slab) {
      throw new Error("broadcast takes the slab freeSharedSlab gave");
    }
    this.#sharedFreeCount = free;
    slab.writeHeader();
    if (this.size > 1) {
      slab.indexRecords();
      this.#owners[slab.id].fill(OWNER_UNKNOWN, 0, slab.packets);
    }
    this.#sharedPending[slab.id] = this.size;
    this.packets += slab.packets;
    this.slabsSent++;
    const message: ToWorker = { type: "shared", id: slab.id };
    for (const [slot, s] of this.#slots.entries()) {
      this.#sharedAwaited[slab.id * this.size + slot] = 1;
      s.inFlight++;
      this.#inFlight++;
      s.worker.postMessage(message);
    }
    if (this.#inFlight > this.#peakInFlight) this.#peakInFlight = this.#inFlight;
  }

  /**
   * The capture loop went idle: partial slabs are handed over once their first packet is
   * `flushAfterMs` old (a timer is armed for younger ones), and only to a worker that holds no
   * other slab: a busy worker gets its partial slab when it hands a slab back. So an idle
   * worker sees a packet within about `flushAfterMs`, while under load slabs travel full and
   * the ring buffers as many packets as it can hold; handing over every partial slab at once
   * would send near-empty slabs whenever packets trickle in between idle moments and exhaust
   * the ring.
   */
  idle(): void {
    this.#handOverStale();
  }

  /** Hands over every slab being filled. */
  flush(): void {
    for (const slab of this.#filling) if (slab !== null && slab.count > 0) this.#send(slab);
  }

  /**
   * Malformed packets of interface `iface` analysed so far, as the workers count them (each
   * adds its count after every slab, so this lags by the slabs in flight; a crashed worker's
   * count stays).
   */
  malformed(iface: number): number {
    const counts = this.#malformed;
    const interfaces = this.#interfaces;
    let n = 0;
    for (let slot = 0; slot < this.size; slot++) {
      n += Number(Atomics.load(counts, slot * interfaces + iface));
    }
    return n;
  }

  /** Slabs free for filling now. */
  get freeSlabs(): number {
    return this.#freeCount;
  }

  /** Slabs handed to workers and not back yet. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * The pool's state for the status line; `peakInFlight` covers the time since the previous
   * call (which starts a new period).
   */
  status(): PoolStatus {
    const s: PoolStatus = {
      workers: this.size,
      busy: this.#slots.filter((w) => w.inFlight > 0).length,
      inFlight: this.#inFlight,
      peakInFlight: this.#peakInFlight,
      capacity: this.capacity,
      dropped: Array.from(this.dropped),
      lost: Array.from(this.lost),
      crashes: this.crashes,
    };
    this.#peakInFlight = this.#inFlight;
    return s;
  }

  /**
   * Test hook: makes the worker in `slot` throw from its message handler, exactly as a bug in
   * the engine would, so that the pool's crash handling runs.
   */
  crashWorker(slot: number): void {
    this.#slots[slot].worker.postMessage({ type: "crash" } satisfies ToWorker);
  }

  /**
   * Drains and stops the pool: hands over the partial slabs, waits until every slab in flight
   * is back (its verdicts delivered) or `drainTimeoutMs` passed (the rest is discarded and
   * counted in `lost`), collects the workers' counters and terminates them. Idempotent only
   * in effect: later calls return zero totals.
   *
   * @throws the error of a verdict handler that failed
   */
  async close(): Promise<PoolTotals> {
    const out: PoolTotals = {
      ...emptyTotals(),
      dropped: sum(this.dropped),
      lost: 0,
      crashes: this.crashes,
    };
    if (this.#closed) return out;
    this.#closed = true;
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const timeout = this.#options.drainTimeoutMs ?? 5000;
    this.flush();
    const deadline = Date.now() + timeout;
    if (this.#inFlight > 0) {
      await withTimeout(new Promise<void>((resolve) => this.#drained = resolve), timeout);
      this.#drained = null;
    }
    const answers = await Promise.all(
      this.#slots.map((s) =>
        s.inFlight > 0 ? Promise.resolve(null) : withTimeout(
          new Promise<WorkerTotals>((resolve) => {
            s.totals = resolve;
            const now = Array.from(this.#latest);
            s.worker.postMessage({ type: "totals", now } satisfies ToWorker);
          }),
          Math.max(deadline - Date.now(), 1000),
        )
      ),
    );
    for (const [slot, s] of this.#slots.entries()) {
      s.worker.terminate();
      if (s.inFlight > 0) this.#loseSlabs(slot);
    }
    for (const t of answers) if (t) addTotals(out, t);
    out.lost = sum(this.lost);
    out.dropped = sum(this.dropped);
    out.crashes = this.crashes;
    for (const resolve of this.#waiters.splice(0)) resolve();
    if (this.#failure !== null) this.#rethrow();
    return out;
  }

  #spawn(slot: number, generation: number): WorkerSlot {
    const worker = new Worker(new URL("./inspector_worker.ts", import.meta.url), {
      type: "module",
      name: `btblocker-inspector-${slot}`,
    });
    const s: WorkerSlot = { worker, generation, ready: false, inFlight: 0, totals: null };
    worker.onmessage = (e: MessageEvent<FromWorker>) => this.#onMessage(slot, generation, e.data);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#onCrash(slot, generation, e.message || String(e.error));
    };
    worker.onmessageerror = () => this.#onCrash(slot, generation, "unreadable message");
    const o = this.#options;
    const engine = { ...DEFAULT_ENGINE_CONFIG, ...o.engine };
    const init: ToWorker = {
      type: "init",
      slot,
      interfaces: this.#interfaces,
      engine: {
        ...o.engine,
        maxFlows: Math.ceil(engine.maxFlows / this.size),
        firstFlowId: (generation % 8192) * ID_LANE + slot + 1,
        flowIdStride: this.size,
      },
      endpoints: this.#endpoints,
      malformed: this.#malformed.buffer as SharedArrayBuffer,
      workers: this.size,
      shared: this.#shared.map((slab) => slab.buffer as SharedArrayBuffer),
      owners: this.#owners.map((table) => table.buffer),
      offsets: this.#shared.flatMap((slab) =>
        slab.recordOffsets === null ? [] : [slab.recordOffsets.buffer as SharedArrayBuffer]
      ),
      analyze: o.analyze ?? true,
      delayPerSlabMs: o.delayPerSlabMs ?? 0,
    };
    worker.postMessage(init);
    return s;
  }

  #open(w: number): Slab | null {
    if (this.#freeCount === 0) return null;
    const slab = this.#slabs[this.#free[--this.#freeCount]];
    slab.owner = w;
    slab.openedAt = performance.now();
    this.#filling[w] = slab;
    return slab;
  }

  #send(slab: Slab): void {
    const w = slab.owner;
    this.#filling[w] = null;
    const s = this.#slots[w];
    s.inFlight++;
    if (++this.#inFlight > this.#peakInFlight) this.#peakInFlight = this.#inFlight;
    this.slabsSent++;
    const buffer = slab.seal();
    s.worker.postMessage({ type: "slab", id: slab.id, buffer } satisfies ToWorker, [buffer]);
  }

  /**
   * Hands over the partial slabs opened at least `flushAfterMs` ago to workers that hold no
   * slab, and arms a timer for the younger ones (see {@linkcode idle}).
   */
  #handOverStale(): void {
    const now = performance.now();
    const after = this.#flushAfterMs;
    const filling = this.#filling;
    const slots = this.#slots;
    let next = Infinity;
    for (let w = 0; w < filling.length; w++) {
      const slab = filling[w];
      if (slab === null || slots[w].inFlight > 0) continue;
      if (slab.openedAt + after <= now) this.#send(slab);
      else if (slab.openedAt + after < next) next = slab.openedAt + after;
    }
    if (next < Infinity && this.#flushTimer === undefined && !this.#closed) {
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = undefined;
        this.#handOverStale();
      }, Math.max(1, Math.ceil(next - now)));
    }
  }

  #full(
    iface: number,
    linkType: number,
    buf: Uint8Array,
    offset: number,
    capturedLength: number,
    wireLength: number,
    timestamp: number,
  ): Promise<void> | void {
    if (this.#wait) {
      // A slab in flight will come back; with none in flight, every slab is being filled:
      // hand those over so that some come back.
      if (this.#inFlight === 0) this.flush();
      return new Promise<void>((resolve) => this.#waiters.push(resolve)).then(() => {
        if (this.#closed) return;
        return this.packet(iface, linkType, buf, offset, capturedLength, wireLength, timestamp);
      });
    }
    this.#drop(iface, 1);
  }

  /** Counts `packets` dropped for want of a slab and warns through `onDrop`, rate-limited. */
  #drop(iface: number, packets: number): void {
    this.dropped[iface] += packets;
    const before = this.#dropsToReport;
    const n = this.#dropsToReport = before + packets;
    const report = this.#options.onDrop;
    // Checked at the first drop and every 64 after (a crossing of a multiple of 64).
    if (report !== undefined && (before === 0 || (before >> 6) !== (n >> 6))) {
      const now = performance.now();
      if (now >= this.#nextDropReport) {
        this.#nextDropReport = now + (this.#options.dropWarningIntervalMs ?? 10000);
        this.#dropsToReport = 0;
        report(n);
      }
    }
  }

  #onMessage(slot: number, generation: number, m: FromWorker): void {
    const s = this.#slots[slot];
    if (s === undefined || s.generation !== generation) return;
    switch (m.type) {
      case "ready":
        s.ready = true;
        if (this.#starting !== null && this.#slots.length === this.size) {
          if (this.#slots.every((x) => x.ready)) this.#starting.resolve();
        }
        break;
      case "return": {
        const slab = this.#slabs[m.id];
        slab.lay(m.buffer);
        slab.addRunWireBytes(this.wireBytes);
        slab.owner = -1;
        this.#free[this.#freeCount++] = slab.id;
        s.inFlight--;
        this.#inFlight--;
        if (m.verdicts !== null) this.#deliver(m.verdicts);
        // The worker may now be idle: a partial slab waiting for it can go.
        if (s.inFlight === 0 && this.#filling[slot] !== null && !this.#closed) {
          this.#handOverStale();
        }
        this.#afterReturn();
        break;
      }
      case "shared-return":
        this.#sharedAnswered(m.id, slot);
        if (m.verdicts !== null) this.#deliver(m.verdicts);
        this.#afterReturn();
        break;
      case "totals":
        s.totals?.(m.totals);
        s.totals = null;
        break;
    }
  }

  /** Worker `slot` is done with shared slab `id` (answered, or crashed): frees it after the last. */
  #sharedAnswered(id: number, slot: number): void {
    const i = id * this.size + slot;
    if (this.#sharedAwaited[i] === 0) return;
    this.#sharedAwaited[i] = 0;
    this.#slots[slot].inFlight--;
    this.#inFlight--;
    if (--this.#sharedPending[id] === 0) this.#sharedFree[this.#sharedFreeCount++] = id;
  }

  #deliver(records: ArrayBuffer): void {
    const onVerdict = this.#options.onVerdict;
    try {
      readVerdicts(records, this.#detection, (verdict, iface, d) => onVerdict(iface, verdict, d));
    } catch (e) {
      this.#failure ??= e;
    }
  }

  #afterReturn(): void {
    if (this.#waiters.length > 0) { for (const resolve of this.#waiters.splice(0)) resolve(); }
    if (this.#inFlight === 0 && this.#drained !== null) this.#drained();
  }

  #onCrash(slot: number, generation: number, error: string): void {
    const s = this.#slots[slot];
    if (s === undefined || s.generation !== generation) return;
    if (this.#starting !== null) {
      this.#starting.reject(new Error(`inspector worker ${slot} failed to start: ${error}`));
      return;
    }
    s.worker.terminate();
    const lostPackets = this.#loseSlabs(slot);
    this.crashes++;
    if (!this.#closed) this.#slots[slot] = this.#spawn(slot, generation + 1);
    this.#options.onCrash?.({ slot, error, lostPackets });
    this.#afterReturn();
  }

  /** Counts the slabs a dead worker held as lost and gives the ring fresh buffers for them. */
  #loseSlabs(slot: number): number {
    const s = this.#slots[slot];
    let lostPackets = 0;
    for (const slab of this.#slabs) {
      if (slab.owner !== slot || slab.buffer !== null) continue;
      for (let i = 0; i < this.#interfaces; i++) this.lost[i] += slab.perInterface[i];
      lostPackets += slab.packets;
      slab.lay(new ArrayBuffer(this.slabBytes));
      slab.owner = -1;
      this.#free[this.#freeCount++] = slab.id;
      this.#inFlight--;
    }
    // Which packets of a shared slab were this worker's is not known here: all of the slab's
    // packets are counted, an upper bound.
    for (const slab of this.#shared) {
      if (this.#sharedAwaited[slab.id * this.size + slot] === 0) continue;
      for (let i = 0; i < this.#interfaces; i++) this.lost[i] += slab.perInterface[i];
      lostPackets += slab.packets;
      this.#sharedAnswered(slab.id, slot);
    }
    s.inFlight = 0;
    return lostPackets;
  }

  #rethrow(): never {
    const e = this.#failure;
    this.#failure = null;
    throw e;
  }
}

function sum(a: Float64Array): number {
  let n = 0;
  for (const v of a) n += v;
  return n;
}

/** Resolves with the promise's value, or `null` after `ms`. */
async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
