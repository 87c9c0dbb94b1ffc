/**
 * Zero-allocation bencode scanning (BEP 3) over packet bytes: validate values, find dictionary
 * keys, read strings and integers, all as offsets. Used by the DHT, extension protocol, PEX and
 * tracker detectors.
 *
 * Every function distinguishes malformed input ({@linkcode BENCODE_INVALID}) from input that is
 * well-formed so far but cut short ({@linkcode BENCODE_TRUNCATED}), so packets truncated by the
 * capture's snap length can still be judged on the bytes present.
 *
 * @module
 */

/** Returned for bytes that are not bencode. */
export const BENCODE_INVALID = -1;
/** Returned when the bytes end before the value does. */
export const BENCODE_TRUNCATED = -2;

const MAX_DEPTH = 24;
const MAX_STRING_DIGITS = 7;

/**
 * Length of the byte string whose header (`<length>:`) starts at `off`, or a negative code.
 * Leading zeros are rejected as in canonical bencode.
 */
export function stringLength(buf: Uint8Array, off: number, end: number): number {
  let length = 0;
  let i = off;
  for (; i < end; i++) {
    const c = buf[i];
    if (c === 0x3a) break; // ':'
    if (c < 0x30 || c > 0x39) return BENCODE_INVALID;
    if (i - off === MAX_STRING_DIGITS) return BENCODE_INVALID;
    if (i > off && length === 0) return BENCODE_INVALID; // leading zero
    length = length * 10 + (c - 0x30);
  }
  if (i === off) return BENCODE_INVALID;
  if (i >= end) return BENCODE_TRUNCATED;
  return length;
}

/** Offset of the content of a byte string of `length` bytes whose header starts at `off`. */
export function stringStart(off: number, length: number): number {
  let digits = 1;
  while (length >= 10) {
    length = (length / 10) | 0;
    digits++;
  }
  return off + digits + 1;
}

/**
 * Offset just past the bencoded value starting at `off`, or {@linkcode BENCODE_INVALID} /
 * {@linkcode BENCODE_TRUNCATED}.
 *
 * @example
 * ```ts
 * import { ascii } from "./bytes.ts";
 * import { valueEnd } from "./bencode.ts";
 * const b = ascii("d1:ai42e1:bl3:xyzee");
 * valueEnd(b, 0, b.length); // 19
 * ```
 */
export function valueEnd(buf: Uint8Array, off: number, end: number, depth = 0): number {
  if (off >= end) return BENCODE_TRUNCATED;
  const c = buf[off];
  if (c === 0x69) return intEnd(buf, off, end); // 'i'
  if (c >= 0x30 && c <= 0x39) {
    const length = stringLength(buf, off, end);
    if (length < 0) return length;
    const next = stringStart(off, length) + length;
    return next > end ? BENCODE_TRUNCATED : next;
  }
  if (depth >= MAX_DEPTH) return BENCODE_INVALID;
  if (c === 0x6c) { // 'l'
    let p = off + 1;
    for (;;) {
      if (p >= end) return BENCODE_TRUNCATED;
      if (buf[p] === 0x65) return p + 1; // 'e'
      p = valueEnd(buf, p, end, depth + 1);
      if (p < 0) return p;
    }
  }
  if (c === 0x64) { // 'd'
    let p = off + 1;
    for (;;) {
      if (p >= end) return BENCODE_TRUNCATED;
      if (buf[p] === 0x65) return p + 1;
      const b = buf[p];
      if (b < 0x30 || b > 0x39) return BENCODE_INVALID; // keys are strings
      p = valueEnd(buf, p, end, depth + 1);
      if (p < 0) return p;
      p = valueEnd(buf, p, end, depth + 1);
      if (p < 0) return p;
    }
  }
  return BENCODE_INVALID;
}

function intEnd(buf: Uint8Array, off: number, end: number): number {
  let i = off + 1;
  if (i < end && buf[i] === 0x2d) i++; // '-'
  const digitsStart = i;
  for (; i < end; i++) {
    const c = buf[i];
    if (c === 0x65) break;
    if (c < 0x30 || c > 0x39 || i - digitsStart > 20) return BENCODE_INVALID;
  }
  if (i >= end) return BENCODE_TRUNCATED;
  if (i === digitsStart) return BENCODE_INVALID;
  return i + 1;
}

/**
 * Integer value of the bencoded integer at `off` (`i…e`), or `NaN` when it is not one.
 * Values beyond 2^53 lose precision; detectors only compare small ones.
 */
export function intValue(buf: Uint8Array, off: number, end: number): number {
  if (off >= end || buf[off] !== 0x69) return NaN;
  const stop = intEnd(buf, off, end);
  if (stop < 0) return NaN;
  let i = off + 1;
  const negative = buf[i] === 0x2d;
  if (negative) i++;
  let v = 0;
  for (; i < stop - 1; i++) v = v * 10 + (buf[i] - 0x30);
  return negative ? -v : v;
}

/**
 * Offset of the value stored under `key` in the dictionary starting at `dictOff`, or
 * {@linkcode BENCODE_INVALID} when the key is absent or the dictionary malformed, or
 * {@linkcode BENCODE_TRUNCATED} when the bytes end before the key was found.
 *
 * @example
 * ```ts
 * import { ascii } from "./bytes.ts";
 * import { dictGet, intValue } from "./bencode.ts";
 * const b = ascii("d1:ai42e1:bl3:xyzee");
 * intValue(b, dictGet(b, 0, b.length, ascii("a")), b.length); // 42
 * ```
 */
export function dictGet(buf: Uint8Array, dictOff: number, end: number, key: Uint8Array): number {
  if (dictOff >= end) return BENCODE_TRUNCATED;
  if (buf[dictOff] !== 0x64) return BENCODE_INVALID;
  let p = dictOff + 1;
  const keyLength = key.length;
  for (;;) {
    if (p >= end) return BENCODE_TRUNCATED;
    if (buf[p] === 0x65) return BENCODE_INVALID;
    const length = stringLength(buf, p, end);
    if (length < 0) return length;
    const start = stringStart(p, length);
    const valueOff = start + length;
    if (valueOff > end) return BENCODE_TRUNCATED;
    if (length === keyLength) {
      let i = 0;
      while (i < keyLength && buf[start + i] === key[i]) i++;
      if (i === keyLength) return valueOff;
    }
    p = valueEnd(buf, valueOff, end, 1);
    if (p < 0) return p;
  }
}

/**
 * Whether the value at `off` is a byte string equal to `expected` (e.g. the `y` of a KRPC
 * message). Returns false for any other value.
 */
export function stringEquals(
  buf: Uint8Array,
  off: number,
  end: number,
  expected: Uint8Array,
): boolean {
  if (off < 0) return false;
  const length = stringLength(buf, off, end);
  if (length !== expected.length) return false;
  const start = stringStart(off, length);
  if (start + length > end) return false;
  for (let i = 0; i < length; i++) if (buf[start + i] !== expected[i]) return false;
  return true;
}
