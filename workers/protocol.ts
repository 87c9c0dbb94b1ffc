/**
 * The messages between the worker pool and its inspector workers, and the verdict records
 * workers send back beside each returned slab.
 *
 * A verdict record is 4 bytes (u8 verdict, u8 zero, u16 interface index, little-endian)
 * followed by the detection's own record ({@linkcode Detection.toRecord}: 64 bytes and up to
 * 512 payload bytes). Verdicts are rare (a few per flow at most), so a slab's records travel
 * as one small transferred `ArrayBuffer`, or none.
 *
 * @module
 */

import type { EngineConfig } from "../dpi/config.ts";
import { type Detection, DETECTION_RECORD_MAX_BYTES } from "../dpi/detection.ts";
import { REASON_COUNT } from "../dpi/reason.ts";

/** Settings of one inspector worker, sent once after it starts. */
export interface InitMessage {
  type: "init";
  /** The worker's slot in the pool (0 … workers-1). */
  slot: number;
  /** Interfaces (one analyzer each, created when its first packet arrives). */
  interfaces: number;
  /** Engine settings of each analyzer (flows already divided among workers, with its flow ids). */
  engine: Partial<EngineConfig>;
  /**
   * Per interface, the endpoint table (`EndpointMemory.bytes(maxEndpoints)` bytes) that the
   * analyzers of every worker attach to.
   */
  endpoints: SharedArrayBuffer[];
  /**
   * Malformed packets per slot and interface (u64, `[slot × interfaces + iface]`): each worker
   * adds to its own slot's counts after every slab, for the capture side's statistics.
   */
  malformed: SharedArrayBuffer;
  /** Workers in the pool (a worker reading a shared slab takes the flows hashed to its slot). */
  workers: number;
  /**
   * The pool's shared slabs (see {@linkcode SharedSlabMessage}), laid out as the transferred
   * ones; empty when the pool has none.
   */
  shared: SharedArrayBuffer[];
  /**
   * Per shared slab, its owner table (`Int16Array`, one entry per packet; see
   * {@linkcode OWNER_UNKNOWN}); empty in a pool of one worker.
   */
  owners: SharedArrayBuffer[];
  /**
   * Per shared slab, where each of its pcap records starts (`Uint32Array`, see
   * `Slab.recordOffsets`); empty in a pool of one worker.
   */
  offsets: SharedArrayBuffer[];
  /** Run the analyzers; `false` only counts packets (a benchmark hook for the channel). */
  analyze: boolean;
  /**
   * Test hook: milliseconds the worker sleeps after each slab, making it deliberately slow
   * (0 in real use).
   */
  delayPerSlabMs: number;
}

/**
 * An owner table entry not yet computed. Before it hands a shared slab to the workers, the pool
 * fills the slab's owner table with it; each worker then hashes its own block of the slab's
 * packets and writes each one's owner: the slot its flow belongs to, or {@linkcode OWNER_FOLLOWS}.
 * A worker reading the slab in order computes itself any entry still unknown when it gets there
 * (the value is the same whoever computes it), so each packet's flow is hashed about once.
 */
export const OWNER_UNKNOWN = -2;

/** An owner table entry for a frame that is not TCP/UDP: it goes with the packet before it. */
export const OWNER_FOLLOWS = -1;

/** A slab of packets to analyse (its buffer is transferred). */
export interface SlabMessage {
  type: "slab";
  /** The slab's index in the pool. */
  id: number;
  /** The slab buffer. */
  buffer: ArrayBuffer;
}

/**
 * A shared slab to read in place: every worker reads all of its pcap records, and analyses
 * those of the flows hashed to its slot (all of them in a pool of one worker), as its owner
 * table says. The slab is not written until every worker has answered with a
 * {@linkcode SharedReturnMessage}.
 */
export interface SharedSlabMessage {
  type: "shared";
  /** The shared slab's index. */
  id: number;
}

/** Asks for the analyzers' counters (answered after every earlier slab). */
export interface TotalsRequest {
  type: "totals";
  /**
   * Per interface, the capture time of the latest TCP/UDP packet the pool took (0 when none):
   * flows idle for longer than the timeout at that time are expired first, as the inline
   * path's single analyzer would have done on that packet.
   */
  now: number[];
}

/** Test hook: makes the worker throw from its message handler, as a crash would. */
export interface CrashMessage {
  type: "crash";
}

/** Messages to a worker. */
export type ToWorker =
  | InitMessage
  | SlabMessage
  | SharedSlabMessage
  | TotalsRequest
  | CrashMessage;

/** The worker is initialised and waiting for slabs. */
export interface ReadyMessage {
  type: "ready";
}

/** A slab analysed: the buffer comes back (transferred) with the verdicts it produced. */
export interface ReturnMessage {
  type: "return";
  /** The slab's index. */
  id: number;
  /** The slab buffer. */
  buffer: ArrayBuffer;
  /** Verdict records (see the module documentation), or `null` when there were none. */
  verdicts: ArrayBuffer | null;
}

/** A shared slab read: the worker is done with it, and sends the verdicts it produced. */
export interface SharedReturnMessage {
  type: "shared-return";
  /** The shared slab's index. */
  id: number;
  /** Verdict records, or `null` when there were none. */
  verdicts: ArrayBuffer | null;
}

