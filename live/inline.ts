/**
 * The inline inspection path (worker pool off): every captured packet is analysed in its own
 * promise on the main thread, by one analyzer per interface (a router sees each forwarded
 * packet on two interfaces; separate analyzers keep each flow's view consistent).
 *
 * @module
 */

import { Analyzer, Verdict } from "../dpi/analyzer.ts";
import type { EngineConfig } from "../dpi/config.ts";
import type { Detection } from "../dpi/detection.ts";
import type { PacketSink } from "./capture.ts";

/** Receives what the analyzers found: a detection or new evidence on a detected flow. */
export type VerdictHandler = (iface: number, verdict: number, detection: Detection) => void;

/** Analyses packets inline, one promise per packet. */
export class InlineInspector implements PacketSink {
  /** One analyzer per interface. */
  readonly analyzers: Analyzer[];
  readonly #onVerdict: VerdictHandler;

  /**
   * @param interfaces number of interfaces
   * @param engine engine settings
   * @param onVerdict told of every detection and evidence event (synchronously)
   */
  constructor(interfaces: number, engine: Partial<EngineConfig>, onVerdict: VerdictHandler) {
    this.analyzers = Array.from({ length: interfaces }, () => new Analyzer(engine));
    this.#onVerdict = onVerdict;
  }

  /** Analyses one packet in its own promise. */
  // deno-lint-ignore require-await -- the promise per packet is the design of the inline path
  async packet(
    iface: number,
    linkType: number,
    buf: Uint8Array,
    offset: number,
    capturedLength: number,
    wireLength: number,
    timestamp: number,
  ): Promise<void> {
    const a = this.analyzers[iface];
    const v = a.analyze(linkType, buf, offset, capturedLength, wireLength, timestamp);
    if (v !== Verdict.NONE) this.#onVerdict(iface, v, a.detection);
  }

  /** Nothing is batched inline. */
  idle(): void {}
}
