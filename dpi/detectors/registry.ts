/**
 * The engine's detectors in the order the analyzer consults them: unambiguous BitTorrent
 * signatures first, then negative signatures of other protocols (which end inspection of a
 * flow), then the flow-level heuristics (MSE, uTP). Remembered endpoints come last, in the
 * analyzer itself.
 *
 * @module
 */

import type { EngineConfig } from "../config.ts";
import type { Detector } from "../detector.ts";
import { DhtDetector } from "./dht.ts";
import { HttpDetector } from "./http.ts";
import { LsdDetector } from "./lsd.ts";
import { MseDetector } from "./mse.ts";
import { OtherProtocolsDetector } from "./other_protocols.ts";
import { PeerWireDetector } from "./peer_wire.ts";
import { Socks5Detector } from "./socks5.ts";
import { UdpTrackerDetector } from "./udp_tracker.ts";
import { UtpDetector } from "./utp.ts";

/** Creates one instance of every detector, sized for `config.maxFlows` flows. */
export function createDetectors(config: EngineConfig): Detector[] {
  const capacity = config.maxFlows;
  return [
    new PeerWireDetector(capacity),
    new HttpDetector(capacity),
    new UdpTrackerDetector(capacity),
    new DhtDetector(capacity),
    new LsdDetector(),
    ...Socks5Detector.when(config),
    new OtherProtocolsDetector(),
    new MseDetector(capacity),
    new UtpDetector(capacity),
  ];
}
