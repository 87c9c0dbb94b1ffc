import assert from "node:assert/strict";
import { Analyzer } from "../analyzer.ts";
import { parseAddress } from "../address.ts";
import { LinkType } from "../decode.ts";
import { Reason } from "../reason.ts";
import {
  HANDSHAKE_LENGTH,
  isExtensionHandshake,
  isPeerWireHandshake,
  MESSAGE_INVALID,
  MESSAGE_TRUNCATED,
  PeerWireDetector,
  PeerWireId,
  peerWireMessageLength,
} from "./peer_wire.ts";
import {
  bytesOf,
  concat,
  converse,
  type Endpoint,
  frame,
  randomBytes,
  type Step,
} from "../../tests/helpers/packets.ts";

const a = { ip: "192.168.1.3", port: 52915 };
const b = { ip: "198.51.100.9", port: 60163 };

// ---------------------------------------------------------------------------------------------
// Message builders

function be32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

function message(id: number, ...body: (Uint8Array | string | number[])[]): Uint8Array {
  const payload = concat(...body);
  return concat(be32(1 + payload.length), [id], payload);
}

function request(index: number, begin: number, length = 0x4000, id = 6): Uint8Array {
  return message(id, be32(index), be32(begin), be32(length));
}

function pieceHeader(index: number, begin: number, block: number): Uint8Array {
  return concat(be32(9 + block), [PeerWireId.PIECE], be32(index), be32(begin));
}

function have(index: number, id = 4): Uint8Array {
  return message(id, be32(index));
}

function state(id: number): Uint8Array {
  return message(id);
}

function extended(extId: number, payload: Uint8Array | string | number[]): Uint8Array {
  return message(PeerWireId.EXTENDED, [extId], payload);
}

function hashRequest(id: number, length: number, proofLayers: number): Uint8Array {
  return message(id, randomBytes(32, 7), be32(0), be32(0), be32(length), be32(proofLayers));
}

function handshake(reserved = [0, 0, 0, 0, 0, 0x10, 0, 0x05]): Uint8Array {
  return concat(
    "\x13BitTorrent protocol",
    reserved,
    randomBytes(20, 3),
    "-UT3450-",
    randomBytes(12, 4),
  );
}

const EXT_HANDSHAKE = extended(
  0,
  "d1:md11:lt_donthavei7e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1e11:upload_onlyi3ee" +
    "13:metadata_sizei31235e1:pi6881e4:reqqi255e1:v14:\u00b5Torrent 3.4.5e",
);

function pex(added: Uint8Array, added6: Uint8Array): Uint8Array {
  return extended(
    1,
    concat(
      `d5:added${added.length}:`,
      added,
      `7:added.f${added.length / 6}:`,
      new Uint8Array(added.length / 6),
      `6:added6${added6.length}:`,
      added6,
      `8:added6.f${added6.length / 18}:`,
      new Uint8Array(added6.length / 18),
      "7:dropped0:e",
    ),
  );
}

const detector = () => ({
  detectors: [new PeerWireDetector(1024)],
  config: { maxFlows: 1024 },
});

function play(steps: Step[], tcpHandshake: boolean, x: Endpoint = a, y: Endpoint = b) {
  return converse(6, x, y, steps, { ...detector(), tcpHandshake });
}

function reasons(steps: Step[], tcpHandshake: boolean, x: Endpoint = a, y: Endpoint = b) {
  return play(steps, tcpHandshake, x, y).detections.map((d) => `${d.reason}@${d.flow_packet}`);
}

function split(bytes: Uint8Array, ...sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  for (const size of sizes) {
    out.push(bytes.subarray(off, off + size));
    off += size;
  }
  if (off < bytes.length) out.push(bytes.subarray(off));
  return out;
}

function address(text: string): Uint32Array {
  const w = new Uint32Array(4);
  parseAddress(text, w);
  return w;
}

