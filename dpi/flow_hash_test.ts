import assert from "node:assert/strict";
import { FlowHasher } from "./flow_hash.ts";
import { LinkType } from "./decode.ts";
import { concat, frame } from "../tests/helpers/packets.ts";

const hasher = new FlowHasher();
const hash = (f: Uint8Array, iface = 0) => hasher.hash(iface, LinkType.ETHERNET, f, 0, f.length);

Deno.test("flow hash: both directions of a flow hash alike, for IPv4 and IPv6, TCP and UDP", () => {
  for (const [a, b] of [["10.0.0.1", "192.0.2.7"], ["2001:db8::1", "2001:db8::2"]]) {
    for (const l4 of [6, 17]) {
      const there = frame({ l4, src: { ip: a, port: 40000 }, dst: { ip: b, port: 6881 } });
      const back = frame({ l4, src: { ip: b, port: 6881 }, dst: { ip: a, port: 40000 } });
      assert.ok(hash(there) >= 0);
      assert.equal(hash(there), hash(back), `${a} ${l4}`);
    }
  }
});

Deno.test("flow hash: the key is the flow the analyzer tracks (VLAN tags do not change it)", () => {
  const f = frame({ l4: 6, src: { ip: "10.0.0.1", port: 1 }, dst: { ip: "10.0.0.2", port: 2 } });
  const tagged = concat(f.subarray(0, 12), [0x81, 0x00, 0, 10], f.subarray(12));
  assert.equal(hash(tagged), hash(f));
});

Deno.test("flow hash: differs between protocols, ports and interfaces; spreads flows evenly", () => {
  const tcp = frame({ l4: 6, src: { ip: "10.0.0.1", port: 1 }, dst: { ip: "10.0.0.2", port: 2 } });
  const udp = frame({ l4: 17, src: { ip: "10.0.0.1", port: 1 }, dst: { ip: "10.0.0.2", port: 2 } });
  assert.notEqual(hash(tcp), hash(udp));
  assert.notEqual(hash(tcp, 0), hash(tcp, 1));
  const buckets = new Array(4).fill(0);
  for (let i = 0; i < 4000; i++) {
    const f = frame({
      l4: 6,
      src: { ip: `10.0.${i >> 8}.${i & 255}`, port: 40000 + (i % 1000) },
      dst: { ip: "192.0.2.7", port: 6881 },
    });
    buckets[hash(f) % 4]++;
  }
  for (const n of buckets) assert.ok(n > 800 && n < 1200, `uneven spread: ${buckets}`);
});

Deno.test("flow hash: frames that carry no TCP/UDP flow give -1", () => {
  const arp = new Uint8Array(42);
  arp[12] = 0x08;
  arp[13] = 0x06;
  assert.equal(hash(arp), -1);
  assert.equal(hasher.hash(0, LinkType.ETHERNET, arp, 0, 10), -1);
});
