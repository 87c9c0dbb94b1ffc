import assert from "node:assert/strict";
import { Answered, FlowState, FlowTable } from "./flow_table.ts";
import { Packet } from "./packet.ts";
import { parseAddress } from "./address.ts";
import { formatAddress } from "./address.ts";

function packet(
  l4: number,
  src: string,
  sport: number,
  dst: string,
  dport: number,
  o: { flags?: number; seq?: number; ack?: number; payload?: number } = {},
): Packet {
  const p = new Packet();
  p.ipVersion = parseAddress(src, p.src);
  parseAddress(dst, p.dst);
  p.l4 = l4;
  p.srcPort = sport;
  p.dstPort = dport;
  p.tcpFlags = o.flags ?? 0;
  p.seq = o.seq ?? 0;
  p.ack = o.ack ?? 0;
  p.payloadWireLength = o.payload ?? 0;
  p.payloadLength = o.payload ?? 0;
  p.wireLength = 60 + (o.payload ?? 0);
  return p;
}

Deno.test("both directions map to one flow; the first sender is the initiator", () => {
  const t = new FlowTable(16, 60);
  const s = t.lookup(packet(17, "10.0.0.9", 5000, "10.0.0.1", 53, { payload: 30 }), 1);
  assert.equal(t.direction, 0);
  assert.ok(t.created);
  const r = t.lookup(packet(17, "10.0.0.1", 53, "10.0.0.9", 5000, { payload: 90 }), 2);
  assert.equal(r, s);
  assert.equal(t.direction, 1);
  assert.ok(!t.created);
  assert.equal(t.packets[s * 2], 1);
  assert.equal(t.packets[s * 2 + 1], 1);
  assert.equal(t.bytes[s * 2 + 1], 150);
  assert.equal(t.payloadPackets[s * 2 + 1], 1);
  assert.equal(t.firstSeen[s], 1);
  assert.equal(t.lastSeen[s], 2);
  assert.equal(t.state[s], FlowState.INSPECTING);
  const i = new Uint32Array(4);
  const rr = new Uint32Array(4);
  const ports = t.endpoints(s, i, rr);
  assert.equal(formatAddress(i, 4), "10.0.0.9");
  assert.equal(formatAddress(rr, 4), "10.0.0.1");
  assert.equal(ports >>> 16, 5000);
  assert.equal(ports & 0xffff, 53);
});

Deno.test("protocol, ports and address family separate flows", () => {
  const t = new FlowTable(16, 60);
  const a = t.lookup(packet(17, "10.0.0.1", 1, "10.0.0.2", 2), 0);
  const b = t.lookup(packet(6, "10.0.0.1", 1, "10.0.0.2", 2), 0);
  const c = t.lookup(packet(17, "10.0.0.1", 1, "10.0.0.2", 3), 0);
  const d = t.lookup(packet(17, "::ffff:10.0.0.1", 1, "::ffff:10.0.0.2", 2), 0);
  assert.equal(new Set([a, b, c, d]).size, 4);
});

Deno.test("a SYN+ACK seen first makes its receiver the initiator", () => {
  const t = new FlowTable(16, 60);
  t.lookup(packet(6, "192.0.2.1", 80, "10.0.0.5", 41000, { flags: 0x12 }), 0);
  assert.equal(t.direction, 1);
});

Deno.test("idle flows expire and a full table evicts the least recently seen", () => {
  const t = new FlowTable(2, 10);
  t.lookup(packet(17, "10.0.0.1", 1, "10.0.0.2", 2), 0);
  t.lookup(packet(17, "10.0.0.1", 1, "10.0.0.3", 2), 5);
  t.expire(12);
  assert.equal(t.size, 1);
  assert.equal(t.flowsExpired, 1);
  t.lookup(packet(17, "10.0.0.1", 1, "10.0.0.4", 2), 13);
  t.lookup(packet(17, "10.0.0.1", 1, "10.0.0.5", 2), 14);
  assert.equal(t.size, 2);
  assert.equal(t.flowsEvicted, 1);
  assert.equal(t.flowsCreated, 4);
});

Deno.test("TCP: each side is answered only by acknowledging bytes the other really sent", () => {
  const t = new FlowTable(16, 60);
  const c = "10.0.0.5", s = "198.51.100.9";
  const slot = t.lookup(packet(6, c, 40000, s, 6881, { flags: 0x02, seq: 100 }), 0);
  assert.equal(t.answered[slot], 0);
  // a forged SYN+ACK acknowledging the wrong number proves nothing
  t.lookup(packet(6, s, 6881, c, 40000, { flags: 0x12, seq: 900, ack: 555 }), 0);
  assert.equal(t.answered[slot], 0);
  t.lookup(packet(6, s, 6881, c, 40000, { flags: 0x12, seq: 900, ack: 101 }), 0);
  assert.equal(t.answered[slot], Answered.RESPONDER);
  t.lookup(packet(6, c, 40000, s, 6881, { flags: 0x18, seq: 101, ack: 901, payload: 68 }), 0);
  assert.equal(t.answered[slot], Answered.RESPONDER | Answered.INITIATOR);
  assert.ok(!t.isEstablished(slot), "no payload from the responder yet");
  t.lookup(packet(6, s, 6881, c, 40000, { flags: 0x18, seq: 901, ack: 169, payload: 68 }), 0);
  assert.ok(t.isEstablished(slot));
});

Deno.test("TCP sequence tracking survives wrap-around", () => {
  const t = new FlowTable(16, 60);
  const slot = t.lookup(
    packet(6, "10.0.0.1", 1, "10.0.0.2", 2, { flags: 0x18, seq: 0xfffffff0, payload: 32 }),
    0,
  );
  t.lookup(packet(6, "10.0.0.2", 2, "10.0.0.1", 1, { flags: 0x10, seq: 5, ack: 0x10 }), 0);
  assert.equal(t.answered[slot], Answered.RESPONDER);
});

Deno.test("flow ids start at firstId and step by idStride (ids shared by several tables)", () => {
  const a = new FlowTable(4, 60, 2, 3);
  const b = new FlowTable(4, 60, 3, 3);
  const ids: number[] = [];
  for (let i = 0; i < 3; i++) {
    ids.push(a.id[a.lookup(packet(6, "10.0.0.1", 1000 + i, "10.0.0.2", 80), 0)]);
    ids.push(b.id[b.lookup(packet(6, "10.0.0.1", 1000 + i, "10.0.0.2", 80), 0)]);
  }
  assert.deepEqual(ids, [2, 3, 5, 6, 8, 9]);
});
