/**
 * Reading a classic pcap file in large chunks of whole records (see `chunk_reader.ts`): one
 * `read` per chunk straight into a slab, no call and no copy per packet on the reading thread.
 * libpcap still opens the file (it checks the file header and gives the link
 * type and snapshot length); this reader then takes the records that libpcap would return, one
 * chunk at a time, and leaves each record header in the form `pcap_dump` writes here
 * (little-endian, microseconds: see `workers/slab.ts`), exactly as libpcap would present it:
 *
 * - a file of the other byte order has its headers swapped;
 * - a nanosecond file has its fractions divided by 1000 (libpcap's default microsecond
 *   precision);
 * - a record captured longer than the file's snapshot length is cut to it (the rest of its
 *   bytes dropped);
 * - a record longer than {@linkcode MAX_CAPTURE_LENGTH} ends the read as corrupt, and a record
 *   cut off by the end of the file as truncated, with libpcap's own wording (see
 *   {@linkcode PcapChunkReader.error}).
 *
 * libpcap also swaps, in a file of the other byte order, a few link types' pseudo-headers written
 * in the capturing host's order (`pcapint_post_process`): the SocketCAN header of a CAN frame in
 * Linux cooked captures (SLL, SLL2), USB, NFLOG and PFLOG headers. This reader leaves them as they
 * are: btblocker decodes none of those link types, and a CAN frame is not IP either way, so the
 * analysis is the same.
 *
 * Only the common format is read here: magic `a1b2c3d4` or `a1b23c4d` in either byte order,
 * version 2.4 (what tcpdump, tshark and libpcap write). {@linkcode PcapChunkReader.open}
 * returns `null` for anything else (pcapng has its own reader, `pcapng_chunks.ts`; older
 * versions and modified formats are read packet by packet through libpcap).
 *
 * @module
 */

import {
  checkRegion,
  MAX_CAPTURE_LENGTH,
  MIN_CHUNK_BYTES,
  openWithHead,
  readInto,
  RECORD_HEADER_BYTES,
} from "./chunk_file.ts";
import type { ChunkReader } from "./chunk_reader.ts";

/** Bytes of the pcap file header. */
export const PCAP_FILE_HEADER_BYTES = 24;

const MAGIC_MICRO = 0xa1b2c3d4;
const MAGIC_NANO = 0xa1b23c4d;

/**
 * Reads the whole records of a classic pcap file into caller-provided chunks (see the module
 * documentation).
 *
 * @example
 * ```ts ignore
 * import { PcapChunkReader } from "./pcap_chunks.ts";
 * const reader = PcapChunkReader.open("capture.pcap", 262144);
 * if (reader !== null) {
 *   const chunk = new Uint8Array(1 << 20);
 *   let bytes;
 *   while ((bytes = reader.fill(chunk, 0, chunk.length)) > 0) {
 *     console.log(reader.chunkPackets, "packets in", bytes, "bytes");
 *   }
 *   if (reader.error !== "") console.error(reader.error);
 *   reader.close();
 * }
 * ```
 */
export class PcapChunkReader implements ChunkReader {
  /** Packets in the chunk of the last {@linkcode fill}. */
  chunkPackets = 0;
  /** Packets of every chunk filled so far. */
  packets = 0;
  /** File bytes behind the chunk of the last {@linkcode fill}. */
  chunkFileBytes = 0;
  /** Never: this reader reads every classic pcap file to its end. */
  readonly handOff = false;
  /**
   * Why reading ended early, in libpcap's words ("truncated dump file; …" for a record cut
   * off by the end of the file, "invalid packet capture length …" for a corrupt one), or ""
   * (the file ended cleanly, or has not ended yet).
   */
  error = "";

  readonly #file: Deno.FsFile;
  readonly #swapped: boolean;
  readonly #nano: boolean;
  readonly #snapshot: number;
  /** The start of a record cut off by the previous chunk's end, moved to the next chunk. */
  readonly #carry = new Uint8Array(MIN_CHUNK_BYTES);
  #carried = 0;
  #ended = false;
  /** End of the bytes after the last whole record (moves when records are cut to the snapshot). */
  #tailEnd = 0;
  /** Bytes of the last chunk's records dropped by cutting them to the snapshot length. */
  #cut = 0;

  private constructor(file: Deno.FsFile, swapped: boolean, nano: boolean, snapshot: number) {
    this.#file = file;
    this.#swapped = swapped;
    this.#nano = nano;
    this.#snapshot = snapshot;
  }

  /**
   * Opens `path` positioned at its first record, or returns `null` when it is not a classic
   * pcap file of the format read here (or not a regular file).
   *
   * @param path the capture, already opened successfully by libpcap
   * @param snapshot the snapshot length libpcap reports for it (`pcap_snapshot`)
   */
  static open(path: string, snapshot: number): PcapChunkReader | null {
    return openWithHead(path, PCAP_FILE_HEADER_BYTES, (file, v) => {
      const magic = v.getUint32(0, true);
      const swappedMagic = v.getUint32(0, false);
      const swapped = swappedMagic === MAGIC_MICRO || swappedMagic === MAGIC_NANO;
      if (!swapped && magic !== MAGIC_MICRO && magic !== MAGIC_NANO) return null;
      const little = !swapped;
      if (v.getUint16(4, little) !== 2 || v.getUint16(6, little) !== 4) return null;
      const nano = (swapped ? swappedMagic : magic) === MAGIC_NANO;
      return new PcapChunkReader(file, swapped, nano, snapshot);
    });
  }

