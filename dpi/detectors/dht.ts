/**
 * BitTorrent DHT (BEP 5, with BEP 32, 42, 43, 44 and 51): KRPC messages over UDP.
 *
 * A KRPC message is one bencoded dictionary with sorted keys: `t` (transaction id), `y` (`q`
 * query, `r` response, `e` error) and, by type, `q` (method) with `a` (arguments, holding the
 * sender's 20-byte node `id`), `r` (return values, holding the responder's 20-byte `id`) or `e`
 * (`[code, message]`). The structure is validated with the zero-allocation scanner of
 * `dpi/bencode.ts`; nothing else in a UDP payload looks like it.
 *
 * Evidence: the transaction ids of the last queries of each direction are kept per flow; a
 * response or error echoing one the *other* direction sent proves its sender saw that query,
 * which an off-path forger cannot. Responses of DHT flows also feed the endpoint memory with
 * the peers (`values`) and nodes (`nodes`, `nodes6`) they list.
 *
 * @module
 */

import { BENCODE_INVALID, dictGet, stringLength, stringStart, valueEnd } from "../bencode.ts";
import { ascii, matchAt } from "../bytes.ts";
import type { Detector, Inspection } from "../detector.ts";
import { IPPROTO_UDP } from "../packet.ts";
import { Reason } from "../reason.ts";

/** Kinds of KRPC message, as found in {@linkcode KrpcMessage.kind}. */
export const KrpcKind = {
  /** Not a KRPC message. */
  NONE: 0,
  /** A query (`y` = `q`). */
  QUERY: 1,
  /** A response (`y` = `r`). */
  RESPONSE: 2,
  /** An error (`y` = `e`). */
  ERROR: 3,
} as const;

/** What {@linkcode parseKrpc} found in a payload: offsets into the parsed bytes. */
export class KrpcMessage {
  /** A {@linkcode KrpcKind}. */
  kind = 0;
  /** Offset of the transaction id's bytes, or -1 when the bytes present hold none. */
  tStart = -1;
  /** Length of the transaction id. */
  tLength = 0;
  /** Offset of the `a` (query) or `r` (response) dictionary, or -1. */
  body = -1;
}

const DICT = 0x64; // 'd'
const END = 0x65; // 'e'
const LIST = 0x6c; // 'l'
const INT = 0x69; // 'i'
const KEY_A = 0x61;
const KEY_E = 0x65;
const KEY_Q = 0x71;
const KEY_R = 0x72;
const KEY_T = 0x74;
const KEY_Y = 0x79;

/** Longest transaction id accepted (clients use 1 to 8 bytes). */
const MAX_TRANSACTION_ID = 32;
/** Longest method name accepted (`sample_infohashes` is 17). */
const MAX_METHOD = 32;
const NODE_ID_LENGTH = 20;
const NODE_V4 = 26; // 20-byte id + 4-byte address + 2-byte port
const NODE_V6 = 38; // 20-byte id + 16-byte address + 2-byte port
const PEER_V4 = 6;
const PEER_V6 = 18;

const ID = ascii("id");
const NODES = ascii("nodes");
const NODES6 = ascii("nodes6");
const VALUES = ascii("values");

/**
 * Parses a KRPC message in `buf[off, end)` into `out` and tells whether it is one.
 *
 * Accepted: a bencoded dictionary with strictly ascending keys, ending exactly at `end`, with a
 * `t` byte string of 1–32 bytes and `y` = `q` (then `q` a method name and `a` a dictionary
 * whose `id` is 20 bytes), `r` (then `r` a dictionary whose `id` is 20 bytes) or `e` (then `e`
 * a list `[int, string]`).
 *
 * When `cut` is set (the capture's snap length cut the datagram), a well-formed prefix is
 * judged on the bytes present: a prefix that already reached `y` is judged as above; an earlier
 * one must show an `a` dictionary (a query, with a valid method name if `q` is present) or an
 * `r` dictionary (a response) whose 20-byte `id` is entirely present.
 *
 * @param buf bytes holding the payload
 * @param off start of the payload
 * @param end end (exclusive) of the payload bytes present
 * @param cut whether the datagram was longer on the wire than the bytes present
 * @param out receives the kind, transaction id and body offsets (reset on every call)
 * @returns whether the payload is a KRPC message
 *
 * @example
 * ```ts
 * import { ascii } from "../bytes.ts";
 * import { KrpcKind, KrpcMessage, parseKrpc } from "./dht.ts";
 * const ping = ascii("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe");
 * const m = new KrpcMessage();
 * parseKrpc(ping, 0, ping.length, false, m); // true
 * m.kind === KrpcKind.QUERY; // true
 * ```
 */
