/**
 * Offline-mode output: detection events and the final summary, as aligned text for people or
 * as JSON lines for programs, through a buffered writer.
 *
 * @module
 */

import { type AnalyzerStats, Verdict } from "../dpi/analyzer.ts";
import type { Detection, DetectionEvent } from "../dpi/detection.ts";
import { REASON_COUNT, reasonName } from "../dpi/reason.ts";
import type { OutputFormat } from "./args.ts";

/** Writes lines to a file (stdout by default) in large buffered chunks. */
export class LineWriter {
  readonly #out: { writeSync(p: Uint8Array): number };
  readonly #encoder = new TextEncoder();
  #pending: string[] = [];
  #size = 0;

  /** @param out where to write (default `Deno.stdout`) */
  constructor(out: { writeSync(p: Uint8Array): number } = Deno.stdout) {
    this.#out = out;
  }

  /** Queues one line (a newline is appended). */
  line(text: string): void {
    this.#pending.push(text);
    this.#size += text.length + 1;
    if (this.#size >= 65536) this.flush();
  }

  /** Writes everything queued. */
  flush(): void {
    if (this.#pending.length === 0) return;
    const bytes = this.#encoder.encode(this.#pending.join("\n") + "\n");
    this.#pending = [];
    this.#size = 0;
    let off = 0;
    while (off < bytes.length) off += this.#out.writeSync(bytes.subarray(off));
  }
}

/** What the summary reports besides the analyzer's counters. */
export interface RunSummary {
  /** The capture read. */
  file: string;
  /** libpcap's name of its link type. */
  linkType: string;
  /** Analyzer counters. */
  stats: AnalyzerStats;
  /** Flows created, expired and evicted. */
  flows: { created: number; expired: number; evicted: number; active: number };
  /** Endpoints learned into the endpoint memory. */
  endpointsLearned: number;
  /** Wall-clock seconds spent reading and analysing. */
  seconds: number;
}

/** The `stats` event: the last line of `jsonl` output. */
export interface StatsEvent {
  /** Always `"stats"`. */
  event_type: "stats";
  /** Capture file. */
  file: string;
  /** Link type name. */
  link_type: string;
  /** Packets read. */
  packets: number;
  /** Wire bytes read. */
  bytes: number;
  /** TCP/UDP packets decoded. */
  decoded: number;
  /** Packets with truncated or inconsistent headers (counted and skipped). */
  malformed: number;
  /** Frames without IP. */
  not_ip: number;
  /** IP packets that are neither TCP nor UDP. */
  other_transport: number;
  /** Non-first IP fragments. */
  fragments: number;
  /** Payload packets run through the detectors. */
  inspected: number;
  /** Flows created. */
  flows: number;
  /** Flows expired after their idle timeout. */
  flows_expired: number;
  /** Flows evicted because the table was full. */
  flows_evicted: number;
  /** Flows classified as BitTorrent. */
  bittorrent_flows: number;
  /** Detections by reason name. */
  detections: Record<string, number>;
  /** Endpoints learned (detections and peer lists). */
  endpoints_learned: number;
  /** Seconds spent. */
  seconds: number;
  /** Packets per second. */
  packets_per_second: number;
}

/** Builds the `stats` event of a run. */
export function statsEvent(s: RunSummary): StatsEvent {
  const detections: Record<string, number> = {};
  let total = 0;
  for (let r = 1; r < REASON_COUNT; r++) {
    const n = s.stats.detections[r];
    if (n > 0) detections[reasonName(r)] = n;
    total += n;
  }
  return {
    event_type: "stats",
    file: s.file,
    link_type: s.linkType,
    packets: s.stats.packets,
    bytes: s.stats.bytes,
    decoded: s.stats.decoded,
    malformed: s.stats.malformed,
    not_ip: s.stats.notIp,
    other_transport: s.stats.otherTransport,
    fragments: s.stats.fragments,
    inspected: s.stats.inspected,
    flows: s.flows.created,
    flows_expired: s.flows.expired,
    flows_evicted: s.flows.evicted,
    bittorrent_flows: total,
    detections,
    endpoints_learned: s.endpointsLearned,
    seconds: round(s.seconds, 3),
    packets_per_second: Math.round(s.stats.packets / Math.max(s.seconds, 1e-9)),
  };
}

const COLUMNS = [24, 5, 23, 23, 14, 11];

/** Renders detection events and the summary in the chosen format. */
export class EventPrinter {
  readonly #format: OutputFormat;
  readonly #out: LineWriter;
  #headerDone = false;

  /**
   * @param format `text` or `jsonl`
   * @param out the writer
   */
  constructor(format: OutputFormat, out: LineWriter) {
    this.#format = format;
    this.#out = out;
  }

  /**
   * Prints what an analyzer verdict reports: a detection, or the confirmation of a heuristic
   * detection (`event_type: "confirmation"`); other verdicts print nothing.
   */
  verdict(verdict: number, d: Detection): void {
    if (verdict === Verdict.DETECTION) this.detection(d.toEvent());
    else if (verdict === Verdict.CONFIRMED) {
      this.detection({ ...d.toEvent(), event_type: "confirmation" });
    }
  }

  /** Prints one detection (or confirmation) event. */
  detection(e: DetectionEvent): void {
    if (this.#format === "jsonl") {
      this.#out.line(JSON.stringify(e));
      return;
    }
    if (!this.#headerDone) {
      this.#out.line(
        row(["TIME", "PROTO", "SOURCE", "DESTINATION", "REASON", "CONFIDENCE", "PACKET"]),
      );
      this.#headerDone = true;
    }
    this.#out.line(row([
      e.timestamp,
      e.proto,
      endpoint(e.src_ip, e.src_port),
      endpoint(e.dest_ip, e.dest_port),
      e.event_type === "confirmation" ? `${e.reason} confirmed` : e.reason,
      e.confidence,
      String(e.flow_packet),
    ]));
  }

  /** Prints the summary (the `stats` event in `jsonl`). */
  summary(s: RunSummary): void {
    const e = statsEvent(s);
    if (this.#format === "jsonl") {
      this.#out.line(JSON.stringify(e));
      return;
    }
    if (!this.#headerDone) this.#out.line("No BitTorrent flows found.");
    const reasons = Object.entries(e.detections).map(([r, n]) => `${r} ${n}`).join(", ");
    const lines = [
      "",
      `Summary of ${e.file} (${e.link_type})`,
      `  packets     ${e.packets} (${formatBytes(e.bytes)}); decoded ${e.decoded}, ` +
      `malformed ${e.malformed}, non-IP ${e.not_ip}, other transport ${e.other_transport}, ` +
      `fragments ${e.fragments}`,
      `  flows       ${e.flows} (expired ${e.flows_expired}, evicted ${e.flows_evicted}); ` +
      `payload packets inspected ${e.inspected}`,
      `  BitTorrent  ${e.bittorrent_flows} flows${reasons ? `: ${reasons}` : ""}; ` +
      `endpoints learned ${e.endpoints_learned}`,
      `  speed       ${formatRate(e.packets_per_second)} packets/s (${e.seconds} s)`,
    ];
    for (const l of lines) this.#out.line(l);
  }
}

function row(cells: string[]): string {
  return cells.map((c, i) => i < COLUMNS.length ? c.padEnd(COLUMNS[i]) : c).join(" ").trimEnd();
}

function endpoint(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function formatBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

function formatRate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}
