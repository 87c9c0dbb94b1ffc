/**
 * The file handling both chunk readers share (`pcap_chunks.ts`, `pcapng_chunks.ts`): opening a
 * regular file and reading its first bytes, checking a chunk's region, and filling a region.
 *
 * @module
 */

/** Bytes of a pcap record header. */
export const RECORD_HEADER_BYTES = 16;
/**
 * The longest record libpcap accepts for the link types btblocker decodes
 * (`MAXIMUM_SNAPLEN`); a longer one makes a pcap file corrupt.
 */
export const MAX_CAPTURE_LENGTH = 262144;
/** The smallest chunk: room for the longest record and its header. */
export const MIN_CHUNK_BYTES = RECORD_HEADER_BYTES + MAX_CAPTURE_LENGTH;

/**
 * Opens `path`, reads its first `bytes` bytes and hands them to `make`, which returns the
 * reader built on the file or `null` when the head is not its format. `null` as well when the
 * file cannot be opened, is not a regular file, or is shorter. The file is closed unless
 * `make` returns a reader.
 */
export function openWithHead<T>(
  path: string,
  bytes: number,
  make: (file: Deno.FsFile, head: DataView) => T | null,
): T | null {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path);
  } catch {
    return null;
  }
  let made: T | null = null;
  try {
    const head = new Uint8Array(bytes);
    if (file.statSync().isFile && readInto(file, head, 0, bytes) === bytes) {
      made = make(file, new DataView(head.buffer));
    }
  } finally {
    if (made === null) file.close();
  }
  return made;
}

/**
 * Checks a chunk's region `[start, end)` and its offset table (one entry per possible record).
 *
 * @throws {RangeError} when the region is smaller than {@linkcode MIN_CHUNK_BYTES}, or
 *   `offsets` too short for it
 */
export function checkRegion(start: number, end: number, offsets?: Uint32Array): void {
  if (end - start < MIN_CHUNK_BYTES) {
    throw new RangeError(`a chunk holds at least ${MIN_CHUNK_BYTES} bytes, got ${end - start}`);
  }
  if (offsets !== undefined && offsets.length < Math.floor((end - start) / RECORD_HEADER_BYTES)) {
    throw new RangeError(`${offsets.length} record offsets are too few for ${end - start} bytes`);
  }
}

/**
 * Reads from `file` into `target[from, to)` until it is full or the file ends; returns where
 * the bytes read end (less than `to` only at the end of the file).
 */
export function readInto(file: Deno.FsFile, target: Uint8Array, from: number, to: number): number {
  let filled = from;
  while (filled < to) {
    const n = file.readSync(target.subarray(filled, to));
    if (n === null) break;
    filled += n;
  }
  return filled;
}