  /**
   * Fills `target[start, end)` with the next whole records (headers little-endian, in
   * microseconds) and returns their bytes; {@linkcode chunkPackets} says how many
   * records. 0 when the file is at its end or reading ended on a bad record
   * ({@linkcode error}). A record cut by `end` is kept for the next call.
   *
   * @param offsets when given, receives where each record starts in `target` (the chunk's
   *   `k`-th record at `offsets[k]`), found on the walk that checks them anyway; it holds at
   *   least `(end - start) / 16` entries
   * @throws {RangeError} when the region is smaller than {@linkcode MIN_CHUNK_BYTES}, or
   *   `offsets` too short for it
   */
  fill(target: Uint8Array, start: number, end: number, offsets?: Uint32Array): number {
    checkRegion(start, end, offsets);
    this.chunkPackets = 0;
    this.chunkFileBytes = 0;
    if (this.#ended) return 0;
    let filled = start;
    if (this.#carried > 0) {
      target.set(this.#carry.subarray(0, this.#carried), start);
      filled += this.#carried;
      this.#carried = 0;
    }
    filled = readInto(this.#file, target, filled, end);
    const eof = filled < end;
    const whole = this.#records(target, start, filled, offsets);
    const tail = this.#tailEnd - whole;
    if (this.error === "" && tail > 0) {
      if (eof) this.error = truncation(target, whole, tail, this.#swapped);
      else {
        this.#carry.set(target.subarray(whole, whole + tail));
        this.#carried = tail;
      }
    }
    if (eof || this.error !== "") this.#ended = true;
    this.packets += this.chunkPackets;
    this.chunkFileBytes = whole - start + this.#cut;
    return whole - start;
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }

  /**
   * Checks (and rewrites where needed) the whole records of `bytes[start, end)` in place and
   * returns where they end; counts them in {@linkcode chunkPackets} (and writes where each
   * starts into `offsets`, when given); sets {@linkcode error} at a record too long.
   */
  #records(bytes: Uint8Array, start: number, end: number, offsets?: Uint32Array): number {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const little = !this.#swapped;
    const snapshot = this.#snapshot;
    // A file written on this machine in microseconds needs no rewriting.
    const rewrite = this.#swapped || this.#nano;
    let at = start;
    let packets = 0;
    let cut = 0;
    while (end - at >= RECORD_HEADER_BYTES) {
      let caplen = v.getUint32(at + 8, little);
      if (caplen > MAX_CAPTURE_LENGTH) {
        // libpcap names the snapshot length when the record exceeds it too.
        this.error = caplen > snapshot
          ? `invalid packet capture length ${caplen}, bigger than snaplen of ${snapshot}`
          : `invalid packet capture length ${caplen}, bigger than maximum of ${MAX_CAPTURE_LENGTH}`;
        break;
      }
      const next = at + RECORD_HEADER_BYTES + caplen;
      if (next > end) break;
      if (caplen > snapshot) {
        // libpcap keeps the first `snapshot` bytes and drops the rest.
        bytes.copyWithin(at + RECORD_HEADER_BYTES + snapshot, next, end);
        end -= caplen - snapshot;
        cut += caplen - snapshot;
        caplen = snapshot;
        v.setUint32(at + 8, caplen, little);
      }
      if (rewrite) this.#rewrite(v, at);
      if (offsets !== undefined) offsets[packets] = at;
      at += RECORD_HEADER_BYTES + caplen;
      packets++;
    }
    this.chunkPackets = packets;
    this.#tailEnd = end;
    this.#cut = cut;
    return at;
  }

  /** Rewrites the record header at `at` little-endian and in microseconds. */
  #rewrite(v: DataView, at: number): void {
    const little = !this.#swapped;
    const seconds = v.getUint32(at, little);
    const fraction = v.getUint32(at + 4, little);
    const caplen = v.getUint32(at + 8, little);
    const wire = v.getUint32(at + 12, little);
    v.setUint32(at, seconds, true);
    v.setUint32(at + 4, this.#nano ? Math.floor(fraction / 1000) : fraction, true);
    v.setUint32(at + 8, caplen, true);
    v.setUint32(at + 12, wire, true);
  }
}

/** libpcap's message for a record cut off by the end of the file (`tail` bytes at `at`). */
function truncation(bytes: Uint8Array, at: number, tail: number, swapped: boolean): string {
  if (tail < RECORD_HEADER_BYTES) {
    return `truncated dump file; tried to read ${RECORD_HEADER_BYTES} header bytes, only got ${tail}`;
  }
  const caplen = new DataView(bytes.buffer, bytes.byteOffset + at + 8, 4).getUint32(0, !swapped);
  return `truncated dump file; tried to read ${caplen} captured bytes, only got ${
    tail - RECORD_HEADER_BYTES
  }`;
}
