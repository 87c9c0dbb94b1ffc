/**
 * Reading a pcapng file in large chunks (see `chunk_reader.ts`): one `read` of the file's blocks
 * into a private buffer, each Enhanced Packet Block turned, in place, into the pcap record
 * libpcap would return for it (little-endian header, microseconds), the records moved together
 * over the bytes of the blocks around them, then one copy of the records into the slab. No FFI
 * call and no allocation per packet. (Moving the records inside the shared slab itself would
 * cost twice as much: V8 copies within a `SharedArrayBuffer` byte by byte when source and
 * destination are not aligned alike, which records after blocks of any length never are.)
 *
 * libpcap still opens the file (it checks the section header and the first interface, and
 * gives the link type and snapshot length). This reader reads the common part of the format
 * itself, as libpcap reads it (`sf-pcapng.c`):
 *
 * - Enhanced Packet Blocks of known interfaces: the time stamp, in the interface's resolution
 *   (`if_tsresol`, a power of ten up to nanoseconds; microseconds when absent), cut (not
 *   rounded) to microseconds; the captured and original lengths as written;
 * - Interface Description Blocks of the same link type and snapshot length as the first;
 * - blocks of any other type (statistics, name resolution, decryption secrets, custom) are
 *   skipped, as libpcap skips them;
 * - either byte order.
 *
 * Everything else it leaves to libpcap: at a Simple Packet Block, an obsolete Packet Block, a
 * second section, an interface with another resolution or a time offset (`if_tsoffset`), a
 * block that libpcap would refuse (a packet longer than the snapshot length, of an unknown
 * interface, a malformed block or option), a block larger than a chunk, or a file cut off
 * inside a block, it stops before that block and says so ({@linkcode PcapngChunkReader.handOff});
 * the caller then reads the rest of the file through libpcap, which gives the same packets
 * and errors as if it had read the whole file.
 *
 * @module
 */

import type { ChunkReader } from "./chunk_reader.ts";
import {
  checkRegion,
  MAX_CAPTURE_LENGTH,
  openWithHead,
  readInto,
  RECORD_HEADER_BYTES,
} from "./chunk_file.ts";

/** Block types. */
const SECTION_HEADER = 0x0a0d0d0a;
const INTERFACE_DESCRIPTION = 1;
const ENHANCED_PACKET = 6;
/** The byte-order magic of a section header, as written. */
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** Options of an Interface Description Block. */
const OPTION_END = 0;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
/** Block type and total length before a block's body; the total length again after it. */
const BLOCK_HEADER_BYTES = 8;
const BLOCK_TRAILER_BYTES = 4;
/** Bytes of an Enhanced Packet Block before its packet data. */
const EPB_HEADER_BYTES = 28;
/** Bytes of an Interface Description Block before its options. */
const IDB_HEADER_BYTES = 16;
/** 2^32, to join and split 64-bit time stamps. */
const TWO_32 = 4294967296;
/** Time stamps below 2^53 units divide exactly in doubles. */
const EXACT_HIGH_WORD = 1 << 21;

/** One interface of the section: its time stamp resolution. */
interface Interface {
  /** Time stamp units per second (a power of ten, 1 to 10^9). */
  perSecond: number;
  /** Microseconds per unit (≥ 1), or 0 when units are finer than microseconds. */
  usPerUnit: number;
  /** Units per microsecond (≥ 10), or 0 when units are microseconds or coarser. */
  unitsPerUs: number;
}

/**
 * Reads the packets of a pcapng file into caller-provided chunks as pcap records (see the
 * module documentation).
 *
 * @example
 * ```ts ignore
 * import { PcapngChunkReader } from "./pcapng_chunks.ts";
 * const reader = PcapngChunkReader.open("capture.pcapng", 262144, 1);
 * if (reader !== null) {
 *   const chunk = new Uint8Array(1 << 20);
 *   let bytes;
 *   while ((bytes = reader.fill(chunk, 0, chunk.length)) > 0) {
 *     console.log(reader.chunkPackets, "packets in", bytes, "bytes");
 *   }
 *   if (reader.handOff) console.log("libpcap reads on after", reader.packets, "packets");
 *   reader.close();
 * }
 * ```
 */
export class PcapngChunkReader implements ChunkReader {
  /** Packets in the chunk of the last {@linkcode fill}. */
  chunkPackets = 0;
  /** Packets of every chunk filled so far. */
  packets = 0;
  /** File bytes behind the chunk of the last {@linkcode fill}. */
  chunkFileBytes = 0;
  /** Always "": whatever would end the read as an error is handed off to libpcap. */
  readonly error = "";
  /**
   * `true` once reading stopped before a block left to libpcap (see the module documentation):
   * read on with libpcap after skipping {@linkcode packets} packets.
   */
  handOff = false;

