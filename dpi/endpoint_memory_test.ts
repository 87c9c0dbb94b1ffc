import assert from "node:assert/strict";
import { EndpointMemory } from "./endpoint_memory.ts";
import { parseAddress } from "./address.ts";
import { Reason } from "./reason.ts";

const ignored = new Uint8Array(65536);
ignored[443] = 1;

function addr(text: string): [Uint32Array, number] {
  const w = new Uint32Array(4);
  return [w, parseAddress(text, w)];
}

Deno.test("remembered endpoints are recalled until they expire", () => {
  const m = new EndpointMemory(16, 100, ignored);
  const [a, v] = addr("198.51.100.1");
  m.remember(a, v, 51413, Reason.TRACKER_PEER, 0);
  assert.equal(m.recall(a, v, 51413, 50), Reason.TRACKER_PEER);
  assert.equal(m.recall(a, v, 51414, 50), 0);
  assert.equal(m.recall(a, v, 51413, 100), 0, "expired");
  assert.equal(m.size, 1, "an expired entry stays until it is replaced");
});

Deno.test("a payload-proven reason is not downgraded by a peer list; expiry refreshes", () => {
  const m = new EndpointMemory(16, 100, ignored);
  const [a, v] = addr("2001:db8::5");
  m.remember(a, v, 6881, Reason.KNOWN_PEER, 0);
  m.remember(a, v, 6881, Reason.PEX_PEER, 90);
  assert.equal(m.recall(a, v, 6881, 150), Reason.KNOWN_PEER);
});

Deno.test("ignored ports, port 0, multicast and loopback are never remembered", () => {
  const m = new EndpointMemory(16, 100, ignored);
  for (
    const [text, port] of [["198.51.100.1", 443], ["198.51.100.1", 0], ["239.192.152.143", 6771], [
      "127.0.0.1",
      6881,
    ]] as const
  ) {
    const [a, v] = addr(text);
    m.remember(a, v, port, Reason.KNOWN_PEER, 0);
  }
  assert.equal(m.size, 0);
});

Deno.test("compact peers are read from packet bytes; capacity evicts the least recently learned", () => {
  const m = new EndpointMemory(2, 100, ignored);
  const bytes = Uint8Array.of(198, 51, 100, 7, 0x1a, 0xe1, 198, 51, 100, 8, 0x1a, 0xe1);
  m.rememberCompactV4(bytes, 0, Reason.TRACKER_PEER, 0);
  m.rememberCompactV4(bytes, 6, Reason.TRACKER_PEER, 0);
  const v6 = new Uint8Array(18);
  v6[0] = 0x20;
  v6[1] = 0x01;
  v6[15] = 9;
  v6[17] = 80;
  m.rememberCompactV6(v6, 0, Reason.DHT_PEER, 1);
  assert.equal(m.evicted, 1);
  const [a, v] = addr("198.51.100.8");
  assert.equal(m.recall(a, v, 6881, 1), Reason.TRACKER_PEER);
  const [b, w] = addr("2001::9");
  assert.equal(m.recall(b, w, 80, 1), Reason.DHT_PEER);
});

Deno.test("a full set replaces its least recently learned entry, an expired one first", () => {
  const m = new EndpointMemory(4, 100, ignored);
  assert.equal(m.capacity, 4, "fewer endpoints than a set's ways: one set, exact LRU");
  const peers = [1, 2, 3, 4, 5].map((i) => addr(`198.51.100.${i}`));
  for (const [i, [a, v]] of peers.slice(0, 4).entries()) {
    m.remember(a, v, 6881, Reason.DHT_PEER, i);
  }
  m.remember(peers[0][0], peers[0][1], 6881, Reason.DHT_PEER, 10); // refreshed: now the newest
  m.remember(peers[4][0], peers[4][1], 6881, Reason.DHT_PEER, 11);
  assert.equal(m.evicted, 1);
  assert.equal(m.size, 4);
  assert.equal(m.recall(peers[1][0], peers[1][1], 6881, 12), 0, "the least recently learned went");
  for (const i of [0, 2, 3, 4]) {
    assert.equal(m.recall(peers[i][0], peers[i][1], 6881, 12), Reason.DHT_PEER, `peer ${i}`);
  }
  // At 103 the entries learned at 2 and 3 have expired: they make room without an eviction.
  m.remember(peers[1][0], peers[1][1], 6881, Reason.KNOWN_PEER, 103);
  assert.equal(m.evicted, 1);
  assert.equal(m.recall(peers[1][0], peers[1][1], 6881, 104), Reason.KNOWN_PEER);
  assert.equal(m.recall(peers[0][0], peers[0][1], 6881, 104), Reason.DHT_PEER);
});

