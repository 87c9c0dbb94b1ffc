/**
 * Compares the detection events of two runs over the same capture (the inline path and the
 * worker pool), flow by flow.
 *
 * Events must match exactly (same flows, decided by the same packet, for the same reason).
 * The pool's workers share one endpoint memory, but each moves through the capture at its own
 * pace: a flow that the inline path recognised from an endpoint another flow had taught may,
 * in the pool, be reached before the worker of that other flow got there. Such flows are
 * order-dependent; the caller lists each one it allows ({@linkcode OrderDependent}), with the
 * outcomes it accepts and why, and every other difference is reported.
 *
 * @module
 */

import type { DetectionEvent } from "../../dpi/detection.ts";

/** Reasons that mean "recognised from endpoint memory" (`bench/soak_compare.ts` marks them). */
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

/**
 * A flow whose detection may differ in the pool because another worker teaches the endpoint
 * memory what decides it, and may not have done so yet when the flow is analysed.
 */
export interface OrderDependent {
  /** The flow, as in {@linkcode FlowEvent.flow}. */
  flow: string;
  /** The inline event, `reason@packet`. */
  inline: string;
  /** Pool outcomes accepted instead, `reason@packet` or `none`. */
  pool: readonly string[];
  /** Why the outcome depends on the order in which workers reach the memory. */
  why: string;
}

/** What {@linkcode compareDetections} found. */
export interface DetectionDiff {
  /** Differences not allowed (must be empty). */
  differences: string[];
  /** Differences that an {@linkcode OrderDependent} entry allows. */
  orderDependent: string[];
}

/**
 * Compares the events of `inline` (the reference) with those of `pool`; a difference is
 * allowed only when `allowed` names its flow, its inline event and the pool's outcome.
 */
export function compareDetections(
  inline: FlowEvent[],
  pool: FlowEvent[],
  allowed: readonly OrderDependent[] = [],
): DetectionDiff {
  const byFlow = (events: FlowEvent[]) => {
    const m = new Map<string, FlowEvent[]>();
    for (const e of events) m.set(e.flow, [...(m.get(e.flow) ?? []), e]);
    for (const list of m.values()) list.sort((a, b) => a.timestamp.localeCompare(b.timestamp));
    return m;
  };
  const want = byFlow(inline);
  const have = byFlow(pool);
  const out: DetectionDiff = { differences: [], orderDependent: [] };
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
      const explained = allowed.some((a) =>
        a.flow === flow && a.inline === show(e) && a.pool.includes(show(g))
      );
      (explained ? out.orderDependent : out.differences).push(line);
    }
  }
  return out;
}