/** Feeds one TCP segment whose capture was cut to `captured` payload bytes. */
function sendTruncated(
  analyzer: Analyzer,
  src: Endpoint,
  dst: Endpoint,
  payload: Uint8Array,
  seq: number,
  captured: number,
  time: number,
): number {
  const f = frame({ l4: 6, src, dst, payload, seq, ack: 1 });
  const headers = f.length - payload.length;
  return analyzer.analyze(LinkType.ETHERNET, f, 0, headers + captured, f.length, time);
}

// ---------------------------------------------------------------------------------------------
// Predicates

Deno.test("isPeerWireHandshake matches the protocol string only", () => {
  const h = handshake();
  assert.equal(h.length, HANDSHAKE_LENGTH);
  assert.equal(isPeerWireHandshake(h, 0, h.length), true);
  assert.equal(isPeerWireHandshake(h, 0, 19), false);
  const other = bytesOf("\x13BitTorrent protocoL");
  assert.equal(isPeerWireHandshake(other, 0, other.length), false);
});

Deno.test("peerWireMessageLength accepts well-formed messages of every kind", () => {
  const cases: [Uint8Array, number][] = [
    [new Uint8Array(4), 4],
    [state(PeerWireId.CHOKE), 5],
    [state(PeerWireId.HAVE_NONE), 5],
    [have(1234), 9],
    [have(9, PeerWireId.ALLOWED_FAST), 9],
    [message(PeerWireId.BITFIELD, [0xff, 0xf0]), 7],
    [request(3, 0x8000), 17],
    [request(3, 0x8000, 1000, PeerWireId.REJECT_REQUEST), 17],
    [request(3, 0x8000, 0x20000, PeerWireId.CANCEL), 17],
    [pieceHeader(3, 0x4000, 0x4000), 4 + 9 + 0x4000],
    [message(PeerWireId.PORT, [0x1a, 0xe1]), 7],
    [extended(3, [1]), 7],
    [hashRequest(PeerWireId.HASH_REQUEST, 512, 3), 53],
    [hashRequest(PeerWireId.HASH_REJECT, 2, 0), 53],
  ];
  for (const [m, total] of cases) {
    assert.equal(peerWireMessageLength(m, 0, m.length), total, `id ${m[4]}`);
  }
  const hashes = concat(hashRequest(PeerWireId.HASHES, 2, 0), randomBytes(64, 9));
  hashes.set(be32(49 + 64), 0);
  assert.equal(peerWireMessageLength(hashes, 0, hashes.length), 4 + 49 + 64);
});

