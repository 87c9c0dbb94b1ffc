/**
 * Compares the detection events of two runs over the same capture (the inline path and the
 * worker pool), flow by flow.
 *
 * Events must match exactly (same flows, decided by the same packet, for the same reason),
 * with one class of exceptions, which is reported apart: the worker pool gives each worker its
 * own endpoint memory, so a flow that one run recognised from an endpoint remembered from
 * another flow (`known_peer`, `tracker_peer`, `dht_peer`, `pex_peer`) may be decided by the
 * other run at another packet or for another reason, or (when only memory could decide it)
 * not at all. A flow the pool detects and the inline path does not is never allowed.
 *
 * @module
 */

import type { DetectionEvent } from "../../dpi/detection.ts";

/** Reasons that mean "recognised from endpoint memory". */
export const MEMORY_REASONS: ReadonlySet<string> = new Set([
  "known_peer",
  "tracker_peer",
  "dht_peer",
  "pex_peer",
]);

/** A detection event reduced to what must match (flow ids differ by design). */
export interface FlowEvent {
  /** Protocol and the unordered pair of endpoints. */
  flow: string;
  /** Reason name. */
  reason: string;
  /** 1-based index of the deciding packet within its flow. */
  packet: number;
  /** Capture time of the deciding packet. */
  timestamp: string;
}

/** Reduces a detection event to a {@linkcode FlowEvent}. */
export function flowEvent(e: DetectionEvent): FlowEvent {
  const a = `${e.src_ip}:${e.src_port}`;
  const b = `${e.dest_ip}:${e.dest_port}`;
  return {
    flow: `${e.proto} ${a < b ? `${a} ${b}` : `${b} ${a}`}`,
    reason: e.reason,
    packet: e.flow_packet,
    timestamp: e.timestamp,
  };
}

/** What {@linkcode compareDetections} found. */
export interface DetectionDiff {
  /** Differences that endpoint memory does not explain (must be empty). */
  differences: string[];
  /** Differences explained by per-worker endpoint memory. */
  memory: string[];
}

/** Compares the events of `inline` (the reference) with those of `pool`. */
export function compareDetections(inline: FlowEvent[], pool: FlowEvent[]): DetectionDiff {
  const byFlow = (events: FlowEvent[]) => {
    const m = new Map<string, FlowEvent[]>();
    for (const e of events) m.set(e.flow, [...(m.get(e.flow) ?? []), e]);
    for (const list of m.values()) list.sort((a, b) => a.timestamp.localeCompare(b.timestamp));
    return m;
  };
  const want = byFlow(inline);
  const have = byFlow(pool);
  const out: DetectionDiff = { differences: [], memory: [] };
  const show = (e: FlowEvent | undefined) => e === undefined ? "none" : `${e.reason}@${e.packet}`;
  for (const flow of new Set([...want.keys(), ...have.keys()])) {
    const w = want.get(flow) ?? [];
    const h = have.get(flow) ?? [];
    for (let i = 0; i < Math.max(w.length, h.length); i++) {
      const e = w[i];
      const g = h[i];
      if (
        e !== undefined && g !== undefined && e.reason === g.reason && e.packet === g.packet &&
        e.timestamp === g.timestamp
      ) continue;
      const line = `${flow}: inline ${show(e)}, pool ${show(g)}`;
      const explained = e !== undefined &&
        (MEMORY_REASONS.has(e.reason) || (g !== undefined && MEMORY_REASONS.has(g.reason)));
      (explained ? out.memory : out.differences).push(line);
    }
  }
  return out;
}
