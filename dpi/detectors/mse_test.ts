import assert from "node:assert/strict";
import { Analyzer, Verdict } from "../analyzer.ts";
import { distinctBytes } from "../bytes.ts";
import { LinkType } from "../decode.ts";
import type { DetectionEvent } from "../detection.ts";
import { captureDetections } from "../../tests/helpers/capture_detections.ts";
import { concat, converse, frame, randomBytes, type Step } from "../../tests/helpers/packets.ts";
import { parseAddress } from "../address.ts";
import { Reason } from "../reason.ts";
import {
  isPeerWireSize,
  looksRandom,
  minDistinctRandom,
  MseDetector,
  startsWithOwnLength,
  startsWithSmallInteger,
} from "./mse.ts";
import { OtherProtocolsDetector } from "./other_protocols.ts";

const client = { ip: "192.168.1.20", port: 50123 };
const peer = { ip: "203.0.113.9", port: 51413 };
const FIXTURE = new URL("../../tests/fixtures/mse_loopback.pcap", import.meta.url);

function mse(): { detectors: MseDetector[]; config: { maxFlows: number } } {
  return { detectors: [new MseDetector(256)], config: { maxFlows: 256 } };
}

/** The four MSE steps with the given pad lengths (step 3 carries a 68-byte IA). */
function handshake(padA: number, padB: number, padC: number, seed: number): Step[] {
  return [
    { from: "a", payload: randomBytes(96 + padA, seed) },
    { from: "b", payload: randomBytes(96 + padB, seed + 1) },
    { from: "a", payload: randomBytes(20 + 20 + 8 + 4 + 2 + padC + 2 + 68, seed + 2) },
    { from: "b", payload: randomBytes(8 + 4 + 2 + 68, seed + 3) },
  ];
}

function detect(steps: Step[], options: { tcpHandshake?: boolean; snapLength?: number } = {}) {
  return converse(6, client, peer, steps, { tcpHandshake: true, ...mse(), ...options }).detections;
}

Deno.test("minDistinctRandom is five standard deviations under the random expectation", () => {
  assert.equal(minDistinctRandom(48), 34);
  assert.equal(minDistinctRandom(96), 64); // random 96 bytes: about 80
  assert.equal(minDistinctRandom(512), 198); // random 512 bytes: about 221
  for (let n = 49; n <= 512; n++) assert.ok(minDistinctRandom(n) >= minDistinctRandom(n - 1));
});

Deno.test("looksRandom accepts random bytes and rejects text, sparse bytes and short runs", () => {
  for (let seed = 1; seed <= 2000; seed++) {
    const b = randomBytes(48 + (seed % 600), seed * 7919);
    assert.ok(looksRandom(b, 0, b.length), `seed ${seed}`);
  }
  // Printable noise as varied as random bytes: only its being text gives it away.
  const printable = randomBytes(60, 11).map((v) => 0x21 + (v % 94));
  assert.ok(distinctBytes(printable, 0, printable.length) >= minDistinctRandom(printable.length));
  assert.equal(looksRandom(printable, 0, printable.length), false);
  const base64 = concat("dXNlcm5hbWU6cGFzc3dvcmQ=".repeat(8));
  assert.equal(looksRandom(base64, 0, base64.length), false);
  const sparse = randomBytes(300, 5).map((v) => v & 0x1f);
  assert.equal(looksRandom(sparse, 0, sparse.length), false);
  assert.equal(looksRandom(new Uint8Array(200), 0, 200), false);
  const short = randomBytes(47, 3);
  assert.equal(looksRandom(short, 0, short.length), false);
});

Deno.test("startsWithSmallInteger spots length and type fields", () => {
  assert.equal(startsWithSmallInteger(Uint8Array.of(0, 0, 0, 0x44, 0x14), 0, 5), true);
  assert.equal(startsWithSmallInteger(Uint8Array.of(0x80, 0, 0, 0xc6), 0, 4), true);
  assert.equal(startsWithSmallInteger(Uint8Array.of(0x57, 0x41, 0, 5), 0, 4), false);
  assert.equal(startsWithSmallInteger(Uint8Array.of(0, 0), 0, 1), false);
});