  readonly #file: Deno.FsFile;
  readonly #little: boolean;
  readonly #snapshot: number;
  readonly #linkType: number;
  /** The section's interfaces so far, by interface id. */
  readonly #interfaces: Interface[] = [];
  /** File offset of the first byte not yet turned into records or skipped. */
  #position: number;
  /** Where the blocks of a chunk are read and turned into records (grown to the chunk's size). */
  #staging = new Uint8Array(0);
  #ended = false;

  private constructor(
    file: Deno.FsFile,
    little: boolean,
    snapshot: number,
    linkType: number,
    position: number,
  ) {
    this.#file = file;
    this.#little = little;
    this.#snapshot = snapshot;
    this.#linkType = linkType;
    this.#position = position;
  }

  /**
   * Opens `path` positioned after its section header, or returns `null` when it is not a
   * pcapng file (or not a regular file).
   *
   * @param path the capture, already opened successfully by libpcap
   * @param snapshot the snapshot length libpcap reports for it (`pcap_snapshot`)
   * @param linkType the link type libpcap reports for it (`pcap_datalink`)
   */
  static open(path: string, snapshot: number, linkType: number): PcapngChunkReader | null {
    const headBytes = BLOCK_HEADER_BYTES + 4;
    return openWithHead(path, headBytes, (file, v) => {
      if (v.getUint32(0, true) !== SECTION_HEADER) return null;
      const little = v.getUint32(8, true) === BYTE_ORDER_MAGIC;
      if (!little && v.getUint32(8, false) !== BYTE_ORDER_MAGIC) return null;
      const length = v.getUint32(4, little);
      if (length < headBytes + 4 + BLOCK_TRAILER_BYTES || length % 4 !== 0) return null;
      return new PcapngChunkReader(file, little, snapshot, linkType, length);
    });
  }

  /**
   * Fills `target[start, end)` with the pcap records of the next packets and returns their
   * bytes; {@linkcode chunkPackets} says how many records. 0 when the file is at its end or
   * the rest is left to libpcap ({@linkcode handOff}). A block cut by `end` is read again by
   * the next call.
   *
   * @param offsets when given, receives where each record starts in `target` (the chunk's
   *   `k`-th record at `offsets[k]`); it holds at least `(end - start) / 16` entries
   * @throws {RangeError} when the region is smaller than `MIN_CHUNK_BYTES`, or `offsets` too
   *   short for it
   */
  fill(target: Uint8Array, start: number, end: number, offsets?: Uint32Array): number {
    checkRegion(start, end, offsets);
    this.chunkPackets = 0;
    this.chunkFileBytes = 0;
    const room = end - start;
    if (this.#staging.length < room) this.#staging = new Uint8Array(room);
    const staging = this.#staging;
    // A chunk of blocks without packets (statistics, say) gives no record: read on.
    while (!this.#ended && this.chunkPackets === 0) {
      this.#file.seekSync(this.#position, Deno.SeekMode.Start);
      const filled = readInto(this.#file, staging, 0, room);
      const written = this.#blocks(staging, filled, room, filled < room, offsets, start);
      if (this.chunkPackets === 0) continue;
      target.set(staging.subarray(0, written), start);
      return written;
    }
    return 0;
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }

  /**
   * Turns the whole blocks of `bytes[0, end)` (read into a region of `room` bytes) into pcap
   * records from 0 on, writing where each will start in the target (at `base`) into `offsets`,
   * and returns where the records
   * end; counts them, moves the file position past the blocks read, and ends the reader
   * (handing off when it stopped before a block) when the file is done.
   */
  #blocks(
    bytes: Uint8Array,
    end: number,
    room: number,
    eof: boolean,
    offsets: Uint32Array | undefined,
    base: number,
  ): number {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const little = this.#little;
    let at = 0;
    let out = 0;
    let packets = 0;
    let stop = false;
    while (end - at >= BLOCK_HEADER_BYTES) {
      const type = v.getUint32(at, little);
      const length = v.getUint32(at + 4, little);
      if (length < BLOCK_HEADER_BYTES + BLOCK_TRAILER_BYTES || length % 4 !== 0 || length > room) {
        stop = true; // libpcap refuses it, or it never fits a chunk
        break;
      }
      if (length > end - at) break; // cut by the chunk's end
      if (v.getUint32(at + length - BLOCK_TRAILER_BYTES, little) !== length) {
        stop = true; // the trailer disagrees: libpcap refuses it
        break;
      }
      if (type === ENHANCED_PACKET) {
        if (length < EPB_HEADER_BYTES + BLOCK_TRAILER_BYTES) {
          stop = true;
          break;
        }
        const caplen = v.getUint32(at + 20, little);
        const iface = this.#interfaces[v.getUint32(at + 8, little)];
        if (
          iface === undefined ||
          caplen > this.#snapshot ||
          caplen > length - EPB_HEADER_BYTES - BLOCK_TRAILER_BYTES ||
          !this.#record(v, at, out, iface, caplen)
        ) {
          stop = true;
          break;
        }
        bytes.copyWithin(
          out + RECORD_HEADER_BYTES,
          at + EPB_HEADER_BYTES,
          at + EPB_HEADER_BYTES + caplen,
        );
        if (offsets !== undefined) offsets[packets] = base + out;
        out += RECORD_HEADER_BYTES + caplen;
        packets++;
      } else if (type === INTERFACE_DESCRIPTION) {
        if (!this.#addInterface(v, at, length)) {
          stop = true;
          break;
        }
      } else if (!skippable(type)) {
        stop = true;
        break;
      }
      at += length;
    }
    this.#position += at;
    this.chunkFileBytes += at;
    this.chunkPackets = packets;
    this.packets += packets;
    // Bytes left after the whole blocks at the end of the file are a cut block: libpcap says so.
    if (stop || (eof && at < end)) this.handOff = true;
    if (this.handOff || eof) this.#ended = true;
    return out;
  }

  /**
   * Writes the pcap record header of the Enhanced Packet Block at `at` to `out` (which is at
   * most `at`, so that only bytes already read are overwritten); `false` when the time stamp
   * does not fit a pcap record (seconds past 2^32).
   */
  #record(v: DataView, at: number, out: number, iface: Interface, caplen: number): boolean {
    const little = this.#little;
    const high = v.getUint32(at + 12, little);
    const low = v.getUint32(at + 16, little);
    const wire = v.getUint32(at + 24, little);
    const d = iface.perSecond;
    let seconds: number;
    let units: number;
    if (high < EXACT_HIGH_WORD) {
      const t = high * TWO_32 + low;
      seconds = Math.floor(t / d);
      units = t - seconds * d;
    } else {
      // Long division by 16-bit digits: every partial value stays below 2^46.
      let x = high >>> 16;
      seconds = Math.floor(x / d);
      units = x - seconds * d;
      x = units * 65536 + (high & 0xffff);
      let q = Math.floor(x / d);
      units = x - q * d;
      seconds = seconds * 65536 + q;
      x = units * 65536 + (low >>> 16);
      q = Math.floor(x / d);
      units = x - q * d;
      seconds = seconds * 65536 + q;
      x = units * 65536 + (low & 0xffff);
      q = Math.floor(x / d);
      units = x - q * d;
      seconds = seconds * 65536 + q;
    }
    if (seconds >= TWO_32) return false;
    const micros = iface.unitsPerUs > 0
      ? Math.floor(units / iface.unitsPerUs)
      : units * iface.usPerUnit;
    v.setUint32(out, seconds, true);
    v.setUint32(out + 4, micros, true);
    v.setUint32(out + 8, caplen, true);
    v.setUint32(out + 12, wire, true);
    return true;
  }

