/**
 * Slabs: the unit of the worker pool's channel. A slab is one fixed-size `ArrayBuffer`
 * (512 KiB by default) holding many captured packets and a small index describing them. The capture loop
 * copies packets into a slab, transfers the whole buffer to a worker (no copy), and the worker
 * transfers it back for reuse, so the channel moves a few slabs per thousand packets and
 * nothing is allocated per packet.
 *
 * Layout of a slab of `size` bytes (a multiple of 8, at least 64 KiB):
 *
 * ```text
 *  0        16                                   free                        size
 *  | header | packet bytes, back to back →  ...          ... ← index entries |
 * ```
 *
 * - header: u32 index entries @0, u32 end of the packet bytes @4, u32 format @8 (see
 *   {@linkcode SlabFormat}), u32 packets @12.
 * - packet bytes grow upwards from byte 16.
 * - index entries grow downwards from the end, 24 bytes each, entry `i` at
 *   `size - 24 × (i + 1)`. In a `PACKETS` slab an entry is one packet whose captured bytes are
 *   contiguous: f64 timestamp @0, u32 offset of the packet's bytes @8, u32 captured length @12,
 *   u32 wire length @16, u32 `iface << 16 | linkType` @20. In a `RECORDS` slab an entry is a
 *   run of standard pcap records of one interface (each a 16-byte header, u32 seconds, u32
 *   microseconds, u32 captured length, u32 wire length in host byte order, then the captured
 *   bytes), as libpcap's `pcap_dump` writes them (see `ffi/pcap_batch.ts`): f64 packets @0,
 *   u32 offset of the run @8, u32 bytes of the run @12, u32 wire bytes of its packets @16
 *   (written by the worker that read them, see {@linkcode SlabReader.next}), u32 `iface << 16 |
 *   linkType` @20.
 *
 * The slab is full when the next packet's bytes would reach its index entry, so small and large
 * packets share the space without waste.
 *
 * @module
 */

/**
 * Default size of a slab, bytes. One `postMessage` costs ~20 µs here whatever the size of the
 * transferred buffer, so a slab carries a thousand packets or more to make that cost per packet
 * small; partial slabs are handed over on a timer, so the size does not delay detection. 512 KiB
 * keeps the ring (4 slabs per worker) at 8 MiB for the default 4 workers.
 */
export const SLAB_BYTES = 512 * 1024;
/** Smallest slab size accepted. */
export const MIN_SLAB_BYTES = 64 * 1024;
/** Bytes of the slab header (count, end of packet bytes, reserved). */
export const SLAB_HEADER_BYTES = 16;
/** Bytes of one index entry. */
export const ENTRY_BYTES = 24;

const ENTRY_WORDS = ENTRY_BYTES >> 2;
/** Bytes of a pcap record header in a `RECORDS` slab. */
const RECORD_HEADER_BYTES = 16;

/** What a slab's index entries describe. */
export const SlabFormat = {
  /** One entry per packet (the capture loop copied each packet). */
  PACKETS: 0,
  /** One entry per run of pcap records (a batch read by `pcap_dispatch`). */
  RECORDS: 1,
} as const;
/** Longest packet copied through a cached source view (see {@linkcode PacketCopier}). */
const MAX_CACHED_VIEW = 16384;

/**
 * Copies packet bytes from a capture buffer into slabs without allocating per packet.
 *
 * `TypedArray.set` needs a view of exactly the packet, and a new view per packet is an
 * allocation. libpcap reading a file hands out every packet at the start of the same buffer,
 * so views of the first `n` bytes are made once per length and reused; packets elsewhere in
 * the buffer (a live capture ring) are copied word by word, aligned by placing them at the same
 * address modulo 4 in the slab. A source that changes with every packet (not libpcap's way) is
 * copied byte by byte, so that no view is made for it.
 */
