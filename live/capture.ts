/**
 * Live capture on several interfaces (immediate mode, non-blocking handles), read in batches on
 * the main thread; when every handle is drained the loop waits for any of them with one
 * `poll(2)` (a non-blocking FFI call), so the event loop is never blocked for long.
 *
 * - **Inline** ({@linkcode PacketSink}): one libpcap handle per interface, read packet by
 *   packet with `pcap_next_ex` (no other FFI call per packet).
 * - **Worker pool** ({@linkcode RecordSink}, `CaptureOptions.pool`): one handle per worker on
 *   each interface, joined in a `PACKET_FANOUT` hash group (`ffi/fanout.ts`), so the kernel
 *   chooses each packet's worker by a symmetric flow hash; each handle's packets are read with
 *   one `pcap_dispatch` per batch into a buffer as pcap records (`ffi/pcap_batch.ts`) and
 *   copied into its worker's slab at once. No JavaScript runs per packet on the main thread.
 *   Each handle gets `bufferSize / workers` of kernel buffer (at least 2 MiB), so the
 *   interface's capture memory does not grow with the pool. When a worker has no slab free, its
 *   socket is left unread until a slab comes back: the kernel's buffer holds the packets
 *   meanwhile (tens of thousands of packets, where the ring holds a few thousand), and only
 *   when it overflows does the kernel drop, counted in the pcap drops. This keeps the pool's channel
 *   (bounded ring, drops counted, crash replacement, drain at shutdown) unchanged; capturing
 *   inside each worker instead would move the ring, the counters and the error handling
 *   into every worker for no fewer copies.
 *
 * @module
 */

import {
  type CaptureStats,
  NextResult,
  PcapError,
  PcapHandle,
  PcapStatus,
} from "../ffi/libpcap.ts";
import { PollSet } from "../ffi/poll.ts";
import { FanoutError, joinFanout } from "../ffi/fanout.ts";
import { PcapBatch } from "../ffi/pcap_batch.ts";
import { networkInterfaceNames } from "../ffi/procfs.ts";
import { isSupportedLinkType } from "../dpi/decode.ts";
import { RuntimeError, UsageError } from "../cli/errors.ts";

/**
 * Where captured packets go: the inline per-packet analysis or the worker pool. The bytes are
 * only valid during the call.
 */
export interface PacketSink {
  /**
   * Takes one packet. The inline path returns a promise per packet (the packet is analysed in
   * its own promise); the pool copies the packet into a slab and returns nothing.
   */
  packet(
    iface: number,
    linkType: number,
    buf: Uint8Array,
    offset: number,
    capturedLength: number,
    wireLength: number,
    timestamp: number,
  ): Promise<void> | void;
  /** Called when the capture loop goes idle (hand over partial batches). */
  idle(): void;
}

/**
 * Where batches of pcap records go: the worker pool, one fanout socket per worker (see the
 * module documentation and `WorkerPool.recordRoom` / `WorkerPool.records`).
 */
export interface RecordSink {
  /**
   * Bytes of records `worker` takes now (0: none, its socket is not read until
   * {@linkcode roomFreed}); hands over the worker's slab first when fewer than `atLeast` bytes
   * are left in it.
   */
  recordRoom(worker: number, atLeast: number): number;
  /** Resolves when room may have been freed (a slab came back), or after `ms`. */
  roomFreed(ms: number): Promise<void>;
  /** Takes `packets` pcap records, `source[0, length)`, of interface `iface` for `worker`. */
  records(
    worker: number,
    iface: number,
    linkType: number,
    source: Uint8Array,
    length: number,
    packets: number,
  ): void;
  /** Called when the capture loop goes idle (hand over partial batches). */
  idle(): void;
}

/** Capture for a worker pool: one fanout socket per worker, read in batches. */
export interface PoolCapture {
  /** Workers in the pool: sockets per interface. */
  workers: number;
  /** Bytes of the batch buffer per interface (at most the pool's room per slab). */
  batchBytes: number;
}

/** Least kernel buffer of one fanout socket, bytes. */
const MIN_SOCKET_BUFFER = 2 << 20;

/** Capture settings shared by all interfaces. */
export interface CaptureOptions {
  /** Bytes captured per packet. */
  snaplen: number;
  /** Kernel buffer per interface, bytes. */
  bufferSize: number;
  /** Put interfaces in promiscuous mode. */
  promiscuous: boolean;
  /** BPF capture filter. */
  filter: string;
  /** Capture for a worker pool (a {@linkcode RecordSink}); absent for a {@linkcode PacketSink}. */
  pool?: PoolCapture;
}

