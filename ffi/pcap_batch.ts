/**
 * Reading a batch of packets from libpcap with one FFI call: `pcap_dispatch` with libpcap's own
 * `pcap_dump` as the per-packet handler, writing into a `pcap_dumper_t` over a libc `fmemopen`
 * stream on a buffer of ours. No JavaScript runs per packet: after the call the buffer holds
 * the batch as standard pcap records (16-byte header: u32 seconds, u32 microseconds, u32
 * captured length, u32 wire length, host byte order; then the captured bytes), and `ftell`
 * says how many bytes were written.
 *
 * `fmemopen` writes what fits and then fails (and `pcap_dump` stops at a stream error), so a
 * record could be cut at the end of the buffer. {@linkcode PcapBatch.dispatch} never asks for
 * more packets than fit whole: at most `capacity / (16 + snaplen)` per call.
 *
 * @module
 */

import { type Libc, libc } from "./libc.ts";
import { cBytes, libpcap, LIBPCAP_NAMES, PcapError, type PcapHandle } from "./libpcap.ts";

/** Bytes of a pcap record header. */
export const PCAP_RECORD_HEADER_BYTES = 16;
/** `_IONBF`: unbuffered stdio (writes go straight to the memory buffer). */
const IONBF = 2;
/** `SEEK_SET`. */
const SEEK_SET = 0;
/** `RTLD_NOW | RTLD_NOLOAD`: find the libpcap already loaded, load nothing. */
const RTLD_NOW_NOLOAD = 2 | 4;

let dumpFunction: Deno.PointerObject | null = null;

/** The address of libpcap's `pcap_dump` (a `pcap_handler`), from the libpcap already loaded. */
function pcapDump(c: Libc): Deno.PointerObject {
  if (dumpFunction !== null) return dumpFunction;
  libpcap();
  for (const name of LIBPCAP_NAMES) {
    const lib = c.dlopen(cBytes(name), RTLD_NOW_NOLOAD);
    if (lib === null) continue;
    const f = c.dlsym(lib, cBytes("pcap_dump"));
    if (f !== null) return dumpFunction = f;
  }
  throw new PcapError("cannot find libpcap's pcap_dump");
}

/**
 * A memory buffer that receives batches of packets from libpcap handles of one snap length
 * (the `pcap_dumper_t` is only a stream: any handle can dispatch into it).
 *
 * @example
 * ```ts ignore
 * import { PcapHandle } from "./libpcap.ts";
 * import { PcapBatch } from "./pcap_batch.ts";
 * const h = PcapHandle.openOffline("capture.pcap");
 * const batch = new PcapBatch(h, 1 << 20);
 * while (batch.dispatch(h, batch.maxPackets) > 0) console.log(batch.length, "bytes of records");
 * batch.close();
 * h.close();
 * ```
 */
export class PcapBatch {
  /** The buffer; the last batch is `bytes[0, length)`. */
  readonly bytes: Uint8Array;
  /** Bytes of the last batch. */
  length = 0;
  /** Bytes of the longest record (header and snap length). */
  readonly maxRecordBytes: number;
  /** Packets that always fit in one batch. */
  readonly maxPackets: number;

  readonly #libc: Libc;
  readonly #dump: Deno.PointerObject;
  #file: Deno.PointerValue;
  #dumper: Deno.PointerValue;

  /**
   * @param handle a handle to read (its snap length bounds every record)
   * @param capacity bytes of the buffer; at least one record of the handle's snap length
   * @throws {RangeError} when `capacity` holds no record
   * @throws {PcapError} when the memory stream cannot be set up
   */
  constructor(handle: PcapHandle, capacity: number) {
    this.maxRecordBytes = PCAP_RECORD_HEADER_BYTES + handle.snaplen;
    this.maxPackets = Math.floor(capacity / this.maxRecordBytes);
    if (this.maxPackets < 1) {
      throw new RangeError(
        `a batch of ${capacity} bytes holds no ${this.maxRecordBytes}-byte record`,
      );
    }
    const c = this.#libc = libc();
    this.#dump = pcapDump(c);
    // One spare byte: fmemopen ends what it wrote with a NUL when there is room.
    this.bytes = new Uint8Array(capacity + 1);
    this.#file = c.fmemopen(
      Deno.UnsafePointer.of(this.bytes),
      BigInt(this.bytes.length),
      cBytes("w"),
    );
    if (this.#file === null) throw new PcapError("cannot open a memory stream for packets");
    if (c.setvbuf(this.#file, null, IONBF, 0n) !== 0) {
      c.fclose(this.#file);
      throw new PcapError("cannot unbuffer the memory stream for packets");
    }
    this.#dumper = libpcap().pcap_dump_fopen(handle.pointer, this.#file);
    if (this.#dumper === null) {
      c.fclose(this.#file);
      throw new PcapError(`cannot write packets to memory: ${handle.error}`);
    }
    // pcap_dump_fopen wrote a file header: batches start at 0 without it.
    c.fseek(this.#file, 0n, SEEK_SET);
  }

  /**
   * Reads up to `max` packets (at most {@linkcode maxPackets}) of `handle` (of the snap length
   * given at construction, or less) into the buffer with one `pcap_dispatch`;
   * {@linkcode length} becomes the bytes of their records.
   *
   * @returns packets read (0: none waiting, or end of file), -1 on a libpcap error
   *   (see the handle's `error`), -2 after `pcap_breakloop`
   */
  dispatch(handle: PcapHandle, max: number): number {
    const n = max < this.maxPackets ? max : this.maxPackets;
    const r = libpcap().pcap_dispatch(handle.pointer, n, this.#dump, this.#dumper);
    if (r <= 0) {
      this.length = 0;
      return r;
    }
    const c = this.#libc;
    this.length = Number(c.ftell(this.#file));
    c.fseek(this.#file, 0n, SEEK_SET);
    return r;
  }

  /** Closes the memory stream (idempotent; the handles stay open). */
  close(): void {
    if (this.#dumper === null) return;
    libpcap().pcap_dump_close(this.#dumper);
    this.#dumper = null;
    this.#file = null;
  }
}
