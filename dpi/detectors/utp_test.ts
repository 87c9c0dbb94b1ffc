import assert from "node:assert/strict";
import { UtpDetector, utpPacketType, UtpType } from "./utp.ts";
import { Analyzer } from "../analyzer.ts";
import { captureDetections } from "../../tests/helpers/capture_detections.ts";
import {
  concat,
  type Conversation,
  converse,
  randomBytes,
  type Step,
} from "../../tests/helpers/packets.ts";

const { DATA, FIN, STATE, SYN } = UtpType;

const a = { ip: "192.168.1.5", port: 40959 };
const b = { ip: "82.243.113.43", port: 64969 };
const a6 = { ip: "2001:db8::5", port: 6881 };
const b6 = { ip: "2001:db8:1::43", port: 51413 };

/** One extension of the chain: its type and data. */
type Extension = [type: number, data: number[]];

/** A uTP version 1 packet. */
function utp(
  type: number,
  conn: number,
  stamp: number,
  seq: number,
  ack: number,
  extensions: Extension[] = [],
  payload: Uint8Array | string = "",
): Uint8Array {
  const header = new Uint8Array(20);
  const v = new DataView(header.buffer);
  header[0] = (type << 4) | 1;
  header[1] = extensions.length > 0 ? extensions[0][0] : 0;
  v.setUint16(2, conn & 0xffff);
  v.setUint32(4, stamp >>> 0);
  v.setUint32(8, 0x0000_1000);
  v.setUint32(12, 1 << 20);
  v.setUint16(16, seq & 0xffff);
  v.setUint16(18, ack & 0xffff);
  const chain = extensions.map(([, data], i) =>
    concat(
      [i + 1 < extensions.length ? extensions[i + 1][0] : 0, data.length],
      Uint8Array.from(data),
    )
  );
  return concat(header, ...chain, payload);
}

/** Arguments of `utpPacketType` for a whole, uncut datagram. */
function whole(p: Uint8Array): [Uint8Array, number, number, number] {
  return [p, 0, p.length, p.length];
}

/** Bytes from hex digits (spaces ignored). */
function hex(digits: string): Uint8Array {
  const clean = digits.replaceAll(" ", "");
  return Uint8Array.from(
    { length: clean.length / 2 },
    (_, i) => parseInt(clean.slice(2 * i, 2 * i + 2), 16),
  );
}

/** One packet of a scripted uTP connection. */
interface UtpStep {
  from: "a" | "b";
  type: number;
  seq: number;
  ack: number;
  /** Connection id; by default the initiator `a` sends `ID + 1` (its SYN `ID`), `b` sends `ID`. */
  conn?: number;
  /** Timestamp; by default each side's clock follows the capture clock (1 ms per packet). */
  stamp?: number;
  extensions?: Extension[];
  payload?: Uint8Array | string;
}

const ID = 0x5302;
// b's clock wraps around 2^32 during the conversations.
const CLOCK = { a: 0x10ee_b2f0, b: 0xffff_f000 };

/** Turns a uTP script into `converse` steps (`converse` advances its clock 1 ms per packet). */
function script(steps: UtpStep[]): Step[] {
  return steps.map((s, i) => {
    const conn = s.conn ?? (s.from === "a" && s.type !== SYN ? ID + 1 : ID);
    const stamp = s.stamp ?? CLOCK[s.from] + i * 1000;
    const payload = s.payload ?? (s.type === DATA ? randomBytes(300, i + 7) : "");
    return { from: s.from, payload: utp(s.type, conn, stamp, s.seq, s.ack, s.extensions, payload) };
  });
}

/** Plays `steps` between `from` and `to` through an analyzer running only the uTP detector. */
function talk(steps: Step[], from = a, to = b): Conversation {
  return converse(17, from, to, steps, {
    detectors: [new UtpDetector(1024)],
    config: { maxFlows: 1024 },
  });
}

/** Whether any flow of the conversation got an answered bit. */
function anyAnswered(c: Conversation): boolean {
  return c.analyzer.flows.answered.some((bits) => bits !== 0);
}