export function parseKrpc(
  buf: Uint8Array,
  off: number,
  end: number,
  cut: boolean,
  out: KrpcMessage,
): boolean {
  out.kind = KrpcKind.NONE;
  out.tStart = -1;
  out.tLength = 0;
  out.body = -1;
  if (off >= end || buf[off] !== DICT) return false;
  let a = -1;
  let r = -1;
  let e = -1;
  let q = -1;
  let t = -1;
  let y = -1;
  let previousKey = -1;
  let previousKeyLength = 0;
  let complete = false;
  let p = off + 1;
  while (p < end) {
    if (buf[p] === END) {
      complete = true;
      p++;
      break;
    }
    const keyLength = stringLength(buf, p, end);
    if (keyLength === BENCODE_INVALID) return false; // keys are byte strings
    if (keyLength < 0) break; // cut inside the key's length
    const key = stringStart(p, keyLength);
    const value = key + keyLength;
    if (value > end) break; // cut inside the key
    if (previousKey >= 0 && !keyAfter(buf, previousKey, previousKeyLength, key, keyLength)) {
      return false; // keys must be sorted and unique
    }
    const next = valueEnd(buf, value, end, 1);
    if (next === BENCODE_INVALID) return false;
    if (keyLength === 1) {
      const k = buf[key];
      if (k === KEY_A) a = value;
      else if (k === KEY_R) r = value;
      else if (next > 0) { // the other single-letter keys count only when entirely present
        if (k === KEY_E) e = value;
        else if (k === KEY_Q) q = value;
        else if (k === KEY_T) t = value;
        else if (k === KEY_Y) y = value;
      }
    }
    if (next < 0) break; // cut inside the value
    previousKey = key;
    previousKeyLength = keyLength;
    p = next;
  }
  if (complete && p !== end) return false; // trailing bytes after the dictionary
  if (!complete && !cut) return false; // a datagram that really ends mid-dictionary
  let kind: number = KrpcKind.NONE;
  if (y >= 0) kind = messageKind(buf, y, end);
  else if (a >= 0 && r < 0) kind = KrpcKind.QUERY;
  else if (r >= 0 && a < 0) kind = KrpcKind.RESPONSE;
  if (kind === KrpcKind.NONE) return false; // no `y`, or a cut prefix showing neither `a` nor `r`
  if (y >= 0 && t < 0) return false; // a message carries a transaction id
  const tLength = t >= 0 ? stringLength(buf, t, end) : 0;
  if (t >= 0 && (tLength < 1 || tLength > MAX_TRANSACTION_ID)) return false; // 1–32 bytes
  if (kind === KrpcKind.QUERY) {
    if (!hasNodeId(buf, a, end)) return false; // every query names its sender's node
    if (y >= 0 && q < 0) return false; // a query names its method
    if (q >= 0 && !isMethodName(buf, q, end)) return false;
    out.body = a;
  } else if (kind === KrpcKind.RESPONSE) {
    if (!hasNodeId(buf, r, end)) return false; // every response names its sender's node
    out.body = r;
  } else if (!isErrorList(buf, e, end)) return false;
  out.kind = kind;
  if (t >= 0) {
    out.tStart = stringStart(t, tLength);
    out.tLength = tLength;
  }
  return true;
}

/** Whether the key at `b` sorts strictly after the key at `a` (raw byte strings). */
function keyAfter(
  buf: Uint8Array,
  a: number,
  aLength: number,
  b: number,
  bLength: number,
): boolean {
  const n = aLength < bLength ? aLength : bLength;
  for (let i = 0; i < n; i++) {
    const d = buf[b + i] - buf[a + i];
    if (d !== 0) return d > 0;
  }
  return bLength > aLength;
}

/** The kind named by the one-byte string `q`, `r` or `e` at `off` (complete), or NONE. */
function messageKind(buf: Uint8Array, off: number, end: number): number {
  if (off + 3 > end || buf[off] !== 0x31 || buf[off + 1] !== 0x3a) return KrpcKind.NONE; // "1:"
  const c = buf[off + 2];
  if (c === KEY_Q) return KrpcKind.QUERY;
  if (c === KEY_R) return KrpcKind.RESPONSE;
  if (c === KEY_E) return KrpcKind.ERROR;
  return KrpcKind.NONE;
}