Deno.test("MSE handshakes with pads from 0 to 512 are detected at step 3", () => {
  const pads = [[0, 0, 0], [512, 512, 512], [17, 300, 0], [512, 0, 45], [0, 512, 200]];
  for (const [i, [padA, padB, padC]] of pads.entries()) {
    const d = detect(handshake(padA, padB, padC, 100 + 10 * i));
    assert.equal(d.length, 1, `pads ${padA}/${padB}/${padC}`);
    assert.equal(d[0].reason, "mse");
    assert.equal(d[0].flow_packet, 6); // SYN, SYN+ACK, ACK, Ya+PadA, Yb+PadB, step 3
    assert.equal(d[0].src_port, client.port);
    assert.equal(d[0].evidence.bidirectional, true);
  }
});

Deno.test("MSE over IPv6 is detected", () => {
  const { detections } = converse(
    6,
    { ip: "2001:db8::20", port: 50500 },
    { ip: "2001:db8:1::9", port: 6881 },
    handshake(100, 200, 10, 7),
    { tcpHandshake: true, ...mse() },
  );
  assert.equal(detections.length, 1);
  assert.equal(detections[0].reason, "mse");
});

Deno.test("flights split over several segments are summed per direction", () => {
  const a1 = randomBytes(96 + 400, 21);
  const b1 = randomBytes(96 + 250, 22);
  const a2 = randomBytes(150, 23);
  const d = detect([
    { from: "a", payload: a1.subarray(0, 96) },
    { from: "a", payload: a1.subarray(96, 300) },
    { from: "a", payload: a1.subarray(300) },
    { from: "b", payload: b1.subarray(0, 200) },
    { from: "b", payload: b1.subarray(200) },
    { from: "a", payload: a2.subarray(0, 50) }, // step 3 still short of its 56 fixed bytes
    { from: "a", payload: a2.subarray(50) },
  ]);
  assert.equal(d.length, 1);
  assert.equal(d[0].flow_packet, 10);
});

Deno.test("PadA held back by Nagle's algorithm joins the second flight", () => {
  const d = detect([
    { from: "a", payload: randomBytes(96, 31) }, // Ya alone
    { from: "b", payload: randomBytes(96 + 80, 32) },
    { from: "a", payload: randomBytes(20, 33) }, // PadA, too short to judge
    { from: "a", payload: randomBytes(124, 34) }, // step 3
  ]);
  assert.equal(d.length, 1);
  assert.equal(d[0].flow_packet, 7);
});

Deno.test("segments truncated by the snap length are judged on the bytes present", () => {
  // 54 bytes of Ethernet/IPv4/TCP headers + 60 bytes of payload captured.
  const d = detect(handshake(300, 300, 100, 41), { snapLength: 54 + 60 });
  assert.equal(d.length, 1);
  assert.equal(d[0].flow_packet, 6);
  // 26 bytes per segment are too few to tell random bytes from a header: no verdict.
  assert.equal(detect(handshake(300, 300, 100, 41), { snapLength: 54 + 26 }).length, 0);
});

Deno.test("a capture missing the SYN or the SYN+ACK still sees the stream start", () => {
  const noSyn = detect([
    { from: "b", payload: new Uint8Array(0), flags: 0x12 },
    { from: "a", payload: new Uint8Array(0), flags: 0x10 },
    ...handshake(60, 70, 80, 51),
  ], { tcpHandshake: false });
  assert.equal(noSyn.length, 1);
  assert.equal(noSyn[0].flow_packet, 5);
  const noSynAck = detect([
    { from: "a", payload: new Uint8Array(0), flags: 0x02 },
    { from: "a", payload: new Uint8Array(0), flags: 0x10 },
    ...handshake(60, 70, 80, 51),
  ], { tcpHandshake: false });
  assert.equal(noSynAck.length, 1);
  assert.equal(noSynAck[0].flow_packet, 5);
});