/** SYN, STATE, then data both ways, as libtorrent and libutp do. */
const HANDSHAKE: UtpStep[] = [
  { from: "a", type: SYN, seq: 0xe7f5, ack: 0 },
  { from: "b", type: STATE, seq: 0x49c7, ack: 0xe7f5, extensions: [[2, [0, 0, 0, 0, 0, 0, 0, 0]]] },
  { from: "a", type: DATA, seq: 0xe7f6, ack: 0x49c6 },
  { from: "b", type: DATA, seq: 0x49c7, ack: 0xe7f6 },
  { from: "a", type: STATE, seq: 0xe7f7, ack: 0x49c7 },
];

Deno.test("utpPacketType accepts the five packet types with their shapes", () => {
  assert.equal(utpPacketType(...whole(utp(SYN, 1, 5, 9, 0))), SYN);
  assert.equal(utpPacketType(...whole(utp(STATE, 1, 5, 9, 3))), STATE);
  assert.equal(utpPacketType(...whole(utp(DATA, 1, 5, 9, 3, [], "x"))), DATA);
  assert.equal(utpPacketType(...whole(utp(FIN, 1, 5, 9, 3))), FIN);
  assert.equal(utpPacketType(...whole(utp(UtpType.RESET, 1, 5, 9, 3))), UtpType.RESET);
  const sack = utp(STATE, 1, 5, 9, 3, [[1, [1, 0, 0, 0, 0, 0, 0, 8]]]);
  assert.equal(utpPacketType(...whole(sack)), STATE);
  const chain = utp(FIN, 1, 5, 9, 3, [[1, [1, 0, 0, 0]], [3, [0, 0, 0, 2]]]);
  assert.equal(utpPacketType(...whole(chain)), FIN);
});

Deno.test("utpPacketType rejects what uTP senders never produce", () => {
  const version0 = utp(DATA, 1, 5, 9, 3, [], "x");
  version0[0] = 0x00;
  assert.equal(utpPacketType(...whole(version0)), -1);
  const type5 = utp(DATA, 1, 5, 9, 3, [], "x");
  type5[0] = 0x51;
  assert.equal(utpPacketType(...whole(type5)), -1);
  assert.equal(utpPacketType(...whole(utp(DATA, 1, 0, 9, 3, [], "x"))), -1); // no timestamp
  assert.equal(utpPacketType(...whole(utp(DATA, 1, 0x2112a442, 9, 3, [], "x"))), -1); // STUN
  assert.equal(utpPacketType(...whole(utp(SYN, 1, 5, 9, 0, [], "x"))), -1); // SYN with data
  assert.equal(utpPacketType(...whole(utp(STATE, 1, 5, 9, 0, [], "x"))), -1); // STATE with data
  assert.equal(utpPacketType(...whole(utp(DATA, 1, 5, 9, 0))), -1); // DATA without data
  assert.equal(utpPacketType(...whole(utp(STATE, 1, 5, 9, 0, [[1, []]]))), -1); // empty SACK
  assert.equal(utpPacketType(...whole(utp(STATE, 1, 5, 9, 0, [[1, [1, 2, 3]]]))), -1); // SACK of 3
  assert.equal(utpPacketType(...whole(utp(STATE, 1, 5, 9, 0, [[2, [1, 2, 3, 4]]]))), -1); // bits
  assert.equal(utpPacketType(...whole(utp(STATE, 1, 5, 9, 0, [[4, [1, 2, 3, 4]]]))), -1); // type 4
  const bits: Extension = [2, [0, 0, 0, 0, 0, 0, 0, 0]];
  const four: Extension[] = [[1, [1, 0, 0, 0]], [1, [1, 0, 0, 0]], [3, [0, 0, 0, 2]], bits];
  assert.equal(utpPacketType(...whole(utp(STATE, 1, 5, 9, 0, four))), -1); // each at most once
  assert.equal(utpPacketType(...whole(utp(STATE, 1, 5, 9, 0, four.slice(1)))), STATE);
  const overrun = utp(STATE, 1, 5, 9, 0, [[1, [1, 0, 0, 0]]]);
  overrun[21] = 8; // the SACK claims 8 bytes, 4 remain
  assert.equal(utpPacketType(...whole(overrun)), -1);
  assert.equal(utpPacketType(...whole(Uint8Array.of(0x21, 0, 1, 2))), -1); // short
});

