import assert from "node:assert/strict";
import { BanManager, type BanPolicy, SIGNATURE_HOSTS_MAX } from "./bans.ts";
import { NoEnforcer } from "./enforcer.ts";
import { DEFAULT_LOCAL_NETWORKS, NetworkList } from "./networks.ts";
import { Detection } from "../dpi/detection.ts";
import { parseAddress } from "../dpi/address.ts";
import { Confidence, Reason, reasonConfidence } from "../dpi/reason.ts";

function policy(o: Partial<BanPolicy> = {}): BanPolicy {
  return {
    localNetworks: NetworkList.parse(DEFAULT_LOCAL_NETWORKS),
    allow: NetworkList.parse([]),
    hostAddresses: NetworkList.parse(["192.168.1.1"]),
    scope: "peer",
    monitorOnly: false,
    duration: 3600,
    maxBans: 100,
    ...o,
  };
}

/** A detection on a flow from `src` (the initiator) to `dst`. */
function detection(
  src: string,
  dst: string,
  o: {
    l4?: number;
    srcAnswered?: boolean;
    dstAnswered?: boolean;
    bidirectional?: boolean;
    reason?: number;
    confidence?: number;
    corroborated?: boolean;
  } = {},
): Detection {
  const d = new Detection();
  d.ipVersion = parseAddress(src, d.src);
  parseAddress(dst, d.dst);
  d.l4 = o.l4 ?? 6;
  d.reason = o.reason ?? Reason.BT_HANDSHAKE;
  d.confidence = o.confidence ?? reasonConfidence(d.reason);
  d.corroborated = o.corroborated ?? false;
  d.fromResponder = false;
  d.initiatorAnswered = o.srcAnswered ?? true;
  d.responderAnswered = o.dstAnswered ?? true;
  d.bidirectional = o.bidirectional ?? true;
  return d;
}

Deno.test("the remote peer is banned, not the local client, in either direction", () => {
  let now = 1000;
  const enforcer = new NoEnforcer();
  const bans = new BanManager(enforcer, policy(), () => now);
  const j = bans.judge(detection("192.168.1.50", "198.51.100.7"));
  assert.deepEqual(j, { action: "banned", addresses: ["198.51.100.7"], expiresAt: 4600 });
  const k = bans.judge(detection("2001:db8::9", "fd00::5"));
  assert.deepEqual(k.addresses, ["2001:db8::9"]);
  assert.equal(enforcer.list().length, 2);
  now = 1001;
  assert.equal(bans.judge(detection("192.168.1.50", "198.51.100.7")).action, "already_banned");
});

Deno.test("no ban without evidence: TCP needs both directions, the target must have answered", () => {
  const bans = new BanManager(new NoEnforcer(), policy());
  const oneWay = detection("192.168.1.50", "198.51.100.7", { bidirectional: false });
  assert.equal(bans.judge(oneWay).action, "insufficient_evidence");
  const silentPeer = detection("192.168.1.50", "198.51.100.7", { dstAnswered: false });
  assert.equal(bans.judge(silentPeer).action, "insufficient_evidence");
  const udpUnanswered = detection("198.51.100.8", "192.168.1.50", {
    l4: 17,
    srcAnswered: false,
    bidirectional: true,
  });
  assert.equal(bans.judge(udpUnanswered).action, "insufficient_evidence");
  const udpAnswered = detection("198.51.100.8", "192.168.1.50", {
    l4: 17,
    srcAnswered: true,
    bidirectional: false,
  });
  assert.equal(bans.judge(udpAnswered).action, "banned");
  assert.equal(bans.stats.active, 1);
});

Deno.test("allowlist, host addresses, multicast and local-only flows are never banned", () => {
  const bans = new BanManager(
    new NoEnforcer(),
    policy({ allow: NetworkList.parse(["203.0.113.0/24"]) }),
  );
  assert.equal(bans.judge(detection("192.168.1.50", "203.0.113.9")).action, "allowlisted");
  assert.equal(bans.judge(detection("192.168.1.50", "192.168.1.60")).action, "allowlisted");
  assert.equal(
    bans.judge(detection("192.168.1.50", "239.192.152.143", { l4: 17 })).action,
    "allowlisted",
  );
  const src = new BanManager(new NoEnforcer(), policy({ scope: "src" }));
  assert.equal(src.judge(detection("192.168.1.1", "198.51.100.7")).action, "allowlisted");
  assert.equal(bans.stats.active + src.stats.active, 0);
});