/** Whether the dictionary at `dict` holds an `id` that is a 20-byte string entirely present. */
function hasNodeId(buf: Uint8Array, dict: number, end: number): boolean {
  if (dict < 0) return false;
  const id = dictGet(buf, dict, end, ID);
  if (id < 0) return false;
  if (stringLength(buf, id, end) !== NODE_ID_LENGTH) return false;
  return stringStart(id, NODE_ID_LENGTH) + NODE_ID_LENGTH <= end;
}

/** Whether the (complete) value at `off` is a method name: 1–32 of `a-z`, `0-9`, `_`. */
function isMethodName(buf: Uint8Array, off: number, end: number): boolean {
  const length = stringLength(buf, off, end);
  if (length < 1 || length > MAX_METHOD) return false;
  const start = stringStart(off, length);
  for (let i = start; i < start + length; i++) {
    const c = buf[i];
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;
    if (!ok) return false;
  }
  return true;
}

/** Whether the (complete) value at `off` is a list `[int code, string message]`. */
function isErrorList(buf: Uint8Array, off: number, end: number): boolean {
  if (off < 0 || buf[off] !== LIST) return false;
  let p = off + 1;
  if (buf[p] !== INT) return false;
  p = valueEnd(buf, p, end);
  if (p < 0) return false;
  const length = stringLength(buf, p, end);
  if (length < 0) return false;
  p = stringStart(p, length) + length;
  return p < end && buf[p] === END;
}

/** Transaction ids remembered per flow and direction. */
const QUERIES = 4;

/**
 * Detects DHT flows from their KRPC messages; marks a side as answered when its response or
 * error echoes a transaction id of a query the other side sent; learns the peers and nodes
 * listed in such answered responses (`values`, `nodes`, `nodes6`) as
 * {@linkcode Reason.DHT_PEER} endpoints.
 *
 * Never reports a payload as another protocol: uTorrent and libtorrent run DHT and uTP on one
 * UDP port, so a flow may alternate KRPC and uTP packets.
 */
export class DhtDetector implements Detector {
  readonly transport = IPPROTO_UDP;
  readonly harvests: readonly number[] = [Reason.DHT_KRPC];

  /** Transaction ids of recent queries as two words, at `(slot * 2 + dir) * QUERIES + i`. */
  readonly #idLow: Uint32Array;
  readonly #idHigh: Uint32Array;
  /** Their lengths (0: empty entry). */
  readonly #idLength: Uint8Array;
  /** Next entry to overwrite, per flow and direction. */
  readonly #nextQuery: Uint8Array;
  readonly #message = new KrpcMessage();

  /** @param capacity the flow table's capacity */
  constructor(capacity: number) {
    this.#idLow = new Uint32Array(capacity * 2 * QUERIES);
    this.#idHigh = new Uint32Array(capacity * 2 * QUERIES);
    this.#idLength = new Uint8Array(capacity * 2 * QUERIES);
    this.#nextQuery = new Uint8Array(capacity * 2);
  }

  reset(slot: number): void {
    this.#idLength.fill(0, slot * 2 * QUERIES, (slot + 1) * 2 * QUERIES);
    this.#nextQuery[slot * 2] = 0;
    this.#nextQuery[slot * 2 + 1] = 0;
  }