/** Plays TCP segments with explicit sequence numbers (retransmissions, gaps). */
function playSegments(
  segments: { from: "a" | "b"; seq: number; payload?: Uint8Array; flags?: number }[],
): DetectionEvent[] {
  const analyzer = new Analyzer(mse().config, mse().detectors);
  const out: DetectionEvent[] = [];
  let time = 1_700_000_000;
  for (const s of segments) {
    const f = frame({
      l4: 6,
      src: s.from === "a" ? client : peer,
      dst: s.from === "a" ? peer : client,
      payload: s.payload,
      flags: s.flags,
      seq: s.seq,
      ack: 0,
    });
    time += 0.01;
    const v = analyzer.analyze(LinkType.ETHERNET, f, 0, f.length, f.length, time);
    if (v === Verdict.DETECTION) out.push(analyzer.detection.toEvent());
  }
  return out;
}

Deno.test("retransmitted flights are not counted twice", () => {
  const a1 = randomBytes(400, 61);
  const b1 = randomBytes(500, 62);
  const d = playSegments([
    { from: "a", seq: 1000, flags: 0x02 },
    { from: "b", seq: 9000, flags: 0x12 },
    { from: "a", seq: 1001, payload: a1 },
    { from: "a", seq: 1001, payload: a1 }, // 800 bytes if counted twice
    { from: "b", seq: 9001, payload: b1 },
    { from: "a", seq: 1001, payload: a1 }, // still A1: not the start of step 3
    { from: "b", seq: 9001, payload: b1 },
    { from: "a", seq: 1401, payload: randomBytes(130, 63) },
  ]);
  assert.equal(d.length, 1);
  assert.equal(d[0].flow_packet, 8);
});

Deno.test("a first payload that does not follow its side's SYN is not the stream start", () => {
  const play = (a1Seq: number, b1Seq: number) =>
    playSegments([
      { from: "a", seq: 1000, flags: 0x02 },
      { from: "b", seq: 9000, flags: 0x12 },
      { from: "a", seq: a1Seq, payload: randomBytes(300, 71) },
      { from: "b", seq: b1Seq, payload: randomBytes(300, 72) },
      { from: "a", seq: a1Seq + 300, payload: randomBytes(130, 73) },
    ]).length;
  assert.equal(play(1001, 9001), 1);
  assert.equal(play(1501, 9001), 0);
  assert.equal(play(1001, 9501), 0);
});

Deno.test("real encrypted clients (libtorrent, Transmission, aria2) are detected", () => {
  const analyzer = new Analyzer({ maxFlows: 256 }, [
    new OtherProtocolsDetector(),
    new MseDetector(256),
  ]);
  const events = captureDetections(FIXTURE.pathname, analyzer);
  const detections = events.filter((e) => e.event_type === "detection");
  assert.equal(detections.length, 5);
  for (const d of detections) {
    assert.equal(d.reason, "mse");
    assert.equal(d.confidence, "heuristic");
    assert.equal(d.flow_packet, 8); // 3 handshake packets, A1, ACK, B1, ACK, step 3
    assert.equal(d.evidence.bidirectional, true);
  }
  assert.deepEqual(detections.map((d) => d.dest_port).sort(), [26881, 27001, 27001, 51500, 51600]);
  // Every flow that went on to exchange BitTorrent messages is confirmed; the one that closed
  // right after its handshake (one 68-byte segment) stays heuristic.
  const confirmations = events.filter((e) => e.event_type === "confirmation");
  assert.equal(confirmations.length, 4);
  for (const c of confirmations) assert.equal(c.confidence, "structural");
  assert.deepEqual(
    new Set(confirmations.map((c) => c.flow_id)).size,
    4,
  );
});

Deno.test("MSE on a port that is usually not BitTorrent is left alone", () => {
  for (const port of [443, 22, 5222]) {
    const { detections } = converse(6, client, { ip: peer.ip, port }, handshake(50, 50, 50, 81), {
      tcpHandshake: true,
      ...mse(),
    });
    assert.equal(detections.length, 0, `port ${port}`);
  }
});

Deno.test("a flow picked up mid-stream is never judged", () => {
  assert.equal(detect(handshake(50, 50, 50, 91), { tcpHandshake: false }).length, 0);
});