export class PacketCopier {
  #source: Uint8Array | null = null;
  #sourceWords: Uint32Array<ArrayBufferLike> | null = null;
  /** Packets taken from the current source before this one. */
  #repeats = 0;
  /** Views of the source's first `n` bytes by `n`, valid when `#viewEpoch[n] === #epoch`. */
  readonly #views: (Uint8Array | undefined)[] = new Array(MAX_CACHED_VIEW + 1).fill(undefined);
  readonly #viewEpoch = new Uint32Array(MAX_CACHED_VIEW + 1);
  #epoch = 0;

  /**
   * Copies `buf[offset, offset + length)` into `slab` at the first suitable position at or
   * after `position` (at most 3 bytes later) and returns that position.
   */
  copy(slab: Slab, position: number, buf: Uint8Array, offset: number, length: number): number {
    if (buf !== this.#source) {
      this.#source = buf;
      this.#sourceWords = null;
      this.#repeats = 0;
      this.#epoch = (this.#epoch + 1) >>> 0;
    } else {
      this.#repeats++;
    }
    const bytes = slab.bytes;
    if (this.#repeats === 0) {
      for (let i = 0; i < length; i++) bytes[position + i] = buf[offset + i];
      return position;
    }
    if (offset === 0 && length <= MAX_CACHED_VIEW) {
      let view = this.#views[length];
      if (view === undefined || this.#viewEpoch[length] !== this.#epoch) {
        view = this.#views[length] = buf.subarray(0, length);
        this.#viewEpoch[length] = this.#epoch;
      }
      bytes.set(view, position);
      return position;
    }
    const srcWords = this.#sourceWords ??
      (this.#sourceWords = new Uint32Array(buf.buffer, 0, buf.buffer.byteLength >> 2));
    const from = buf.byteOffset + offset;
    const to = position + ((from - position) & 3);
    let i = 0;
    // Bytes up to the first word boundary, whole words, then the tail.
    const head = Math.min((4 - (from & 3)) & 3, length);
    for (; i < head; i++) bytes[to + i] = buf[offset + i];
    const words = (length - i) >> 2;
    const sw = (from + i) >> 2;
    const dw = (to + i) >> 2;
    const dst = slab.words;
    for (let k = 0; k < words; k++) dst[dw + k] = srcWords[sw + k];
    i += words << 2;
    for (; i < length; i++) bytes[to + i] = buf[offset + i];
    return to;
  }
}

/**
 * The most bytes of one packet a slab of `size` bytes carries; longer captures (offloaded
 * jumbo frames at most) are cut to it, keeping their wire length.
 */
export function maxSlabPacketBytes(size: number): number {
  return size - SLAB_HEADER_BYTES - ENTRY_BYTES - 3;
}

/**
 * The most packets a `RECORDS` slab of `size` bytes can carry (every pcap record has a 16-byte
 * header): the size of a shared slab's owner table (see `WorkerPool.broadcast`).
 */
export function maxSlabRecords(size: number): number {
  return Math.floor((size - SLAB_HEADER_BYTES) / RECORD_HEADER_BYTES);
}

/** Throws unless `size` is a valid slab size. */
function checkSize(size: number): void {
  if (!(Number.isInteger(size) && size >= MIN_SLAB_BYTES && size % 8 === 0 && size < 2 ** 31)) {
    throw new RangeError(`a slab is a multiple of 8 bytes from ${MIN_SLAB_BYTES}, got ${size}`);
  }
}

/**
 * One slab on the capture side: its buffer (while it is here), the views laid over it, and
 * its fill state. Views are laid again each time the buffer comes back from a worker (a
 * transferred buffer arrives as a new `ArrayBuffer` object).
 */
export class Slab {
  /** Index of the slab in the pool. */
  readonly id: number;
  /** Size of the slab's buffer, bytes. */
  readonly size: number;
  /**
   * The buffer, or `null` while a worker has it. A shared slab's buffer is a
   * `SharedArrayBuffer` that stays here: workers read it in place (see `WorkerPool.broadcast`).
   */
  buffer: ArrayBufferLike | null = null;
  /** Bytes of the buffer. */
  bytes: Uint8Array = new Uint8Array(0);
  /** The buffer as 32-bit words. */
  words: Uint32Array = new Uint32Array(0);
  /** The buffer as 64-bit floats (timestamps). */
  floats: Float64Array = new Float64Array(0);
  /** Index entries written (packets, or runs of records). */
  count = 0;
  /** Packets written. */
  packets = 0;
  /** What the index entries describe ({@linkcode SlabFormat}). */
  format: number = SlabFormat.PACKETS;
  /** End of the packet bytes written. */
  dataEnd = SLAB_HEADER_BYTES;
  /** Worker the slab is filled for or was sent to (-1 when free). */
  owner = -1;
  /**
   * Where each pcap record of a `RECORDS` slab starts (byte offset of record `i` at entry `i`,
   * across its runs), or `null`. A shared slab read by several workers has one (see
   * `WorkerPool.broadcast`), so that each worker goes straight to its own packets instead of
   * walking every record. Whoever writes records in place may write their offsets here too
   * (`PcapChunkReader.fill` does, on its own walk) and say so to {@linkcode addRun};
   * {@linkcode indexRecords} writes those still missing.
   */
  recordOffsets: Uint32Array<ArrayBufferLike> | null = null;
  /** Leading records whose offsets are in {@linkcode recordOffsets}. */
  indexed = 0;
  /** `performance.now()` when the first packet was written. */
  openedAt = 0;
  /**
   * Adds the wire bytes of each run of a `RECORDS` slab that came back from a worker to
   * `bytes[iface]` (a `PACKETS` slab adds nothing: the capture loop counted its packets).
   */
  addRunWireBytes(bytes: Float64Array): void {
    if (this.words[2] !== SlabFormat.RECORDS) return;
    const w = this.words;
    const n = w[0];
    for (let i = 0; i < n; i++) {
      const e = this.#words - ENTRY_WORDS * (i + 1);
      bytes[w[e + 5] >>> 16] += w[e + 4];
    }
  }