Deno.test("scopes: src bans the deciding packet's source, both bans both endpoints", () => {
  const src = new BanManager(new NoEnforcer(), policy({ scope: "src" }));
  assert.deepEqual(src.judge(detection("192.168.1.50", "198.51.100.7")).addresses, [
    "192.168.1.50",
  ]);
  const both = new BanManager(new NoEnforcer(), policy({ scope: "both" }));
  assert.deepEqual(both.judge(detection("192.168.1.50", "198.51.100.7")).addresses, [
    "192.168.1.50",
    "198.51.100.7",
  ]);
  const transit = new BanManager(new NoEnforcer(), policy());
  assert.deepEqual(transit.judge(detection("198.51.100.1", "198.51.100.2")).addresses, [
    "198.51.100.1",
    "198.51.100.2",
  ]);
});

Deno.test("monitor-only reports what it would ban and bans nothing", () => {
  const enforcer = new NoEnforcer();
  const bans = new BanManager(enforcer, policy({ monitorOnly: true }));
  assert.deepEqual(bans.judge(detection("192.168.1.50", "198.51.100.7")), {
    action: "monitor",
    addresses: ["198.51.100.7"],
  });
  assert.equal(enforcer.list().length, 0);
});

Deno.test("expired bans are swept; the table is bounded by evicting the oldest", () => {
  let now = 0;
  const enforcer = new NoEnforcer();
  const bans = new BanManager(enforcer, policy({ maxBans: 3, duration: 10 }), () => now);
  for (let i = 1; i <= 4; i++) {
    now = i;
    bans.judge(detection("192.168.1.50", `198.51.100.${i}`));
  }
  assert.deepEqual(bans.list().map((b) => b.text), [
    "198.51.100.2",
    "198.51.100.3",
    "198.51.100.4",
  ]);
  assert.equal(bans.stats.evicted, 1);
  assert.equal(enforcer.list().length, 3);
  now = 12.5;
  assert.equal(bans.sweep(), 1);
  assert.equal(bans.stats.expired, 1);
  assert.deepEqual(enforcer.list().map((b) => b.address[3] & 255), [3, 4]);
  now = 20;
  assert.equal(
    bans.judge(detection("192.168.1.50", "198.51.100.3")).action,
    "banned",
    "expired ban is renewed",
  );
});

Deno.test("restore adopts the enforcer's surviving bans and drops expired ones", () => {
  const enforcer = new NoEnforcer();
  const w = (t: string) => {
    const a = new Uint32Array(4);
    parseAddress(t, a);
    return a;
  };
  enforcer.ban({ address: w("198.51.100.1"), ipVersion: 4, bannedAt: 1, expiresAt: 50, reason: 1 });
  enforcer.ban({ address: w("2001:db8::1"), ipVersion: 6, bannedAt: 2, expiresAt: 200, reason: 4 });
  const bans = new BanManager(enforcer, policy(), () => 100);
  assert.equal(bans.restore(), 1);
  assert.deepEqual(bans.list().map((b) => [b.text, b.reason]), [["2001:db8::1", 4]]);
  assert.equal(enforcer.list().length, 1);
  assert.ok(bans.remove("2001:db8::1"));
  assert.ok(!bans.remove("2001:db8::1"));
  assert.equal(enforcer.list().length, 0);
});

Deno.test("resync adopts changes made to the enforcer from outside", () => {
  const enforcer = new NoEnforcer();
  const bans = new BanManager(enforcer, policy(), () => 100);
  bans.judge(detection("192.168.1.50", "198.51.100.7"));
  const w = new Uint32Array(4);
  parseAddress("198.51.100.9", w);
  enforcer.unban(bans.list()[0].address, 4);
  enforcer.ban({ address: w, ipVersion: 4, bannedAt: 90, expiresAt: 500, reason: 0 });
  assert.equal(bans.resync(), 1);
  assert.deepEqual(bans.list().map((b) => b.text), ["198.51.100.9"]);
  assert.equal(bans.judge(detection("192.168.1.50", "198.51.100.7")).action, "banned");
});

