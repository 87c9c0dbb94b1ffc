/**
 * Memory of endpoints (address and port) recently seen doing BitTorrent or announced by a
 * swarm (tracker peer lists, DHT responses, PEX), so that a later flow to one of them is
 * recognised at once, even when it is fully encrypted. Bounded (the least recently learned
 * entry of a set makes room) and expiring.
 *
 * The whole table lives in one buffer, so several threads can share it: the worker pool's
 * main thread creates a `SharedArrayBuffer` of {@linkcode EndpointMemory.bytes} and every
 * worker attaches an `EndpointMemory` to it, so a peer learned in one worker is known to all.
 * The inline path uses a plain `ArrayBuffer` and the very same code, minus the locking (one
 * thread; each `Atomics` call on a shared buffer costs about 25 ns on the development machine).
 *
 * Layout (set-associative, like a CPU cache): a key hashes to one *set* of up to
 * {@linkcode ENDPOINT_WAYS} entries. A set's line (64 bytes) holds its sequence word and one
 * hash tag per entry, so a lookup reads that line and at most the one entry (64 bytes) whose
 * tag matches. The sequence word is a seqlock: a writer takes it from even to odd with
 * `Atomics.compareExchange`, writes, and makes it even again; a reader reads the word, scans
 * the set, and retries when the word was odd or changed. So concurrent `remember`/`recall`
 * never see a torn entry, and a full set replaces its least recently learned entry (an LRU
 * per set, an approximate LRU for the table).
 *
 * Workers move through capture time at their own pace, so an entry keeps when it was first
 * learned and is recalled only from then until it expires: a worker further ahead in the
 * capture cannot tell one behind about a peer it will only learn later.
 *
 * A thread finding a set locked spins briefly ({@linkcode LOCK_SPINS} reads), then sleeps on
 * the sequence word 1 ms at a time (`Atomics.wait`), so that a writer descheduled with the lock
 * (more workers than cores) gets the core back. Waiting is bounded: after
 * {@linkcode LOCK_WAIT_MS} (a thread killed while writing) a recall answers "unknown" and a
 * remember is skipped, both counted in `contended`.
 *
 * @module
 */

import { isUnicastHost } from "./address.ts";
import { Reason } from "./reason.ts";
import { hashWords } from "./slot_table.ts";

/** Entries per set (fewer when the whole table is smaller). */
export const ENDPOINT_WAYS = 8;
/** Reads of a locked set's sequence word before sleeping on it. */
export const LOCK_SPINS = 128;
/** Milliseconds a thread sleeps on a locked set, 1 ms at a time, before giving up. */
export const LOCK_WAIT_MS = 200;

/** Key words per entry: 4 address words, then `ipVersion << 16 | port` (never 0 when used). */
const KEY_WORDS = 5;
/** Word of an entry holding a bit per endpoint reason learned (bit 0: `KNOWN_PEER`). */
const REASONS_WORD = 5;
/** Endpoint reasons, `Reason.KNOWN_PEER` … `Reason.PEX_PEER`. */
const REASONS = Reason.PEX_PEER - Reason.KNOWN_PEER + 1;
/**
 * u32 words per entry: the key, the reason bits, then f64s from word 6: per endpoint reason
 * the time it was first learned, then the expiry.
 */
const ENTRY_WORDS = 16;
/** f64s per entry; the first f64 of entry `e` is at `e * ENTRY_F64 + SINCE_F64`. */
const ENTRY_F64 = ENTRY_WORDS / 2;
const SINCE_F64 = 3;
const EXPIRY_F64 = SINCE_F64 + REASONS;
/** i32 words of the header (the live entry count, then padding) and of each set's line. */
const LINE_WORDS = 16;

/** Sets and entries per set for a capacity. */
function geometry(capacity: number): { sets: number; ways: number } {
  if (!(capacity >= 1) || !Number.isInteger(capacity)) {
    throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }
  const ways = capacity < ENDPOINT_WAYS ? capacity : ENDPOINT_WAYS;
  return { sets: Math.ceil(capacity / ways), ways };
}