Deno.test("utpPacketType judges truncated captures on the bytes present", () => {
  const data = utp(DATA, 1, 5, 9, 3, [[1, [1, 0, 0, 0]]], randomBytes(1000));
  assert.equal(utpPacketType(data, 0, 40, data.length), DATA); // payload cut by the snap length
  assert.equal(utpPacketType(data, 0, 21, data.length), -1); // extension header not captured
});

Deno.test("uTP connection from its SYN is detected at the initiator's first data", () => {
  const c = talk(script(HANDSHAKE));
  assert.equal(c.detections.length, 1);
  const d = c.detections[0];
  assert.equal(d.reason, "utp");
  assert.equal(d.flow_packet, 3);
  assert.equal(d.src_ip, a.ip);
  assert.deepEqual(d.evidence, { bidirectional: true, src_answered: true, dest_answered: true });
});

Deno.test("uTP over IPv6 is detected the same way", () => {
  const c = talk(script(HANDSHAKE), a6, b6);
  assert.equal(c.detections.length, 1);
  assert.equal(c.detections[0].reason, "utp");
  assert.equal(c.detections[0].flow_packet, 3);
  assert.equal(c.detections[0].dest_ip, b6.ip);
});

Deno.test("uTP seen mid-connection (no SYN) is detected from DATA and STATE both ways", () => {
  const c = talk(script([
    { from: "b", type: DATA, seq: 0x49c9, ack: 0xe7f7 },
    { from: "a", type: STATE, seq: 0xe7f8, ack: 0x49c9 },
    { from: "b", type: DATA, seq: 0x49ca, ack: 0xe7f7 },
    { from: "a", type: DATA, seq: 0xe7f8, ack: 0x49ca },
    { from: "b", type: STATE, seq: 0x49cb, ack: 0xe7f8 },
  ]));
  assert.equal(c.detections.length, 1);
  assert.equal(c.detections[0].reason, "utp");
  assert.equal(c.detections[0].flow_packet, 3);
  assert.deepEqual(c.detections[0].evidence, {
    bidirectional: true,
    src_answered: true,
    dest_answered: true,
  });
});

Deno.test("uTP with selective acks, retransmissions and wrapping sequence numbers is detected", () => {
  const c = talk(script([
    { from: "a", type: DATA, seq: 0xfffe, ack: 0x0100 },
    { from: "a", type: DATA, seq: 0x0000, ack: 0x0100 }, // 0xffff was lost
    { from: "b", type: STATE, seq: 0x0101, ack: 0xfffe, extensions: [[1, [0x01, 0, 0, 0]]] },
    { from: "a", type: DATA, seq: 0xffff, ack: 0x0100 }, // retransmission
  ]));
  assert.equal(c.detections.length, 1);
  assert.equal(c.detections[0].flow_packet, 4);
});

Deno.test("uTP answered by a FIN with libtorrent's close reason is detected", () => {
  const c = talk(script([
    { from: "b", type: DATA, seq: 0x49c9, ack: 0xe7f7 },
    { from: "a", type: FIN, seq: 0xe7f8, ack: 0x49c9, extensions: [[3, [0, 0, 0, 2]]] },
    { from: "b", type: STATE, seq: 0x49ca, ack: 0xe7f7 },
    { from: "b", type: DATA, seq: 0x49ca, ack: 0xe7f7 },
  ]));
  assert.equal(c.detections.length, 1);
  assert.equal(c.detections[0].flow_packet, 4);
});

