/**
 * Which packets of a shared slab are a worker's. Every worker of the pool reads the same shared
 * slabs (chunks of a capture file) in the same order; a TCP/UDP packet belongs to the worker
 * `hash % workers` of its flow's hash ({@linkcode FlowHasher}, the hash `WorkerPool.packet`
 * sends by), any other frame to the worker of the packet before it, so each packet is taken by
 * exactly one worker and every packet of a flow by the same one.
 *
 * The slab's owner table (one `Int16Array` entry per packet, {@linkcode OWNER_UNKNOWN} until
 * computed) spreads the hashing: each worker first hashes its own block of the slab's packets
 * (a contiguous share, so that workers write to the table apart), then goes through the whole
 * table in order and computes itself any entry still unknown when it gets there. Whoever
 * computes an entry computes the same value, so the race is harmless and each flow hash is
 * computed about once in all. The slab's record offsets (`Slab.recordOffsets`, found by the
 * reading thread) take a worker straight to each packet it hashes or analyses: it never walks
 * the other packets' records.
 *
 * Pure: no I/O, no allocation per packet.
 *
 * @example
 * ```ts
 * import { SharedSlabSplit } from "./shared_split.ts";
 * import { OWNER_UNKNOWN } from "./protocol.ts";
 * import { maxSlabRecords, Slab, SlabReader } from "./slab.ts";
 * // A shared slab with one (empty, so not TCP/UDP) pcap record, split between 2 workers.
 * const slab = new Slab(0, 1, 64 * 1024);
 * slab.lay(new SharedArrayBuffer(64 * 1024));
 * slab.bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0], slab.dataEnd);
 * slab.addRun(0, 1, 16, 1);
 * slab.writeHeader();
 * const owners = new Int16Array(maxSlabRecords(64 * 1024)).fill(OWNER_UNKNOWN);
 * const offsets = Uint32Array.of(slab.dataEnd - 16);
 * const taken = [0, 1].map((slot) => {
 *   const split = new SharedSlabSplit(slot, 2, 1);
 *   const reader = new SlabReader();
 *   reader.lay(slab.buffer!, true);
 *   split.claim(reader, owners, offsets);
 *   let n = 0;
 *   while (split.nextOwn(reader, owners, offsets)) n++;
 *   return n;
 * });
 * if (taken[0] + taken[1] !== 1) throw new Error("each packet is taken by exactly one worker");
 * ```
 *
 * @module
 */

import { FlowHasher } from "../dpi/flow_hash.ts";
import { OWNER_FOLLOWS, OWNER_UNKNOWN } from "./protocol.ts";
import type { SlabReader } from "./slab.ts";

/** One worker's side of the split of shared slabs among the workers of a pool. */
export class SharedSlabSplit {
  /** The worker's slot (0 … workers-1). */
  readonly slot: number;
  /** Workers in the pool. */
  readonly workers: number;
  /**
   * Per interface, the capture time of the latest TCP/UDP packet of the slabs read to their
   * end (0 before the first): the pool's clock for expiring flows at the end. (A shared slab
   * holds one interface's packets, a chunk of a capture file: the latest TCP/UDP packet of a
   * slab is taken as its interface's.)
   */
  readonly latest: Float64Array;
  /** The worker of the latest TCP/UDP packet read (the owner of frames that follow it). */
  #owner = 0;
  /** Index of the reader's current packet in its slab. */
  #index = -1;
  /** Index of the slab's latest TCP/UDP packet passed (-1: none yet). */
  #lastFlow = -1;
  readonly #hasher = new FlowHasher();

  /**
   * @param slot the worker's slot
   * @param workers workers in the pool (at least 2: a pool of one takes every packet)
   * @param interfaces interfaces of the pool
   */
  constructor(slot: number, workers: number, interfaces: number) {
    if (!(Number.isInteger(workers) && workers >= 2 && workers <= 0x7fff)) {
      throw new RangeError(`a split is among 2 to 32767 workers, got ${workers}`);
    }
    if (!(Number.isInteger(slot) && slot >= 0 && slot < workers)) {
      throw new RangeError(`slot ${slot} is not one of ${workers} workers`);
    }
    this.slot = slot;
    this.workers = workers;
    this.latest = new Float64Array(interfaces);
  }

  /**
   * Computes the owners of this worker's block of the slab's packets that are still unknown,
   * and makes ready for {@linkcode nextOwn}.
   *
   * @param reader laid over the shared slab
   * @param owners the slab's owner table
   * @param offsets where each record of the slab starts (`Slab.recordOffsets`)
   */
  claim(reader: SlabReader, owners: Int16Array, offsets: Uint32Array): void {
    const from = Math.floor(this.slot * reader.count / this.workers);
    const to = Math.floor((this.slot + 1) * reader.count / this.workers);
    for (let i = from; i < to; i++) {
      if (owners[i] === OWNER_UNKNOWN) owners[i] = this.#ownerAt(reader, offsets[i]);
    }
    this.#index = -1;
    this.#lastFlow = -1;
  }

  /**
   * Moves the reader to the next packet of this worker's, computing the owner of every packet
   * on the way that no worker has computed yet (the others are not read at all).
   *
   * @returns `false` after the slab's last packet
   */
  nextOwn(reader: SlabReader, owners: Int16Array, offsets: Uint32Array): boolean {
    const slot = this.slot;
    const n = reader.count;
    let owner = this.#owner;
    let lastFlow = this.#lastFlow;
    for (let i = this.#index + 1; i < n; i++) {
      let o = owners[i];
      if (o === OWNER_UNKNOWN) o = owners[i] = this.#ownerAt(reader, offsets[i]);
      if (o !== OWNER_FOLLOWS) {
        owner = o;
        lastFlow = i;
      }
      if (owner === slot) {
        this.#owner = owner;
        this.#lastFlow = lastFlow;
        this.#index = i;
        reader.recordAt(offsets[i]);
        return true;
      }
    }
    this.#owner = owner;
    this.#index = n;
    if (lastFlow >= 0) {
      reader.recordAt(offsets[lastFlow]);
      this.latest[reader.iface] = reader.timestamp;
    }
    this.#lastFlow = -1;
    return false;
  }

  /** The owner table entry of the packet whose record starts at `at`. */
  #ownerAt(r: SlabReader, at: number): number {
    r.recordAt(at);
    const h = this.#hasher.hash(r.iface, r.linkType, r.bytes, r.offset, r.capturedLength);
    return h < 0 ? OWNER_FOLLOWS : h % this.workers;
  }
}
