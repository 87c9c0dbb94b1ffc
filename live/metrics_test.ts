import assert from "node:assert/strict";
import { type MetricsSnapshot, renderMetrics, serveMetrics } from "./metrics.ts";

function snapshot(packets = 10): MetricsSnapshot {
  return {
    build: { version: "1.2.3", commit: 'abc"def', deno: "2.9.6" },
    interfaces: [
      {
        iface: "eth0",
        packets,
        bytes: 1500,
        pcapDropped: 1,
        interfaceDropped: 0,
        malformed: 2,
        flowEvictions: 0,
        poolDropped: 0,
        up: true,
      },
      {
        iface: "eth1",
        packets: 5,
        bytes: 100,
        pcapDropped: 0,
        interfaceDropped: 0,
        malformed: 0,
        flowEvictions: 3,
        poolDropped: 4,
        up: false,
      },
    ],
    detections: { bt_handshake: 3, dht_krpc: 1 },
    bansActive: 2,
    bansTotal: 4,
    bansExpired: 1,
    bansEvicted: 1,
    bansRemoved: 0,
    suspected: 2,
    reportsSuppressed: 5,
    enforcerDrops: { ipv4Packets: 7, ipv4Bytes: 700, ipv6Packets: 1, ipv6Bytes: 120 },
    enforcer: "xdp",
    pool: { workers: 4, active: 2, queueUsed: 4, queueCapacity: 16, restarts: 1 },
    uptimeSeconds: 12.4,
  };
}

Deno.test("metrics follow the Prometheus text format and naming conventions", () => {
  const text = renderMetrics(snapshot());
  assert.match(text, /^# TYPE btblocker_packets_total counter$/m);
  assert.match(text, /^btblocker_packets_total\{iface="eth0"\} 10$/m);
  assert.match(text, /^btblocker_pcap_dropped_packets_total\{iface="eth0"\} 1$/m);
  assert.match(text, /^btblocker_detections_total\{reason="bt_handshake"\} 3$/m);
  assert.match(
    text,
    /^btblocker_enforcer_dropped_bytes_total\{enforcer="xdp",family="ipv6"\} 120$/m,
  );
  assert.match(text, /^btblocker_pool_queue_utilization_ratio 0.25$/m);
  assert.match(
    text,
    /^btblocker_build_info\{version="1.2.3",commit="abc\\"def",deno="2.9.6"\} 1$/m,
  );
  assert.match(text, /^btblocker_capture_up\{iface="eth1"\} 0$/m);
  assert.match(text, /^btblocker_suspected_total 2$/m);
  for (const line of text.trimEnd().split("\n")) {
    if (line.startsWith("#")) continue;
    assert.match(line, /^btblocker_[a-z0-9_]+(\{[^}]*\})? -?\d+(\.\d+)?$/, line);
  }
  for (const m of text.matchAll(/^# TYPE (\S+) counter$/gm)) assert.match(m[1], /_total$/);
});

Deno.test("the server answers /metrics, /bans, /healthz, and refuses the rest", async () => {
  let packets = 10;
  const server = serveMetrics("127.0.0.1", 0, {
    snapshot: () => snapshot(packets),
    bans: () => [{
      address: "198.51.100.7",
      reason: "bt_handshake",
      first_detection: "x",
      expires: "y",
      evidence: "tcp",
    }],
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    let r = await fetch(`${base}/metrics`);
    assert.equal(r.status, 200);
    assert.match(await r.text(), /btblocker_packets_total\{iface="eth0"\} 10/);
    packets = 99;
    assert.match(
      await (await fetch(`${base}/metrics`)).text(),
      /btblocker_packets_total\{iface="eth0"\} 99/,
    );
    r = await fetch(`${base}/bans`);
    assert.deepEqual((await r.json())[0].address, "198.51.100.7");
    r = await fetch(`${base}/healthz`);
    assert.equal(r.status, 200);
    await r.body?.cancel();
    r = await fetch(`${base}/nope`);
    assert.equal(r.status, 404);
    await r.body?.cancel();
    r = await fetch(`${base}/metrics`, { method: "POST" });
    assert.equal(r.status, 405);
    await r.body?.cancel();
  } finally {
    await server.shutdown();
  }
});
