/**
 * Address ranges (CIDR lists) for ban policy: local networks, allowlists, the host's own
 * addresses. Matching is allocation-free over the address-word layout of `Packet.src`.
 *
 * @module
 */

import { formatAddress, parseAddress } from "../dpi/address.ts";

/** One CIDR range: address words, family and prefix length. */
export interface Cidr {
  /** Network address (host bits cleared), four words. */
  readonly words: Uint32Array;
  /** 4 or 6. */
  readonly ipVersion: number;
  /** Prefix length (0–32 for IPv4, 0–128 for IPv6). */
  readonly prefix: number;
}

/**
 * Parses `a.b.c.d/n`, `x:y::/n` or a bare address (a host range).
 *
 * @returns the range, or an error message
 *
 * @example
 * ```ts
 * import { parseCidr } from "./networks.ts";
 * const r = parseCidr("10.0.0.0/8");
 * typeof r === "string" ? r : r.prefix; // 8
 * ```
 */
export function parseCidr(text: string): Cidr | string {
  const trimmed = text.trim();
  const slash = trimmed.indexOf("/");
  const addressText = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const words = new Uint32Array(4);
  const ipVersion = parseAddress(addressText, words);
  if (ipVersion === 0) return `"${text}" is not an IP address or CIDR range`;
  const max = ipVersion === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = trimmed.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) {
      return `"${text}": prefix length must be 0-${max}`;
    }
    prefix = Number(p);
  }
  const bits = ipVersion === 4 ? prefix + 96 : prefix;
  for (let i = 0; i < 4; i++) words[i] = (words[i] & wordMask(bits, i)) >>> 0;
  return { words, ipVersion, prefix };
}

function wordMask(bits: number, word: number): number {
  const inWord = bits - word * 32;
  if (inWord <= 0) return 0;
  if (inWord >= 32) return 0xffffffff;
  return (0xffffffff << (32 - inWord)) >>> 0;
}

/** Text of a range, e.g. `10.0.0.0/8`. */
export function formatCidr(c: Cidr): string {
  return `${formatAddress(c.words, c.ipVersion)}/${c.prefix}`;
}

/**
 * A set of CIDR ranges with a membership test.
 *
 * @example
 * ```ts
 * import { NetworkList } from "./networks.ts";
 * import { parseAddress } from "../dpi/address.ts";
 * const list = NetworkList.parse(["10.0.0.0/8,192.168.0.0/16"]);
 * const a = new Uint32Array(4);
 * list.contains(a, parseAddress("10.1.2.3", a)); // true
 * ```
 */
export class NetworkList {
  readonly #ranges: Cidr[];
  readonly #masks: Uint32Array;

  /** @param ranges the ranges */
  constructor(ranges: Cidr[]) {
    this.#ranges = ranges;
    this.#masks = new Uint32Array(ranges.length * 4);
    ranges.forEach((r, i) => {
      const bits = r.ipVersion === 4 ? r.prefix + 96 : r.prefix;
      for (let w = 0; w < 4; w++) this.#masks[i * 4 + w] = wordMask(bits, w);
    });
  }

  /**
   * Parses values of a repeatable option; each may hold a comma-separated list.
   *
   * @throws {RangeError} naming the bad entry
   */
  static parse(values: readonly string[]): NetworkList {
    const ranges: Cidr[] = [];
    for (const value of values) {
      for (const part of value.split(",")) {
        if (part.trim() === "") continue;
        const r = parseCidr(part);
        if (typeof r === "string") throw new RangeError(r);
        ranges.push(r);
      }
    }
    return new NetworkList(ranges);
  }

  /** The ranges. */
  get ranges(): readonly Cidr[] {
    return this.#ranges;
  }

  /** A list holding these ranges and `more`. */
  with(more: readonly Cidr[]): NetworkList {
    return new NetworkList([...this.#ranges, ...more]);
  }

  /** Whether an address falls in one of the ranges. */
  contains(address: Uint32Array, ipVersion: number): boolean {
    const ranges = this.#ranges;
    const masks = this.#masks;
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i];
      if (r.ipVersion !== ipVersion) continue;
      const w = r.words;
      const m = i * 4;
      if (
        ((address[0] & masks[m]) >>> 0) === w[0] &&
        ((address[1] & masks[m + 1]) >>> 0) === w[1] &&
        ((address[2] & masks[m + 2]) >>> 0) === w[2] &&
        ((address[3] & masks[m + 3]) >>> 0) === w[3]
      ) return true;
    }
    return false;
  }
}

/** Private and special-use ranges treated as local by default (RFC 1918, 6598, 4193, 3927, 4291). */
export const DEFAULT_LOCAL_NETWORKS: readonly string[] = [
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "100.64.0.0/10",
  "169.254.0.0/16",
  "fc00::/7",
  "fe80::/10",
];
