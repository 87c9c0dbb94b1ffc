/**
 * IP addresses held as four big-endian 32-bit words (IPv4 stored IPv4-mapped), the layout of
 * {@linkcode Packet.src}: formatting, parsing and classification.
 *
 * @module
 */

/**
 * Formats address words as text: dotted quad for IPv4, RFC 5952 compressed form for IPv6.
 *
 * @example
 * ```ts
 * import { formatAddress } from "./address.ts";
 * formatAddress(Uint32Array.of(0, 0, 0xffff, 0x0a000001), 4); // "10.0.0.1"
 * ```
 */
export function formatAddress(words: Uint32Array, ipVersion: number): string {
  if (ipVersion === 4) {
    const v = words[3];
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 4; i++) groups.push(words[i] >>> 16, words[i] & 0xffff);
  // Longest run of two or more zero groups becomes "::" (the first one on a tie).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups.slice(from, to).map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/**
 * Parses an IPv4 or IPv6 address into `out` (four words) and returns 4 or 6, or 0 when the
 * text is not an address.
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * const w = new Uint32Array(4);
 * parseAddress("2001:db8::1", w); // 6
 * ```
 */
export function parseAddress(text: string, out: Uint32Array): number {
  const v4 = parseIpv4(text);
  if (v4 >= 0) {
    out[0] = 0;
    out[1] = 0;
    out[2] = 0xffff;
    out[3] = v4;
    return 4;
  }
  return parseIpv6(text, out) ? 6 : 0;
}

function parseIpv4(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4) return -1;
  let v = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return -1;
    const n = Number(part);
    if (n > 255) return -1;
    v = v * 256 + n;
  }
  return v >>> 0;
}

function parseIpv6(text: string, out: Uint32Array): boolean {
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groups: number[] = [];
  const parseSide = (side: string): number[] | null => {
    if (side === "") return [];
    const result: number[] = [];
    const parts = side.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseIpv4(part);
        if (v4 < 0) return null;
        result.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return null;
        result.push(parseInt(part, 16));
      }
    }
    return result;
  };
  const head = parseSide(halves[0]);
  const tail = halves.length === 2 ? parseSide(halves[1]) : [];
  if (head === null || tail === null) return false;
  if (halves.length === 1) {
    if (head.length !== 8) return false;
    groups.push(...head);
  } else {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return false;
    groups.push(...head, ...new Array(missing).fill(0), ...tail);
  }
  for (let i = 0; i < 4; i++) out[i] = ((groups[2 * i] << 16) | groups[2 * i + 1]) >>> 0;
  return true;
}

/**
 * Whether the address can belong to one remote host: not unspecified, loopback, multicast or
 * (IPv4) limited broadcast / "this network". Hot enough to stay allocation-free.
 */
export function isUnicastHost(words: Uint32Array, ipVersion: number): boolean {
  if (ipVersion === 4) {
    const first = words[3] >>> 24;
    return first !== 0 && first !== 127 && first < 224;
  }
  if ((words[0] >>> 24) === 0xff) return false; // multicast
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && (words[3] === 0 || words[3] === 1)) {
    return false; // unspecified, loopback
  }
  return true;
}