/** Byte offset of the entries: after the header line and the sets' lines. */
function entriesAt(sets: number): number {
  return (1 + sets) * LINE_WORDS * 4;
}

/**
 * Bounded, expiring memory from `address:port` to the reason it was learned.
 *
 * @example
 * ```ts
 * import { EndpointMemory, Reason } from "../mod.ts";
 * const memory = new EndpointMemory(1024, 3600, new Uint8Array(65536));
 * const peer = Uint32Array.of(0, 0, 0xffff, 0xc6336401); // 198.51.100.1
 * memory.remember(peer, 4, 51413, Reason.TRACKER_PEER, 0);
 * memory.recall(peer, 4, 51413, 10); // Reason.TRACKER_PEER
 *
 * // Another thread attaches to the same table through a SharedArrayBuffer:
 * const shared = new SharedArrayBuffer(EndpointMemory.bytes(1024));
 * const a = new EndpointMemory(1024, 3600, new Uint8Array(65536), shared);
 * const b = new EndpointMemory(1024, 3600, new Uint8Array(65536), shared);
 * a.remember(peer, 4, 51413, Reason.DHT_PEER, 0);
 * b.recall(peer, 4, 51413, 10); // Reason.DHT_PEER
 * ```
 */
export class EndpointMemory {
  /** Seconds an endpoint is remembered after it was last learned. */
  readonly ttl: number;
  /** Endpoints the table can hold: `capacity` rounded up to whole sets. */
  readonly capacity: number;
  /** The table (shared with other threads when it is a `SharedArrayBuffer`). */
  readonly buffer: ArrayBufferLike;
  /** Endpoints learned through this instance (including refreshes). */
  learned = 0;
  /** Entries this instance replaced to make room while they were still valid. */
  evicted = 0;
  /** Operations of this instance that gave up waiting for a set (see the module doc). */
  contended = 0;

  /** `sets / 2^32`: a 32-bit hash times this, rounded down, is its set (no division). */
  readonly #setScale: number;
  readonly #ways: number;
  /** The header line, then per set its sequence word and the tags of its entries. */
  readonly #lines: Int32Array;
  /** Entry words (keys and reasons). */
  readonly #words: Uint32Array;
  /** Entry times (first learned per reason, expiry), see {@linkcode SINCE_F64}. */
  readonly #times: Float64Array;
  readonly #ignoredPorts: Uint8Array;
  /** Whether other threads may use the table (a `SharedArrayBuffer`): only then lock. */
  readonly #shared: boolean;
  readonly #key = new Uint32Array(KEY_WORDS);
  readonly #scratch = new Uint32Array(4);

  /**
   * The bytes of a table for `capacity` endpoints (the size of the buffer to share).
   *
   * @throws {RangeError} when `capacity` is not a positive integer
   */
  static bytes(capacity: number): number {
    const { sets, ways } = geometry(capacity);
    return entriesAt(sets) + sets * ways * ENTRY_WORDS * 4;
  }

  /**
   * @param capacity maximum number of endpoints (rounded up to whole sets)
   * @param ttl seconds an endpoint stays remembered
   * @param ignoredPorts 65536 flags: ports never remembered nor recalled (services that are
   *   usually not BitTorrent, so a forged peer list cannot taint them)
   * @param buffer a table of {@linkcode EndpointMemory.bytes}`(capacity)` bytes to attach to,
   *   zero-filled when new (e.g. a `SharedArrayBuffer` other threads use); a private one when
   *   left out
   * @throws {RangeError} when `buffer` has the wrong size
   */
  constructor(capacity: number, ttl: number, ignoredPorts: Uint8Array, buffer?: ArrayBufferLike) {
    const { sets, ways } = geometry(capacity);
    const bytes = EndpointMemory.bytes(capacity);
    if (buffer !== undefined && buffer.byteLength !== bytes) {
      throw new RangeError(
        `an endpoint table for ${capacity} endpoints takes ${bytes} bytes, got ${buffer.byteLength}`,
      );
    }
    this.ttl = ttl;
    this.capacity = sets * ways;
    this.buffer = buffer ?? new ArrayBuffer(bytes);
    this.#setScale = sets / 2 ** 32;
    this.#ways = ways;
    const at = entriesAt(sets);
    this.#lines = new Int32Array(this.buffer, 0, at / 4);
    this.#words = new Uint32Array(this.buffer, at);
    this.#times = new Float64Array(this.buffer, at);
    this.#ignoredPorts = ignoredPorts;
    this.#shared = typeof SharedArrayBuffer === "function" &&
      this.buffer instanceof SharedArrayBuffer;
  }

