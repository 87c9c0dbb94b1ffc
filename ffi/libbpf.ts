/**
 * Typed bindings to the system libbpf (1.x) and the few libc calls around it: opening and
 * loading a BPF object from memory, map sizing, pinning and reuse, XDP attach/detach/query,
 * program and map info, map element access, test runs (and raw `bpf_map_create` /
 * `bpf_prog_load`, which tests use to stand in for other software), and `if_nametoindex`,
 * `clock_gettime(CLOCK_BOOTTIME)`, `statfs`, `mount`, `mkdir`, `rename`, `unlink` and `setns`.
 *
 * libbpf 1.x returns negative errno values from int functions; {@linkcode BpfError} turns them
 * into one line such as `attach XDP to eth0 (native): Operation not supported`. libbpf's own
 * messages (verifier logs, warnings) go through {@linkcode setLibbpfLogger}; by default they
 * are kept quietly in a small buffer ({@linkcode recentLibbpfMessages}) for error details.
 *
 * Use from one thread (the main one): libbpf's print callback belongs to the isolate that
 * loaded it first.
 *
 * Map element calls take `buffer` parameters and 32-bit/BigInt scalars only, so they stay on
 * Deno's fast FFI path; callers prepare their key and value buffers once.
 *
 * @module
 */

import { LibraryNotFoundError, openLibrary } from "./library.ts";