Deno.test("TLS 1.3 resumption with MSE-like flight sizes is not MSE", () => {
  const d = detect([
    { from: "a", payload: concat([0x16, 3, 1, 2, 1, 1, 0, 1, 0xfd, 3, 3], randomBytes(507, 3)) },
    {
      from: "b",
      payload: concat(
        [0x16, 3, 3, 0, 0x7a, 2, 0, 0, 0x76, 3, 3],
        randomBytes(0x76 - 2, 4),
        [0x14, 3, 3, 0, 1, 1, 0x17, 3, 3, 0, 0x40],
        randomBytes(0x40, 5),
      ),
    },
    {
      from: "a",
      payload: concat([0x14, 3, 3, 0, 1, 1, 0x17, 3, 3, 0, 0x35], randomBytes(0x35, 6)),
    },
  ]);
  assert.equal(d.length, 0);
});

Deno.test("SSH, HTTP and base64 text are not MSE", () => {
  const ssh = detect([
    { from: "a", payload: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n" },
    { from: "b", payload: "SSH-2.0-OpenSSH_8.4p1 Debian-5\r\n" },
    {
      from: "a",
      payload: concat([0, 0, 5, 0xdc, 6, 0x14], randomBytes(16, 8), "curve25519-sha256"),
    },
  ]);
  assert.equal(ssh.length, 0);
  const http = detect([
    {
      from: "a",
      payload: "GET /announce?info_hash=%12%34%56%78%9a%bc%de%f0%12%34%56%78%9a%bc%de%f0%12%34" +
        "%56%78&peer_id=-qB4500-abcdefghijkl&port=6881&uploaded=0&downloaded=0&left=0 HTTP/1.1\r\n" +
        "Host: tracker.example.org\r\n\r\n",
    },
    {
      from: "b",
      payload: "HTTP/1.1 200 OK\r\nContent-Length: 48\r\n\r\nd8:intervali1800e5:peers0:e",
    },
    { from: "a", payload: "GET /scrape?info_hash=%12%34%56%78%9a%bc HTTP/1.1\r\nHost: x\r\n\r\n" },
  ]);
  assert.equal(http.length, 0);
  const b64 = (seed: number, n: number) => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    return Array.from(randomBytes(n, seed), (v) => alphabet[v & 63]).join("");
  };
  const text = detect([
    { from: "a", payload: b64(1, 200) },
    { from: "b", payload: b64(2, 200) },
    { from: "a", payload: b64(3, 100) },
  ]);
  assert.equal(text.length, 0);
});

Deno.test("low-entropy and framed binary flights are not MSE", () => {
  const sparse = (n: number, seed: number) => randomBytes(n, seed).map((v) => v & 0x1f | 0x40);
  assert.equal(
    detect([
      { from: "a", payload: sparse(200, 1) },
      { from: "b", payload: sparse(200, 2) },
      { from: "a", payload: sparse(100, 3) },
    ]).length,
    0,
  );
  // A header of small integers in front of random-looking bytes (as WhatsApp frames are).
  assert.equal(
    detect([
      { from: "a", payload: concat([0x57, 0x41, 1, 5], randomBytes(162, 4)) },
      { from: "b", payload: concat([0, 0, 5, 0xf8, 3], randomBytes(120, 5)) },
      { from: "a", payload: concat([0x80, 0, 0xc6], randomBytes(198, 6)) },
    ]).length,
    0,
  );
  // A plaintext header alone in the first segment.
  assert.equal(
    detect([
      { from: "a", payload: Uint8Array.of(0xce, 0xfa, 0xbe, 0xba, 0x80, 1, 2, 3) },
      { from: "a", payload: randomBytes(128, 7) },
      { from: "b", payload: randomBytes(130, 8) },
      { from: "a", payload: randomBytes(208, 9) },
    ]).length,
    0,
  );
});