/** Counters of one worker's analyzers, summed over its interfaces. */
export interface WorkerTotals {
  /** Packets analysed. */
  packets: number;
  /** Wire bytes analysed. */
  bytes: number;
  /** TCP/UDP packets decoded. */
  decoded: number;
  /** Frames without IP. */
  notIp: number;
  /** IP packets neither TCP nor UDP. */
  otherTransport: number;
  /** Non-first fragments. */
  fragments: number;
  /** Malformed packets. */
  malformed: number;
  /** Packets of an unsupported link type. */
  unsupportedLink: number;
  /** Payload packets inspected. */
  inspected: number;
  /** Detections per reason code. */
  detections: number[];
  /** Flows created. */
  flowsCreated: number;
  /** Flows expired. */
  flowsExpired: number;
  /** Flows evicted. */
  flowsEvicted: number;
  /** Flows held now. */
  flowsActive: number;
  /** Endpoints learned. */
  endpointsLearned: number;
}

/** Zeroed {@linkcode WorkerTotals} (one zero detection count per reason), to add to. */
export function emptyTotals(): WorkerTotals {
  return {
    packets: 0,
    bytes: 0,
    decoded: 0,
    notIp: 0,
    otherTransport: 0,
    fragments: 0,
    malformed: 0,
    unsupportedLink: 0,
    inspected: 0,
    detections: new Array(REASON_COUNT).fill(0),
    flowsCreated: 0,
    flowsExpired: 0,
    flowsEvicted: 0,
    flowsActive: 0,
    endpointsLearned: 0,
  };
}

/**
 * Adds counters to `into`: another worker's totals, or one analyzer's (whose detection
 * counts may be any array-like, such as its `Float64Array`).
 */
export function addTotals(
  into: WorkerTotals,
  t: Readonly<Omit<WorkerTotals, "detections">> & { readonly detections: ArrayLike<number> },
): void {
  into.packets += t.packets;
  into.bytes += t.bytes;
  into.decoded += t.decoded;
  into.notIp += t.notIp;
  into.otherTransport += t.otherTransport;
  into.fragments += t.fragments;
  into.malformed += t.malformed;
  into.unsupportedLink += t.unsupportedLink;
  into.inspected += t.inspected;
  const d = t.detections;
  for (let r = 0; r < d.length; r++) into.detections[r] = (into.detections[r] ?? 0) + (d[r] ?? 0);
  into.flowsCreated += t.flowsCreated;
  into.flowsExpired += t.flowsExpired;
  into.flowsEvicted += t.flowsEvicted;
  into.flowsActive += t.flowsActive;
  into.endpointsLearned += t.endpointsLearned;
}

/** The answer to a {@linkcode TotalsRequest}. */
export interface TotalsMessage {
  type: "totals";
  /** The worker's counters. */
  totals: WorkerTotals;
}

/** Messages from a worker. */
export type FromWorker = ReadyMessage | ReturnMessage | SharedReturnMessage | TotalsMessage;

/** Bytes before the detection record in a verdict record. */
export const VERDICT_PREFIX_BYTES = 4;

/**
 * Collects the verdicts of one slab (worker side). The buffer grows when needed and is copied
 * out once per slab that had verdicts.
 */
export class VerdictWriter {
  #bytes = new Uint8Array(16 * (VERDICT_PREFIX_BYTES + DETECTION_RECORD_MAX_BYTES));
  #used = 0;

  /** Appends one verdict. */
  add(verdict: number, iface: number, detection: Detection): void {
    const need = VERDICT_PREFIX_BYTES + DETECTION_RECORD_MAX_BYTES;
    if (this.#used + need > this.#bytes.length) {
      const grown = new Uint8Array(this.#bytes.length * 2);
      grown.set(this.#bytes.subarray(0, this.#used));
      this.#bytes = grown;
    }
    const b = this.#bytes;
    const at = this.#used;
    b[at] = verdict;
    b[at + 1] = 0;
    b[at + 2] = iface & 0xff;
    b[at + 3] = iface >>> 8;
    this.#used = at + VERDICT_PREFIX_BYTES +
      detection.toRecord(b, at + VERDICT_PREFIX_BYTES);
  }

  /** The verdicts collected since the last call, as a new buffer (or `null`), and empties. */
  take(): ArrayBuffer | null {
    if (this.#used === 0) return null;
    const out = this.#bytes.slice(0, this.#used).buffer;
    this.#used = 0;
    return out;
  }
}

/**
 * Reads the verdict records of a returned slab, calling `each` with the verdict, the interface
 * and the detection (one `Detection` reused for all; copy what you keep).
 *
 * @throws {RangeError} when a record is truncated
 */
export function readVerdicts(
  records: ArrayBuffer,
  detection: Detection,
  each: (verdict: number, iface: number, detection: Detection) => void,
): void {
  const bytes = new Uint8Array(records);
  let at = 0;
  while (at < bytes.length) {
    if (at + VERDICT_PREFIX_BYTES > bytes.length) {
      throw new RangeError(`truncated verdict record at ${at}`);
    }
    const verdict = bytes[at];
    const iface = bytes[at + 2] | (bytes[at + 3] << 8);
    at += VERDICT_PREFIX_BYTES;
    at += detection.fromRecord(bytes, at);
    each(verdict, iface, detection);
  }
}