Deno.test("peerWireMessageLength rejects implausible fields and unknown ids", () => {
  const bad = [
    concat(be32(2), [PeerWireId.INTERESTED, 0]), // state message with a body
    have(1 << 22), // piece index out of range
    concat(be32(6), [PeerWireId.HAVE], be32(1), [0]), // have of the wrong length
    message(PeerWireId.BITFIELD), // empty bitfield
    request(3, 100), // misaligned offset
    request(3, 0x4000, 0x20001), // block too large
    request(3, 0x4000, 0x6000), // neither a power of two nor a short last block
    request(3, 0x4000, 0), // empty block
    pieceHeader(3, 1 << 27, 10), // offset past any piece
    message(PeerWireId.PORT, [0, 0]), // port 0
    message(PeerWireId.EXTENDED), // no extended id
    hashRequest(PeerWireId.HASH_REQUEST, 3, 0), // length not a power of two
    hashRequest(PeerWireId.HASH_REQUEST, 1024, 0), // too many hashes
    message(0x0a), // unassigned id
    message(0xff),
    concat(be32(MAX_PLUS_ONE), [PeerWireId.PIECE], be32(0), be32(0)), // too long
    bytesOf("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), // TLS record
  ];
  for (const m of bad) assert.equal(peerWireMessageLength(m, 0, m.length), MESSAGE_INVALID);
  const r = request(3, 0x8000);
  assert.equal(peerWireMessageLength(r, 0, 3), MESSAGE_TRUNCATED);
  assert.equal(peerWireMessageLength(r, 0, 4), MESSAGE_TRUNCATED);
  assert.equal(peerWireMessageLength(r, 0, 16), MESSAGE_TRUNCATED);
});
const MAX_PLUS_ONE = 0x20000 + 10;

Deno.test("isExtensionHandshake wants an m dictionary of extension numbers", () => {
  assert.equal(isExtensionHandshake(EXT_HANDSHAKE, 0, EXT_HANDSHAKE.length), true);
  // Continued in the next segment: judged on the bytes present.
  assert.equal(isExtensionHandshake(EXT_HANDSHAKE, 0, 100), true);
  assert.equal(isExtensionHandshake(EXT_HANDSHAKE, 0, 20), false); // m not seen yet
  const noM = extended(0, "d1:pi6881e1:v4:teste");
  assert.equal(isExtensionHandshake(noM, 0, noM.length), false);
  const emptyM = extended(0, "d1:mdee");
  assert.equal(isExtensionHandshake(emptyM, 0, emptyM.length), false);
  const textM = extended(0, "d1:md6:ut_pex3:yesee");
  assert.equal(isExtensionHandshake(textM, 0, textM.length), false);
  const trailing = extended(0, "d1:md6:ut_pexi1eeeXX");
  assert.equal(isExtensionHandshake(trailing, 0, trailing.length), false);
  const notZero = extended(1, "d1:md6:ut_pexi1eee");
  assert.equal(isExtensionHandshake(notZero, 0, notZero.length), false);
});

// ---------------------------------------------------------------------------------------------
// Handshake

Deno.test("handshake in one segment is detected on its first packet", () => {
  assert.deepEqual(reasons([{ from: "a", payload: handshake() }], true), ["bt_handshake@4"]);
});

Deno.test("handshake split 1+67, 5+63 and 20+48 across segments is detected", () => {
  for (const [first, packet] of [[1, 5], [5, 5], [19, 5], [20, 4]]) {
    const steps = split(handshake(), first).map((payload) => ({ from: "a" as const, payload }));
    assert.deepEqual(reasons(steps, true), [`bt_handshake@${packet}`], `split ${first}`);
  }
  // Split into three, with the first segment retransmitted in between.
  const [p1, p2, p3] = split(handshake(), 1, 4);
  const analyzer = new Analyzer({ maxFlows: 1024 }, [new PeerWireDetector(1024)]);
  let t = 1_700_000_000;
  const send = (payload: Uint8Array, seq: number) => {
    const f = frame({ l4: 6, src: a, dst: b, payload, seq, ack: 1 });
    return analyzer.analyze(LinkType.ETHERNET, f, 0, f.length, f.length, t += 0.01);
  };
  assert.equal(send(p1, 1000), 0);
  assert.equal(send(p1, 1000), 0); // retransmission
  assert.equal(send(p2, 1001), 0);
  assert.equal(send(p1, 1000), 0); // retransmission of bytes already carried
  assert.equal(send(p3, 1005), 1);
  assert.equal(analyzer.detection.reason, Reason.BT_HANDSHAKE);
});

Deno.test("v2 handshake (reserved bit 0x10 of the last byte) is detected", () => {
  const v2 = handshake([0, 0, 0, 0, 0, 0x10, 0, 0x15]);
  assert.equal(v2[27] & 0x10, 0x10);
  assert.deepEqual(reasons([{ from: "b", payload: v2 }], true), ["bt_handshake@4"]);
});

Deno.test("handshake is detected when the capture starts after the TCP handshake", () => {
  assert.deepEqual(reasons([{ from: "b", payload: handshake() }], false), ["bt_handshake@1"]);
  const steps = split(handshake(), 5).map((payload) => ({ from: "a" as const, payload }));
  assert.deepEqual(reasons(steps, false), ["bt_handshake@2"]);
});

Deno.test("handshake is detected on ports that are usually not BitTorrent", () => {
  const web = { ip: "203.0.113.80", port: 443 };
  assert.deepEqual(reasons([{ from: "a", payload: handshake() }], true, a, web), [
    "bt_handshake@4",
  ]);
});

Deno.test("protocol string that is not at the start of the stream is ignored", () => {
  const text = concat("HTTP/1.1 200 OK\r\nContent-Length: 88\r\n\r\n", handshake());
  assert.deepEqual(
    reasons([
      { from: "a", payload: "GET /capture.pcap HTTP/1.1\r\nHost: files\r\n\r\n" },
      { from: "b", payload: text },
    ], true),
    [],
  );
  // Even at the start of a later segment.
  assert.deepEqual(
    reasons([
      { from: "a", payload: "GET /capture.pcap HTTP/1.1\r\nHost: files\r\n\r\n" },
      { from: "b", payload: "HTTP/1.1 200 OK\r\nContent-Length: 68\r\n\r\n" },
      { from: "b", payload: handshake() },
    ], true),
    [],
  );
  // A stream starting with a partial protocol string that then diverges.
  assert.deepEqual(
    reasons([{ from: "a", payload: "\x13BitTo" }, { from: "a", payload: "rrent protocoX" }], true),
    [],
  );
  // Text mentioning the protocol.
  assert.deepEqual(
    reasons([{ from: "a", payload: "The BitTorrent protocol is described in BEP 3." }], true),
    [],
  );
});

Deno.test("truncated captures are judged on the bytes present", () => {
  const analyzer = new Analyzer({ maxFlows: 1024 }, [new PeerWireDetector(1024)]);
  // Handshake cut to 12 bytes by the snap length: not enough to tell, and nothing breaks.
  assert.equal(sendTruncated(analyzer, a, b, handshake(), 1000, 12, 1), 0);
  assert.equal(sendTruncated(analyzer, a, b, state(2), 1068, 5, 2), 0);
  // Cut to 30 bytes: the protocol string is present.
  const c = { ip: "192.168.1.3", port: 52916 };
  assert.equal(sendTruncated(analyzer, c, b, handshake(), 1000, 30, 3), 1);
  assert.equal(analyzer.detection.reason, Reason.BT_HANDSHAKE);
  // Mid-flow requests cut after the second message count for what is present.
  const d = { ip: "192.168.1.3", port: 52917 };
  const peer = { ip: "198.51.100.10", port: 6881 }; // not the peer remembered above
  const batch = concat(request(5, 0), request(5, 0x4000), request(5, 0x8000), request(5, 0xc000));
  assert.equal(sendTruncated(analyzer, d, peer, batch, 7000, 40, 4), 0);
  assert.equal(sendTruncated(analyzer, d, peer, batch, 7000 + batch.length, 40, 5), 1);
  assert.equal(analyzer.detection.reason, Reason.BT_MESSAGE);
  // A split handshake whose second segment was cut before the bytes still needed.
  const f = { ip: "192.168.1.3", port: 52919 };
  const other = { ip: "198.51.100.11", port: 6881 };
  const [p1, p2] = split(handshake(), 4);
  assert.equal(sendTruncated(analyzer, f, other, p1, 1, 4, 6), 0);
  assert.equal(sendTruncated(analyzer, f, other, concat(p1, p2), 1, 3, 7), 0);
  assert.equal(sendTruncated(analyzer, f, other, p2, 5, 64, 8), 0); // no longer followed
  // Every possible cut of a handshake and a request chain, without throwing.
  const e = { ip: "192.168.1.3", port: 52918 };
  for (let cut = 0; cut <= batch.length; cut++) {
    const x = new Analyzer({ maxFlows: 16 }, [new PeerWireDetector(16)]);
    sendTruncated(x, e, b, batch, 1, cut, 1);
    sendTruncated(x, e, b, concat(EXT_HANDSHAKE, batch), 1 + batch.length, cut, 2);
  }
});

// ---------------------------------------------------------------------------------------------
// Extension handshake and mid-flow messages

Deno.test("extension handshake seen mid-flow is detected", () => {
  assert.deepEqual(reasons([{ from: "b", payload: EXT_HANDSHAKE }], false), ["bt_extension@1"]);
  // After other messages of the same segment, continued in the next segment: judged on the
  // first segment once `m` is complete in it.
  const chain = concat(state(1), have(77), EXT_HANDSHAKE);
  const [head, tail] = split(chain, 120);
  assert.deepEqual(
    reasons([{ from: "a", payload: head }, { from: "a", payload: tail }], false),
    ["bt_extension@1"],
  );
  // `m` cut by the segment end: the rest of the message is skipped, no verdict on a guess.
  const [cut, rest] = split(chain, 60);
  assert.deepEqual(
    reasons([{ from: "a", payload: cut }, { from: "a", payload: rest }], false),
    [],
  );
});

Deno.test("mid-flow message chain in both directions is detected", () => {
  const block = randomBytes(0x4000, 11);
  const steps: Step[] = [
    { from: "a", payload: concat(state(2), request(7, 0), request(7, 0x4000)) },
    { from: "b", payload: concat(state(1), pieceHeader(7, 0, 0x4000), block.subarray(0, 1000)) },
  ];
  assert.deepEqual(reasons(steps.slice(0, 1), false), []); // one segment is not enough
  assert.deepEqual(reasons(steps, false), ["bt_message@2"]);
});

Deno.test("piece bodies are skipped by sequence number and the next header must follow", () => {
  const block = randomBytes(0x4000, 12);
  const stream = concat(
    have(3),
    pieceHeader(7, 0, block.length),
    block,
    have(4),
    pieceHeader(7, 0x4000, block.length),
    block.subarray(0, 500),
  );
  const sizes = new Array(11).fill(1448);
  const steps = split(stream, ...sizes).map((payload) => ({ from: "b" as const, payload }));
  assert.equal(steps.length, 12); // the second header is in the last segment
  assert.deepEqual(reasons(steps, false), ["bt_message@12"]);
  // The same stream with one segment missing from the capture is not detected on a guess.
  const lost = steps.filter((_, i) => i !== 5);
  assert.deepEqual(reasons(lost, false), []);
});

Deno.test("a header split across two segments is reassembled", () => {
  const chain = concat(request(9, 0), request(9, 0x4000), request(9, 0x8000));
  const [first, second] = split(chain, 17 + 8);
  assert.deepEqual(
    reasons([{ from: "a", payload: first }, { from: "a", payload: second }], false),
    ["bt_message@2"],
  );
});

Deno.test("FAST extension messages are peer wire messages", () => {
  const steps: Step[] = [
    {
      from: "a",
      payload: concat(
        state(PeerWireId.HAVE_ALL),
        have(3, PeerWireId.ALLOWED_FAST),
        have(9, PeerWireId.SUGGEST_PIECE),
      ),
    },
    {
      from: "b",
      payload: concat(
        request(3, 0, 0x4000, PeerWireId.REJECT_REQUEST),
        state(PeerWireId.HAVE_NONE),
      ),
    },
  ];
  assert.deepEqual(reasons(steps, false), ["bt_message@2"]);
});

Deno.test("BEP 52 hash messages are peer wire messages", () => {
  const hashes = concat(hashRequest(PeerWireId.HASHES, 2, 0), randomBytes(64, 9));
  hashes.set(be32(49 + 64), 0);
  const steps: Step[] = [
    { from: "a", payload: concat(hashRequest(PeerWireId.HASH_REQUEST, 2, 0), state(2)) },
    { from: "b", payload: concat(hashes, state(1)) },
  ];
  assert.deepEqual(reasons(steps, false), ["bt_message@2"]);
});

Deno.test("bencoded extended messages count as evidence", () => {
  const meta = extended(2, "d8:msg_typei0e5:piecei0ee");
  const steps: Step[] = [
    { from: "a", payload: concat(meta, state(2)) },
    { from: "b", payload: concat(extended(3, "d8:msg_typei2e5:piecei0ee"), state(1)) },
  ];
  assert.deepEqual(reasons(steps, false), ["bt_message@2"]);
});

// ---------------------------------------------------------------------------------------------
// Negatives

Deno.test("BT_MESSAGE needs a weight of 6 from two segments", () => {
  const steps: Step[] = [
    { from: "a", payload: concat(state(2), request(7, 0)) }, // 1 + 2
    { from: "b", payload: concat(state(1), have(3)) }, // 1 + 1
    { from: "b", payload: have(4) }, // 1
  ];
  assert.deepEqual(reasons(steps.slice(0, 2), false), []);
  assert.deepEqual(reasons(steps, false), ["bt_message@3"]);
});

Deno.test("retransmissions are not counted twice", () => {
  const batch = concat(request(5, 0), request(5, 0x4000), request(5, 0x8000));
  const analyzer = new Analyzer({ maxFlows: 16 }, [new PeerWireDetector(16)]);
  // Framing known: the copy is recognised by its sequence number.
  assert.equal(sendTruncated(analyzer, a, b, batch, 1000, batch.length, 1), 0);
  assert.equal(sendTruncated(analyzer, a, b, batch, 1000, batch.length, 2), 0);
  // Framing lost in bytes the capture cut off: the copy is still not new evidence.
  const c = { ip: "192.168.1.3", port: 40001 };
  assert.equal(sendTruncated(analyzer, c, b, batch, 1000, 40, 3), 0);
  assert.equal(sendTruncated(analyzer, c, b, batch, 1000, 40, 4), 0);
});

Deno.test("a single have-like coincidence is not peer wire", () => {
  assert.deepEqual(reasons([{ from: "a", payload: have(7) }], false), []);
  assert.deepEqual(reasons([{ from: "a", payload: request(1, 0) }], false), []);
  // However many messages it holds, one segment is one coincidence.
  const batch = concat(request(1, 0), request(1, 0x4000), request(1, 0x8000), request(1, 0xc000));
  assert.deepEqual(reasons([{ from: "a", payload: batch }], false), []);
});

Deno.test("repeated state and have messages without block traffic are not enough", () => {
  const steps: Step[] = [];
  for (let i = 0; i < 8; i++) {
    steps.push({ from: "a", payload: state(1) }, { from: "b", payload: have(i) });
  }
  assert.deepEqual(reasons(steps, false), []);
});

Deno.test("a stream that did not start with the handshake never hunts for messages", () => {
  const steps: Step[] = [
    { from: "a", payload: "HELLO 1\r\n" },
    { from: "b", payload: "WELCOME\r\n" },
    { from: "a", payload: concat(state(2), request(7, 0), request(7, 0x4000)) },
    { from: "b", payload: concat(state(1), pieceHeader(7, 0, 0x4000), randomBytes(900)) },
    { from: "a", payload: concat(request(7, 0x8000), request(7, 0xc000)) },
  ];
  assert.deepEqual(reasons(steps, true), []);
  assert.deepEqual(reasons(steps.slice(2), false), ["bt_message@2"]); // mid-flow, it would be
});

Deno.test("framing broken at a predicted header vetoes the flow", () => {
  const steps: Step[] = [
    { from: "a", payload: concat(request(7, 0), request(7, 0x4000)) },
    { from: "a", payload: randomBytes(40, 5) },
    { from: "a", payload: concat(request(7, 0x8000), request(7, 0xc000)) },
    { from: "b", payload: concat(state(1), pieceHeader(7, 0, 0x4000), randomBytes(900)) },
  ];
  assert.deepEqual(reasons(steps, false), []);
});

Deno.test("a run of keep-alives breaks the framing (zero-filled data)", () => {
  const steps: Step[] = [
    { from: "a", payload: concat(request(7, 0), request(7, 0x4000)) },
    { from: "a", payload: new Uint8Array(64) },
    { from: "a", payload: concat(request(7, 0x8000), request(7, 0xc000)) },
    { from: "b", payload: concat(state(1), pieceHeader(7, 0, 0x4000), randomBytes(900)) },
  ];
  assert.deepEqual(reasons(steps, false), []);
  // A single keep-alive between messages is fine.
  steps[1] = { from: "a", payload: new Uint8Array(4) };
  assert.deepEqual(reasons(steps, false), ["bt_message@3"]);
});

Deno.test("mid-flow messages are ignored on ports that are usually not BitTorrent", () => {
  const web = { ip: "203.0.113.80", port: 443 };
  const steps: Step[] = [
    { from: "a", payload: concat(state(2), request(7, 0), request(7, 0x4000)) },
    { from: "b", payload: concat(state(1), pieceHeader(7, 0, 0x4000), randomBytes(900)) },
    { from: "b", payload: EXT_HANDSHAKE },
  ];
  assert.deepEqual(reasons(steps, false, a, web), []);
});

Deno.test("TLS, HTTP, Gnutella, SSH and random bytes are not peer wire", () => {
  const tls: Step[] = [
    { from: "a", payload: concat([0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3], randomBytes(193, 1)) },
    { from: "b", payload: concat([0x16, 3, 3, 0, 90, 2, 0, 0, 86, 3, 3], randomBytes(83, 2)) },
    { from: "b", payload: concat([0x14, 3, 3, 0, 1, 1, 0x17, 3, 3, 0, 40], randomBytes(40, 3)) },
    { from: "a", payload: concat([0x17, 3, 3, 0, 60], randomBytes(60, 4)) },
  ];
  const http: Step[] = [
    { from: "a", payload: "GET /announce?info_hash=x HTTP/1.1\r\nHost: t\r\n\r\n" },
    { from: "b", payload: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" },
  ];
  const gnutella: Step[] = [
    { from: "a", payload: "GNUTELLA CONNECT/0.6\r\nUser-Agent: LimeWire/5.5\r\n\r\n" },
    { from: "b", payload: "GNUTELLA/0.6 200 OK\r\nUser-Agent: gtk-gnutella\r\n\r\n" },
    { from: "a", payload: "GNUTELLA/0.6 200 OK\r\n\r\n" },
    { from: "a", payload: concat(randomBytes(16, 8), [0, 1, 0], [0, 0, 0, 0]) }, // ping
    { from: "b", payload: concat(randomBytes(16, 9), [1, 1, 0], [14, 0, 0, 0], randomBytes(14)) },
  ];
  // SSH on a port that is not 22: KEXINIT with padding length 5 looks like a bitfield.
  const kexinit = concat(be32(1000), [5, 20], randomBytes(995, 6));
  const ssh: Step[] = [
    { from: "b", payload: "SSH-2.0-OpenSSH_8.9\r\n" },
    { from: "a", payload: "SSH-2.0-OpenSSH_9.6\r\n" },
    { from: "b", payload: kexinit },
    { from: "a", payload: kexinit },
    { from: "a", payload: concat(be32(44), [6, 30], randomBytes(42, 7)) },
  ];
  const random: Step[] = [];
  for (let i = 0; i < 16; i++) {
    random.push({ from: i % 3 ? "b" : "a", payload: randomBytes(40 + 97 * i, 100 + i) });
  }
  const zeros: Step[] = [
    { from: "b", payload: new Uint8Array(1448) },
    { from: "b", payload: new Uint8Array(1448) },
    { from: "a", payload: new Uint8Array(4) },
    { from: "a", payload: new Uint8Array(4) },
  ];
  for (const [name, steps] of Object.entries({ tls, http, gnutella, ssh, random, zeros })) {
    assert.deepEqual(reasons(steps, true), [], `${name} from the start`);
    assert.deepEqual(reasons(steps, false), [], `${name} mid-flow`);
  }
});

Deno.test("reset gives a reused slot a clean state", () => {
  const analyzer = new Analyzer({ maxFlows: 1 }, [new PeerWireDetector(1)]);
  const first = converse(6, a, b, [
    { from: "a", payload: concat(state(2), request(7, 0), request(7, 0x4000)) },
  ], { analyzer });
  assert.equal(first.detections.length, 0);
  const c = { ip: "192.168.1.4", port: 40000 };
  const second = converse(6, c, b, [{ from: "a", payload: request(1, 0) }], {
    analyzer,
    startTime: 1_700_000_010,
  });
  assert.equal(second.detections.length, 0);
});

// ---------------------------------------------------------------------------------------------
// Harvest

Deno.test("PEX added and added6 peers are remembered", () => {
  const added = concat([203, 0, 113, 7, 0x1a, 0xe1], [198, 51, 100, 20, 0xc8, 0xd5]);
  const added6 = concat(
    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42],
    [0xd4, 0x31],
  );
  const { detections, analyzer } = play([
    { from: "a", payload: handshake() },
    { from: "b", payload: concat(handshake(), EXT_HANDSHAKE) },
    { from: "b", payload: concat(have(5), pex(added, added6)) },
  ], true);
  assert.deepEqual(detections.map((d) => d.reason), ["bt_handshake"]);
  const now = 1_700_000_100;
  const m = analyzer.memory;
  assert.equal(m.recall(address("203.0.113.7"), 4, 6881, now), Reason.PEX_PEER);
  assert.equal(m.recall(address("198.51.100.20"), 4, 51413, now), Reason.PEX_PEER);
  assert.equal(m.recall(address("2001:db8::42"), 6, 54321, now), Reason.PEX_PEER);
  assert.equal(m.recall(address("203.0.113.7"), 4, 6882, now), 0);
});

Deno.test("PEX in a truncated capture learns only complete entries", () => {
  const added = concat([203, 0, 113, 7, 0x1a, 0xe1], [198, 51, 100, 20, 0xc8, 0xd5]);
  const analyzer = new Analyzer({ maxFlows: 1024 }, [new PeerWireDetector(1024)]);
  converse(6, a, b, [{ from: "a", payload: handshake() }], { analyzer, tcpHandshake: true });
  const msg = concat(have(5), pex(added, new Uint8Array(0)));
  const cut = msg.indexOf(198); // inside the second entry
  sendTruncated(analyzer, a, b, msg, 1069, cut + 3, 1_700_000_001);
  const now = 1_700_000_100;
  assert.equal(analyzer.memory.recall(address("203.0.113.7"), 4, 6881, now), Reason.PEX_PEER);
  assert.equal(analyzer.memory.recall(address("198.51.100.20"), 4, 51413, now), 0);
});

Deno.test("PORT message remembers the sender's DHT port", () => {
  const port = message(PeerWireId.PORT, [0x9f, 0xff]); // 40959
  // Sent along with the handshake, and in a later segment of the other side.
  const { analyzer } = play([
    { from: "a", payload: concat(handshake(), port) },
    { from: "b", payload: handshake() },
    { from: "b", payload: concat(message(PeerWireId.PORT, [0x1a, 0xe1]), state(1)) },
  ], true);
  const now = 1_700_000_100;
  assert.equal(analyzer.memory.recall(address(a.ip), 4, 40959, now), Reason.KNOWN_PEER);
  assert.equal(analyzer.memory.recall(address(b.ip), 4, 6881, now), Reason.KNOWN_PEER);
});

Deno.test("harvest ignores bulk data and malformed extended payloads", () => {
  const { analyzer } = play([
    { from: "a", payload: handshake() },
    { from: "b", payload: randomBytes(1448, 21) },
    { from: "b", payload: extended(1, "d5:added5:abcdee") }, // not a multiple of 6
    { from: "b", payload: extended(1, [1, 2, 3]) },
  ], true);
  // Only the responder's endpoint, remembered by the analyzer on detection.
  assert.equal(analyzer.memory.size, 1);
});