  /** Packets written per interface (what is lost if the slab is lost). */
  readonly perInterface: Uint32Array;

  readonly #words: number;

  /**
   * @param id index of the slab in the pool
   * @param interfaces number of interfaces (sizes {@linkcode perInterface})
   * @param size bytes of the slab's buffer
   */
  constructor(id: number, interfaces: number, size: number = SLAB_BYTES) {
    checkSize(size);
    this.id = id;
    this.size = size;
    this.#words = size >> 2;
    this.perInterface = new Uint32Array(interfaces);
  }

  /** Takes (back) a buffer of {@linkcode size} bytes and lays the views over it; empties the slab. */
  lay(buffer: ArrayBufferLike): void {
    if (buffer.byteLength !== this.size) {
      throw new RangeError(`this slab is ${this.size} bytes, got ${buffer.byteLength}`);
    }
    this.buffer = buffer;
    this.bytes = new Uint8Array(buffer);
    this.words = new Uint32Array(buffer);
    this.floats = new Float64Array(buffer);
    this.reset();
  }

  /** Empties the slab (keeps its buffer). */
  reset(): void {
    this.count = 0;
    this.packets = 0;
    this.indexed = 0;
    this.format = SlabFormat.PACKETS;
    this.dataEnd = SLAB_HEADER_BYTES;
    this.perInterface.fill(0);
  }

  /** Whether a packet of `length` captured bytes still fits. */
  fits(length: number): boolean {
    return this.dataEnd + length + 3 <= this.size - ENTRY_BYTES * (this.count + 1);
  }