const mse = { reason: Reason.MSE };

Deno.test("a heuristic detection alone is suspected: logged and counted, never banned", () => {
  const enforcer = new NoEnforcer();
  const bans = new BanManager(enforcer, policy());
  const j = bans.judge(detection("192.168.1.50", "198.51.100.7", mse));
  assert.deepEqual(j, { action: "suspected", addresses: ["198.51.100.7"] });
  assert.equal(enforcer.list().length, 0);
  assert.equal(bans.stats.suspected, 1);
  assert.equal(bans.stats.total, 0);
  // Without the evidence rule met it stays insufficient_evidence (and is not counted).
  const oneWay = detection("192.168.1.50", "198.51.100.7", { ...mse, bidirectional: false });
  assert.equal(bans.judge(oneWay).action, "insufficient_evidence");
  assert.equal(bans.stats.suspected, 1);
});

Deno.test("a heuristic detection corroborated by endpoint memory bans", () => {
  const bans = new BanManager(new NoEnforcer(), policy());
  const d = detection("192.168.1.50", "198.51.100.7", { ...mse, corroborated: true });
  assert.equal(bans.judge(d).action, "banned");
  assert.match(bans.list()[0].evidence, /mse \(heuristic\) corroborated: an endpoint was known/);
  assert.equal(bans.stats.suspected, 0);
});

Deno.test("a heuristic detection bans a host that showed cleartext BitTorrent, only that host", () => {
  let now = 1000;
  const bans = new BanManager(new NoEnforcer(), policy({ duration: 600 }), () => now);
  // A forged handshake (no answer from the peer) does not vouch for the peer.
  const forged = detection("198.51.100.7", "192.168.1.50", { srcAnswered: false });
  assert.equal(bans.judge(forged).action, "insufficient_evidence");
  assert.equal(bans.judge(detection("192.168.1.50", "198.51.100.7", mse)).action, "suspected");
  // The local client speaks cleartext BitTorrent to someone else: that vouches for nobody else.
  const other = detection("192.168.1.50", "203.0.113.3");
  assert.equal(bans.judge(other).action, "banned");
  assert.equal(bans.judge(detection("192.168.1.50", "198.51.100.7", mse)).action, "suspected");
  // The peer itself shows a cleartext handshake (answered): its heuristic flows now ban.
  const plain = detection("192.168.1.50", "198.51.100.7");
  assert.equal(bans.judge(plain).action, "banned");
  bans.remove("198.51.100.7");
  const j = bans.judge(detection("192.168.1.51", "198.51.100.7", mse));
  assert.equal(j.action, "banned");
  assert.match(bans.list().at(-1)!.evidence, /the host showed cleartext BitTorrent/);
  // The record lasts a ban duration.
  bans.remove("198.51.100.7");
  now += 601;
  assert.equal(bans.judge(detection("192.168.1.51", "198.51.100.7", mse)).action, "suspected");
});

Deno.test("the record of hosts that showed cleartext BitTorrent is bounded", () => {
  const bans = new BanManager(new NoEnforcer(), policy({ maxBans: 10, monitorOnly: true }));
  const first = detection("192.168.1.50", "44.0.0.0");
  assert.equal(bans.judge(first).action, "monitor");
  for (let i = 1; i <= SIGNATURE_HOSTS_MAX; i++) {
    first.dst[3] = (0x2c000000 + i) >>> 0;
    bans.judge(first);
  }
  // 44.0.0.0, the stalest, was forgotten; 44.0.0.1 is still known.
  assert.equal(bans.judge(detection("192.168.1.50", "44.0.0.0", mse)).action, "suspected");
  assert.equal(bans.judge(detection("192.168.1.50", "44.0.0.1", mse)).action, "monitor");
});

Deno.test("a heuristic detection confirmed by the flow's structure bans", () => {
  const bans = new BanManager(new NoEnforcer(), policy());
  const d = detection("192.168.1.50", "198.51.100.7", mse);
  assert.equal(bans.judge(d).action, "suspected");
  d.confidence = Confidence.STRUCTURAL; // what Verdict.CONFIRMED hands over
  assert.equal(bans.judge(d).action, "banned");
});