  /**
   * Adds the Interface Description Block at `at`; `false` when it is left to libpcap: another
   * link type or snapshot length than the first interface's, a resolution other than a power
   * of ten up to nanoseconds, a time offset, or options libpcap would refuse.
   */
  #addInterface(v: DataView, at: number, length: number): boolean {
    const little = this.#little;
    if (length < IDB_HEADER_BYTES + BLOCK_TRAILER_BYTES) return false;
    // The first interface is the one libpcap opened the file by: its link type and snapshot
    // length are those it reports.
    if (this.#interfaces.length > 0) {
      if (v.getUint16(at + 8, little) !== this.#linkType) return false;
      const snaplen = v.getUint32(at + 12, little);
      // libpcap's snapshot length for the link types btblocker decodes (`pcap_adjust_snapshot`).
      const adjusted = snaplen === 0 || snaplen > MAX_CAPTURE_LENGTH ? MAX_CAPTURE_LENGTH : snaplen;
      if (adjusted !== this.#snapshot) return false;
    }
    let exponent = 6;
    let sawResolution = false;
    let o = at + IDB_HEADER_BYTES;
    const optionsEnd = at + length - BLOCK_TRAILER_BYTES;
    while (optionsEnd - o >= 4) {
      const code = v.getUint16(o, little);
      const size = v.getUint16(o + 2, little);
      const padded = (size + 3) & ~3;
      if (o + 4 + padded > optionsEnd) return false;
      if (code === OPTION_END) {
        if (size !== 0) return false;
        break;
      }
      if (code === IF_TSRESOL) {
        if (sawResolution || size !== 1) return false;
        sawResolution = true;
        exponent = v.getUint8(o + 4);
        if (exponent > 9) return false; // a power of two (high bit), or finer than nanoseconds
      } else if (code === IF_TSOFFSET) {
        return false;
      }
      o += 4 + padded;
    }
    this.#interfaces.push({
      perSecond: 10 ** exponent,
      usPerUnit: exponent <= 6 ? 10 ** (6 - exponent) : 0,
      unitsPerUs: exponent > 6 ? 10 ** (exponent - 6) : 0,
    });
    return true;
  }
}

/**
 * Block types libpcap skips without looking inside: all but packets (Enhanced, Simple, and the
 * obsolete Packet Block), interfaces, and section headers.
 */
function skippable(type: number): boolean {
  return type !== SECTION_HEADER && type !== 2 && type !== 3;
}