  /**
   * Appends a packet (the caller checked {@linkcode fits}); `length` is at most
   * {@linkcode maxSlabPacketBytes}.
   */
  append(
    copier: PacketCopier,
    iface: number,
    linkType: number,
    buf: Uint8Array,
    offset: number,
    length: number,
    wireLength: number,
    timestamp: number,
  ): void {
    const at = copier.copy(this, this.dataEnd, buf, offset, length);
    const n = this.count;
    const e = this.#words - ENTRY_WORDS * (n + 1);
    this.floats[e >> 1] = timestamp;
    const w = this.words;
    w[e + 2] = at;
    w[e + 3] = length;
    w[e + 4] = wireLength;
    w[e + 5] = (iface << 16) | linkType;
    this.count = n + 1;
    this.packets++;
    this.dataEnd = at + length;
    this.perInterface[iface]++;
  }

  /** Bytes of pcap records the slab still takes in one run ({@linkcode appendRecords}). */
  recordRoom(): number {
    const room = this.size - ENTRY_BYTES * (this.count + 1) - this.dataEnd;
    return room > 0 ? room : 0;
  }

  /**
   * Appends a run of `packets` pcap records of one interface, `source[0, length)`, with one
   * copy; `length` is at most {@linkcode recordRoom}. A slab holds either packets or runs.
   *
   * @throws {RangeError} when the run does not fit or the slab already holds packets
   */
  appendRecords(
    iface: number,
    linkType: number,
    source: Uint8Array,
    length: number,
    packets: number,
  ): void {
    this.#checkRun(length);
    this.bytes.set(length === source.length ? source : source.subarray(0, length), this.dataEnd);
    this.addRun(iface, linkType, length, packets);
  }

  /**
   * Registers the `length` bytes after the data written so far as a run of `packets` pcap
   * records of one interface: records written there in place (a chunk read straight from a
   * capture file). `length` is at most {@linkcode recordRoom}.
   *
   * @param indexed the writer also wrote the offsets of these records into
   *   {@linkcode recordOffsets}, after those of the slab's earlier records
   * @throws {RangeError} when the run does not fit or the slab already holds packets
   */
  addRun(
    iface: number,
    linkType: number,
    length: number,
    packets: number,
    indexed = false,
  ): void {
    this.#checkRun(length);
    if (indexed && this.indexed === this.packets) this.indexed += packets;
    this.format = SlabFormat.RECORDS;
    const at = this.dataEnd;
    const e = this.#words - ENTRY_WORDS * (this.count + 1);
    this.floats[e >> 1] = packets;
    const w = this.words;
    w[e + 2] = at;
    w[e + 3] = length;
    w[e + 4] = 0;
    w[e + 5] = (iface << 16) | linkType;
    this.count++;
    this.packets += packets;
    this.dataEnd = at + length;
    this.perInterface[iface] += packets;
  }

  #checkRun(length: number): void {
    if (length > this.recordRoom()) {
      throw new RangeError(`${length} bytes of records do not fit in ${this.recordRoom()}`);
    }
    if (this.count > 0 && this.format !== SlabFormat.RECORDS) {
      throw new RangeError("this slab holds packets, not pcap records");
    }
  }

  /**
   * Unless every record's offset is already in {@linkcode recordOffsets}, writes them all by
   * walking the runs (a `RECORDS` slab; a slab of packets has no records).
   *
   * @throws {TypeError} when the slab has no offset table
   * @throws {RangeError} when a record runs past its run
   */
  indexRecords(): void {
    const offsets = this.recordOffsets;
    if (offsets === null) throw new TypeError("this slab has no record offsets");
    if (this.indexed === this.packets || this.format !== SlabFormat.RECORDS) return;
    const b = this.bytes;
    let k = 0;
    for (let i = 0; i < this.count; i++) {
      const e = this.#words - ENTRY_WORDS * (i + 1);
      let at = this.words[e + 2];
      const end = at + this.words[e + 3];
      while (at < end) {
        const c = at + 8;
        const caplen = (b[c] | b[c + 1] << 8 | b[c + 2] << 16 | b[c + 3] << 24) >>> 0;
        const next = at + RECORD_HEADER_BYTES + caplen;
        if (next > end) throw new RangeError(`pcap record at ${at} runs past its run`);
        offsets[k++] = at;
        at = next;
      }
    }
    if (k !== this.packets) {
      throw new RangeError(`the runs hold ${k} pcap records, not ${this.packets}`);
    }
    this.indexed = k;
  }

