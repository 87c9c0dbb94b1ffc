/**
 * BitTorrent over HTTP (TCP): tracker announces and scrapes, web seeding, and requests made by
 * BitTorrent clients; plus the peer lists of tracker responses.
 *
 * Requests are judged on one segment (no reassembly): a `GET` request line, its query and its
 * headers, as far as the bytes present go. In order:
 *
 * 1. BitComet persistent seed (WEBSEED): `GET /data?fid=<40 hex digits>&size=<digits>`, the
 *    request BitComet's long-term seeding sends to a peer's HTTP port (documented by OpenDPI /
 *    nDPI, `bittorrent.c`).
 * 2. Tracker announce (HTTP_TRACKER, BEP 3): the query holds `info_hash=` decoding to 20 bytes
 *    and `peer_id=`, either decoding to 20 bytes together with a valid `port=`, or starting with
 *    a known client prefix ({@linkcode isClientPeerId}) — which also decides a request line cut
 *    short by the capture or by TCP segmentation before `port` came.
 * 3. Tracker scrape (HTTP_TRACKER, BEP 48): the last path segment starts with `scrape`
 *    (`/scrape`, `/scrape.php`, `/x/scrape`) and the query holds a 20-byte `info_hash=`.
 * 4. HTTP seeding, Hoffman style (WEBSEED, BEP 17): a 20-byte `info_hash=` and `piece=<digits>`.
 * 5. A BitTorrent client's User-Agent ({@linkcode isBitTorrentUserAgent}): with a
 *    `Range: bytes=` header it is a BEP 19 web seed request (WEBSEED), otherwise
 *    BT_USER_AGENT. Only `GET` requests count: BitTorrent clients fetch with `GET` (trackers,
 *    web seeds, `.torrent` files, RSS), while a `POST` carrying a client's User-Agent is a remote
 *    control call (e.g. `transmission-remote` sends `User-Agent: Transmission/…` to the daemon's
 *    `/transmission/rpc`), not BitTorrent traffic.
 *
 * A plain `Range:` request (browsers, curl, download managers) is never WEBSEED. Headers such as
 * `X-Peer-Id` are not used: no BitTorrent client is documented to send them, and unrelated
 * software (WebRTC signalling, peer-to-peer sync services) does.
 *
 * These are self-identifying signatures (the request names the BitTorrent parameters or the
 * client), so they apply on every port: HTTP trackers and web seeds usually run on port 80.
 *
 * Tracker responses of flows decided as HTTP_TRACKER are followed to learn their peers as
 * {@linkcode Reason.TRACKER_PEER} endpoints: compact `peers` (6-byte IPv4, BEP 23), `peers6`
 * (18-byte IPv6, BEP 7) and the original list of dictionaries with a dotted-quad `ip` and a
 * `port` (BEP 3). The body may start in the header segment or the next one; a compact peer
 * string continues across in-order segments (an entry split between two segments is lost).
 * Skipped: bodies sent chunked (`Transfer-Encoding`) or compressed (`Content-Encoding`), headers
 * spanning segments, dictionary-form entries with IPv6 or host names, and anything after a
 * value that runs past the bytes present other than a compact peer string.
 *
 * @module
 */

import { dictGet, intValue, stringLength, stringStart, valueEnd } from "../bencode.ts";
import { ascii, indexOf, indexOfByte, matchAt, matchAtIgnoreCase } from "../bytes.ts";
import type { Detector, Inspection } from "../detector.ts";
import { IPPROTO_TCP } from "../packet.ts";
import { Reason } from "../reason.ts";

const GET = ascii("GET ");
const HTTP_SCHEME = ascii("http://");
const HTTP_VERSION = ascii("HTTP/1.");
const CRLF = ascii("\r\n");
const HEADERS_END = ascii("\r\n\r\n");
const INFO_HASH = ascii("info_hash");
const PEER_ID = ascii("peer_id");
const PORT = ascii("port");
const PIECE = ascii("piece");
const SCRAPE = ascii("scrape");
const DATA_FID = ascii("/data?fid=");
const SIZE = ascii("&size=");
const USER_AGENT = ascii("user-agent:");
const RANGE = ascii("range:");
const BYTES = ascii("bytes=");
const STATUS_200 = ascii(" 200");
const TRANSFER_ENCODING = ascii("transfer-encoding:");
const CONTENT_ENCODING = ascii("content-encoding:");
const PEERS = ascii("peers");
const PEERS6 = ascii("peers6");
const IP = ascii("ip");