const SYMBOLS = {
  libbpf_major_version: { parameters: [], result: "u32" },
  libbpf_minor_version: { parameters: [], result: "u32" },
  libbpf_set_print: { parameters: ["function"], result: "pointer" },
  libbpf_strerror: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  libbpf_num_possible_cpus: { parameters: [], result: "i32" },
  bpf_object__open_mem: { parameters: ["buffer", "usize", "buffer"], result: "pointer" },
  bpf_object__load: { parameters: ["pointer"], result: "i32" },
  bpf_object__close: { parameters: ["pointer"], result: "void" },
  bpf_object__find_map_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_object__find_program_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_map__set_max_entries: { parameters: ["pointer", "u32"], result: "i32" },
  bpf_map__max_entries: { parameters: ["pointer"], result: "u32" },
  bpf_map__fd: { parameters: ["pointer"], result: "i32" },
  bpf_map__set_pin_path: { parameters: ["pointer", "buffer"], result: "i32" },
  bpf_map__reuse_fd: { parameters: ["pointer", "i32"], result: "i32" },
  bpf_program__fd: { parameters: ["pointer"], result: "i32" },
  bpf_xdp_attach: { parameters: ["i32", "i32", "u32", "buffer"], result: "i32" },
  bpf_xdp_detach: { parameters: ["i32", "u32", "buffer"], result: "i32" },
  bpf_xdp_query: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  bpf_xdp_query_id: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  bpf_prog_get_fd_by_id: { parameters: ["u32"], result: "i32" },
  bpf_map_get_fd_by_id: { parameters: ["u32"], result: "i32" },
  bpf_obj_get_info_by_fd: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_map_update_elem: { parameters: ["i32", "buffer", "buffer", "u64"], result: "i32" },
  bpf_map_lookup_elem: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_map_delete_elem: { parameters: ["i32", "buffer"], result: "i32" },
  bpf_map_get_next_key: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_obj_pin: { parameters: ["i32", "buffer"], result: "i32" },
  bpf_obj_get: { parameters: ["buffer"], result: "i32" },
  bpf_map_create: {
    parameters: ["u32", "buffer", "u32", "u32", "u32", "buffer"],
    result: "i32",
  },
  bpf_prog_load: {
    parameters: ["u32", "buffer", "buffer", "buffer", "usize", "buffer"],
    result: "i32",
  },
  bpf_prog_test_run_opts: { parameters: ["i32", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

const LIBC_SYMBOLS = {
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  statfs: { parameters: ["buffer", "buffer"], result: "i32" },
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "pointer"], result: "i32" },
  mkdir: { parameters: ["buffer", "u32"], result: "i32" },
  rmdir: { parameters: ["buffer"], result: "i32" },
  unlink: { parameters: ["buffer"], result: "i32" },
  rename: { parameters: ["buffer", "buffer"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  strerror: { parameters: ["i32"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
  vsnprintf: { parameters: ["buffer", "usize", "pointer", "pointer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The libbpf file names tried, in order. */
export const LIBBPF_NAMES: readonly string[] = ["libbpf.so.1", "libbpf.so"];

/** What to install when libbpf is missing. */
export const LIBBPF_INSTALL_HINT =
  "install libbpf (Debian/Ubuntu: apt install libbpf1; Fedora: dnf install libbpf)";

const LIBC_NAMES: readonly string[] = ["libc.so.6", "libc.so"];

/** The bound libbpf symbols. */
export type Libbpf = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
/** The bound libc symbols. */
export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

let bpfLib: Libbpf | undefined;
let cLib: Libc | undefined;

/**
 * The loaded libbpf symbols (loaded on first use; libbpf's messages are routed to
 * {@linkcode setLibbpfLogger}'s logger from then on).
 *
 * @throws {LibraryNotFoundError} naming the package to install when libbpf is absent
 */
export function libbpf(): Libbpf {
  if (bpfLib === undefined) {
    const lib = openLibrary(LIBBPF_NAMES, SYMBOLS, LIBBPF_INSTALL_HINT).symbols;
    if (lib.libbpf_major_version() < 1) {
      throw new LibraryNotFoundError(
        `libbpf ${lib.libbpf_major_version()}.${lib.libbpf_minor_version()} is too old: ` +
          `${LIBBPF_INSTALL_HINT} (version 1.0 or later)`,
      );
    }
    bpfLib = lib;
    installPrinter(lib);
  }
  return bpfLib;
}

/** The loaded libc symbols (loaded on first use). */
export function libc(): Libc {
  cLib ??= openLibrary(LIBC_NAMES, LIBC_SYMBOLS, "the C library (libc.so.6) is missing").symbols;
  return cLib;
}

/** libbpf's version, e.g. `1.1`. */
export function libbpfVersion(): string {
  const lib = libbpf();
  return `${lib.libbpf_major_version()}.${lib.libbpf_minor_version()}`;
}

export { LibraryNotFoundError };

// ---------------------------------------------------------------------------------------------
// Errors

/** A libbpf or libc call failed; `errno` is the positive error number. */
export class BpfError extends Error {
  /** Positive errno (or libbpf's own error code, 4000 and up). */
  readonly errno: number;
  /**
   * Creates the error.
   *
   * @param message one line: what was being done, then the system's description
   * @param errno the positive error number
   */
  constructor(message: string, errno: number) {
    super(message);
    this.name = "BpfError";
    this.errno = errno;
  }
}

/** errno values the callers test for. */
export const Errno = {
  EPERM: 1,
  EACCES: 13,
  ENOENT: 2,
  EBADF: 9,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EINVAL: 22,
  E2BIG: 7,
  ENOSPC: 28,
  ENOTEMPTY: 39,
  EOPNOTSUPP: 95,
  EBUSY: 16,
} as const;

const errorText = new Uint8Array(256);
const ERROR_TEXT_SIZE = BigInt(errorText.length);

/** The system's (or libbpf's) description of a positive error number. */
export function describeErrno(errno: number): string {
  if (bpfLib !== undefined && bpfLib.libbpf_strerror(errno, errorText, ERROR_TEXT_SIZE) === 0) {
    return bufferString(errorText);
  }
  const text = libc().strerror(errno);
  return text === null ? `error ${errno}` : Deno.UnsafePointerView.getCString(text);
}

/**
 * Returns `ret` when it is not negative; otherwise throws a {@linkcode BpfError} reading
 * `<what>: <description of -ret>`.
 */
export function check(ret: number, what: string): number {
  if (ret < 0) throw new BpfError(`${what}: ${describeErrno(-ret)}`, -ret);
  return ret;
}

/** The calling thread's errno (read right after a libc call that returned -1). */
export function lastErrno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32(0);
}

/** Throws a {@linkcode BpfError} from the current errno when a libc call returned -1. */
export function checkLibc(ret: number, what: string): number {
  if (ret === -1) {
    const errno = lastErrno();
    throw new BpfError(`${what}: ${describeErrno(errno)}`, errno);
  }
  return ret;
}

// ---------------------------------------------------------------------------------------------
// libbpf's messages

/** libbpf's message levels. */
export type LibbpfLevel = "warn" | "info" | "debug";

/** Receives libbpf's messages, one line at a time. */
export type LibbpfLogger = (level: LibbpfLevel, line: string) => void;

const LEVELS: readonly LibbpfLevel[] = ["warn", "info", "debug"];
const RECENT_LIMIT = 64;
const recent: string[] = [];
let logger: LibbpfLogger | null = null;
let loggerLevel = 0;
let printer:
  | Deno.UnsafeCallback<{ parameters: ["i32", "pointer", "pointer"]; result: "i32" }>
  | null = null;
let printBuffer: Uint8Array | null = null; // 1 MiB once needed: verifier logs are one message
const PRINT_BUFFER_SIZE = 1 << 20;
const decoder = new TextDecoder();
let partial = "";

/**
 * Routes libbpf's messages to `log` (null: quiet, the default), passing levels up to
 * `maxLevel` (`warn` by default; `debug` shows everything libbpf says). Warnings are always
 * kept in {@linkcode recentLibbpfMessages}.
 */
export function setLibbpfLogger(log: LibbpfLogger | null, maxLevel: LibbpfLevel = "warn"): void {
  logger = log;
  loggerLevel = LEVELS.indexOf(maxLevel);
}

/** libbpf's latest warning lines (at most 64), oldest first. */
export function recentLibbpfMessages(): string[] {
  return recent.slice();
}

/** Forgets the kept warning lines (call before an operation whose messages you want). */
export function clearLibbpfMessages(): void {
  recent.length = 0;
}

function installPrinter(lib: Libbpf): void {
  // Called synchronously by libbpf on the calling (main) thread; va_list is passed by pointer
  // on x86-64 and aarch64, so it can be handed straight to vsnprintf.
  printer = new Deno.UnsafeCallback(
    { parameters: ["i32", "pointer", "pointer"], result: "i32" } as const,
    (level: number, format: Deno.PointerValue, args: Deno.PointerValue): number => {
      if (level > 0 && (logger === null || level > loggerLevel)) return 0;
      printBuffer ??= new Uint8Array(PRINT_BUFFER_SIZE);
      const n = libc().vsnprintf(printBuffer, BigInt(PRINT_BUFFER_SIZE), format, args);
      if (n <= 0) return 0;
      const text = partial + decoder.decode(
        printBuffer.subarray(0, Math.min(n, printBuffer.length - 1)),
      );
      const lines = text.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "") continue;
        if (level === 0) {
          recent.push(line);
          if (recent.length > RECENT_LIMIT) recent.shift();
        }
        if (logger !== null && level <= loggerLevel) logger(LEVELS[level] ?? "debug", line);
      }
      return 0;
    },
  );
  lib.libbpf_set_print(printer.pointer);
}

// ---------------------------------------------------------------------------------------------
// Structures

/** XDP attach flags (`XDP_FLAGS_*` of linux/if_link.h). */
export const XdpFlags = {
  UPDATE_IF_NOEXIST: 1,
  SKB_MODE: 2,
  DRV_MODE: 4,
  HW_MODE: 8,
  REPLACE: 16,
} as const;

/** `attach_mode` values of `bpf_xdp_query` (`XDP_ATTACHED_*`). */
export const XdpAttached = { NONE: 0, DRV: 1, SKB: 2, HW: 3, MULTI: 4 } as const;

/** BPF program types used here (`BPF_PROG_TYPE_*`). */
export const ProgType = { XDP: 6 } as const;

/** BPF map types used here (`BPF_MAP_TYPE_*`). */
export const MapType = { HASH: 1, PERCPU_ARRAY: 6 } as const;

/** `BPF_F_NO_PREALLOC`. */
export const BPF_F_NO_PREALLOC = 1;

/** `CLOCK_BOOTTIME`, the clock of `bpf_ktime_get_boot_ns`. */
export const CLOCK_BOOTTIME = 7;

/** `BPF_FS_MAGIC`, `statfs` f_type of a bpf filesystem. */
export const BPF_FS_MAGIC = 0xcafe4a11;

/** `CLONE_NEWNET` for `setns`. */
export const CLONE_NEWNET = 0x40000000;

/** `O_RDONLY | O_CLOEXEC`. */
export const O_RDONLY_CLOEXEC = 0o2000000;

/**
 * `struct bpf_xdp_attach_opts { size_t sz; int old_prog_fd; }` (16 bytes), laid over a buffer
 * prepared once.
 */
export class XdpAttachOpts {
  /** The bytes handed to libbpf. */
  readonly bytes: Uint8Array = new Uint8Array(16);
  readonly #view = new DataView(this.bytes.buffer);

  /** Prepares the structure (`sz` = 16, `old_prog_fd` = 0). */
  constructor() {
    this.#view.setUint32(0, 16, true);
  }

  /** Sets `old_prog_fd` (used with `XDP_FLAGS_REPLACE`); returns the bytes. */
  withOldProgFd(fd: number): Uint8Array {
    this.#view.setInt32(8, fd, true);
    return this.bytes;
  }
}

/** Result of {@linkcode xdpQuery}: program ids per attach mode (0 = none). */
export interface XdpQuery {
  /** `XDP_ATTACHED_*`. */
  attachMode: number;
  /** The program id when exactly one is attached. */
  progId: number;
  /** Native (driver) mode program id. */
  drvProgId: number;
  /** Offloaded (hardware) program id. */
  hwProgId: number;
  /** Generic (skb) mode program id. */
  skbProgId: number;
}

/** `bpf_xdp_query`: which XDP programs an interface has. */
export function xdpQuery(ifindex: number): XdpQuery {
  const opts = new Uint8Array(32);
  const view = new DataView(opts.buffer);
  view.setUint32(0, 32, true);
  check(libbpf().bpf_xdp_query(ifindex, 0, opts), `query XDP programs of interface ${ifindex}`);
  return {
    progId: view.getUint32(8, true),
    drvProgId: view.getUint32(12, true),
    hwProgId: view.getUint32(16, true),
    skbProgId: view.getUint32(20, true),
    attachMode: opts[24],
  };
}

/** What {@linkcode programInfo} returns of `struct bpf_prog_info`. */
export interface ProgramInfo {
  /** `BPF_PROG_TYPE_*`. */
  type: number;
  /** Kernel program id. */
  id: number;
  /** Program name (the kernel keeps at most 15 characters). */
  name: string;
}

/** `bpf_obj_get_info_by_fd` on a program fd. */
export function programInfo(fd: number): ProgramInfo {
  const info = new Uint8Array(232);
  const len = new Uint32Array([info.length]);
  check(
    libbpf().bpf_obj_get_info_by_fd(fd, info, new Uint8Array(len.buffer)),
    "read BPF program info",
  );
  const view = new DataView(info.buffer);
  return {
    type: view.getUint32(0, true),
    id: view.getUint32(4, true),
    name: bufferString(info.subarray(64, 80)),
  };
}

/** What {@linkcode mapInfo} returns of `struct bpf_map_info`. */
export interface MapInfo {
  /** `BPF_MAP_TYPE_*`. */
  type: number;
  /** Kernel map id. */
  id: number;
  /** Key size in bytes. */
  keySize: number;
  /** Value size in bytes. */
  valueSize: number;
  /** Capacity. */
  maxEntries: number;
  /** `BPF_F_*` flags. */
  flags: number;
  /** Map name (at most 15 characters). */
  name: string;
}

/** `bpf_obj_get_info_by_fd` on a map fd. */
export function mapInfo(fd: number): MapInfo {
  const info = new Uint8Array(88);
  const len = new Uint32Array([info.length]);
  check(libbpf().bpf_obj_get_info_by_fd(fd, info, new Uint8Array(len.buffer)), "read BPF map info");
  const view = new DataView(info.buffer);
  return {
    type: view.getUint32(0, true),
    id: view.getUint32(4, true),
    keySize: view.getUint32(8, true),
    valueSize: view.getUint32(12, true),
    maxEntries: view.getUint32(16, true),
    flags: view.getUint32(20, true),
    name: bufferString(info.subarray(24, 40)),
  };
}

/** Result of {@linkcode testRun}. */
export interface TestRunResult {
  /** The program's return value (an `XDP_*` action for XDP). */
  retval: number;
  /** Average run time per repetition, nanoseconds. */
  durationNs: number;
}

/**
 * `bpf_prog_test_run_opts`: runs a loaded program on `data` in the kernel
 * (`BPF_PROG_TEST_RUN`), `repeat` times.
 */
export function testRun(progFd: number, data: Uint8Array, repeat = 1): TestRunResult {
  // struct bpf_test_run_opts (80 bytes): sz, data_in@8, data_out@16, data_size_in@24,
  // data_size_out@28, ctx_in@32, ctx_out@40, ctx_size_in@48, ctx_size_out@52, retval@56,
  // repeat@60, duration@64, flags@68, cpu@72, batch_size@76.
  const opts = new Uint8Array(80);
  const view = new DataView(opts.buffer);
  view.setBigUint64(0, 80n, true);
  const input = new Uint8Array(data);
  view.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(input))), true);
  view.setUint32(24, input.length, true);
  view.setUint32(60, repeat, true);
  check(libbpf().bpf_prog_test_run_opts(progFd, opts), "BPF test run");
  return { retval: view.getUint32(56, true), durationNs: view.getUint32(64, true) };
}

// ---------------------------------------------------------------------------------------------
// libc helpers

/** C string bytes (NUL-terminated) of `text`. */
export function cString(text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** Text up to the first NUL of `buf`. */
export function bufferString(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end)).trim();
}

/**
 * The index of a network interface in the calling thread's network namespace.
 *
 * @throws {BpfError} when there is no such interface
 */
export function interfaceIndex(ifname: string): number {
  const index = libc().if_nametoindex(cString(ifname));
  if (index === 0) {
    const errno = lastErrno() || Errno.ENODEV;
    throw new BpfError(`interface ${ifname}: ${describeErrno(errno)}`, errno);
  }
  return index;
}

const timespec = new Uint8Array(16);
const timespecWords = new Uint32Array(timespec.buffer);

/**
 * `CLOCK_BOOTTIME` in nanoseconds (the clock of `bpf_ktime_get_boot_ns`), as a Number:
 * exact to the nanosecond for 104 days of uptime, to a few nanoseconds after that.
 * Allocation-free.
 */
export function bootTimeNs(): number {
  libc().clock_gettime(CLOCK_BOOTTIME, timespec);
  const w = timespecWords;
  return (w[0] + w[1] * 4294967296) * 1e9 + w[2];
}

/** The `statfs` filesystem type of `path`, or -errno when it cannot be read. */
export function filesystemType(path: string): number {
  const buf = new Uint8Array(128);
  const c = libc();
  if (c.statfs(cString(path), buf) !== 0) return -lastErrno();
  return new DataView(buf.buffer).getUint32(0, true);
}

/** Mounts a bpf filesystem at `target` (`mount -t bpf bpf <target>`). */
export function mountBpffs(target: string): void {
  checkLibc(
    libc().mount(cString("bpf"), cString(target), cString("bpf"), 0n, null),
    `mount bpf filesystem at ${target}`,
  );
}

/** `mkdir -p` through libc (needs no Deno write permission; FFI permission covers it). */
export function makeDirectories(path: string, mode = 0o700): void {
  const c = libc();
  let prefix = path.startsWith("/") ? "" : ".";
  for (const part of path.split("/")) {
    if (part === "") continue;
    prefix = `${prefix}/${part}`;
    if (c.mkdir(cString(prefix), mode) !== 0) {
      const errno = lastErrno();
      if (errno !== Errno.EEXIST) {
        throw new BpfError(`create directory ${prefix}: ${describeErrno(errno)}`, errno);
      }
    }
  }
}

/** Removes a file (a pin); returns false when it did not exist. */
export function removeFile(path: string): boolean {
  if (libc().unlink(cString(path)) === 0) return true;
  const errno = lastErrno();
  if (errno === Errno.ENOENT) return false;
  throw new BpfError(`remove ${path}: ${describeErrno(errno)}`, errno);
}

/** Removes an empty directory; returns false when it did not exist or is not empty. */
export function removeDirectory(path: string): boolean {
  if (libc().rmdir(cString(path)) === 0) return true;
  const errno = lastErrno();
  if (errno === Errno.ENOENT || errno === Errno.ENOTEMPTY || errno === Errno.EEXIST) return false;
  throw new BpfError(`remove directory ${path}: ${describeErrno(errno)}`, errno);
}

/** Renames `from` to `to`, replacing `to` (atomic on one filesystem, bpffs included). */
export function renameFile(from: string, to: string): void {
  checkLibc(libc().rename(cString(from), cString(to)), `rename ${from} to ${to}`);
}

/** Closes a file descriptor (errors ignored: used for cleanup). */
export function closeFd(fd: number): void {
  if (fd >= 0) libc().close(fd);
}

/**
 * Runs `fn` with the calling thread in the network namespace at `path` (e.g.
 * `/run/netns/<name>`), then moves the thread back. JavaScript and synchronous FFI calls run on
 * the main thread, so the sockets libbpf and libc open meanwhile (interface lookup, XDP attach
 * and detach) belong to that namespace; other threads, and anything `fn` leaves pending, do
 * not. Keep `fn` synchronous.
 */
export function withNetworkNamespace<T>(path: string, fn: () => T): T {
  const c = libc();
  const home = checkLibc(
    c.open(cString("/proc/thread-self/ns/net"), O_RDONLY_CLOEXEC),
    "open the current network namespace",
  );
  try {
    const target = checkLibc(c.open(cString(path), O_RDONLY_CLOEXEC), `open ${path}`);
    try {
      checkLibc(c.setns(target, CLONE_NEWNET), `enter network namespace ${path}`);
    } finally {
      c.close(target);
    }
    try {
      return fn();
    } finally {
      checkLibc(c.setns(home, CLONE_NEWNET), "return to the original network namespace");
    }
  } finally {
    c.close(home);
  }
}
