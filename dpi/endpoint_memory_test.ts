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
  assert.equal(m.size, 0, "expired entry dropped on lookup");
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

Deno.test("compact peers are read from packet bytes; capacity evicts the oldest", () => {
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
