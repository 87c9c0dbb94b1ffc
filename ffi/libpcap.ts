/**
 * Typed bindings to the system libpcap: offline reading of pcap and pcapng files and the live
 * capture API (create/activate, snap length, promiscuous and immediate mode, buffer size,
 * timeout, BPF filters, statistics, breakloop, device listing).
 *
 * The per-packet path follows the costs measured in DESIGN.md: `pcap_next_ex` writes into
 * out-parameter buffers prepared once; the header and packet bytes are read through typed
 * arrays laid over libpcap's own buffers and re-laid only when libpcap moves them, so reading a
 * packet allocates nothing and creates no BigInt.
 *
 * @module
 */

import { LibraryNotFoundError, openLibrary } from "./library.ts";
import { type Libc, libc } from "./libc.ts";

const SYMBOLS = {
  pcap_lib_version: { parameters: [], result: "pointer" },
  pcap_open_offline: { parameters: ["buffer", "buffer"], result: "pointer" },
  pcap_fopen_offline: { parameters: ["pointer", "buffer"], result: "pointer" },
  pcap_create: { parameters: ["buffer", "buffer"], result: "pointer" },
  pcap_set_snaplen: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_promisc: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_immediate_mode: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_buffer_size: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_timeout: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_activate: { parameters: ["pointer"], result: "i32" },
  pcap_compile: { parameters: ["pointer", "buffer", "buffer", "i32", "u32"], result: "i32" },
  pcap_setfilter: { parameters: ["pointer", "buffer"], result: "i32" },
  pcap_freecode: { parameters: ["buffer"], result: "void" },
  pcap_next_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  pcap_datalink: { parameters: ["pointer"], result: "i32" },
  pcap_datalink_val_to_name: { parameters: ["i32"], result: "pointer" },
  pcap_snapshot: { parameters: ["pointer"], result: "i32" },
  pcap_geterr: { parameters: ["pointer"], result: "pointer" },
  pcap_statustostr: { parameters: ["i32"], result: "pointer" },
  pcap_stats: { parameters: ["pointer", "buffer"], result: "i32" },
  pcap_breakloop: { parameters: ["pointer"], result: "void" },
  pcap_close: { parameters: ["pointer"], result: "void" },
  pcap_setnonblock: { parameters: ["pointer", "i32", "buffer"], result: "i32" },
  pcap_get_selectable_fd: { parameters: ["pointer"], result: "i32" },
  pcap_findalldevs: { parameters: ["buffer", "buffer"], result: "i32" },
  pcap_fileno: { parameters: ["pointer"], result: "i32" },
  pcap_dispatch: { parameters: ["pointer", "i32", "function", "pointer"], result: "i32" },
  pcap_dump_fopen: { parameters: ["pointer", "pointer"], result: "pointer" },
  pcap_dump_close: { parameters: ["pointer"], result: "void" },
  pcap_freealldevs: { parameters: ["pointer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The libpcap file names tried, in order. */
export const LIBPCAP_NAMES: readonly string[] = [
  "libpcap.so.1",
  "libpcap.so.0.8",
  "libpcap.so",
  "libpcap.dylib",
];

const INSTALL_HINT =
  "install libpcap (Debian/Ubuntu: apt install libpcap0.8; Fedora: dnf install libpcap)";

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let lib: Lib | undefined;

/** The C library's stdio calls used to give libpcap a large read buffer for files. */
/** `_IOFBF`: full buffering. */
const IOFBF = 0;
/**
 * stdio buffer for capture files. libpcap reads a file through `fread` with the default
 * 4 KiB buffer: a `read(2)` every ~10 packets, which costs more than the rest of reading here.
 */
const FILE_BUFFER_BYTES = 1 << 20;

/**
 * The loaded libpcap symbols (loaded on first use).
 *
 * @throws {LibraryNotFoundError} naming the package to install when libpcap is absent
 */
export function libpcap(): Lib {
  lib ??= openLibrary(LIBPCAP_NAMES, SYMBOLS, INSTALL_HINT).symbols;
  return lib;
}

/** libpcap's version string, e.g. `libpcap version 1.10.3 (with TPACKET_V3)`. */
export function libpcapVersion(): string {
  return cString(libpcap().pcap_lib_version());
}

export { LibraryNotFoundError };

/** Status codes of `pcap_activate` that callers tell apart. */
export const PcapStatus = {
  /** Generic error. */
  ERROR: -1,
  /** The interface does not exist. */
  NO_SUCH_DEVICE: -5,
  /** Insufficient privileges. */
  PERM_DENIED: -8,
  /** The interface is down. */
  IFACE_NOT_UP: -9,
} as const;

/** A libpcap call failed; the message is libpcap's. */
export class PcapError extends Error {
  /** libpcap's status code when one is known (see {@linkcode PcapStatus}), else 0. */
  readonly code: number;

  /**
   * @param message libpcap's error text, with context
   * @param code libpcap's status code, when known
   */
  constructor(message: string, code = 0) {
    super(message);
    this.name = "PcapError";
    this.code = code;
  }
}

/** Results of {@linkcode PcapHandle.next}. */
export const NextResult = {
  /** A packet was read: the handle's packet fields are valid. */
  PACKET: 1,
  /** Live capture: the timeout expired (or, non-blocking, no packet is waiting). */
  TIMEOUT: 0,
  /** An error occurred: see {@linkcode PcapHandle.error}. */
  ERROR: -1,
  /** Offline: end of file. Live: `breakloop` was called. */
  END: -2,
} as const;

/** Options for {@linkcode PcapHandle.openLive}. */
export interface LiveOptions {
  /** Bytes captured per packet. */
  snaplen: number;
  /** Put the interface in promiscuous mode. */
  promiscuous: boolean;
  /** Deliver packets as soon as they arrive. */
  immediate: boolean;
  /** Kernel buffer size in bytes. */
  bufferSize: number;
  /** Read timeout in milliseconds (ignored in immediate mode). */
  timeoutMs: number;
}

/** Counters from `pcap_stats`. */
export interface CaptureStats {
  /** Packets received by the filter. */
  received: number;
  /** Packets dropped because the buffer was full. */
  dropped: number;
  /** Packets dropped by the interface or driver. */
  interfaceDropped: number;
}

/** A capture device from `pcap_findalldevs`. */
export interface Device {
  /** Interface name, e.g. `eth0`. */
  name: string;
  /** Description, when libpcap has one. */
  description: string | null;
  /** `PCAP_IF_*` flags. */
  flags: number;
}

const ERRBUF_SIZE = 256;
const TWO_POW_32 = 4294967296;

/**
 * An open libpcap handle, offline or live. After {@linkcode next} returns
 * `NextResult.PACKET`, the current packet is `data[dataOffset, dataOffset + capturedLength)`,
 * valid until the next call.
 *
 * @example
 * ```ts ignore
 * import { NextResult, PcapHandle } from "./libpcap.ts";
 * const h = PcapHandle.openOffline("capture.pcapng");
 * while (h.next() === NextResult.PACKET) console.log(h.timestamp, h.capturedLength);
 * h.close();
 * ```
 */
export class PcapHandle {
  /** Bytes around the current packet (a view over libpcap's buffer). */
  data: Uint8Array = new Uint8Array(0);
  /** Offset of the current packet in {@linkcode data}. */
  dataOffset = 0;
  /** Bytes captured of the current packet. */
  capturedLength = 0;
  /** Length of the current packet on the wire. */
  wireLength = 0;
  /** Capture time of the current packet, seconds since the epoch. */
  timestamp = 0;

  readonly #pcap: Lib;
  #handle: Deno.PointerObject | null;
  readonly #headerOut = new Uint8Array(8);
  readonly #dataOut = new Uint8Array(8);
  readonly #headerOutWords = new Uint32Array(this.#headerOut.buffer);
  readonly #dataOutWords = new Uint32Array(this.#dataOut.buffer);
  #headerAddress = -1;
  #header = new Uint32Array(0);
  #dataAddress = -1;
  #dataWindow = 0;
  #windowSize: number;
  /** stdio's buffer for a capture file: must live as long as the handle. */
  #fileBuffer: Uint8Array | null = null;

  private constructor(pcap: Lib, handle: Deno.PointerObject, windowSize: number) {
    this.#pcap = pcap;
    this.#handle = handle;
    this.#windowSize = windowSize;
  }

  /**
   * Opens a pcap or pcapng file.
   *
   * @throws {PcapError} when libpcap cannot read it (missing, unreadable, not a capture)
   */
  static openOffline(path: string): PcapHandle {
    const pcap = libpcap();
    const errbuf = new Uint8Array(ERRBUF_SIZE);
    const fileBuffer = new Uint8Array(FILE_BUFFER_BYTES);
    const handle = openBuffered(pcap, path, fileBuffer, errbuf) ??
      pcap.pcap_open_offline(cBytes(path), errbuf);
    if (handle === null) throw new PcapError(bufferString(errbuf));
    const h = new PcapHandle(pcap, handle, 0);
    h.#fileBuffer = fileBuffer;
    h.#windowSize = Math.max(pcap.pcap_snapshot(handle), 65536);
    return h;
  }

  /**
   * Opens a live capture on an interface and activates it.
   *
   * @throws {PcapError} when the interface does not exist, privileges are missing, or an
   *   option is refused (the message is libpcap's)
   */
  static openLive(device: string, options: LiveOptions): PcapHandle {
    const pcap = libpcap();
    const errbuf = new Uint8Array(ERRBUF_SIZE);
    const handle = pcap.pcap_create(cBytes(device), errbuf);
    if (handle === null) throw new PcapError(`${device}: ${bufferString(errbuf)}`);
    const h = new PcapHandle(pcap, handle, 0);
    try {
      h.#check(pcap.pcap_set_snaplen(handle, options.snaplen), "set snaplen");
      h.#check(pcap.pcap_set_promisc(handle, options.promiscuous ? 1 : 0), "set promiscuous");
      h.#check(pcap.pcap_set_immediate_mode(handle, options.immediate ? 1 : 0), "set immediate");
      h.#check(pcap.pcap_set_buffer_size(handle, options.bufferSize), "set buffer size");
      h.#check(pcap.pcap_set_timeout(handle, options.timeoutMs), "set timeout");
      const status = pcap.pcap_activate(handle);
      if (status < 0) {
        const detail = status === PcapStatus.ERROR || status === PcapStatus.PERM_DENIED
          ? h.error
          : cString(pcap.pcap_statustostr(status));
        throw new PcapError(`${device}: ${detail}`, status);
      }
      // A live ring moves packets around a region of about the buffer size: lay one window
      // over twice that so most packets need no new view.
      h.#windowSize = Math.max(options.bufferSize * 2, 1 << 22);
    } catch (e) {
      pcap.pcap_close(handle);
      h.#handle = null;
      throw e;
    }
    return h;
  }

  /** Lists the capture devices libpcap knows. */
  static devices(): Device[] {
    const pcap = libpcap();
    const errbuf = new Uint8Array(ERRBUF_SIZE);
    const out = new BigUint64Array(1);
    if (pcap.pcap_findalldevs(new Uint8Array(out.buffer), errbuf) !== 0) {
      throw new PcapError(bufferString(errbuf));
    }
    const first = Deno.UnsafePointer.create(out[0]);
    const devices: Device[] = [];
    for (let p = first; p !== null;) {
      const view = new Deno.UnsafePointerView(p);
      const name = view.getPointer(8);
      const description = view.getPointer(16);
      devices.push({
        name: name === null ? "" : Deno.UnsafePointerView.getCString(name),
        description: description === null ? null : Deno.UnsafePointerView.getCString(description),
        flags: view.getUint32(32),
      });
      p = view.getPointer(0);
    }
    if (first !== null) pcap.pcap_freealldevs(first);
    return devices;
  }

  /** The handle's link type (a DLT_ value). */
  get linkType(): number {
    return this.#pcap.pcap_datalink(this.#live());
  }

  /** libpcap's name of the link type, e.g. `EN10MB`. */
  get linkTypeName(): string {
    const name = this.#pcap.pcap_datalink_val_to_name(this.linkType);
    return name === null ? `DLT ${this.linkType}` : cString(name);
  }

  /** The snapshot length in effect. */
  get snaplen(): number {
    return this.#pcap.pcap_snapshot(this.#live());
  }

  /** libpcap's last error message for this handle. */
  get error(): string {
    return this.#handle === null ? "handle closed" : cString(this.#pcap.pcap_geterr(this.#handle));
  }

  /**
   * Reads the next packet. Returns a {@linkcode NextResult}; on `PACKET` the packet fields
   * describe it.
   */
  next(): number {
    const pcap = this.#pcap;
    const r = pcap.pcap_next_ex(this.#handle, this.#headerOut, this.#dataOut);
    if (r !== 1) return r;
    const hw = this.#headerOutWords;
    const headerAddress = hw[0] + hw[1] * TWO_POW_32;
    if (headerAddress !== this.#headerAddress) this.#layHeader(headerAddress);
    // struct pcap_pkthdr { struct timeval ts; bpf_u_int32 caplen; bpf_u_int32 len; } (LP64)
    const h = this.#header;
    const caplen = h[4];
    this.timestamp = h[0] + h[1] * TWO_POW_32 + h[2] / 1e6;
    this.capturedLength = caplen;
    this.wireLength = h[5];
    const dw = this.#dataOutWords;
    const dataAddress = dw[0] + dw[1] * TWO_POW_32;
    const offset = dataAddress - this.#dataAddress;
    if (this.#dataAddress < 0 || offset < 0 || offset + caplen > this.#dataWindow) {
      this.#layData(dataAddress, caplen);
      this.dataOffset = 0;
    } else {
      this.dataOffset = offset;
    }
    return r;
  }

  /**
   * Compiles and installs a BPF capture filter.
   *
   * @throws {PcapError} with libpcap's message when the expression does not compile
   */
  setFilter(expression: string): void {
    const handle = this.#live();
    const program = new Uint8Array(16); // struct bpf_program { u_int bf_len; bpf_insn *bf_insns; }
    // PCAP_NETMASK_UNKNOWN: broadcast tests are not used in our filters.
    if (this.#pcap.pcap_compile(handle, program, cBytes(expression), 1, 0xffffffff) !== 0) {
      throw new PcapError(`filter "${expression}": ${this.error}`);
    }
    try {
      if (this.#pcap.pcap_setfilter(handle, program) !== 0) {
        throw new PcapError(`filter "${expression}": ${this.error}`);
      }
    } finally {
      this.#pcap.pcap_freecode(program);
    }
  }

  /** Switches non-blocking mode (reads return `TIMEOUT` at once when nothing is waiting). */
  setNonBlocking(on: boolean): void {
    const errbuf = new Uint8Array(ERRBUF_SIZE);
    if (this.#pcap.pcap_setnonblock(this.#live(), on ? 1 : 0, errbuf) !== 0) {
      throw new PcapError(bufferString(errbuf));
    }
  }

  /** A file descriptor that becomes readable when packets are waiting (-1 if none). */
  get selectableFd(): number {
    return this.#pcap.pcap_get_selectable_fd(this.#live());
  }

  /** The socket of a live capture (`pcap_fileno`), e.g. to join a fanout group. */
  get fileno(): number {
    return this.#pcap.pcap_fileno(this.#live());
  }

  /**
   * The open `pcap_t *`, for the other bindings of `ffi/` (see `pcap_batch.ts`).
   *
   * @throws {PcapError} when the handle is closed
   */
  get pointer(): Deno.PointerObject {
    return this.#live();
  }

  /** Capture counters (`pcap_stats`). */
  stats(): CaptureStats {
    const out = new Uint32Array(4);
    if (this.#pcap.pcap_stats(this.#live(), new Uint8Array(out.buffer)) !== 0) {
      throw new PcapError(this.error);
    }
    return { received: out[0], dropped: out[1], interfaceDropped: out[2] };
  }

  /** Makes a blocked or subsequent `next` return `END`. */
  breakLoop(): void {
    if (this.#handle !== null) this.#pcap.pcap_breakloop(this.#handle);
  }

  /** Closes the handle (idempotent). */
  close(): void {
    if (this.#handle === null) return;
    this.#pcap.pcap_close(this.#handle);
    this.#handle = null;
    this.#fileBuffer = null;
  }

  #live(): Deno.PointerObject {
    if (this.#handle === null) throw new PcapError("pcap handle is closed");
    return this.#handle;
  }

  #check(status: number, what: string): void {
    if (status !== 0) {
      throw new PcapError(`${what}: ${cString(this.#pcap.pcap_statustostr(status))}`);
    }
  }

  #layHeader(address: number): void {
    const pointer = Deno.UnsafePointer.create(BigInt(address));
    this.#header = new Uint32Array(Deno.UnsafePointerView.getArrayBuffer(pointer!, 24));
    this.#headerAddress = address;
  }

  #layData(address: number, caplen: number): void {
    const size = Math.max(this.#windowSize, caplen);
    const pointer = Deno.UnsafePointer.create(BigInt(address));
    this.data = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(pointer!, size));
    this.#dataAddress = address;
    this.#dataWindow = size;
  }
}

/**
 * Opens a capture file with `buffer` as its stdio buffer (`fopen`, `setvbuf`,
 * `pcap_fopen_offline`; `pcap_close` closes the file; the buffer must outlive the handle).
 * Returns `null` when the file cannot be opened this way, so the caller falls back to
 * `pcap_open_offline`, which reports libpcap's own error.
 */
function openBuffered(
  pcap: Lib,
  path: string,
  buffer: Uint8Array,
  errbuf: Uint8Array,
): Deno.PointerValue {
  let stdio: Libc;
  try {
    stdio = libc();
  } catch (e) {
    if (e instanceof LibraryNotFoundError) return null;
    throw e;
  }
  const file = stdio.fopen(cBytes(path), cBytes("rb"));
  if (file === null) return null;
  const at = Deno.UnsafePointer.of(buffer);
  if (stdio.setvbuf(file, at, IOFBF, BigInt(buffer.byteLength)) !== 0) {
    stdio.fclose(file);
    return null;
  }
  const handle = pcap.pcap_fopen_offline(file, errbuf);
  if (handle === null) stdio.fclose(file);
  return handle;
}

/** A NUL-terminated copy of `text`, for C string parameters. */
export function cBytes(text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

function cString(pointer: Deno.PointerValue): string {
  return pointer === null ? "" : Deno.UnsafePointerView.getCString(pointer);
}

function bufferString(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end)).trim();
}