Deno.test("flights outside 96–608 bytes are not MSE", () => {
  const run = (a1: number, b1: number) =>
    detect([
      { from: "a", payload: randomBytes(a1, 11) },
      { from: "b", payload: randomBytes(b1, 12) },
      { from: "a", payload: randomBytes(124, 13) },
    ]).length;
  assert.equal(run(96, 608), 1);
  assert.equal(run(608, 96), 1);
  assert.equal(run(95, 300), 0);
  assert.equal(run(300, 95), 0);
  assert.equal(run(609, 300), 0);
  assert.equal(run(300, 609), 0);
  assert.equal(run(300, 1400), 0);
});

Deno.test("alternation: responder first, one-way floods and early answers are not MSE", () => {
  const responderFirst = detect([
    { from: "b", payload: randomBytes(200, 21) },
    { from: "a", payload: randomBytes(200, 22) },
    { from: "b", payload: randomBytes(100, 23) },
    { from: "a", payload: randomBytes(100, 24) },
  ]);
  assert.equal(responderFirst.length, 0);
  const flood = detect(
    [1, 2, 3, 4, 5, 6].map((i) => ({ from: "a", payload: randomBytes(100, i) })),
  );
  assert.equal(flood.length, 0);
  const earlyAnswer = detect([
    { from: "a", payload: randomBytes(200, 31) },
    { from: "b", payload: randomBytes(200, 32) },
    { from: "a", payload: randomBytes(40, 33) }, // less than step 3's fixed part
    { from: "b", payload: randomBytes(100, 34) },
    { from: "a", payload: randomBytes(100, 35) },
  ]);
  assert.equal(earlyAnswer.length, 0);
  const noThirdFlight = detect([
    { from: "a", payload: randomBytes(200, 41) },
    { from: "b", payload: randomBytes(200, 42) },
  ]);
  assert.equal(noThirdFlight.length, 0);
});

Deno.test("a reused slot starts over", () => {
  const detectors = [new MseDetector(1)];
  const config = { maxFlows: 1 };
  const analyzer = new Analyzer(config, detectors);
  converse(6, client, peer, [{ from: "b", payload: randomBytes(200, 1) }], {
    tcpHandshake: true,
    analyzer,
  });
  // The next flow evicts the first one from the single slot and must be judged afresh.
  const { detections } = converse(6, { ip: client.ip, port: 50999 }, peer, handshake(9, 9, 9, 3), {
    tcpHandshake: true,
    analyzer,
  });
  assert.equal(detections.length, 1);
});

/** An MSE handshake followed by the given segments, on a fresh analyzer. */
function follow(after: Step[], seed: number) {
  return converse(6, client, peer, [...handshake(120, 80, 30, seed), ...after], {
    tcpHandshake: true,
    ...mse(),
  });
}

function peerKnown(analyzer: Analyzer): number {
  const address = new Uint32Array(4);
  parseAddress(peer.ip, address);
  return analyzer.memory.recall(address, 4, peer.port, 1_700_000_001);
}

Deno.test("isPeerWireSize: message sizes and request trains, not AEAD or 16-byte framing", () => {
  for (const n of [4, 5, 9, 13, 17, 34, 68, 17 * 64, 16397]) assert.ok(isPeerWireSize(n), `${n}`);
  for (const n of [0, 1, 16, 18, 32, 48, 64, 80, 1448, 17 * 65, 16384]) {
    assert.equal(isPeerWireSize(n), false, `${n}`);
  }
});

Deno.test("MSE is heuristic until BitTorrent message sizes confirm it (structural)", () => {
  const { detections, confirmations, analyzer } = follow([
    { from: "b", payload: randomBytes(5, 201) }, // unchoke
    { from: "a", payload: randomBytes(300, 202) },
    { from: "a", payload: randomBytes(51, 203) }, // three requests
    { from: "b", payload: randomBytes(9, 204) },
  ], 200);
  assert.equal(detections.length, 1);
  assert.equal(detections[0].confidence, "heuristic");
  assert.equal(confirmations.length, 1);
  assert.equal(confirmations[0].confidence, "structural");
  assert.equal(confirmations[0].flow_id, detections[0].flow_id);
  assert.equal(confirmations[0].flow_packet, 10); // the 51-byte segment: the second size hit
  assert.equal(peerKnown(analyzer), Reason.KNOWN_PEER);
});

