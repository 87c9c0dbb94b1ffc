/**
 * A fixed-capacity hash table of fixed-width `u32` keys, built on typed arrays, with a
 * least-recently-used order. It is the shared mechanism under the flow table and the endpoint
 * memory: entries live in numbered slots (0 … capacity-1) so callers keep their per-entry
 * values in parallel typed arrays indexed by slot.
 *
 * Nothing allocates after construction. Lookups hash the key words held in {@linkcode SlotTable.key}
 * (a scratch array the caller fills), probe linearly, and compare the stored words.
 *
 * @module
 */

const EMPTY = -1;

/**
 * Mixes the `words` key words of `key` into a 32-bit hash (a murmur3-style finaliser per word).
 */
export function hashWords(key: Uint32Array, words: number): number {
  let h = 0x9747b28c ^ words;
  for (let i = 0; i < words; i++) {
    let k = Math.imul(key[i], 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A bounded hash table from `keyWords` × u32 keys to slots, with LRU order.
 *
 * @example
 * ```ts
 * import { SlotTable } from "./slot_table.ts";
 * const t = new SlotTable(2, 4);
 * t.key[0] = 1; t.key[1] = 2;
 * const slot = t.insert(); // evicts the least recently used entry when full
 * if (t.find() !== slot) throw new Error();
 * ```
 */
export class SlotTable {
  /** Scratch key the caller fills before {@linkcode find} or {@linkcode insert}. */
  readonly key: Uint32Array;
  /** Stored keys, `keyWords` per slot. */
  readonly keys: Uint32Array;
  /** Number of live entries. */
  size = 0;
  /** Most recently used slot, or -1. */
  newest = EMPTY;
  /** Least recently used slot, or -1. */
  oldest = EMPTY;
  /** Slot evicted by the last {@linkcode insert}, or -1 when a free slot was used. */
  lastEvicted = EMPTY;

  readonly #keyWords: number;
  readonly #capacity: number;
  readonly #buckets: Int32Array;
  readonly #mask: number;
  readonly #hashes: Uint32Array;
  readonly #bucketOf: Int32Array;
  /** Towards older entries. */
  readonly #older: Int32Array;
  /** Towards newer entries. */
  readonly #newer: Int32Array;
  #freeHead: number;

  /**
   * @param keyWords number of u32 words per key
   * @param capacity maximum number of live entries
   */
  constructor(keyWords: number, capacity: number) {
    if (!(capacity >= 1) || !Number.isInteger(capacity)) {
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    }
    this.#keyWords = keyWords;
    this.#capacity = capacity;
    let buckets = 8;
    while (buckets < capacity * 2) buckets *= 2;
    this.#buckets = new Int32Array(buckets).fill(EMPTY);
    this.#mask = buckets - 1;
    this.key = new Uint32Array(keyWords);
    this.keys = new Uint32Array(keyWords * capacity);
    this.#hashes = new Uint32Array(capacity);
    this.#bucketOf = new Int32Array(capacity).fill(EMPTY);
    this.#older = new Int32Array(capacity);
    this.#newer = new Int32Array(capacity);
    // Free slots are chained through #older.
    for (let i = 0; i < capacity - 1; i++) this.#older[i] = i + 1;
    this.#older[capacity - 1] = EMPTY;
    this.#freeHead = 0;
  }

  /** Maximum number of live entries. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Finds the slot whose key equals {@linkcode key}, or -1. Does not change the LRU order. */
  find(): number {
    const words = this.#keyWords;
    const key = this.key;
    const keys = this.keys;
    const buckets = this.#buckets;
    const mask = this.#mask;
    let b = hashWords(key, words) & mask;
    for (;;) {
      const slot = buckets[b];
      if (slot === EMPTY) return EMPTY;
      const base = slot * words;
      let i = 0;
      while (i < words && keys[base + i] === key[i]) i++;
      if (i === words) return slot;
      b = (b + 1) & mask;
    }
  }

  /**
   * Inserts {@linkcode key} (which must not be present) as the newest entry and returns its
   * slot. When the table is full the oldest entry is evicted first and its slot reused; the
   * evicted slot is reported in {@linkcode lastEvicted}.
   */
  insert(): number {
    this.lastEvicted = EMPTY;
    if (this.#freeHead === EMPTY) {
      this.lastEvicted = this.oldest;
      this.remove(this.oldest);
    }
    const slot = this.#freeHead;
    this.#freeHead = this.#older[slot];
    const words = this.#keyWords;
    const hash = hashWords(this.key, words);
    this.keys.set(this.key, slot * words);
    this.#hashes[slot] = hash;
    const buckets = this.#buckets;
    const mask = this.#mask;
    let b = hash & mask;
    while (buckets[b] !== EMPTY) b = (b + 1) & mask;
    buckets[b] = slot;
    this.#bucketOf[slot] = b;
    this.size++;
    this.#linkNewest(slot);
    return slot;
  }

  /** Marks `slot` as the most recently used entry. */
  touch(slot: number): void {
    if (this.newest === slot) return;
    this.#unlink(slot);
    this.#linkNewest(slot);
  }

  /** Removes the entry in `slot` and frees the slot. */
  remove(slot: number): void {
    this.#unlink(slot);
    this.#deleteBucket(this.#bucketOf[slot]);
    this.#bucketOf[slot] = EMPTY;
    this.#older[slot] = this.#freeHead;
    this.#freeHead = slot;
    this.size--;
  }

  /** The next newer slot than `slot`, or -1; walks the table from {@linkcode oldest}. */
  newerThan(slot: number): number {
    return this.#newer[slot];
  }

  /** Whether `slot` currently holds an entry. */
  isLive(slot: number): boolean {
    return this.#bucketOf[slot] !== EMPTY;
  }

  #linkNewest(slot: number): void {
    const older = this.#older;
    const newer = this.#newer;
    older[slot] = this.newest;
    newer[slot] = EMPTY;
    if (this.newest !== EMPTY) newer[this.newest] = slot;
    this.newest = slot;
    if (this.oldest === EMPTY) this.oldest = slot;
  }

  #unlink(slot: number): void {
    const older = this.#older;
    const newer = this.#newer;
    const o = older[slot];
    const n = newer[slot];
    if (o !== EMPTY) newer[o] = n;
    else this.oldest = n;
    if (n !== EMPTY) older[n] = o;
    else this.newest = o;
  }

  /** Backward-shift deletion keeps linear probing chains intact without tombstones. */
  #deleteBucket(hole: number): void {
    const buckets = this.#buckets;
    const mask = this.#mask;
    const hashes = this.#hashes;
    const bucketOf = this.#bucketOf;
    let b = (hole + 1) & mask;
    for (;;) {
      const slot = buckets[b];
      if (slot === EMPTY) break;
      const home = hashes[slot] & mask;
      // Move the entry into the hole when its home is not within (hole, b].
      const distHome = (b - home) & mask;
      const distHole = (b - hole) & mask;
      if (distHome >= distHole) {
        buckets[hole] = slot;
        bucketOf[slot] = hole;
        hole = b;
      }
      b = (b + 1) & mask;
    }
    buckets[hole] = EMPTY;
  }
}