const SP = 0x20;
const SLASH = 0x2f;
const QUESTION = 0x3f;
const AMPERSAND = 0x26;
const EQUALS = 0x3d;
const PERCENT = 0x25;
const DASH = 0x2d;
const DOT = 0x2e;
const DICT = 0x64;
const LIST = 0x6c;
const END = 0x65;

const HASH_LENGTH = 20;
const FID_DIGITS = 40;
const MAX_PIECE_DIGITS = 10;
const PEER_V4 = 6;
const PEER_V6 = 18;

/**
 * Product tokens (with their separator) of BitTorrent clients whose User-Agent only appears on
 * BitTorrent traffic: tracker announces, web seed requests and the client's own `.torrent` / RSS
 * fetches. A version digit must follow. Left out on purpose: `aria2/`, `BitComet/`, FlashGet and
 * Xunlei/Thunder, which are also plain HTTP/FTP download managers sending the same User-Agent
 * for ordinary downloads (their tracker announces are still caught by the query rules).
 */
const CLIENT_AGENTS: readonly Uint8Array[] = [
  ascii("Transmission/"), // Transmission (libtransmission, "Transmission/2.94")
  ascii("qBittorrent/"), // qBittorrent ("qBittorrent/4.2.5")
  ascii("libtorrent/"), // Rasterbar libtorrent's default, used by applications that keep it
  ascii("rtorrent/"), // rTorrent ("rtorrent/0.9.8/0.13.8")
  ascii("uTorrent/"), // µTorrent for Windows ("uTorrent/3550(45356)")
  ascii("uTorrentMac/"), // µTorrent for macOS
  ascii("BitTorrent/"), // BitTorrent (mainline) client ("BitTorrent/7100(…)")
  ascii("BTWebClient/"), // µTorrent/BitTorrent internal HTTP client (listed by nDPI)
  ascii("Deluge/"), // Deluge 2 ("Deluge/2.0.3 libtorrent/1.2.5.0")
  ascii("Deluge "), // Deluge 1 ("Deluge 1.3.15")
  ascii("Azureus "), // Azureus / Vuze ("Azureus 5.7.6.0;Windows 10;Java 1.8.0")
  ascii("WebTorrent/"), // WebTorrent ("WebTorrent/1.9.7 (https://webtorrent.io)")
];

/**
 * Client letters of Shadow-style peer ids: ABC, Osprey, BTQueue, Tribler, Shadow, BitTornado,
 * UPnP NAT Bit Torrent.
 */
