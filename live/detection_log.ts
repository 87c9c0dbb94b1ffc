/**
 * The detection log: one JSON line per detection (and per ban that later evidence allowed),
 * in the offline event schema plus the interface, the action taken, the ban's expiry and the
 * first payload bytes in hex for false-positive work. Reopened on SIGHUP so logrotate can move
 * it away.
 *
 * @module
 */

import type { DetectionEvent } from "../dpi/detection.ts";
import type { BanAction } from "./bans.ts";

/** One line of the detection log. */
export interface DetectionRecord extends Omit<DetectionEvent, "event_type"> {
  /**
   * `detection` when the flow was classified; `evidence` when later evidence led to a ban (or a
   * suspicion); `confirmation` when the flow's structure confirmed a heuristic detection.
   */
  event_type: "detection" | "evidence" | "confirmation";
  /**
   * Capture time of the deciding packet, unix seconds with libpcap's microseconds (`timestamp`
   * has milliseconds); with `ban_latency_ms` it dates the ban to the microsecond.
   */
  capture_ts: number;
  /** Interface the packet was captured on. */
  iface: string;
  /** What was done. */
  action: BanAction;
  /** Addresses the action applies to. */
  addresses: string[];
  /** ISO 8601 expiry of the ban, when one was installed or already in place. */
  ban_expires: string | null;
  /**
   * Milliseconds (microsecond resolution) from the deciding packet's capture timestamp to the
   * moment the enforcer returned from installing the ban (XDP: the ban map update; nftables:
   * the change queued for its next batch), when a ban was installed.
   */
  ban_latency_ms: number | null;
  /** Up to 512 bytes of the packet's payload, hex. */
  payload_hex: string;
}

/** Appends detection records to a file; reopenable. */
export class DetectionLog {
  readonly path: string;
  #file: Deno.FsFile;
  readonly #encoder = new TextEncoder();
  /** Records written. */
  written = 0;

  private constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#file = file;
  }

  /**
   * Opens (creating or appending to) the log.
   *
   * @throws {Deno.errors.NotFound} / {Deno.errors.PermissionDenied} from the file system
   */
  static open(path: string): DetectionLog {
    return new DetectionLog(path, DetectionLog.#openFile(path));
  }

  static #openFile(path: string): Deno.FsFile {
    return Deno.openSync(path, { write: true, append: true, create: true, mode: 0o640 });
  }

  /** Writes one record as a line. */
  write(record: DetectionRecord): void {
    const bytes = this.#encoder.encode(JSON.stringify(record) + "\n");
    let off = 0;
    while (off < bytes.length) off += this.#file.writeSync(bytes.subarray(off));
    this.written++;
  }

  /** Closes and reopens the file at the same path (after logrotate moved it). */
  reopen(): void {
    const next = DetectionLog.#openFile(this.path);
    this.#file.close();
    this.#file = next;
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += bytes[i].toString(16).padStart(2, "0");
  return out;
}
