/**
 * SOCKS5 (RFC 1928): unwrapping of UDP-associate datagrams, so that BitTorrent relayed through
 * a SOCKS5 proxy is inspected by its inner payload; and, only when asked, detection of SOCKS5
 * TCP connections themselves (a method-selection greeting answered by a method choice).
 *
 * @module
 */

import type { EngineConfig } from "../config.ts";
import type { Detector, Inspection } from "../detector.ts";
import { IPPROTO_TCP } from "../packet.ts";
import { Reason } from "../reason.ts";

/**
 * Offset of the payload inside a SOCKS5 UDP request header at `off`, or -1 when the bytes do
 * not start with one (`RSV=0000`, `FRAG=00`, a known `ATYP`, an address, a port, then at least
 * one payload byte).
 *
 * @example
 * ```ts
 * import { socks5UdpPayloadOffset } from "./socks5.ts";
 * const b = Uint8Array.of(0, 0, 0, 1, 10, 0, 0, 1, 0x1a, 0xe1, 0x64);
 * socks5UdpPayloadOffset(b, 0, b.length); // 10
 * ```
 */
export function socks5UdpPayloadOffset(buf: Uint8Array, off: number, end: number): number {
  if (end - off < 8) return -1;
  if (buf[off] !== 0 || buf[off + 1] !== 0) return -1; // RSV
  if (buf[off + 2] !== 0) return -1; // fragmented datagrams are not reassembled
  const atyp = buf[off + 3];
  let inner: number;
  if (atyp === 1) inner = off + 4 + 4 + 2;
  else if (atyp === 4) inner = off + 4 + 16 + 2;
  else if (atyp === 3) {
    const nameLength = buf[off + 4];
    if (nameLength === 0) return -1;
    for (let i = off + 5; i < off + 5 + nameLength && i < end; i++) {
      const c = buf[i];
      if (c <= 0x20 || c >= 0x7f) return -1; // host names are printable
    }
    inner = off + 5 + nameLength + 2;
  } else return -1;
  return inner < end ? inner : -1;
}

const GREETED = 1;

/**
 * Detects SOCKS5 TCP connections (off unless `detectSocks` is set): the initiator's first
 * payload is a greeting `05 n m1…mn` and the responder's first payload the two bytes `05 m`
 * with `m` one of the offered methods or `ff`.
 */
export class Socks5Detector implements Detector {
  readonly transport = IPPROTO_TCP;
  readonly #state: Uint8Array;
  readonly #offered: Uint8Array;

  /** @param capacity the flow table's capacity */
  constructor(capacity: number) {
    this.#state = new Uint8Array(capacity);
    this.#offered = new Uint8Array(capacity);
  }

  /** Builds the detector when the configuration asks for SOCKS detection. */
  static when(config: EngineConfig): Socks5Detector[] {
    return config.detectSocks ? [new Socks5Detector(config.maxFlows)] : [];
  }

  reset(slot: number): void {
    this.#state[slot] = 0;
  }

  inspect(x: Inspection): number {
    const buf = x.buf;
    const off = x.offset;
    const length = x.end - off;
    if (x.direction === 0 && x.directionPayloadIndex === 1) {
      if (length < 3 || buf[off] !== 5) return 0;
      const n = buf[off + 1];
      if (n === 0 || length !== 2 + n) return 0;
      let offered = 0;
      for (let i = 0; i < n; i++) {
        const m = buf[off + 2 + i];
        if (m < 8) offered |= 1 << m;
      }
      this.#state[x.slot] = GREETED;
      this.#offered[x.slot] = offered;
      return 0;
    }
    if (x.direction === 1 && x.directionPayloadIndex === 1 && this.#state[x.slot] === GREETED) {
      if (length !== 2 || buf[off] !== 5) return 0;
      const m = buf[off + 1];
      if (m === 0xff || (m < 8 && (this.#offered[x.slot] & (1 << m)) !== 0)) return Reason.SOCKS5;
    }
    return 0;
  }
}