  inspect(x: Inspection): number {
    if (!this.#parse(x)) return 0;
    this.#observe(x);
    return Reason.DHT_KRPC;
  }

  harvest(x: Inspection): void {
    if (this.#parse(x)) this.#observe(x);
  }

  #parse(x: Inspection): boolean {
    return parseKrpc(x.buf, x.offset, x.end, x.end - x.offset < x.wireLength, this.#message);
  }

  /**
   * Records a query's transaction id; for a response or error echoing one the other side
   * sent, marks the sender as answered and (responses) learns the peers it lists. Unanswered
   * responses teach nothing: an off-path forger cannot plant endpoints in the memory.
   */
  #observe(x: Inspection): void {
    const m = this.#message;
    if (m.tStart < 0) return;
    if (m.kind === KrpcKind.QUERY) {
      this.#rememberQuery(x, m.tStart, m.tLength);
      return;
    }
    if (!this.#queriedByOtherSide(x, m.tStart, m.tLength)) return;
    x.markAnswered();
    if (m.kind === KrpcKind.RESPONSE) learnPeers(x, m.body);
  }

  #rememberQuery(x: Inspection, start: number, length: number): void {
    const d = x.slot * 2 + x.direction;
    const i = d * QUERIES + this.#nextQuery[d];
    this.#nextQuery[d] = (this.#nextQuery[d] + 1) % QUERIES;
    this.#idLow[i] = idWord(x.buf, start, length, 0);
    this.#idHigh[i] = idTail(x.buf, start, length);
    this.#idLength[i] = length;
  }

  #queriedByOtherSide(x: Inspection, start: number, length: number): boolean {
    const base = (x.slot * 2 + (1 - x.direction)) * QUERIES;
    const low = idWord(x.buf, start, length, 0);
    const high = idTail(x.buf, start, length);
    for (let i = base; i < base + QUERIES; i++) {
      if (this.#idLength[i] === length && this.#idLow[i] === low && this.#idHigh[i] === high) {
        return true;
      }
    }
    return false;
  }
}

/** Bytes `from…from+3` of a transaction id as a big-endian word (zero past its end). */
function idWord(buf: Uint8Array, start: number, length: number, from: number): number {
  let word = 0;
  for (let i = from; i < from + 4; i++) word = (word << 8) | (i < length ? buf[start + i] : 0);
  return word >>> 0;
}

/**
 * The second word of a transaction id: bytes 4–7, then every later byte mixed in FNV-1a
 * style (exact for ids of up to 8 bytes, a hash beyond).
 */
function idTail(buf: Uint8Array, start: number, length: number): number {
  let word = idWord(buf, start, length, 4);
  for (let i = 8; i < length; i++) word = Math.imul(word ^ buf[start + i], 0x01000193);
  return word >>> 0;
}

/** Remembers the endpoints listed in the response dictionary at `r` (entries present only). */
function learnPeers(x: Inspection, r: number): void {
  const buf = x.buf;
  const end = x.end;
  let p = r + 1;
  while (p < end && buf[p] !== END) {
    const keyLength = stringLength(buf, p, end);
    if (keyLength < 0) return;
    const key = stringStart(p, keyLength);
    const value = key + keyLength;
    if (value > end) return;
    if (keyLength === NODES.length && matchAt(buf, key, end, NODES)) {
      learnNodes(x, value, NODE_V4);
    } else if (keyLength === NODES6.length && matchAt(buf, key, end, NODES6)) {
      learnNodes(x, value, NODE_V6);
    } else if (keyLength === VALUES.length && matchAt(buf, key, end, VALUES)) {
      learnValues(x, value);
    }
    p = valueEnd(buf, value, end, 2);
    if (p < 0) return;
  }
}

/** Compact node entries (`size` 26 or 38): the address and port after each 20-byte id. */
function learnNodes(x: Inspection, off: number, size: number): void {
  const buf = x.buf;
  const length = stringLength(buf, off, x.end);
  if (length <= 0 || length % size !== 0) return;
  const start = stringStart(off, length);
  const stop = Math.min(start + length, x.end);
  const memory = x.memory;
  for (let e = start; e + size <= stop; e += size) {
    if (size === NODE_V4) memory.rememberCompactV4(buf, e + NODE_ID_LENGTH, Reason.DHT_PEER, x.now);
    else memory.rememberCompactV6(buf, e + NODE_ID_LENGTH, Reason.DHT_PEER, x.now);
  }
}

/** A `values` list of compact peers (6-byte IPv4 or 18-byte IPv6 strings). */
function learnValues(x: Inspection, off: number): void {
  const buf = x.buf;
  const end = x.end;
  if (off >= end || buf[off] !== LIST) return;
  let p = off + 1;
  while (p < end && buf[p] !== END) {
    const length = stringLength(buf, p, end);
    if (length < 0) return;
    const start = stringStart(p, length);
    if (start + length > end) return;
    if (length === PEER_V4) x.memory.rememberCompactV4(buf, start, Reason.DHT_PEER, x.now);
    else if (length === PEER_V6) x.memory.rememberCompactV6(buf, start, Reason.DHT_PEER, x.now);
    p = start + length;
  }
}
