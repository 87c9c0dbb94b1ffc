/**
 * Live capture on several interfaces: one libpcap handle each (immediate mode, non-blocking),
 * read in batches on the main thread; when every handle is drained the loop waits for any of
 * them with one `poll(2)` (a non-blocking FFI call), so the event loop is never blocked for
 * long and no FFI call is made per packet beyond `pcap_next_ex`.
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
  #handle: PcapHandle;
  #linkType: number;
  /** The counters of the handles before the current one. */
  #earlier: CaptureStats = { received: 0, dropped: 0, interfaceDropped: 0 };

  /** @internal */
  constructor(name: string, index: number, handle: PcapHandle) {
    this.name = name;
    this.index = index;
    this.#handle = handle;
    this.#linkType = handle.linkType;
  }

  /** The libpcap handle. */
  get handle(): PcapHandle {
    return this.#handle;
  }

  /** Link type of the handle. */
  get linkType(): number {
    return this.#linkType;
  }

  /** Refreshes {@linkcode stats} from libpcap (keeps the last values once the handle failed). */
  readStats(): CaptureStats {
    if (this.error === null) {
      try {
        const s = this.#handle.stats();
        const e = this.#earlier;
        this.stats = {
          received: e.received + s.received,
          dropped: e.dropped + s.dropped,
          interfaceDropped: e.interfaceDropped + s.interfaceDropped,
        };
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
    let handle: PcapHandle;
    try {
      handle = openOne(this.name, options);
    } catch (e) {
      return (e as Error).message;
    }
    this.#handle.close();
    this.#handle = handle;
    this.#linkType = handle.linkType;
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
      const handle = openOne(name, options);
      opened.push(new InterfaceCapture(name, i, handle));
    }
    return opened;
  } catch (e) {
    for (const c of opened) c.handle.close();
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
  readonly #sink: PacketSink;
  readonly #onFailure: (capture: InterfaceCapture) => void;
  #running = false;
  #stopped = false;
  /** An interface came back: the loop rebuilds its active list. */
  #resumed = false;

  /**
   * @param captures the open interfaces
   * @param sink where packets go
   * @param onFailure told when an interface stops with an error
   */
  constructor(
    captures: InterfaceCapture[],
    sink: PacketSink,
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
    let poll = new PollSet(active.map((c) => c.handle.selectableFd));
    const yielder = new EventLoopYield();
    try {
      while (!this.#stopped && active.length > 0) {
        if (this.#resumed) {
          this.#resumed = false;
          active = this.#captures.filter((c) => c.error === null);
          poll = new PollSet(active.map((c) => c.handle.selectableFd));
        }
        const started = performance.now();
        let read = 0;
        let failed = false;
        do {
          read = 0;
          for (const c of active) {
            const n = await this.#drain(c);
            if (n < 0) failed = true;
            else read += n;
          }
          if (failed) break;
        } while (read > 0 && performance.now() - started < YIELD_AFTER_MS && !this.#stopped);
        if (failed) {
          active = active.filter((c) => c.error === null);
          poll = new PollSet(active.map((c) => c.handle.selectableFd));
          continue;
        }
        if (read > 0) {
          await yielder.yield();
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
  async #drain(c: InterfaceCapture): Promise<number> {
    const h = c.handle;
    const sink = this.#sink;
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