Deno.test("a new uTP connection after an unanswered SYN on the same ports is detected", () => {
  const c = talk(script([
    { from: "a", type: SYN, seq: 0x7d94, ack: 0, conn: 0x3b6d },
    { from: "a", type: SYN, seq: 0x7d94, ack: 0, conn: 0x3b6d },
    ...HANDSHAKE,
  ]));
  assert.equal(c.detections.length, 1);
  assert.equal(c.detections[0].flow_packet, 5);
});

Deno.test("a packet of another connection id does not continue the connection", () => {
  const c = talk(script([
    { from: "b", type: DATA, seq: 0x49c9, ack: 0xe7f7 },
    { from: "a", type: STATE, seq: 0xe7f8, ack: 0x49c9 },
    { from: "b", type: DATA, seq: 0x49ca, ack: 0xe7f7, conn: 0x7777 },
    { from: "a", type: STATE, seq: 0xe7f8, ack: 0x49ca },
  ]));
  assert.equal(c.detections.length, 0);
});

Deno.test("a SYN retransmitted while its STATE was on the way keeps the connection", () => {
  const c = talk(script([HANDSHAKE[0], HANDSHAKE[1], HANDSHAKE[0], ...HANDSHAKE.slice(2)]));
  assert.equal(c.detections.length, 1);
  assert.equal(c.detections[0].flow_packet, 4);
});

Deno.test("answers about a connection one side abandoned do not count", () => {
  const c = talk(script([
    { from: "b", type: DATA, seq: 0x49c9, ack: 0xe7f7 },
    { from: "a", type: STATE, seq: 0xe7f8, ack: 0x49c9 }, // answers b's connection ID
    { from: "b", type: DATA, seq: 0x1000, ack: 0xe7f7, conn: ID + 2 },
    { from: "b", type: DATA, seq: 0x1001, ack: 0xe7f7, conn: ID + 2 },
  ]));
  assert.equal(c.detections.length, 0);
});

Deno.test("uTP on a port reserved for other protocols is left alone", () => {
  const c = talk(script(HANDSHAKE), a, { ip: b.ip, port: 443 });
  assert.equal(c.detections.length, 0);
  assert.equal(anyAnswered(c), false);
});

Deno.test("a one-directional flood of SYNs from a forged source is never answered nor detected", () => {
  const steps: UtpStep[] = [];
  for (let i = 0; i < 40; i++) {
    steps.push({ from: "a", type: SYN, seq: (i * 7919) & 0xffff, ack: 0, conn: i * 613 });
  }
  const c = talk(script(steps));
  assert.equal(c.detections.length, 0);
  assert.equal(anyAnswered(c), false);
});

Deno.test("a SYN accepted by a real client but never followed up is not detected", () => {
  // A forged SYN makes the victim's client answer; the forged initiator cannot answer back.
  const c = talk(script([HANDSHAKE[0], HANDSHAKE[1], HANDSHAKE[0]]));
  assert.equal(c.detections.length, 0);
  assert.equal(c.analyzer.flows.answered.reduce((x, y) => x | y, 0), 2); // responder only
});

Deno.test("a STATE that does not acknowledge the SYN does not answer it", () => {
  const c = talk(script([
    HANDSHAKE[0],
    { from: "b", type: STATE, seq: 0x49c7, ack: 0xe7f4 },
    HANDSHAKE[2],
  ]));
  assert.equal(c.detections.length, 0);
});

Deno.test("a responder answering a SYN with an id other than the SYN's is not uTP", () => {
  // The SYN carries X and the initiator then sends X + 1: the responder must send X, not X + 2.
  const steps = HANDSHAKE.map((s) => s.from === "b" ? { ...s, conn: ID + 2 } : s);
  const c = talk(script(steps));
  assert.equal(c.detections.length, 0);
  assert.equal(anyAnswered(c), false);
});

