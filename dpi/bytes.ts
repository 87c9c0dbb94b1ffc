/**
 * Bounds-checked byte helpers shared by the detectors. Patterns are `Uint8Array`s built once at
 * module load with {@linkcode ascii}; none of the matching functions allocates.
 *
 * @module
 */

/**
 * The bytes of an ASCII string (for patterns built once, at module load).
 *
 * @example
 * ```ts
 * import { ascii, matchAt } from "./bytes.ts";
 * const GET = ascii("GET ");
 * matchAt(ascii("GET / HTTP/1.1"), 0, 14, GET); // true
 * ```
 */
export function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/** Whether `pattern` occurs in `buf` at `off`, entirely before `end`. */
export function matchAt(buf: Uint8Array, off: number, end: number, pattern: Uint8Array): boolean {
  const n = pattern.length;
  if (off < 0 || off + n > end) return false;
  for (let i = 0; i < n; i++) if (buf[off + i] !== pattern[i]) return false;
  return true;
}

/** Like {@linkcode matchAt}, ignoring ASCII case (`pattern` must be lower case). */
export function matchAtIgnoreCase(
  buf: Uint8Array,
  off: number,
  end: number,
  pattern: Uint8Array,
): boolean {
  const n = pattern.length;
  if (off < 0 || off + n > end) return false;
  for (let i = 0; i < n; i++) {
    const c = buf[off + i];
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== pattern[i]) return false;
  }
  return true;
}

/** First offset in `[off, end)` where `pattern` starts, or -1. */
export function indexOf(buf: Uint8Array, off: number, end: number, pattern: Uint8Array): number {
  const n = pattern.length;
  if (n === 0) return off;
  const first = pattern[0];
  const last = end - n;
  for (let i = off; i <= last; i++) {
    if (buf[i] !== first) continue;
    let j = 1;
    while (j < n && buf[i + j] === pattern[j]) j++;
    if (j === n) return i;
  }
  return -1;
}

/** First offset in `[off, end)` holding `byte`, or -1. */
export function indexOfByte(buf: Uint8Array, off: number, end: number, byte: number): number {
  for (let i = off; i < end; i++) if (buf[i] === byte) return i;
  return -1;
}

/** Big-endian unsigned 16-bit value at `off` (caller checks bounds). */
export function u16(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

/** Big-endian unsigned 32-bit value at `off` (caller checks bounds). */
export function u32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

const seen = new Uint8Array(256);
let seenGeneration = 0;

/**
 * Number of distinct byte values in `[off, end)`: a cheap randomness measure. `n` random bytes
 * hold about `256·(1 − e^(−n/256))` distinct values (≈ 80 for 96 bytes); text and structured
 * binary hold far fewer.
 */
export function distinctBytes(buf: Uint8Array, off: number, end: number): number {
  seenGeneration = (seenGeneration + 1) & 0xff;
  if (seenGeneration === 0) {
    seen.fill(0);
    seenGeneration = 1;
  }
  const g = seenGeneration;
  let count = 0;
  for (let i = off; i < end; i++) {
    const b = buf[i];
    if (seen[b] !== g) {
      seen[b] = g;
      count++;
    }
  }
  return count;
}

/** Whether every byte in `[off, end)` is printable ASCII, tab, CR or LF. */
export function isText(buf: Uint8Array, off: number, end: number): boolean {
  for (let i = off; i < end; i++) {
    const c = buf[i];
    if ((c < 0x20 || c > 0x7e) && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return true;
}

/**
 * Whether `[off, end)` starts with three ASCII letters, as text protocols do (`GET `, `POST`,
 * `HTTP/`, `SSH-`, …) and binary BitTorrent payloads almost never do.
 */
export function startsWithWord(buf: Uint8Array, off: number, end: number): boolean {
  if (end - off < 3) return false;
  for (let i = off; i < off + 3; i++) {
    const c = buf[i] | 0x20;
    if (c < 0x61 || c > 0x7a) return false;
  }
  return true;
}
