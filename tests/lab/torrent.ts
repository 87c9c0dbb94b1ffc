/**
 * The lab's payload and its torrents: a random file, its SHA-1 piece hashes, and `.torrent`
 * files (BEP 3, single file) built around them. Every run of every scenario gets its own
 * info-hash (a `source` key in the info dictionary names the run), so no tracker, DHT node or
 * client carries state from one run into the next, while the data stays the same.
 *
 * @module
 */

import { concat } from "../helpers/packets.ts";

/** A bencoded value. */
export type BValue = number | string | Uint8Array | BValue[] | { [key: string]: BValue };

const encoder = new TextEncoder();

/** Encodes a value (dictionary keys sorted as raw strings, as BEP 3 requires). */
export function bencode(value: BValue): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  const put = (v: BValue) => {
    if (typeof v === "number") {
      if (!Number.isInteger(v)) throw new Error(`bencode: ${v} is not an integer`);
      parts.push(encoder.encode(`i${v}e`));
    } else if (typeof v === "string" || v instanceof Uint8Array) {
      const bytes = typeof v === "string" ? encoder.encode(v) : v;
      parts.push(encoder.encode(`${bytes.length}:`), bytes);
    } else if (Array.isArray(v)) {
      parts.push(encoder.encode("l"));
      v.forEach(put);
      parts.push(encoder.encode("e"));
    } else {
      parts.push(encoder.encode("d"));
      for (const key of Object.keys(v).sort()) {
        put(key);
        put(v[key]);
      }
      parts.push(encoder.encode("e"));
    }
  };
  put(value);
  return concat(...parts);
}

/** A decoded value: strings stay bytes, dictionaries become Maps keyed by latin-1 text. */
export type BDecoded = number | Uint8Array | BDecoded[] | Map<string, BDecoded>;

/** Decodes one bencoded value; throws on malformed input. */
export function bdecode(bytes: Uint8Array): BDecoded {
  let pos = 0;
  const fail = (why: string): never => {
    throw new Error(`bdecode: ${why} at byte ${pos}`);
  };
  const digitsUntil = (end: number): number => {
    const start = pos;
    while (pos < bytes.length && bytes[pos] !== end) pos++;
    if (pos >= bytes.length) fail("unterminated number");
    const text = String.fromCharCode(...bytes.subarray(start, pos));
    if (!/^-?\d+$/.test(text)) fail(`bad number ${JSON.stringify(text)}`);
    pos++;
    return Number(text);
  };
  const value = (): BDecoded => {
    const c = bytes[pos];
    if (c === 0x69) { // i
      pos++;
      return digitsUntil(0x65);
    }
    if (c === 0x6c) { // l
      pos++;
      const list: BDecoded[] = [];
      while (bytes[pos] !== 0x65) {
        if (pos >= bytes.length) fail("unterminated list");
        list.push(value());
      }
      pos++;
      return list;
    }
    if (c === 0x64) { // d
      pos++;
      const dict = new Map<string, BDecoded>();
      while (bytes[pos] !== 0x65) {
        if (pos >= bytes.length) fail("unterminated dictionary");
        const key = value();
        if (!(key instanceof Uint8Array)) fail("dictionary key is not a string");
        dict.set(String.fromCharCode(...(key as Uint8Array)), value());
      }
      pos++;
      return dict;
    }
    if (c >= 0x30 && c <= 0x39) {
      const length = digitsUntil(0x3a);
      if (pos + length > bytes.length) fail("string runs past the end");
      const s = bytes.subarray(pos, pos + length);
      pos += length;
      return s;
    }
    return fail(`unexpected byte ${c}`);
  };
  const v = value();
  if (pos !== bytes.length) fail("trailing bytes");
  return v;
}

/** Hex of bytes. */
export function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The random payload every scenario transfers. */
export interface Payload {
  /** Path of the file. */
  path: string;
  /** File name (also the torrent's `name`). */
  name: string;
  /** Size in bytes. */
  size: number;
  /** Piece length in bytes. */
  pieceLength: number;
  /** Concatenated SHA-1 piece hashes. */
  pieces: Uint8Array;
  /** The bytes (kept to recognise a complete download). */
  data: Uint8Array;
}

/** Writes `size` random bytes to `dir/name` and hashes them. */
export async function makePayload(
  dir: string,
  name: string,
  size: number,
  pieceLength = 256 * 1024,
): Promise<Payload> {
  const data = new Uint8Array(size);
  for (let off = 0; off < size; off += 65536) {
    crypto.getRandomValues(data.subarray(off, Math.min(size, off + 65536)));
  }
  const path = `${dir}/${name}`;
  await Deno.writeFile(path, data);
  const count = Math.ceil(size / pieceLength);
  const pieces = new Uint8Array(count * 20);
  for (let i = 0; i < count; i++) {
    const piece = data.subarray(i * pieceLength, Math.min(size, (i + 1) * pieceLength));
    pieces.set(new Uint8Array(await crypto.subtle.digest("SHA-1", piece)), i * 20);
  }
  return { path, name, size, pieceLength, pieces, data };
}

/** A torrent of the payload. */
export interface Torrent {
  /** The `.torrent` file's bytes. */
  bytes: Uint8Array;
  /** The info-hash (SHA-1 of the bencoded info dictionary). */
  infoHash: Uint8Array;
  /** The info-hash in hex. */
  infoHashHex: string;
}

/**
 * Builds a torrent of `payload`.
 *
 * @param tag makes the info-hash unique (stored as the info dictionary's `source`)
 * @param trackers announce URLs (none for a trackerless torrent)
 */
export async function makeTorrent(
  payload: Payload,
  tag: string,
  trackers: string[],
): Promise<Torrent> {
  const info = {
    length: payload.size,
    name: payload.name,
    "piece length": payload.pieceLength,
    pieces: payload.pieces,
    source: tag,
  };
  const infoBytes = bencode(info);
  const infoHash = new Uint8Array(await crypto.subtle.digest("SHA-1", infoBytes));
  const meta: { [key: string]: BValue } = { info, "created by": "btblocker lab" };
  if (trackers.length > 0) {
    meta.announce = trackers[0];
    meta["announce-list"] = trackers.map((t) => [t]);
  }
  return { bytes: bencode(meta), infoHash, infoHashHex: hex(infoHash) };
}

/**
 * Whether the file at `path` holds exactly the payload. Compares chunk by chunk and stops at
 * the first difference, so polling an incomplete download stays cheap.
 */
export async function isComplete(path: string, payload: Payload): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch {
    return false;
  }
  try {
    if ((await file.stat()).size !== payload.size) return false;
    const chunk = new Uint8Array(1 << 20);
    let off = 0;
    while (off < payload.size) {
      const n = await file.read(chunk);
      if (n === null) return false;
      const want = payload.data.subarray(off, off + n);
      for (let i = 0; i < n; i++) if (chunk[i] !== want[i]) return false;
      off += n;
    }
    return true;
  } finally {
    file.close();
  }
}