Deno.test("uTP-shaped traffic whose sequence numbers jump around is not detected", () => {
  const c = talk(script([
    { from: "b", type: DATA, seq: 0x49c9, ack: 0xe7f7 },
    { from: "a", type: STATE, seq: 0xe7f8, ack: 0x49c9 },
    { from: "b", type: DATA, seq: 0x9c49, ack: 0xe7f7 },
    { from: "a", type: STATE, seq: 0xe7f8, ack: 0x9c49 },
    { from: "b", type: DATA, seq: 0x1234, ack: 0xe7f7 },
  ]));
  assert.equal(c.detections.length, 0);
});

Deno.test("uTP-shaped traffic whose connection ids do not pair is not detected", () => {
  const c = talk(script([
    { from: "b", type: DATA, seq: 0x49c9, ack: 0xe7f7, conn: ID },
    { from: "a", type: STATE, seq: 0xe7f8, ack: 0x49c9, conn: ID + 2 },
    { from: "b", type: DATA, seq: 0x49ca, ack: 0xe7f7, conn: ID },
    { from: "a", type: DATA, seq: 0xe7f8, ack: 0x49ca, conn: ID + 2 },
    { from: "b", type: STATE, seq: 0x49cb, ack: 0xe7f8, conn: ID },
  ]));
  assert.equal(c.detections.length, 0);
  assert.equal(anyAnswered(c), false);
});

Deno.test("uTP-shaped traffic whose timestamps ignore the clock is not detected", () => {
  const steps = HANDSHAKE.map((s, i) => ({ ...s, stamp: 0x1000_0000 + i * 600_000_000 }));
  const c = talk(script(steps));
  assert.equal(c.detections.length, 0);
});

Deno.test("an echo server reflecting uTP packets is not detected", () => {
  const steps: Step[] = [];
  for (const s of script(HANDSHAKE.filter((s) => s.from === "a"))) {
    steps.push(s, { from: "b", payload: s.payload });
  }
  const c = talk(steps);
  assert.equal(c.detections.length, 0);
  assert.equal(anyAnswered(c), false);
});

Deno.test("a protocol with a uTP-like header of constant fields is not detected", () => {
  // 01 00 | id 1 / id 0 | fixed stamp | … | seq 0 | ack 0: ids pair and acks match, nothing moves.
  const steps: Step[] = [];
  for (let i = 0; i < 12; i++) {
    const from = i % 2 === 0 ? "a" as const : "b" as const;
    steps.push({ from, payload: utp(DATA, from === "a" ? 1 : 0, 0x00a0_0000, 0, 0, [], "hello") });
  }
  const c = talk(steps);
  assert.equal(c.detections.length, 0);
});

Deno.test("CAPWAP carrying DTLS (01 00 00 00 then a DTLS record) is not detected", () => {
  const steps: Step[] = [];
  for (let i = 0; i < 16; i++) {
    const record = concat([0x17, 0xfe, 0xfd, 0x00, 0x01, 0, 0, 0, 0, i], randomBytes(120, i + 1));
    steps.push({ from: i % 2 === 0 ? "a" : "b", payload: concat([0x01, 0, 0, 0], record) });
  }
  const c = talk(steps);
  assert.equal(c.detections.length, 0);
});

Deno.test("STUN binding requests and responses both ways are not uTP", () => {
  const steps: Step[] = [];
  for (let i = 0; i < 8; i++) {
    const txid = randomBytes(12, i + 3);
    const request = concat(hex("0001 0008 2112a442"), txid, hex("0024 0004 6e001eff"));
    // XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT: `01 01` then a chain that parses.
    const attributes = concat(hex("0020 0008 0001e1ba 5e12a643 0008 0014"), randomBytes(20, i));
    const response = concat(hex("0101 002c 2112a442"), txid, attributes, hex("8028 0004 1d2c3b4a"));
    assert.equal(utpPacketType(...whole(response)), -1);
    const noCookie = response.slice();
    noCookie[4] = 0x22;
    assert.equal(utpPacketType(...whole(noCookie)), DATA); // only the cookie tells them apart
    const asker = i % 2 === 0 ? "a" as const : "b" as const;
    steps.push({ from: asker, payload: request });
    steps.push({ from: asker === "a" ? "b" : "a", payload: response });
  }
  const c = talk(steps);
  assert.equal(c.detections.length, 0);
  assert.equal(anyAnswered(c), false);
});