/**
 * The default capture filter: TCP and UDP over IPv4 (also VLAN-tagged), and all IPv6 so that
 * packets with extension headers reach the decoder.
 */
export const CAPTURE_FILTER = "tcp or udp or ip6 or (vlan and (tcp or udp or ip6))";

/** One interface being captured. */
export class InterfaceCapture {
  /** Interface name. */
  readonly name: string;
  /** Position in the interface list (the `iface` index given to the sink). */
  readonly index: number;
  /** Packets read. */
  packets = 0;
  /** Wire bytes read. */
  bytes = 0;
  /** Why capture stopped on this interface, when it did (null while capturing). */
  error: string | null = null;
  /** libpcap's counters as last read, summed over every handle this interface had. */
  stats: CaptureStats = { received: 0, dropped: 0, interfaceDropped: 0 };
  #handles: PcapHandle[];
  #batch: PcapBatch | null;
  #linkType: number;
  /** The counters of the handles before the current one. */
  #earlier: CaptureStats = { received: 0, dropped: 0, interfaceDropped: 0 };

  /** @internal */
  constructor(name: string, index: number, opened: Opened) {
    this.name = name;
    this.index = index;
    this.#handles = opened.handles;
    this.#batch = opened.batch;
    this.#linkType = opened.handles[0].linkType;
  }

  /** The libpcap handles: one, or one per worker of the pool (in worker order). */
  get handles(): readonly PcapHandle[] {
    return this.#handles;
  }

  /** The batch buffer of a pool capture (`null` when read packet by packet). */
  get batch(): PcapBatch | null {
    return this.#batch;
  }

