/**
 * A flood of distinct genuine offenders against a {@linkcode BanManager}, for the flood test
 * and benchmark: each offender is a public address (44.0.0.0/8 and up) proven to speak
 * BitTorrent with a local client (a peer wire handshake answered both ways), judged 1 ms after
 * the previous one under the default policy with a given `--max-bans`.
 *
 * @example
 * ```ts
 * import { NoEnforcer } from "../../live/enforcer.ts";
 * import { OffenderFlood } from "./offender_flood.ts";
 * const flood = new OffenderFlood(new NoEnforcer(), 100);
 * for (let i = 0; i < 1000; i++) flood.judge(i);
 * console.log(flood.manager.stats.active, flood.manager.stats.evicted); // 100 900
 * ```
 *
 * @module
 */

import { Detection } from "../../dpi/detection.ts";
import { Confidence, Reason } from "../../dpi/reason.ts";
import { BanManager, type Judgement } from "../../live/bans.ts";
import type { Enforcer } from "../../live/enforcer.ts";
import { DEFAULT_LOCAL_NETWORKS, NetworkList } from "../../live/networks.ts";

/** Judges offender after offender; see the module documentation. */
export class OffenderFlood {
  /** The ban manager judging the offenders. */
  readonly manager: BanManager;
  /** Reused for every offender: only the peer's address changes. */
  readonly #detection = new Detection();
  /** Real time at the start: the XDP program honours expiry in the kernel. */
  #now = Date.now() / 1000;

  /** A manager over `enforcer`, with the default policy and `--max-bans maxBans`. */
  constructor(enforcer: Enforcer, maxBans: number) {
    this.manager = new BanManager(enforcer, {
      localNetworks: NetworkList.parse(DEFAULT_LOCAL_NETWORKS),
      allow: NetworkList.parse([]),
      hostAddresses: NetworkList.parse([]),
      scope: "peer",
      monitorOnly: false,
      duration: 3600,
      maxBans,
    }, () => this.#now);
    const d = this.#detection;
    d.ipVersion = 4;
    d.l4 = 6;
    d.reason = Reason.BT_HANDSHAKE;
    d.confidence = Confidence.SIGNATURE;
    d.src.set([0, 0, 0xffff, 0xc0a80102]); // 192.168.1.2, local
    d.dst.set([0, 0, 0xffff, 0]);
    d.initiatorAnswered = d.responderAnswered = d.bidirectional = true;
  }

  /** Judges offender number `i` (address 44.0.0.0 + `i`), 1 ms after the previous one. */
  judge(i: number): Judgement {
    this.#detection.dst[3] = (0x2c000000 + i) >>> 0;
    this.#now += 0.001;
    return this.manager.judge(this.#detection);
  }
}