Deno.test("QUIC short-header packets starting 0x41 are not uTP", () => {
  const steps: Step[] = [];
  for (let i = 0; i < 16; i++) {
    const dcid = i % 2 === 0 ? [0x00, 0x53, 0x02] : [0x01, 0x53, 0x03]; // uTP-looking bytes
    steps.push({
      from: i % 2 === 0 ? "a" : "b",
      payload: concat([0x41], dcid, randomBytes(17 + (i % 3) * 40, i + 11)),
    });
  }
  const c = talk(steps);
  assert.equal(c.detections.length, 0);
  assert.equal(anyAnswered(c), false);
});

Deno.test("a WireGuard handshake and its transport packets are not uTP", () => {
  const initiation = concat([1, 0, 0, 0], randomBytes(144, 5));
  const response = concat([2, 0, 0, 0], randomBytes(88, 6));
  const steps: Step[] = [{ from: "a", payload: initiation }, { from: "b", payload: response }];
  for (let i = 0; i < 10; i++) {
    steps.push({
      from: i % 2 === 0 ? "a" : "b",
      payload: concat([4, 0, 0, 0], randomBytes(96, i)),
    });
  }
  const c = talk(steps);
  assert.equal(c.detections.length, 0);
  assert.equal(anyAnswered(c), false);
});

Deno.test("RTP and DTLS streams are not uTP", () => {
  const steps: Step[] = [];
  for (let i = 0; i < 16; i++) {
    const rtp = concat([0x80, 0x60, 0x12, i, 0, 0, 0x03, 0xc0 + i, 0xde, 0xad, 0xbe, 0xef]);
    steps.push({ from: i % 2 === 0 ? "a" : "b", payload: concat(rtp, randomBytes(160, i)) });
  }
  assert.equal(talk(steps).detections.length, 0);
  const dtls: Step[] = [];
  for (let i = 0; i < 16; i++) {
    const header = [0x17, 0xfe, 0xfd, 0x00, 0x01, 0, 0, 0, 0, i, 0, 64];
    dtls.push({ from: i % 2 === 0 ? "a" : "b", payload: concat(header, randomBytes(64, i + 40)) });
  }
  assert.equal(talk(dtls).detections.length, 0);
});

Deno.test("random UDP both ways, even starting like a uTP DATA header, is not uTP", () => {
  const analyzer = new Analyzer({ maxFlows: 4096 }, [new UtpDetector(4096)]);
  let detections = 0;
  for (let flow = 0; flow < 200; flow++) {
    const steps: Step[] = [];
    for (let i = 0; i < 16; i++) {
      const body = randomBytes(20 + ((flow * 31 + i * 97) % 1200), flow * 1000 + i + 1);
      if (flow % 2 === 0) body.set([0x01, 0x00]); // half of the flows look like uTP DATA
      steps.push({ from: i % 2 === 0 ? "a" : "b", payload: body });
    }
    const from = { ip: "10.0.0.1", port: 10000 + flow };
    detections += converse(17, from, b, steps, { analyzer }).detections.length;
  }
  assert.equal(detections, 0);
  assert.equal(analyzer.flows.answered.some((bits) => bits !== 0), false);
});

Deno.test("libtorrent's uTP on loopback (IPv4 and IPv6 capture) is detected at packet 3", () => {
  const url = new URL("../../tests/fixtures/utp_libtorrent_loopback.pcap", import.meta.url);
  const analyzer = new Analyzer({ maxFlows: 1024 }, [new UtpDetector(1024)]);
  const found: string[] = [];
  for (const e of captureDetections(url.pathname, analyzer)) {
    assert.equal(e.reason, "utp");
    assert.equal(e.flow_packet, 3);
    assert.deepEqual(e.evidence, { bidirectional: true, src_answered: true, dest_answered: true });
    found.push(e.src_ip);
  }
  assert.deepEqual(found, ["127.0.0.1", "::1"]);
});