  /** Closes the handles and the batch buffer. */
  close(): void {
    this.#batch?.close();
    for (const h of this.#handles) h.close();
  }

  /** Link type of the handle. */
  get linkType(): number {
    return this.#linkType;
  }

  /** Refreshes {@linkcode stats} from libpcap (keeps the last values once the handle failed). */
  readStats(): CaptureStats {
    if (this.error === null) {
      try {
        const sum = { ...this.#earlier };
        for (const h of this.#handles) {
          const s = h.stats();
          sum.received += s.received;
          sum.dropped += s.dropped;
          sum.interfaceDropped += s.interfaceDropped;
        }
        this.stats = sum;
      } catch (e) {
        if (!(e instanceof PcapError)) throw e;
      }
    }
    return this.stats;
  }

  /**
   * After a failure, tries to open the interface again (it was deleted and has been created
   * again, say by `wg-quick up`). On success the new handle replaces the failed one (which is
   * closed), the counters carry on from where they were, and {@linkcode error} is cleared.
   *
   * @returns null when capturing again, else why not (e.g. the interface is still missing)
   */
  reopen(options: CaptureOptions): string | null {
    if (this.error === null) return null;
    let opened: Opened;
    try {
      opened = openInterface(this.name, options);
    } catch (e) {
      return (e as Error).message;
    }
    this.close();
    this.#handles = opened.handles;
    this.#batch = opened.batch;
    this.#linkType = opened.handles[0].linkType;
    this.#earlier = this.stats;
    this.error = null;
    return null;
  }
}

/**
 * Opens every interface, or none: on the first failure the ones already open are closed and a
 * clear error is thrown (an unknown interface lists the available ones).
 *
 * @throws {UsageError} for an unknown interface
 * @throws {RuntimeError} for missing privileges and other libpcap failures
 */
export function openCaptures(
  names: readonly string[],
  options: CaptureOptions,
): InterfaceCapture[] {
  const opened: InterfaceCapture[] = [];
  try {
    for (const [i, name] of names.entries()) {
      opened.push(new InterfaceCapture(name, i, openInterface(name, options)));
    }
    return opened;
  } catch (e) {
    for (const c of opened) c.close();
    throw e;
  }
}

/** The handles of one interface and, for a pool, their batch buffer. */
interface Opened {
  handles: PcapHandle[];
  batch: PcapBatch | null;
}

/**
 * Opens one interface: one handle, or for a pool one per worker joined in a new fanout group
 * (the first creates it, the others join its id) and a batch buffer.
 */
function openInterface(name: string, options: CaptureOptions): Opened {
  const pool = options.pool;
  if (pool === undefined) return { handles: [openOne(name, options)], batch: null };
  const bufferSize = Math.max(Math.ceil(options.bufferSize / pool.workers), MIN_SOCKET_BUFFER);
  const each = { ...options, bufferSize };
  const handles: PcapHandle[] = [];
  try {
    let group: number | null = null;
    for (let w = 0; w < pool.workers; w++) {
      const h = openOne(name, each);
      handles.push(h);
      if (pool.workers > 1) group = joinFanout(h, group);
    }
    return { handles, batch: new PcapBatch(handles[0], pool.batchBytes) };
  } catch (e) {
    for (const h of handles) h.close();
    if (e instanceof FanoutError || e instanceof PcapError) {
      throw new RuntimeError(`${name}: ${e.message}`);
    }
    throw e;
  }
}

function openOne(name: string, options: CaptureOptions): PcapHandle {
  let handle: PcapHandle;
  try {
    handle = PcapHandle.openLive(name, {
      snaplen: options.snaplen,
      promiscuous: options.promiscuous,
      immediate: true,
      bufferSize: options.bufferSize,
      timeoutMs: 10,
    });
  } catch (e) {
    if (!(e instanceof PcapError)) throw e;
    if (e.code === PcapStatus.NO_SUCH_DEVICE) {
      throw new UsageError(
        `no such interface: ${name} (available: ${networkInterfaces().join(", ")})`,
      );
    }
    if (e.code === PcapStatus.PERM_DENIED) {
      throw new RuntimeError(
        `capturing on ${name} needs root or CAP_NET_RAW and CAP_NET_ADMIN (${e.message})`,
      );
    }
    throw new RuntimeError(`cannot capture on ${e.message}`);
  }
  try {
    if (!isSupportedLinkType(handle.linkType)) {
      throw new RuntimeError(`${name}: unsupported link type ${handle.linkTypeName}`);
    }
    handle.setFilter(options.filter);
    handle.setNonBlocking(true);
    return handle;
  } catch (e) {
    handle.close();
    if (e instanceof PcapError) throw new RuntimeError(`${name}: ${e.message}`);
    throw e;
  }
}

/**
 * Names of the network interfaces of this network namespace (from /proc/net/dev, read through
 * libc: Deno refuses /proc and /sys without `--allow-all`, and /sys/class/net shows the
 * namespace /sys was mounted in), else libpcap's device list.
 */
function networkInterfaces(): string[] {
  try {
    return networkInterfaceNames();
  } catch {
    return PcapHandle.devices().map((d) => d.name).filter((n) => n !== "any");
  }
}

/** Packets read from one interface before moving to the next. */
const BATCH = 512;
/** Longest stretch of work before yielding to the event loop (timers, signals, I/O). */
const YIELD_AFTER_MS = 5;
/** How long one idle wait lasts before the loop checks whether it should stop. */
const IDLE_WAIT_MS = 100;

/**
 * Reads all interfaces until stopped, handing every packet to the sink. A libpcap error on
 * one interface (e.g. it was removed) stops reading that interface, reports it through
 * `onFailure`, and the others keep going (until it is reopened and {@linkcode resume}d); the
 * loop ends when none is left.
 */
export class CaptureLoop {
  readonly #captures: InterfaceCapture[];
  readonly #sink: PacketSink | RecordSink;
  readonly #onFailure: (capture: InterfaceCapture) => void;
  #running = false;
  #stopped = false;
  /** A pool socket was left unread for want of a slab in the last round. */
  #starved = false;
  /** An interface came back: the loop rebuilds its active list. */
  #resumed = false;

  /**
   * @param captures the open interfaces
   * @param sink where packets go: a {@linkcode RecordSink} for captures opened with
   *   `CaptureOptions.pool`, else a {@linkcode PacketSink}
   * @param onFailure told when an interface stops with an error
   */
  constructor(
    captures: InterfaceCapture[],
    sink: PacketSink | RecordSink,
    onFailure: (capture: InterfaceCapture) => void,
  ) {
    this.#captures = captures;
    this.#sink = sink;
    this.#onFailure = onFailure;
  }

  /** Asks the loop to stop; `run()` resolves shortly after. */
  stop(): void {
    this.#stopped = true;
  }

  /**
   * Tells the running loop that a failed interface was reopened
   * ({@linkcode InterfaceCapture.reopen}); it reads it again after the current wait.
   */
  resume(): void {
    this.#resumed = true;
  }

  /** Runs until stopped or until every interface failed. */
  async run(): Promise<void> {
    if (this.#running) throw new Error("capture loop already running");
    this.#running = true;
    let active = this.#captures.filter((c) => c.error === null);
    let poll = new PollSet(active.flatMap((c) => c.handles.map((h) => h.selectableFd)));
    const yielder = new EventLoopYield();
    try {
      while (!this.#stopped && active.length > 0) {
        if (this.#resumed) {
          this.#resumed = false;
          active = this.#captures.filter((c) => c.error === null);
          poll = new PollSet(active.flatMap((c) => c.handles.map((h) => h.selectableFd)));
        }
        const started = performance.now();
        let read = 0;
        let failed = false;
        do {
          read = 0;
          this.#starved = false;
          for (const c of active) {
            const n = await this.#drain(c);
            if (n < 0) failed = true;
            else read += n;
          }
          if (failed) break;
        } while (read > 0 && performance.now() - started < YIELD_AFTER_MS && !this.#stopped);
        if (failed) {
          active = active.filter((c) => c.error === null);
          poll = new PollSet(active.flatMap((c) => c.handles.map((h) => h.selectableFd)));
          continue;
        }
        if (read > 0) {
          await yielder.yield();
        } else if (this.#starved) {
          // Packets wait in the kernel's buffers: poll would return at once.
          this.#sink.idle();
          await (this.#sink as RecordSink).roomFreed(IDLE_WAIT_MS);
        } else {
          this.#sink.idle();
          await poll.wait(IDLE_WAIT_MS);
        }
      }
    } finally {
      yielder.close();
      this.#running = false;
    }
  }

  /** Reads up to a batch from one interface; returns packets read, or -1 when it failed. */
  #drain(c: InterfaceCapture): Promise<number> | number {
    return c.batch === null ? this.#drainPackets(c) : this.#drainRecords(c, c.batch);
  }

  /**
   * Reads up to a batch from each of a pool capture's sockets, one `pcap_dispatch` each, into
   * its worker's slab; returns packets read, or -1 when it failed.
   */
  #drainRecords(c: InterfaceCapture, batch: PcapBatch): number {
    const sink = this.#sink as RecordSink;
    const handles = c.handles;
    const record = batch.maxRecordBytes;
    let n = 0;
    for (let w = 0; w < handles.length; w++) {
      const h = handles[w];
      let read = 0;
      while (read < BATCH) {
        const room = sink.recordRoom(w, record);
        if (room === 0) {
          this.#starved = true;
          break;
        }
        const r = batch.dispatch(h, Math.floor(room / record));
        if (r < 0) {
          if (r === NextResult.END) break;
          c.error = h.error;
          this.#onFailure(c);
          return -1;
        }
        if (r === 0) break;
        sink.records(w, c.index, c.linkType, batch.bytes, batch.length, r);
        read += r;
      }
      n += read;
    }
    c.packets += n;
    return n;
  }

  /** Reads up to a batch of single packets; returns packets read, or -1 when it failed. */
  async #drainPackets(c: InterfaceCapture): Promise<number> {
    const h = c.handles[0];
    const sink = this.#sink as PacketSink;
    const index = c.index;
    const linkType = c.linkType;
    let n = 0;
    while (n < BATCH) {
      const r = h.next();
      if (r !== NextResult.PACKET) {
        if (r === NextResult.TIMEOUT || r === NextResult.END) return n;
        c.error = h.error;
        this.#onFailure(c);
        return -1;
      }
      n++;
      c.packets++;
      c.bytes += h.wireLength;
      const pending = sink.packet(
        index,
        linkType,
        h.data,
        h.dataOffset,
        h.capturedLength,
        h.wireLength,
        h.timestamp,
      );
      if (pending !== undefined) await pending;
    }
    return n;
  }
}

/**
 * Yields to the event loop through a `MessageChannel` round trip (≈ 6 µs here, where
 * `setTimeout(0)` costs milliseconds), so timers, signals and I/O run between batches.
 */
export class EventLoopYield {
  readonly #channel = new MessageChannel();
  #resolve: (() => void) | null = null;

  /** Opens the channel (close it with {@linkcode close}). */
  constructor() {
    this.#channel.port1.onmessage = () => {
      const r = this.#resolve;
      this.#resolve = null;
      r?.();
    };
  }

  /** Closes the channel. */
  close(): void {
    this.#channel.port1.close();
    this.#channel.port2.close();
  }

  /** Resolves after the event loop ran once (timers, I/O, messages from workers). */
  yield(): Promise<void> {
    return new Promise((resolve) => {
      this.#resolve = resolve;
      this.#channel.port2.postMessage(0);
    });
  }
}
