/**
 * The engine's detectors in the order the analyzer consults them: unambiguous signatures
 * first, then negative signatures of other protocols, then the flow-level heuristics.
 *
 * @module
 */

import type { EngineConfig } from "../config.ts";
import type { Detector } from "../detector.ts";
import { Socks5Detector } from "./socks5.ts";

/** Creates one instance of every detector, sized for `config.maxFlows` flows. */
export function createDetectors(config: EngineConfig): Detector[] {
  return [
    ...Socks5Detector.when(config),
  ];
}