  /** Number of endpoints held (expired ones included until they are replaced). */
  get size(): number {
    return Atomics.load(this.#lines, 0);
  }

  /**
   * Remembers an endpoint with the reason it was learned (an endpoint reason, `KNOWN_PEER`
   * … `PEX_PEER`); refreshes its expiry when known. The entry keeps, per reason, the earliest
   * time it was learned, and the latest expiry, so threads that learn the same endpoint in any
   * order leave the same entry.
   *
   * @throws {RangeError} when `reason` is not an endpoint reason
   */
  remember(
    address: Uint32Array,
    ipVersion: number,
    port: number,
    reason: number,
    now: number,
  ): void {
    const r = reason - Reason.KNOWN_PEER;
    if (!(r >= 0 && r < REASONS)) throw new RangeError(`not an endpoint reason: ${reason}`);
    if (port === 0 || this.#ignoredPorts[port] === 1 || !isUnicastHost(address, ipVersion)) return;
    const bit = 1 << r;
    const since = SINCE_F64 + r;
    const expires = now + this.ttl;
    const key = this.#key;
    fill(key, address, ipVersion, port);
    const hash = hashWords(key, KEY_WORDS);
    const tag = hash | 1;
    const lock = (1 + Math.floor(hash * this.#setScale)) * LINE_WORDS;
    const shared = this.#shared;
    if (shared && !this.#lock(lock)) {
      this.contended++;
      return;
    }
    const lines = this.#lines;
    const words = this.#words;
    const times = this.#times;
    const first = (lock / LINE_WORDS - 1) * this.#ways;
    const ways = this.#ways;
    let victim = 0;
    let victimExpiry = Infinity;
    let way = 0;
    for (; way < ways; way++) {
      const t = lines[lock + 1 + way];
      if (t === tag && matches(words, (first + way) * ENTRY_WORDS, key)) break;
      const e = t === 0 ? -Infinity : times[(first + way) * ENTRY_F64 + EXPIRY_F64];
      if (e < victimExpiry) {
        victim = way;
        victimExpiry = e;
      }
    }
    if (way < ways) {
      const entry = first + way;
      const t = entry * ENTRY_F64;
      const b = entry * ENTRY_WORDS + REASONS_WORD;
      if ((words[b] & bit) === 0 || now < times[t + since]) times[t + since] = now;
      words[b] |= bit;
      if (expires > times[t + EXPIRY_F64]) times[t + EXPIRY_F64] = expires;
    } else {
      if (victimExpiry === -Infinity) {
        if (shared) Atomics.add(lines, 0, 1);
        else lines[0]++;
      } else if (victimExpiry > now) this.evicted++;
      const entry = first + victim;
      const w = entry * ENTRY_WORDS;
      for (let i = 0; i < KEY_WORDS; i++) words[w + i] = key[i];
      words[w + REASONS_WORD] = bit;
      times[entry * ENTRY_F64 + since] = now;
      times[entry * ENTRY_F64 + EXPIRY_F64] = expires;
      lines[lock + 1 + victim] = tag;
    }
    if (shared) Atomics.add(lines, lock, 1);
    this.learned++;
  }

  /** Remembers a compact IPv4 peer (4 address bytes, 2 port bytes) read from `buf` at `off`. */
  rememberCompactV4(buf: Uint8Array, off: number, reason: number, now: number): void {
    const a = this.#scratch;
    a[0] = 0;
    a[1] = 0;
    a[2] = 0xffff;
    a[3] = ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
    this.remember(a, 4, (buf[off + 4] << 8) | buf[off + 5], reason, now);
  }

  /** Remembers a compact IPv6 peer (16 address bytes, 2 port bytes) read from `buf` at `off`. */
  rememberCompactV6(buf: Uint8Array, off: number, reason: number, now: number): void {
    const a = this.#scratch;
    for (let i = 0; i < 4; i++) {
      const o = off + 4 * i;
      a[i] = ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
    }
    this.remember(a, 6, (buf[off + 16] << 8) | buf[off + 17], reason, now);
  }

  /**
   * The lowest reason an endpoint was learned for by `now` (a reason learned from payload
   * wins over one learned from a peer list), or 0 when it is unknown, expired, or only learned
   * after `now` (by a thread further ahead in the capture).
   */
  recall(address: Uint32Array, ipVersion: number, port: number, now: number): number {
    if (this.#ignoredPorts[port] === 1) return 0;
    const key = this.#key;
    fill(key, address, ipVersion, port);
    const hash = hashWords(key, KEY_WORDS);
    const lock = (1 + Math.floor(hash * this.#setScale)) * LINE_WORDS;
    if (!this.#shared) return this.#lookup(lock, hash | 1, now);
    for (;;) {
      const before = this.#unlocked(lock);
      if (before === -1) break;
      const reason = this.#lookup(lock, hash | 1, now);
      if (Atomics.load(this.#lines, lock) === before) return reason;
    }
    this.contended++;
    return 0;
  }

  /** Looks {@linkcode #key} up in the set whose line starts at `lock` (see {@linkcode recall}). */
  #lookup(lock: number, tag: number, now: number): number {
    const key = this.#key;
    const lines = this.#lines;
    const words = this.#words;
    const times = this.#times;
    const first = (lock / LINE_WORDS - 1) * this.#ways;
    const ways = this.#ways;
    for (let way = 0; way < ways; way++) {
      if (lines[lock + 1 + way] !== tag) continue;
      const entry = first + way;
      const w = entry * ENTRY_WORDS;
      if (!matches(words, w, key)) continue;
      const t = entry * ENTRY_F64;
      if (now >= times[t + EXPIRY_F64]) return 0;
      const bits = words[w + REASONS_WORD];
      for (let r = 0; r < REASONS; r++) {
        if ((bits & (1 << r)) !== 0 && times[t + SINCE_F64 + r] <= now) {
          return Reason.KNOWN_PEER + r;
        }
      }
      return 0;
    }
    return 0;
  }

  /** Takes the sequence word `lock` from even to odd; `false` when it stayed locked too long. */
  #lock(lock: number): boolean {
    for (;;) {
      const s = this.#unlocked(lock);
      if (s === -1) return false;
      if (Atomics.compareExchange(this.#lines, lock, s, s + 1) === s) return true;
    }
  }

  /**
   * The sequence word `lock` once it is even (the set unlocked), or -1 when it stayed odd
   * through {@linkcode LOCK_SPINS} reads and {@linkcode LOCK_WAIT_MS} of sleep.
   */
  #unlocked(lock: number): number {
    const lines = this.#lines;
    for (let tries = 0; tries < LOCK_SPINS + LOCK_WAIT_MS; tries++) {
      const s = Atomics.load(lines, lock);
      if ((s & 1) === 0) return s;
      if (tries >= LOCK_SPINS) Atomics.wait(lines, lock, s, 1);
    }
    return -1;
  }
}

function matches(words: Uint32Array, w: number, key: Uint32Array): boolean {
  return words[w + 4] === key[4] && words[w + 3] === key[3] && words[w + 2] === key[2] &&
    words[w + 1] === key[1] && words[w] === key[0];
}

function fill(key: Uint32Array, address: Uint32Array, ipVersion: number, port: number): void {
  key[0] = address[0];
  key[1] = address[1];
  key[2] = address[2];
  key[3] = address[3];
  key[4] = (ipVersion << 16) | port;
}