Deno.test("MSE in plaintext mode: the cleartext handshake after step 4 is a signature", () => {
  const { confirmations } = follow([
    { from: "b", payload: concat("\x13BitTorrent protocol", randomBytes(48, 211)) },
  ], 210);
  assert.equal(confirmations.length, 1);
  assert.equal(confirmations[0].confidence, "signature");
});

Deno.test("plaintext mode: the handshake right after step 4 in the same segment is found", () => {
  const keyExchange = handshake(100, 100, 0, 250).slice(0, 3); // A1, B1, step 3
  const cleartext = concat("\x13BitTorrent protocol", randomBytes(48, 253));
  const step4 = (padD: number) => concat(randomBytes(8 + 4 + 2 + padD, 254), cleartext);
  const play = (after: Step[]) =>
    converse(6, client, peer, [...keyExchange, ...after], { tcpHandshake: true, ...mse() })
      .confirmations.map((c) => c.confidence);
  assert.deepEqual(play([{ from: "b", payload: step4(100) }]), ["signature"]);
  assert.deepEqual(play([{ from: "b", payload: step4(512) }]), ["signature"]);
  // Only a direction's first segment is searched; later ones count when they start with it.
  assert.deepEqual(
    play([{ from: "b", payload: randomBytes(82, 255) }, { from: "b", payload: step4(100) }]),
    [],
  );
});

Deno.test("a look-alike never confirms and never teaches the endpoint memory", () => {
  // RLPx-like frames (multiples of 16) and AEAD records (never shorter than 18 bytes).
  const after: Step[] = [];
  for (let i = 0; i < 100; i++) {
    after.push({
      from: i % 3 === 0 ? "b" : "a",
      payload: randomBytes(16 * (2 + (i % 40)), 300 + i),
    });
    after.push({ from: "b", payload: randomBytes(18 + (i % 7) * 17, 500 + i) }); // 18 + 17·k
  }
  const { detections, confirmations, analyzer } = follow(after, 220);
  assert.equal(detections.length, 1);
  assert.equal(detections[0].confidence, "heuristic");
  assert.equal(confirmations.length, 0);
  assert.equal(peerKnown(analyzer), 0);
  // A later flow to the same peer is judged on its own, not recalled from memory.
  const later = converse(6, { ip: client.ip, port: 50999 }, peer, [
    { from: "a", payload: randomBytes(40, 230) },
    { from: "b", payload: randomBytes(40, 231) },
  ], { tcpHandshake: true, analyzer });
  assert.equal(later.detections.length, 0);
  // Nor is a UDP flow on the same address and port (a node's discovery, as RLPx's on 30303).
  const discovery = converse(17, { ip: client.ip, port: 30301 }, peer, [
    { from: "a", payload: randomBytes(150, 232) },
    { from: "b", payload: randomBytes(150, 233) },
  ], { analyzer });
  assert.equal(discovery.detections.length, 0);
});

Deno.test("confirmation is bounded: sizes after 64 new segments are not looked at", () => {
  const after: Step[] = [];
  for (let i = 0; i < 64; i++) after.push({ from: "b", payload: randomBytes(1448, 400 + i) });
  after.push({ from: "b", payload: randomBytes(5, 470) }, {
    from: "a",
    payload: randomBytes(17, 471),
  });
  assert.equal(follow(after, 240).confirmations.length, 0);
});

Deno.test("startsWithOwnLength: 2-byte big/little-endian and 3-byte little-endian prefixes", () => {
  assert.equal(startsWithOwnLength(0x01940000, 406), true); // RLPx EIP-8 auth of 404 bytes
  assert.equal(startsWithOwnLength(0x94010000, 406), true);
  assert.equal(startsWithOwnLength(0x94010000, 407), true); // u24 little-endian 0x000194 + 3
  assert.equal(startsWithOwnLength(0x01940000, 405), false);
  assert.equal(startsWithOwnLength(0xdeadbeef, 406), false);
});

