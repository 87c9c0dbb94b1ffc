/**
 * Local Service Discovery (BEP 14): BitTorrent clients announce the torrents they share to their
 * LAN with an HTTP-like `BT-SEARCH` request sent to UDP port 6771 of the multicast group
 * `239.192.152.143` (IPv4) or `ff15::efc0:988f` (IPv6):
 *
 * ```text
 * BT-SEARCH * HTTP/1.1\r\n
 * Host: 239.192.152.143:6771\r\n
 * Port: 6881\r\n
 * Infohash: 0123456789ABCDEF0123456789ABCDEF01234567\r\n
 * cookie: 5a3f\r\n
 * \r\n
 * \r\n
 * ```
 *
 * @module
 */

import { ascii, indexOf, matchAt, matchAtIgnoreCase } from "../bytes.ts";
import type { Detector, Inspection } from "../detector.ts";
import { IPPROTO_UDP } from "../packet.ts";
import { Reason } from "../reason.ts";

/** The UDP port LSD announcements are sent to. */
export const LSD_PORT = 6771;

const REQUEST_LINE = ascii("BT-SEARCH * HTTP/1.1\r\n");
const CRLF = ascii("\r\n");
const HOST = ascii("host:");
const PORT = ascii("port:");
const INFOHASH = ascii("infohash:");
const COOKIE = ascii("cookie:");
const HOST_V4 = ascii("239.192.152.143:6771");
const HOST_V6 = ascii("[ff15::efc0:988f]:6771");
const INFOHASH_DIGITS = 40;

/**
 * Whether `buf[off, end)` is an LSD announcement: the request line `BT-SEARCH * HTTP/1.1`, then
 * CRLF-terminated headers with exactly one `Host` naming the LSD group and port, exactly one
 * `Port` holding a port number (1–65535, no leading zero), at least one `Infohash` of 40 hex
 * digits, an optional `cookie`, and any other well-formed header (`Name: printable value`);
 * then an empty line, followed by nothing but CR and LF.
 *
 * When `cut` is set (the capture's snap length cut the datagram), the terminating empty line
 * and an incomplete last line may be missing, but the complete lines present must already
 * hold the `Host`, `Port` and an `Infohash`.
 *
 * @example
 * ```ts
 * import { ascii } from "../bytes.ts";
 * import { isLsdAnnouncement } from "./lsd.ts";
 * const b = ascii(
 *   "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n" +
 *     "Infohash: 0123456789abcdef0123456789abcdef01234567\r\n\r\n\r\n",
 * );
 * isLsdAnnouncement(b, 0, b.length, false); // true
 * ```
 */
export function isLsdAnnouncement(
  buf: Uint8Array,
  off: number,
  end: number,
  cut: boolean,
): boolean {
  if (!matchAt(buf, off, end, REQUEST_LINE)) return false;
  let host = false;
  let port = false;
  let infohashes = 0;
  let p = off + REQUEST_LINE.length;
  for (;;) {
    const lineEnd = indexOf(buf, p, end, CRLF);
    if (lineEnd < 0) {
      if (!cut) return false; // every line ends with CRLF
      break; // the last line was cut: judge on the complete lines
    }
    if (lineEnd === p) { // the empty line ending the headers
      if (!onlyLineBreaks(buf, lineEnd + 2, end)) return false;
      break;
    }
    const value = headerValue(buf, p, lineEnd);
    if (value < 0) return false; // not `Name: value`
    if (matchAtIgnoreCase(buf, p, lineEnd, HOST)) {
      if (host) return false; // one Host only
      if (!isLsdHost(buf, value, lineEnd)) return false;
      host = true;
    } else if (matchAtIgnoreCase(buf, p, lineEnd, PORT)) {
      if (port) return false; // one Port only
      if (!isPortNumber(buf, value, lineEnd)) return false;
      port = true;
    } else if (matchAtIgnoreCase(buf, p, lineEnd, INFOHASH)) {
      if (!isHex(buf, value, lineEnd, INFOHASH_DIGITS)) return false;
      infohashes++;
    } else if (matchAtIgnoreCase(buf, p, lineEnd, COOKIE)) {
      if (value === lineEnd) return false; // an empty cookie
    }
    p = lineEnd + 2;
  }
  return host && port && infohashes > 0;
}

/**
 * Offset of the value of the header line `[start, lineEnd)` (after the colon and optional
 * spaces), or -1 unless the line is a token name, a colon and a printable value.
 */
function headerValue(buf: Uint8Array, start: number, lineEnd: number): number {
  let i = start;
  while (i < lineEnd && isTokenChar(buf[i])) i++;
  if (i === start || i === lineEnd || buf[i] !== 0x3a) return -1; // "Name:"
  i++;
  while (i < lineEnd && buf[i] === 0x20) i++;
  for (let j = i; j < lineEnd; j++) {
    if (buf[j] < 0x20 || buf[j] > 0x7e) return -1; // printable value
  }
  return i;
}

/** HTTP token characters (RFC 9110): letters, digits and ``!#$%&'*+-.^_`|~``. */
function isTokenChar(c: number): boolean {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) {
    return true;
  }
  return c === 0x21 || (c >= 0x23 && c <= 0x27) || c === 0x2a || c === 0x2b || c === 0x2d ||
    c === 0x2e || c === 0x5e || c === 0x5f || c === 0x60 || c === 0x7c || c === 0x7e;
}

/** Whether `[off, end)` is exactly the IPv4 or IPv6 LSD group with port 6771. */
function isLsdHost(buf: Uint8Array, off: number, end: number): boolean {
  if (end - off === HOST_V4.length) return matchAt(buf, off, end, HOST_V4);
  if (end - off === HOST_V6.length) return matchAtIgnoreCase(buf, off, end, HOST_V6);
  return false;
}

/** Whether `[off, end)` is a decimal port number from 1 to 65535 without leading zeros. */
function isPortNumber(buf: Uint8Array, off: number, end: number): boolean {
  if (end - off < 1 || end - off > 5) return false;
  if (buf[off] === 0x30) return false; // leading zero, or 0
  let n = 0;
  for (let i = off; i < end; i++) {
    const c = buf[i];
    if (c < 0x30 || c > 0x39) return false;
    n = n * 10 + (c - 0x30);
  }
  return n <= 65535;
}

/** Whether `[off, end)` is exactly `digits` hexadecimal digits (either case). */
function isHex(buf: Uint8Array, off: number, end: number, digits: number): boolean {
  if (end - off !== digits) return false;
  for (let i = off; i < end; i++) {
    const c = buf[i];
    const lower = c | 0x20; // A-F become a-f; no other byte does
    if (!((c >= 0x30 && c <= 0x39) || (lower >= 0x61 && lower <= 0x66))) return false;
  }
  return true;
}

/** Whether `[off, end)` holds only CR and LF bytes. */
function onlyLineBreaks(buf: Uint8Array, off: number, end: number): boolean {
  for (let i = off; i < end; i++) if (buf[i] !== 0x0d && buf[i] !== 0x0a) return false;
  return true;
}

/** Detects LSD announcements (stateless): UDP to port 6771 holding an {@linkcode isLsdAnnouncement}. */
export class LsdDetector implements Detector {
  readonly transport = IPPROTO_UDP;

  inspect(x: Inspection): number {
    if (x.packet.dstPort !== LSD_PORT) return 0;
    const cut = x.end - x.offset < x.wireLength;
    return isLsdAnnouncement(x.buf, x.offset, x.end, cut) ? Reason.LSD : 0;
  }
}