  /** Writes the header, for a reader on another thread. */
  writeHeader(): void {
    this.words[0] = this.count;
    this.words[1] = this.dataEnd;
    this.words[2] = this.format;
    this.words[3] = this.packets;
  }

  /**
   * Writes the header and hands the buffer over to be transferred (the slab no longer holds
   * it).
   *
   * @throws {TypeError} for a shared slab (its buffer is never transferred)
   */
  seal(): ArrayBuffer {
    const buffer = this.buffer;
    if (!(buffer instanceof ArrayBuffer)) throw new TypeError("only an unshared slab is sealed");
    this.writeHeader();
    this.buffer = null;
    return buffer;
  }
}

/**
 * Reads a slab's packets on the worker side: lay a received buffer, then step through its
 * packets with {@linkcode next}; the packet's fields are properties of the reader, so reading
 * allocates nothing.
 */
export class SlabReader {
  /** Bytes of the slab (the packet is `bytes[offset, offset + capturedLength)`). */
  bytes: Uint8Array = new Uint8Array(0);
  /** Packets in the slab. */
  count = 0;
  /** Interface index of the current packet. */
  iface = 0;
  /** Link type of the current packet. */
  linkType = 0;
  /** Offset of the current packet in {@linkcode bytes}. */
  offset = 0;
  /** Captured length of the current packet. */
  capturedLength = 0;
  /** Wire length of the current packet. */
  wireLength = 0;
  /** Capture time of the current packet, seconds. */
  timestamp = 0;
  #words: Uint32Array = new Uint32Array(0);
  #floats: Float64Array = new Float64Array(0);
  #view: DataView = new DataView(new ArrayBuffer(0));
  #size = 0;
  #format = 0;
  #entries = 0;
  /** Next index entry. */
  #entry = 0;
  /** In a `RECORDS` slab: the next record and the end of its run. */
  #at = 0;
  #runEnd = 0;
  #runIface = 0;
  #runLinkType = 0;
  /** Word index of the current index entry. */
  #e = 0;
  /** Whether each run's wire bytes are summed into its index entry (not in a shared slab). */
  #tally = true;
  /** The run of the last {@linkcode recordAt}: its bytes, interface and link type. */
  #seekStart = 0;
  #seekEnd = 0;
  #seekIface = 0;
  #seekLinkType = 0;

  /**
   * Lays the reader over a received slab buffer (before the first packet). A shared slab
   * (read by several workers at once) is only read: its runs' wire bytes are not written.
   *
   * @throws {RangeError} when the buffer is not a well-formed slab
   */
  lay(buffer: ArrayBufferLike, shared = false): void {
    this.#tally = !shared;
    const size = buffer.byteLength;
    checkSize(size);
    this.bytes = new Uint8Array(buffer);
    this.#words = new Uint32Array(buffer);
    this.#floats = new Float64Array(buffer);
    this.#view = new DataView(buffer);
    this.#size = size;
    const entries = this.#words[0];
    const end = this.#words[1];
    const format = this.#words[2];
    if (end < SLAB_HEADER_BYTES || end > size - ENTRY_BYTES * entries) {
      throw new RangeError(`corrupt slab header: ${entries} entries, data end ${end}`);
    }
    if (format !== SlabFormat.PACKETS && format !== SlabFormat.RECORDS) {
      throw new RangeError(`corrupt slab header: format ${format}`);
    }
    this.#format = format;
    this.#entries = entries;
    this.#seekStart = 0;
    this.#seekEnd = 0;
    this.#entry = 0;
    this.#at = 0;
    this.#runEnd = 0;
    this.count = format === SlabFormat.PACKETS ? entries : this.#words[3];
  }