/** `size` random bytes behind a prefix holding the rest's length. */
function framed(size: number, prefix: "u16be" | "u24le", seed: number): Uint8Array {
  const b = randomBytes(size, seed);
  const n = prefix === "u16be" ? size - 2 : size - 3;
  b.set(prefix === "u16be" ? [n >> 8, n & 0xff] : [n & 0xff, n >> 8, 0], 0);
  return b;
}

Deno.test("RLPx EIP-8 handshakes (2-byte size prefix) are not MSE", () => {
  for (const [auth, ack, seed] of [[406, 389, 600], [520, 480, 610], [300, 250, 620]]) {
    const d = detect([
      { from: "a", payload: framed(auth, "u16be", seed) },
      { from: "b", payload: framed(ack, "u16be", seed + 1) },
      { from: "a", payload: randomBytes(32 + 16 * 5, seed + 2) }, // first frame: Hello
    ]);
    assert.equal(d.length, 0, `auth ${auth} ack ${ack}`);
  }
});

Deno.test("legacy RLPx (auth 307, ack 210 bytes) is not MSE", () => {
  const d = detect([
    { from: "a", payload: randomBytes(307, 630) },
    { from: "b", payload: randomBytes(210, 631) },
    { from: "a", payload: randomBytes(32 + 16 * 5, 632) },
  ]);
  assert.equal(d.length, 0);
});

Deno.test("Noise-framed handshakes (3-byte little-endian length) are not MSE", () => {
  const d = detect([
    { from: "a", payload: framed(131, "u24le", 640) },
    { from: "b", payload: framed(211, "u24le", 641) },
    { from: "a", payload: framed(99, "u24le", 642) },
  ]);
  assert.equal(d.length, 0);
});

Deno.test("a peer list decides before MSE; one learned during the key exchange corroborates", () => {
  const address = new Uint32Array(4);
  parseAddress(peer.ip, address);
  // Named before the flow: the flow is recognised from memory at once (structural).
  const known = new Analyzer({ maxFlows: 256 }, [new MseDetector(256)]);
  known.memory.remember(address, 4, peer.port, Reason.TRACKER_PEER, 1_700_000_000);
  const first = converse(6, client, peer, handshake(60, 60, 10, 260), {
    tcpHandshake: true,
    analyzer: known,
  }).detections;
  assert.deepEqual(first.map((d) => [d.reason, d.confidence]), [["tracker_peer", "structural"]]);
  // Named while the key exchange runs (a DHT answer in between): MSE decides, corroborated.
  const analyzer = new Analyzer({ maxFlows: 256 }, [new MseDetector(256)]);
  const steps = handshake(60, 60, 10, 270);
  const seq = { a: 1000, b: 9000 };
  const frames = [
    frame({ l4: 6, src: client, dst: peer, flags: 0x02, seq: 999 }),
    frame({ l4: 6, src: peer, dst: client, flags: 0x12, seq: 8999, ack: 1000 }),
    frame({ l4: 6, src: client, dst: peer, flags: 0x10, seq: 1000, ack: 9000 }),
  ];
  for (const { from, payload } of steps.slice(0, 3)) {
    const bytes = payload as Uint8Array;
    const a = from === "a";
    frames.push(frame({
      l4: 6,
      src: a ? client : peer,
      dst: a ? peer : client,
      payload: bytes,
      seq: seq[from],
      ack: a ? seq.b : seq.a,
    }));
    seq[from] += bytes.length;
  }
  let time = 1_700_000_000;
  for (const f of frames.slice(0, 5)) {
    analyzer.analyze(LinkType.ETHERNET, f, 0, f.length, f.length, time++);
  }
  analyzer.memory.remember(address, 4, peer.port, Reason.DHT_PEER, time);
  const step3 = frames[5];
  assert.equal(
    analyzer.analyze(LinkType.ETHERNET, step3, 0, step3.length, step3.length, time),
    Verdict.DETECTION,
  );
  const event = analyzer.detection.toEvent();
  assert.deepEqual([event.reason, event.confidence, event.corroborated], [
    "mse",
    "heuristic",
    true,
  ]);
});
