/**
 * Reads a capture file through an analyzer on the main thread, as `--read` does inline, and
 * collects its detection and confirmation events: the reference the fixture, detector and worker-pool tests
 * check against.
 *
 * @example
 * ```ts
 * import { Analyzer } from "../../dpi/analyzer.ts";
 * import { captureDetections } from "./capture_detections.ts";
 * const path = new URL("../fixtures/mse_loopback.pcap", import.meta.url).pathname;
 * for (const e of captureDetections(path, new Analyzer({ maxFlows: 1024 }))) console.log(e.reason);
 * ```
 *
 * @module
 */

import { type Analyzer, Verdict } from "../../dpi/analyzer.ts";
import type { DetectionEvent } from "../../dpi/detection.ts";
import { NextResult, PcapHandle } from "../../ffi/libpcap.ts";

/**
 * Runs every packet of the capture at `path` through `analyzer`; returns the detection events,
 * and the confirmations of heuristic detections (`event_type: "confirmation"`), in the order
 * they were made.
 *
 * @throws {PcapError} when the file cannot be opened
 */
export function captureDetections(path: string, analyzer: Analyzer): DetectionEvent[] {
  const h = PcapHandle.openOffline(path);
  const events: DetectionEvent[] = [];
  try {
    const linkType = h.linkType;
    while (h.next() === NextResult.PACKET) {
      const v = analyzer.analyze(
        linkType,
        h.data,
        h.dataOffset,
        h.capturedLength,
        h.wireLength,
        h.timestamp,
      );
      if (v === Verdict.DETECTION) events.push(analyzer.detection.toEvent());
      if (v === Verdict.CONFIRMED) events.push(confirmation(analyzer));
    }
  } finally {
    h.close();
  }
  return events;
}

function confirmation(analyzer: Analyzer): DetectionEvent {
  return { ...analyzer.detection.toEvent(), event_type: "confirmation" };
}