  /** Goes back before the first packet, to read the slab again. */
  rewind(): void {
    this.#entry = 0;
    this.#at = 0;
    this.#runEnd = 0;
  }

  /**
   * Moves to the next packet. In a `RECORDS` slab that is not shared it also sums each run's
   * wire bytes into the run's index entry, for the capture side's byte counters.
   *
   * @returns `false` after the last packet
   * @throws {RangeError} when a pcap record runs past its run
   */
  next(): boolean {
    if (this.#format === SlabFormat.RECORDS) return this.#nextRecord();
    const i = this.#entry;
    if (i >= this.#entries) return false;
    this.#entry = i + 1;
    this.#select(i);
    const w = this.#words;
    this.timestamp = this.#floats[this.#e >> 1];
    this.offset = w[this.#e + 2];
    this.capturedLength = w[this.#e + 3];
    this.wireLength = w[this.#e + 4];
    return true;
  }

  /**
   * Moves to the pcap record that starts at byte `at` of a `RECORDS` slab (as its record
   * offsets give it: see `Slab.recordOffsets`), in any order. Nothing is written (as in a
   * shared slab). It keeps a place of its own: {@linkcode next} goes on from where it was.
   *
   * @throws {RangeError} when no run of the slab holds a record at `at`
   */
  recordAt(at: number): void {
    if (!(at >= this.#seekStart && at < this.#seekEnd)) this.#seekRun(at);
    this.iface = this.#seekIface;
    this.linkType = this.#seekLinkType;
    this.#readRecord(at, this.#seekEnd);
  }

  #seekRun(at: number): void {
    const w = this.#words;
    for (let i = this.#format === SlabFormat.RECORDS ? 0 : this.#entries; i < this.#entries; i++) {
      const e = (this.#size >> 2) - ENTRY_WORDS * (i + 1);
      const start = w[e + 2];
      const end = start + w[e + 3];
      if (at >= start && at < end) {
        this.#seekStart = start;
        this.#seekEnd = end;
        this.#seekIface = w[e + 5] >>> 16;
        this.#seekLinkType = w[e + 5] & 0xffff;
        return;
      }
    }
    throw new RangeError(`no pcap record of the slab starts at ${at}`);
  }

  #select(i: number): void {
    const e = (this.#size >> 2) - ENTRY_WORDS * (i + 1);
    this.#e = e;
    const tag = this.#words[e + 5];
    this.iface = tag >>> 16;
    this.linkType = tag & 0xffff;
  }

  #nextRecord(): boolean {
    while (this.#at >= this.#runEnd) {
      const i = this.#entry;
      if (i >= this.#entries) return false;
      this.#entry = i + 1;
      this.#select(i);
      this.#at = this.#words[this.#e + 2];
      this.#runEnd = this.#at + this.#words[this.#e + 3];
      this.#runIface = this.iface;
      this.#runLinkType = this.linkType;
      if (this.#tally) this.#words[this.#e + 4] = 0;
    }
    // recordAt may have moved to another run in between.
    this.iface = this.#runIface;
    this.linkType = this.#runLinkType;
    this.#at = this.#readRecord(this.#at, this.#runEnd);
    if (this.#tally) this.#words[this.#e + 4] += this.wireLength;
    return true;
  }

  /** Reads the header of the record at `at` of a run ending at `runEnd`; returns its end. */
  #readRecord(at: number, runEnd: number): number {
    const v = this.#view;
    const caplen = v.getUint32(at + 8, true);
    const next = at + RECORD_HEADER_BYTES + caplen;
    if (next > runEnd) throw new RangeError(`pcap record at ${at} runs past its run`);
    this.timestamp = v.getUint32(at, true) + v.getUint32(at + 4, true) / 1e6;
    this.capturedLength = caplen;
    this.wireLength = v.getUint32(at + 12, true);
    this.offset = at + RECORD_HEADER_BYTES;
    return next;
  }
}