const SHADOW_CLIENTS = ascii("AOQRSTU");

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isAlphanumeric(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isHexDigit(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** A character of Shadow's version alphabet: `0-9A-Za-z.-`. */
function isShadowVersion(c: number): boolean {
  return isAlphanumeric(c) || c === DOT || c === DASH;
}

/**
 * Whether `buf[off, end)` starts with the peer-id prefix of a known BitTorrent client style, as
 * sent raw in a tracker query (its characters are unreserved in URLs, so clients leave them
 * unescaped; an escaped prefix is simply not recognised):
 *
 * - Azureus style: `-` two client characters, four version characters, `-` (`-TR2940-`,
 *   `-qB4250-`, `-lt0D80-`, `-UT3550-`, `-AZ5760-`, `-DE13F0-`, `-BC0150-`, `-XL0012-`);
 * - Mainline style: `M` or `Q`, then `major-minor-tiny-` padded with `-` to 8 characters
 *   (`M7-4-0--`, `M4-20-8-`);
 * - Shadow style: a client letter (`A`, `O`, `Q`, `R`, `S`, `T`, `U`), five characters of
 *   `0-9A-Za-z.-`, then `---` (`S58B-----`, `T03I-----`);
 * - aria2 style: `A2-`, then major, minor and patch version of 1–3 digits, each followed by `-`
 *   (`A2-1-36-0-`; aria2's default `--peer-id-prefix`).
 *
 * @example
 * ```ts
 * import { ascii } from "../bytes.ts";
 * import { isClientPeerId } from "./http.ts";
 * const id = ascii("-TR2940-chho92c56pul");
 * isClientPeerId(id, 0, id.length); // true
 * ```
 */
export function isClientPeerId(buf: Uint8Array, off: number, end: number): boolean {
  if (end - off < 8) return false;
  const first = buf[off];
  if (first === DASH) return isAzureusStyle(buf, off);
  if (isMainlineStyle(buf, off)) return true;
  if (end - off < 9) return false;
  return isShadowStyle(buf, off) || isAria2Style(buf, off, end);
}

function isAzureusStyle(buf: Uint8Array, off: number): boolean {
  for (let i = off + 1; i < off + 7; i++) if (!isAlphanumeric(buf[i])) return false;
  return buf[off + 7] === DASH;
}

/** `M` or `Q`, a digit, then `-`, 1–2 digits, `-`, 1–2 digits, and `-` up to 8 characters. */
function isMainlineStyle(buf: Uint8Array, off: number): boolean {
  const first = buf[off];
  if (first !== 0x4d && first !== 0x51) return false; // 'M', 'Q'
  if (!isDigit(buf[off + 1]) || buf[off + 2] !== DASH) return false;
  let i = off + 3;
  for (let part = 0; part < 2; part++) {
    const start = i;
    while (i < off + 8 && isDigit(buf[i])) i++;
    if (i === start || i - start > 2) return false;
    if (i >= off + 8 || buf[i] !== DASH) return false;
    i++;
  }
  while (i < off + 8) if (buf[i++] !== DASH) return false;
  return true;
}

/** `A2-`, then three groups of 1–3 digits, each followed by `-`. */
function isAria2Style(buf: Uint8Array, off: number, end: number): boolean {
  if (buf[off] !== 0x41 || buf[off + 1] !== 0x32 || buf[off + 2] !== DASH) return false; // "A2-"
  let i = off + 3;
  for (let part = 0; part < 3; part++) {
    const start = i;
    while (i < end && i - start < 3 && isDigit(buf[i])) i++;
    if (i === start || i >= end || buf[i] !== DASH) return false;
    i++;
  }
  return true;
}

function isShadowStyle(buf: Uint8Array, off: number): boolean {
  if (indexOfByte(SHADOW_CLIENTS, 0, SHADOW_CLIENTS.length, buf[off]) < 0) return false;
  for (let i = off + 1; i < off + 6; i++) if (!isShadowVersion(buf[i])) return false;
  return buf[off + 6] === DASH && buf[off + 7] === DASH && buf[off + 8] === DASH;
}

/**
 * Whether the User-Agent value in `buf[off, end)` (leading blanks skipped) names a BitTorrent
 * client whose requests are BitTorrent traffic: one of `Transmission/`, `qBittorrent/`,
 * `libtorrent/`, `rtorrent/`, `uTorrent/`, `uTorrentMac/`, `BitTorrent/`, `BTWebClient/`,
 * `Deluge/`, `Deluge `, `Azureus `, `WebTorrent/`, followed by a version digit.
 *
 * @example
 * ```ts
 * import { ascii } from "../bytes.ts";
 * import { isBitTorrentUserAgent } from "./http.ts";
 * const ua = ascii("Transmission/2.94");
 * isBitTorrentUserAgent(ua, 0, ua.length); // true
 * ```
 */
export function isBitTorrentUserAgent(buf: Uint8Array, off: number, end: number): boolean {
  let p = off;
  while (p < end && (buf[p] === SP || buf[p] === 0x09)) p++;
  for (let i = 0; i < CLIENT_AGENTS.length; i++) {
    const token = CLIENT_AGENTS[i];
    const next = p + token.length;
    if (next < end && isDigit(buf[next]) && matchAt(buf, p, end, token)) return true;
  }
  return false;
}

/**
 * Length of the percent-decoded query value `buf[off, end)`, or -1 when it holds a malformed
 * escape or a byte that cannot appear in a request target.
 */
function decodedLength(buf: Uint8Array, off: number, end: number): number {
  let n = 0;
  for (let i = off; i < end; i++) {
    const c = buf[i];
    if (c <= SP || c >= 0x7f) return -1;
    if (c === PERCENT) {
      if (i + 2 >= end || !isHexDigit(buf[i + 1]) || !isHexDigit(buf[i + 2])) return -1;
      i += 2;
    }
    n++;
  }
  return n;
}

/** Value of the decimal digits `buf[off, end)` (1 to `maxDigits` of them), or -1. */
function decimal(buf: Uint8Array, off: number, end: number, maxDigits: number): number {
  if (end <= off || end - off > maxDigits) return -1;
  let v = 0;
  for (let i = off; i < end; i++) {
    if (!isDigit(buf[i])) return -1;
    v = v * 10 + (buf[i] - 0x30);
  }
  return v;
}

/** Whether `buf[off, off + n)` are all hex digits (caller checks bounds). */
function isHex(buf: Uint8Array, off: number, n: number): boolean {
  for (let i = off; i < off + n; i++) if (!isHexDigit(buf[i])) return false;
  return true;
}

/** BitComet persistent seed: `/data?fid=<40 hex>&size=<digit>` at the target `t`. */
function isBitCometSeed(buf: Uint8Array, t: number, end: number): boolean {
  if (!matchAt(buf, t, end, DATA_FID)) return false;
  const fid = t + DATA_FID.length;
  const size = fid + FID_DIGITS;
  if (size + SIZE.length >= end) return false; // the size's first digit must be present
  if (!isHex(buf, fid, FID_DIGITS)) return false;
  return matchAt(buf, size, end, SIZE) && isDigit(buf[size + SIZE.length]);
}

/** Whether `buf[off, end)` equals `name` (a query parameter name). */
function isName(buf: Uint8Array, off: number, end: number, name: Uint8Array): boolean {
  return end - off === name.length && matchAt(buf, off, end, name);
}

/**
 * What the query `buf[q, stop)` of a request target holds; `cut` when the target runs to the end
 * of the bytes present (its last value may be incomplete).
 */
function queryReason(
  buf: Uint8Array,
  pathStart: number,
  q: number,
  stop: number,
  cut: boolean,
): number {
  let infoHash = false;
  let peerId = false;
  let clientPeerId = false;
  let port = false;
  let piece = false;
  let p = q + 1;
  while (p < stop) {
    let valueEnd = p;
    while (valueEnd < stop && buf[valueEnd] !== AMPERSAND) valueEnd++;
    let nameEnd = p;
    while (nameEnd < valueEnd && buf[nameEnd] !== EQUALS) nameEnd++;
    const value = nameEnd + 1;
    const complete = valueEnd < stop || !cut;
    if (value <= valueEnd) {
      if (isName(buf, p, nameEnd, INFO_HASH)) {
        if (complete && decodedLength(buf, value, valueEnd) === HASH_LENGTH) infoHash = true;
      } else if (isName(buf, p, nameEnd, PEER_ID)) {
        if (complete && decodedLength(buf, value, valueEnd) === HASH_LENGTH) peerId = true;
        if (isClientPeerId(buf, value, valueEnd)) clientPeerId = true;
      } else if (isName(buf, p, nameEnd, PORT)) {
        const v = complete ? decimal(buf, value, valueEnd, 5) : -1;
        if (v >= 1 && v <= 65535) port = true;
      } else if (isName(buf, p, nameEnd, PIECE)) {
        if (complete && decimal(buf, value, valueEnd, MAX_PIECE_DIGITS) >= 0) piece = true;
      }
    }
    p = valueEnd + 1;
  }
  if (!infoHash) return 0;
  if ((peerId && port) || clientPeerId) return Reason.HTTP_TRACKER;
  if (lastSegmentIsScrape(buf, pathStart, q)) return Reason.HTTP_TRACKER;
  return piece ? Reason.WEBSEED : 0;
}

/** Whether the last segment of the path `buf[start, stop)` starts with `scrape` (BEP 48). */
function lastSegmentIsScrape(buf: Uint8Array, start: number, stop: number): boolean {
  let segment = start;
  for (let i = start; i < stop; i++) if (buf[i] === SLASH) segment = i + 1;
  return matchAt(buf, segment, stop, SCRAPE);
}

/**
 * Judges the HTTP request starting at `buf[off]` (bytes present up to `end`): the
 * {@linkcode Reason} it shows (`HTTP_TRACKER`, `WEBSEED` or `BT_USER_AGENT`, see the module
 * documentation for the rules), or 0.
 *
 * @example
 * ```ts
 * import { ascii } from "../bytes.ts";
 * import { Reason } from "../reason.ts";
 * import { httpRequestReason } from "./http.ts";
 * const req = ascii(
 *   "GET /announce?info_hash=%aa7i%c4S%0d%de%06%24%18s%da%d4%3a%b5%cc%ec%2c%e6%22" +
 *     "&peer_id=-TR2940-chho92c56pul&port=51413 HTTP/1.1\r\nHost: t.example\r\n\r\n",
 * );
 * httpRequestReason(req, 0, req.length) === Reason.HTTP_TRACKER; // true
 * ```
 */
export function httpRequestReason(buf: Uint8Array, off: number, end: number): number {
  if (!matchAt(buf, off, end, GET)) return 0;
  let t = off + GET.length;
  if (matchAtIgnoreCase(buf, t, end, HTTP_SCHEME)) { // absolute form, through a proxy
    t += HTTP_SCHEME.length;
    while (t < end && buf[t] !== SLASH && buf[t] > SP) t++;
  }
  if (t >= end || buf[t] !== SLASH) return 0; // origin-form target
  let q = -1;
  let stop = t;
  while (stop < end && buf[stop] > SP && buf[stop] < 0x7f) {
    if (buf[stop] === QUESTION && q < 0) q = stop;
    stop++;
  }
  const cut = stop === end;
  if (!cut && buf[stop] !== SP) return 0; // control or non-ASCII byte in the target
  const version = stop + 1;
  const http = matchAt(buf, version, end, HTTP_VERSION);
  if (!http && version + HTTP_VERSION.length <= end) return 0; // not HTTP/1.x
  if (isBitCometSeed(buf, t, stop)) return Reason.WEBSEED;
  if (q >= 0) {
    const reason = queryReason(buf, t, q, stop, cut);
    if (reason !== 0) return reason;
  }
  return http ? headersReason(buf, version, end) : 0;
}

/** The User-Agent rule over the header lines after the request line containing `from`. */
function headersReason(buf: Uint8Array, from: number, end: number): number {
  let line = indexOf(buf, from, end, CRLF);
  let agent = false;
  let range = false;
  while (line >= 0) {
    line += CRLF.length;
    const next = indexOf(buf, line, end, CRLF);
    const stop = next < 0 ? end : next;
    if (stop === line) break; // the empty line ending the headers
    if (matchAtIgnoreCase(buf, line, stop, USER_AGENT)) {
      agent = isBitTorrentUserAgent(buf, line + USER_AGENT.length, stop);
    } else if (matchAtIgnoreCase(buf, line, stop, RANGE)) {
      let v = line + RANGE.length;
      while (v < stop && buf[v] === SP) v++;
      range = matchAtIgnoreCase(buf, v, stop, BYTES);
    }
    line = next;
  }
  if (!agent) return 0;
  return range ? Reason.WEBSEED : Reason.BT_USER_AGENT;
}

/** Parses a dotted-quad IPv4 address filling `buf[off, end)` exactly; -1 when it is not one. */
function parseIpv4Text(buf: Uint8Array, off: number, end: number): number {
  let value = 0;
  let p = off;
  for (let part = 0; part < 4; part++) {
    const start = p;
    let octet = 0;
    while (p < end && isDigit(buf[p]) && p - start < 3) octet = octet * 10 + (buf[p++] - 0x30);
    if (p === start || octet > 255) return -1;
    if (p - start > 1 && buf[start] === 0x30) return -1; // no leading zeros
    value = value * 256 + octet;
    if (part < 3) {
      if (p >= end || buf[p] !== DOT) return -1;
      p++;
    }
  }
  return p === end ? value : -1;
}

/** Progress through a tracker response, per flow. */
const Phase = {
  /** Nothing to follow. */
  IDLE: 0,
  /** Waiting for the status line and headers of a response. */
  HEADERS: 1,
  /** The body starts in the next in-order segment. */
  BODY: 2,
  /** Inside a compact peer string that continues in the next in-order segment. */
  PEERS: 3,
} as const;

/**
 * Detects BitTorrent over HTTP (tracker announces and scrapes, web seeds, BitTorrent client
 * User-Agents) and learns the peers listed by tracker responses of the flows it decided as
 * {@linkcode Reason.HTTP_TRACKER}.
 */
export class HttpDetector implements Detector {
  readonly transport: number = IPPROTO_TCP;
  readonly harvests: readonly number[] = [Reason.HTTP_TRACKER];

  // No `reset`: the state below is only read for flows this detector decided as HTTP_TRACKER,
  // and deciding one sets it afresh.
  /** 1 + direction of the tracker client. */
  readonly #client: Uint8Array;
  /** A {@linkcode Phase} per flow. */
  readonly #phase: Uint8Array;
  /** TCP sequence number of the responder's next in-order segment (phases BODY and PEERS). */
  readonly #nextSeq: Uint32Array;
  /** Bytes of the compact peer string still to come (phase PEERS). */
  readonly #remaining: Uint32Array;
  /** Size of its entries, 6 or 18. */
  readonly #entrySize: Uint8Array;
  /** Bytes of the current entry already consumed when the next segment starts. */
  readonly #entryPhase: Uint8Array;
  readonly #address = new Uint32Array(4);

  /**
   * Creates the detector with per-flow state for `capacity` flows.
   *
   * @param capacity the flow table's capacity
   */
  constructor(capacity: number) {
    this.#client = new Uint8Array(capacity);
    this.#phase = new Uint8Array(capacity);
    this.#nextSeq = new Uint32Array(capacity);
    this.#remaining = new Uint32Array(capacity);
    this.#entrySize = new Uint8Array(capacity);
    this.#entryPhase = new Uint8Array(capacity);
  }

  inspect(x: Inspection): number {
    const reason = httpRequestReason(x.buf, x.offset, x.end);
    if (reason === Reason.HTTP_TRACKER) {
      this.#client[x.slot] = x.direction + 1;
      this.#phase[x.slot] = Phase.HEADERS;
    }
    return reason;
  }

  harvest(x: Inspection): void {
    const slot = x.slot;
    if (x.direction + 1 === this.#client[slot]) {
      // Another request on a kept-alive connection: its response comes next.
      if (matchAt(x.buf, x.offset, x.end, GET)) this.#phase[slot] = Phase.HEADERS;
      return;
    }
    const phase = this.#phase[slot];
    if (phase === Phase.HEADERS) {
      this.#readHeaders(x);
      return;
    }
    if (phase === Phase.IDLE) return;
    // Only the next in-order segment continues (not a retransmission, not one after a gap).
    if (x.packet.seq !== this.#nextSeq[slot]) return;
    if (phase === Phase.BODY) this.#readBody(x, x.offset);
    else this.#continuePeers(x);
  }

  /** Status line and headers of a response; the body may start in the same segment. */
  #readHeaders(x: Inspection): void {
    const buf = x.buf;
    const off = x.offset;
    const end = x.end;
    const slot = x.slot;
    if (!matchAt(buf, off, end, HTTP_VERSION)) return;
    this.#phase[slot] = Phase.IDLE;
    if (!matchAt(buf, off + HTTP_VERSION.length + 1, end, STATUS_200)) return;
    const body = indexOf(buf, off, end, HEADERS_END);
    if (body < 0) return; // headers spanning segments
    for (
      let line = indexOf(buf, off, body, CRLF);
      line >= 0;
      line = indexOf(buf, line, body, CRLF)
    ) {
      line += CRLF.length;
      if (matchAtIgnoreCase(buf, line, body, TRANSFER_ENCODING)) return;
      if (matchAtIgnoreCase(buf, line, body, CONTENT_ENCODING)) return;
    }
    const start = body + HEADERS_END.length;
    if (start < end) {
      this.#readBody(x, start);
    } else if (start === off + x.wireLength) {
      this.#phase[slot] = Phase.BODY;
      this.#nextSeq[slot] = (x.packet.seq + x.wireLength) >>> 0;
    }
  }

  #readBody(x: Inspection, start: number): void {
    this.#phase[x.slot] = Phase.IDLE;
    if (start < x.end && x.buf[start] === DICT) this.#readDictionary(x, start + 1);
  }

  /**
   * Walks the top-level response dictionary from the key at `p`, learning `peers` and `peers6`
   * and skipping other values, until its end or the end of the bytes present.
   */
  #readDictionary(x: Inspection, p: number): void {
    const buf = x.buf;
    const end = x.end;
    while (p < end && buf[p] !== END) {
      const keyLength = stringLength(buf, p, end);
      if (keyLength < 0) return;
      const key = stringStart(p, keyLength);
      const value = key + keyLength;
      if (value >= end) return;
      const isPeers = isName(buf, key, value, PEERS);
      if ((isPeers || isName(buf, key, value, PEERS6)) && buf[value] !== LIST) {
        p = this.#compactPeers(x, value, isPeers ? PEER_V4 : PEER_V6);
      } else {
        if (isPeers) this.#dictionaryPeers(x, value);
        p = valueEnd(buf, value, end, 1);
      }
      if (p < 0) return;
    }
  }

  /**
   * Learns the compact peer string at `off`; returns the offset after it, or -1 when it ends
   * beyond the bytes present (continued in the next segment when it runs past this one).
   */
  #compactPeers(x: Inspection, off: number, size: number): number {
    const buf = x.buf;
    const length = stringLength(buf, off, x.end);
    if (length < 0 || length % size !== 0) return -1;
    const start = stringStart(off, length);
    const stop = start + length;
    learnCompact(x, start, stop < x.end ? stop : x.end, size);
    if (stop <= x.end) return stop;
    const wireEnd = x.offset + x.wireLength;
    if (stop > wireEnd) {
      const slot = x.slot;
      const carried = wireEnd - start;
      this.#phase[slot] = Phase.PEERS;
      this.#nextSeq[slot] = (x.packet.seq + x.wireLength) >>> 0;
      this.#remaining[slot] = length - carried;
      this.#entrySize[slot] = size;
      this.#entryPhase[slot] = carried % size;
    }
    return -1;
  }

  /** The next segment of a compact peer string (phase PEERS). */
  #continuePeers(x: Inspection): void {
    const slot = x.slot;
    const size = this.#entrySize[slot];
    const remaining = this.#remaining[slot];
    const first = x.offset + (size - this.#entryPhase[slot]) % size;
    const stop = x.offset + (remaining < x.wireLength ? remaining : x.wireLength);
    learnCompact(x, first, stop < x.end ? stop : x.end, size);
    if (remaining <= x.wireLength) {
      this.#phase[slot] = Phase.IDLE;
      this.#readDictionary(x, stop);
      return;
    }
    this.#remaining[slot] = remaining - x.wireLength;
    this.#entryPhase[slot] = (this.#entryPhase[slot] + x.wireLength) % size;
    this.#nextSeq[slot] = (x.packet.seq + x.wireLength) >>> 0;
  }

  /** A BEP 3 peer list: dictionaries with `ip` (dotted quad) and `port`, as far as present. */
  #dictionaryPeers(x: Inspection, off: number): void {
    const buf = x.buf;
    const end = x.end;
    const address = this.#address;
    address[0] = 0;
    address[1] = 0;
    address[2] = 0xffff;
    let p = off + 1;
    while (p < end && buf[p] === DICT) {
      const next = valueEnd(buf, p, end, 2);
      if (next < 0) return;
      const ip = dictGet(buf, p, next, IP);
      const portValue = dictGet(buf, p, next, PORT);
      if (ip >= 0 && portValue >= 0) {
        const length = stringLength(buf, ip, next);
        const port = intValue(buf, portValue, next);
        const start = stringStart(ip, length);
        const v4 = length > 0 ? parseIpv4Text(buf, start, start + length) : -1;
        if (v4 >= 0 && port >= 1 && port <= 65535) {
          address[3] = v4;
          x.memory.remember(address, 4, port, Reason.TRACKER_PEER, x.now);
        }
      }
      p = next;
    }
  }
}

/** Remembers the compact entries of `size` bytes that lie entirely in `[from, stop)`. */
function learnCompact(x: Inspection, from: number, stop: number, size: number): void {
  const memory = x.memory;
  for (let e = from; e + size <= stop; e += size) {
    if (size === PEER_V4) memory.rememberCompactV4(x.buf, e, Reason.TRACKER_PEER, x.now);
    else memory.rememberCompactV6(x.buf, e, Reason.TRACKER_PEER, x.now);
  }
}
