/**
 * The C library, bound once for every module of `ffi/` that needs it: reading kernel files
 * (`procfs.ts`), waiting on capture handles (`poll.ts`), signalling a process (`signal.ts`) and
 * buffered capture files (`libpcap.ts`).
 *
 * @module
 */

import { openLibrary } from "./library.ts";

const SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  sysconf: { parameters: ["i32"], result: "i64" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  // Non-blocking: runs on a helper thread and returns a promise (see poll.ts).
  poll: { parameters: ["buffer", "u32", "i32"], result: "i32", nonblocking: true },
  fopen: { parameters: ["buffer", "buffer"], result: "pointer" },
  setvbuf: { parameters: ["pointer", "pointer", "i32", "usize"], result: "i32" },
  fclose: { parameters: ["pointer"], result: "i32" },
  fmemopen: { parameters: ["pointer", "usize", "buffer"], result: "pointer" },
  ftell: { parameters: ["pointer"], result: "i64" },
  fseek: { parameters: ["pointer", "i64", "i32"], result: "i32" },
  fflush: { parameters: ["pointer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  dlopen: { parameters: ["buffer", "i32"], result: "pointer" },
  dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The bound libc functions. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let lib: Libc | undefined;

/**
 * The C library's functions, loaded on first use.
 *
 * @throws {LibraryNotFoundError} when no C library loads
 * @throws {Deno.errors.NotCapable} without `--allow-ffi`
 */
export function libc(): Libc {
  lib ??= openLibrary(
    ["libc.so.6", "libc.so"],
    SYMBOLS,
    "libc is missing: is this a glibc system?",
  ).symbols;
  return lib;
}

/** The message of the C library's last error (`strerror(errno)`), e.g. `Invalid argument`. */
export function lastError(): string {
  const c = libc();
  const at = c.__errno_location();
  const errno = at === null ? 0 : new Deno.UnsafePointerView(at).getInt32();
  const text = c.strerror(errno);
  return text === null ? `errno ${errno}` : Deno.UnsafePointerView.getCString(text);
}