Deno.test("the table is bounded: capacity is rounded up to whole sets and never exceeded", () => {
  const m = new EndpointMemory(1000, 1e6, ignored);
  assert.equal(m.capacity, 1000);
  assert.equal(EndpointMemory.bytes(1000), m.buffer.byteLength);
  const w = new Uint32Array(4);
  for (let i = 0; i < 5000; i++) {
    parseAddress(`10.${i >> 8}.${i & 255}.1`, w);
    m.remember(w, 4, 6881, Reason.DHT_PEER, i);
  }
  assert.equal(m.size, 1000);
  assert.equal(m.learned, 5000);
  assert.equal(m.evicted, 4000);
  parseAddress("10.19.135.1", w); // the last one learned (i = 4999)
  assert.equal(m.recall(w, 4, 6881, 5000), Reason.DHT_PEER);
  assert.equal(new EndpointMemory(1001, 100, ignored).capacity, 1008);
});

Deno.test("instances attached to one buffer share the table; a wrong size is refused", () => {
  const shared = new SharedArrayBuffer(EndpointMemory.bytes(64));
  const a = new EndpointMemory(64, 100, ignored, shared);
  const b = new EndpointMemory(64, 100, ignored, shared);
  const [p, v] = addr("2001:db8::7");
  a.remember(p, v, 51413, Reason.PEX_PEER, 0);
  assert.equal(b.recall(p, v, 51413, 1), Reason.PEX_PEER);
  b.remember(p, v, 51413, Reason.KNOWN_PEER, 1);
  assert.equal(a.recall(p, v, 51413, 2), Reason.KNOWN_PEER);
  assert.equal(a.size, 1);
  assert.equal(b.size, 1);
  assert.equal(a.learned + b.learned, 2, "each instance counts what it learned");
  assert.throws(
    () => new EndpointMemory(64, 100, ignored, new SharedArrayBuffer(64)),
    /endpoint table for 64 endpoints takes \d+ bytes, got 64/,
  );
  assert.throws(() => new EndpointMemory(0, 100, ignored), RangeError);
});

Deno.test("a set held by a writer that never finished is given up on, not waited for forever", () => {
  const shared = new SharedArrayBuffer(EndpointMemory.bytes(8));
  const m = new EndpointMemory(8, 100, ignored, shared);
  const [p, v] = addr("198.51.100.9");
  m.remember(p, v, 6881, Reason.DHT_PEER, 0);
  const seq = new Int32Array(shared);
  seq[16] = 1; // after the 16-word header line: the only set's sequence word, odd: a writer died
  assert.equal(m.recall(p, v, 6881, 1), 0);
  m.remember(p, v, 6882, Reason.DHT_PEER, 1);
  assert.equal(m.contended, 2);
  seq[16] = 2;
  assert.equal(m.recall(p, v, 6881, 1), Reason.DHT_PEER);
  assert.equal(m.recall(p, v, 6882, 1), 0, "the skipped remember left nothing");
});

Deno.test("a reason is recalled only from when it was first learned; order does not matter", () => {
  const [p, v] = addr("198.51.100.10");
  const forward = new EndpointMemory(16, 100, ignored);
  forward.remember(p, v, 6881, Reason.DHT_PEER, 10);
  forward.remember(p, v, 6881, Reason.KNOWN_PEER, 50);
  const backward = new EndpointMemory(16, 100, ignored);
  backward.remember(p, v, 6881, Reason.KNOWN_PEER, 50);
  backward.remember(p, v, 6881, Reason.DHT_PEER, 10);
  for (const m of [forward, backward]) {
    assert.equal(m.recall(p, v, 6881, 9), 0, "not yet learned at 9");
    assert.equal(m.recall(p, v, 6881, 10), Reason.DHT_PEER, "seen doing BitTorrent only at 50");
    assert.equal(m.recall(p, v, 6881, 50), Reason.KNOWN_PEER);
    assert.equal(m.recall(p, v, 6881, 149), Reason.KNOWN_PEER, "the later learning's expiry");
    assert.equal(m.recall(p, v, 6881, 150), 0);
  }
});

Deno.test("only endpoint reasons are remembered", () => {
  const m = new EndpointMemory(16, 100, ignored);
  const [p, v] = addr("198.51.100.11");
  assert.throws(() => m.remember(p, v, 6881, Reason.DHT_KRPC, 0), /not an endpoint reason/);
});
