/**
 * Floods stay bounded (issue #6; bench/flood.ts runs them at a million): distinct flows never
 * grow the flow table past --max-flows, distinct genuine offenders never grow the ban table past
 * --max-bans, and what is evicted is chosen by rule (least recently seen flow, oldest ban) and
 * counted.
 */
import assert from "node:assert/strict";
import { Analyzer } from "../dpi/analyzer.ts";
import { LinkType } from "../dpi/decode.ts";
import { XdpEnforcer } from "../ffi/xdp.ts";
import { IS_ROOT } from "../ffi/xdp_testnet.ts";
import type { BanManager } from "../live/bans.ts";
import { type Enforcer, NoEnforcer } from "../live/enforcer.ts";
import { OffenderFlood } from "./helpers/offender_flood.ts";
import { frame } from "./helpers/packets.ts";

Deno.test("a flood of 300 000 distinct flows keeps the table at its bound, evicting the oldest", () => {
  const analyzer = new Analyzer({ maxFlows: 10_000 });
  const f = frame({
    l4: 17,
    src: { ip: "10.0.0.1", port: 1 },
    dst: { ip: "198.51.100.1", port: 6881 },
    payload: "d1:ad2:id20:",
  });
  let t = 1_700_000_000;
  for (let i = 0; i < 300_000; i++) {
    f[26 + 1] = (i >> 16) & 255;
    f[26 + 2] = (i >> 8) & 255;
    f[26 + 3] = i & 255;
    analyzer.analyze(LinkType.ETHERNET, f, 0, f.length, f.length, t += 0.0001);
    assert.ok(analyzer.flows.size <= 10_000);
  }
  assert.equal(analyzer.flows.size, 10_000);
  assert.equal(analyzer.flows.flowsEvicted, 290_000);
  // The flows kept are the last 10 000 seen.
  const oldest = analyzer.flows.slots.oldest;
  assert.equal(analyzer.flows.firstSeen[oldest], analyzer.flows.lastSeen[oldest]);
  assert.ok(analyzer.flows.lastSeen[oldest] >= t - 10_000 * 0.0001 - 1e-6);
});

function flood(enforcer: Enforcer, maxBans: number, count: number): BanManager {
  const offenders = new OffenderFlood(enforcer, maxBans);
  const manager = offenders.manager;
  for (let i = 0; i < count; i++) {
    assert.equal(offenders.judge(i).action, "banned");
    assert.ok(manager.stats.active <= maxBans);
  }
  return manager;
}

Deno.test("a flood of 50 000 genuine offenders never holds more than --max-bans; the oldest go", () => {
  const enforcer = new NoEnforcer();
  const manager = flood(enforcer, 1000, 50_000);
  assert.equal(manager.stats.active, 1000);
  assert.equal(manager.stats.evicted, 49_000);
  assert.equal(enforcer.list().length, 1000);
  const kept = manager.list().map((b) => b.address[3] - 0x2c000000);
  assert.deepEqual(kept, Array.from({ length: 1000 }, (_, i) => 49_000 + i));
});

Deno.test({
  name: "the same flood against the real XDP maps keeps them within --max-bans",
  ignore: !IS_ROOT,
  fn() {
    const xdp = XdpEnforcer.open({ maxBans: 1000, persist: false, flush: true });
    try {
      const manager = flood(xdp, 1000, 20_000);
      assert.equal(manager.stats.evicted, 19_000);
      assert.equal(xdp.list().length, 1000);
    } finally {
      xdp.close(false);
    }
  },
});
