import assert from "node:assert/strict";
import {
  isUdpTrackerConnect,
  trackerRequestAction,
  trackerResponseAction,
  UdpTrackerDetector,
} from "./udp_tracker.ts";
import { Analyzer } from "../analyzer.ts";
import { parseAddress } from "../address.ts";
import { LinkType } from "../decode.ts";
import { Answered } from "../flow_table.ts";
import { Reason } from "../reason.ts";
import { concat, converse, frame, randomBytes, type Step } from "../../tests/helpers/packets.ts";

const client = { ip: "192.168.0.102", port: 36360 };
const tracker = { ip: "94.23.183.33", port: 6969 };
const client6 = { ip: "2001:db8::10", port: 36360 };
const tracker6 = { ip: "2001:db8:1::6969", port: 6969 };
const NOW = 1_700_000_000;

function be32(v: number): number[] {
  return [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
}

function connectRequest(tid: number): Uint8Array {
  return concat([0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80], be32(0), be32(tid));
}

function connectResponse(tid: number, high: number, low: number): Uint8Array {
  return concat(be32(0), be32(tid), be32(high), be32(low));
}

function announceRequest(high: number, low: number, tid: number, event = 2): Uint8Array {
  return concat(
    be32(high),
    be32(low),
    be32(1),
    be32(tid),
    randomBytes(20, 7), // info_hash
    "-TR2940-abcdefghijkl", // peer_id
    new Uint8Array(24), // downloaded, left, uploaded
    be32(event),
    be32(0), // IP
    be32(0x1234), // key
    be32(0xffffffff), // num_want
    [0x1a, 0xe1], // port 6881
  );
}

function announceResponse(tid: number, peers: Uint8Array): Uint8Array {
  return concat(be32(1), be32(tid), be32(1800), be32(3), be32(5), peers);
}

const PEERS_V4 = concat([198, 51, 100, 7, 0xc8, 0xd5], [203, 0, 113, 9, 0x1a, 0xe1]);

function recall(analyzer: Analyzer, ip: string, port: number): number {
  const words = new Uint32Array(4);
  const version = parseAddress(ip, words);
  return analyzer.memory.recall(words, version, port, NOW + 1);
}

function run(steps: Step[], a = client, b = tracker, config = {}) {
  return converse(17, a, b, steps, {
    detectors: [new UdpTrackerDetector(1024)],
    config: { maxFlows: 1024, ...config },
    startTime: NOW,
  });
}

Deno.test("isUdpTrackerConnect needs the protocol id, action 0 and 16 bytes", () => {
  const request = connectRequest(0x69bc5c82);
  assert.equal(isUdpTrackerConnect(request, 0, 16), true);
  assert.equal(isUdpTrackerConnect(request, 0, 15), false);
  const announceAction = request.slice();
  announceAction[11] = 1;
  assert.equal(isUdpTrackerConnect(announceAction, 0, 16), false);
  const otherId = request.slice();
  otherId[7] = 0x81;
  assert.equal(isUdpTrackerConnect(otherId, 0, 16), false);
});

Deno.test("message shapes: announce, scrape and responses", () => {
  const announce = announceRequest(1, 2, 3);
  assert.equal(announce.length, 98);
  assert.equal(trackerRequestAction(announce, 0, 98, 98), 1);
  assert.equal(trackerRequestAction(announce, 0, 97, 97), -1, "shorter than an announce");
  assert.equal(trackerRequestAction(announceRequest(1, 2, 3, 4), 0, 98, 98), -1, "event 4");
  assert.equal(trackerRequestAction(announce, 0, 40, 98), 1, "cut before event: judged on bytes");
  const scrape = concat(be32(1), be32(2), be32(2), be32(3), randomBytes(40));
  assert.equal(trackerRequestAction(scrape, 0, scrape.length, scrape.length), 2);
  assert.equal(trackerRequestAction(scrape, 0, 50, 50), -1, "not 16 + 20n");
  const response = announceResponse(3, PEERS_V4);
  assert.equal(trackerResponseAction(response, 0, response.length, response.length, 6), 1);
  assert.equal(trackerResponseAction(response, 0, response.length, response.length, 18), -1);
  assert.equal(trackerResponseAction(connectResponse(3, 4, 5), 0, 16, 16, 6), 0);
  assert.equal(trackerResponseAction(connectResponse(3, 4, 5), 0, 16, 17, 6), -1);
  assert.equal(trackerResponseAction(connectResponse(3, 4, 5), 0, 12, 16, 6), -1, "id cut off");
  const error = concat(be32(3), be32(3), "unregistered torrent");
  assert.equal(trackerResponseAction(error, 0, error.length, error.length, 6), 3);
  assert.equal(trackerResponseAction(concat(be32(4), be32(3)), 0, 8, 8, 6), -1, "no action 4");
});

Deno.test("a full exchange: connect decides, answers are marked, peers are learned", () => {
  const { detections, analyzer } = run([
    { from: "a", payload: connectRequest(0x69bc5c82) },
    { from: "b", payload: connectResponse(0x69bc5c82, 0xabf5e1e2, 0x478d0a76) },
    { from: "a", payload: announceRequest(0xabf5e1e2, 0x478d0a76, 0x69bc5c96) },
    { from: "b", payload: announceResponse(0x69bc5c96, PEERS_V4) },
  ]);
  assert.equal(detections.length, 1);
  assert.equal(detections[0].reason, "udp_tracker");
  assert.equal(detections[0].flow_packet, 1);
  const slot = analyzer.flows.slots.find();
  assert.equal(analyzer.flows.answered[slot], Answered.INITIATOR | Answered.RESPONDER);
  assert.equal(recall(analyzer, "198.51.100.7", 0xc8d5), Reason.TRACKER_PEER);
  assert.equal(recall(analyzer, "203.0.113.9", 6881), Reason.TRACKER_PEER);
});

Deno.test("the connect request decides even on a sensitive port", () => {
  const { detections } = run([{ from: "a", payload: connectRequest(7) }], client, {
    ip: tracker.ip,
    port: 53,
  });
  assert.equal(detections.length, 1);
  assert.equal(detections[0].reason, "udp_tracker");
});

Deno.test("mid-flow: an announce answered with its transaction id decides on the response", () => {
  const { detections, analyzer } = run([
    { from: "a", payload: announceRequest(0xabf5e1e2, 0x478d0a76, 0x1234) },
    { from: "b", payload: announceResponse(0x1234, PEERS_V4) },
  ]);
  assert.equal(detections.length, 1);
  assert.equal(detections[0].flow_packet, 2);
  assert.equal(detections[0].evidence.src_answered, true);
  assert.equal(detections[0].evidence.bidirectional, true);
  assert.equal(recall(analyzer, "198.51.100.7", 0xc8d5), Reason.TRACKER_PEER);
});

Deno.test("mid-flow ties stay off on sensitive ports", () => {
  const { detections, analyzer } = run(
    [
      { from: "a", payload: announceRequest(1, 2, 0x1234) },
      { from: "b", payload: announceResponse(0x1234, PEERS_V4) },
    ],
    client,
    { ip: tracker.ip, port: 443 },
  );
  assert.equal(detections.length, 0);
  assert.equal(recall(analyzer, "198.51.100.7", 0xc8d5), 0);
});

Deno.test("mid-flow: scrape and error responses echoing the request decide", () => {
  const scrape = concat(be32(1), be32(2), be32(2), be32(0x55), randomBytes(20, 3));
  const scraped = run([
    { from: "a", payload: scrape },
    { from: "b", payload: concat(be32(2), be32(0x55), be32(5), be32(19), be32(1)) },
  ]);
  assert.equal(scraped.detections.length, 1);
  assert.equal(scraped.detections[0].flow_packet, 2);
  const failed = run([
    { from: "a", payload: announceRequest(1, 2, 0x66) },
    { from: "b", payload: concat(be32(3), be32(0x66), "Connection ID mismatch.") },
  ]);
  assert.equal(failed.detections.length, 1);
});

Deno.test("a response to a request of another action does not decide", () => {
  const scrape = concat(be32(1), be32(2), be32(2), be32(0x55), randomBytes(20, 3));
  const { detections } = run([
    { from: "a", payload: scrape },
    { from: "b", payload: announceResponse(0x55, PEERS_V4) },
  ]);
  assert.equal(detections.length, 0);
});

Deno.test("mid-flow: an announce carrying the connection id granted by a connect response", () => {
  const { detections, analyzer } = run(
    [
      { from: "a", payload: connectResponse(9, 0x01020304, 0x05060708) },
      { from: "b", payload: announceRequest(0x01020304, 0x05060708, 10) },
    ],
    tracker,
    client,
  );
  assert.equal(detections.length, 1);
  assert.equal(detections[0].flow_packet, 2);
  assert.equal(detections[0].src_port, client.port);
  const slot = analyzer.flows.slots.find();
  assert.equal(analyzer.flows.answered[slot], Answered.RESPONDER);
});

Deno.test("a connect response alone, or an announce with another connection id, is nothing", () => {
  const alone = run([{ from: "a", payload: connectResponse(9, 1, 2) }], tracker, client);
  assert.equal(alone.detections.length, 0);
  const other = run(
    [
      { from: "a", payload: connectResponse(9, 1, 2) },
      { from: "b", payload: announceRequest(1, 3, 10) },
    ],
    tracker,
    client,
  );
  assert.equal(other.detections.length, 0);
  const zero = run([{ from: "a", payload: announceRequest(0, 0, 10) }]);
  assert.equal(zero.detections.length, 0, "no connection id was granted, not even 0");
});

Deno.test("a flow reusing a slot does not inherit the previous flow's requests", () => {
  const analyzer = new Analyzer({ maxFlows: 1 }, [new UdpTrackerDetector(1)]);
  const first = converse(17, client, tracker, [
    { from: "a", payload: announceRequest(1, 2, 0x77) },
    { from: "b", payload: connectResponse(0x99, 3, 4) },
  ], { analyzer, startTime: NOW });
  assert.equal(first.detections.length, 0);
  const other = { ip: "198.51.100.200", port: 7000 };
  const second = converse(17, client, other, [
    { from: "a", payload: randomBytes(40, 5) },
    { from: "b", payload: announceResponse(0x77, PEERS_V4) },
    { from: "a", payload: announceRequest(3, 4, 0x78) },
  ], { analyzer, startTime: NOW + 1 });
  assert.equal(second.detections.length, 0);
});

Deno.test("a spoofed response with the wrong transaction id is not an answer", () => {
  const { detections, analyzer } = run([
    { from: "a", payload: connectRequest(0x1111) },
    { from: "b", payload: connectResponse(0x2222, 1, 2) },
    { from: "a", payload: announceRequest(1, 2, 0x3333) },
    { from: "b", payload: announceResponse(0x4444, PEERS_V4) },
  ]);
  assert.equal(detections.length, 1, "the connect request still decides");
  const slot = analyzer.flows.slots.find();
  // The client did echo the connection id it was sent; the responses echoed nothing.
  assert.equal(analyzer.flows.answered[slot], Answered.INITIATOR);
  assert.equal(recall(analyzer, "198.51.100.7", 0xc8d5), 0, "no peers from unanswered lists");
});

Deno.test("random bytes, DNS and an unanswered announce are not UDP tracker", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const { detections } = run([
      { from: "a", payload: randomBytes(16, seed) },
      { from: "b", payload: randomBytes(16, seed + 1000) },
    ]);
    assert.equal(detections.length, 0);
  }
  const query = concat(
    [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1],
    [7],
    "example",
    [3],
    "com",
    [0, 0, 1, 0, 1],
    [0, 0, 0x29, 0x10, 0, 0, 0, 0, 0, 0, 0],
  );
  const answer = concat(
    [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1],
    query.subarray(12),
    [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, 184, 216, 34],
  );
  const dns = run([{ from: "a", payload: query }, { from: "b", payload: answer }], client, {
    ip: "8.8.8.8",
    port: 5353,
  });
  assert.equal(dns.detections.length, 0);
  const unanswered = run([{ from: "a", payload: announceRequest(1, 2, 3) }]);
  assert.equal(unanswered.detections.length, 0);
});

Deno.test("responses out of order still match one of several outstanding requests", () => {
  const { detections, analyzer } = run([
    { from: "a", payload: connectRequest(1) },
    { from: "b", payload: connectResponse(1, 7, 8) },
    { from: "a", payload: announceRequest(7, 8, 0x100) },
    { from: "a", payload: announceRequest(7, 8, 0x200) },
    { from: "a", payload: announceRequest(7, 8, 0x300) },
    { from: "b", payload: announceResponse(0x100, PEERS_V4.subarray(0, 6)) },
    { from: "b", payload: announceResponse(0x300, PEERS_V4.subarray(6)) },
  ]);
  assert.equal(detections.length, 1);
  assert.equal(recall(analyzer, "198.51.100.7", 0xc8d5), Reason.TRACKER_PEER);
  assert.equal(recall(analyzer, "203.0.113.9", 6881), Reason.TRACKER_PEER);
});

Deno.test("IPv6 announce responses list 18-byte peers", () => {
  const peer = concat([0x20, 0x01, 0x0d, 0xb8, 0, 2], new Uint8Array(9), [5], [0x1a, 0xe2]);
  const { detections, analyzer } = run(
    [
      { from: "a", payload: connectRequest(1) },
      { from: "b", payload: connectResponse(1, 7, 8) },
      { from: "a", payload: announceRequest(7, 8, 2) },
      { from: "b", payload: announceResponse(2, peer) },
    ],
    client6,
    tracker6,
  );
  assert.equal(detections.length, 1);
  assert.equal(recall(analyzer, "2001:db8:2::5", 6882), Reason.TRACKER_PEER);
});

Deno.test("truncated datagrams: judged on the bytes present, never read past them", () => {
  const analyzer = new Analyzer({ maxFlows: 1024 }, [new UdpTrackerDetector(1024)]);
  let time = NOW;
  const send = (from: typeof client, to: typeof client, payload: Uint8Array, cut: number) => {
    const f = frame({ l4: 17, src: from, dst: to, payload });
    time += 0.001;
    return analyzer.analyze(LinkType.ETHERNET, f, 0, f.length - cut, f.length, time);
  };
  assert.equal(send(client, tracker, connectRequest(5), 4), 0, "connect request cut to 12 bytes");
  assert.equal(send(client, tracker, announceRequest(1, 2, 5), 50), 0);
  // The response echoes the announce; its second peer is cut in the middle.
  const peers = concat(PEERS_V4, [192, 0, 2, 44, 0x1a, 0xe3]);
  assert.equal(send(tracker, client, announceResponse(5, peers), 9), 1);
  assert.equal(recall(analyzer, "198.51.100.7", 0xc8d5), Reason.TRACKER_PEER);
  assert.equal(recall(analyzer, "203.0.113.9", 6881), 0);
  assert.equal(recall(analyzer, "192.0.2.44", 6883), 0);
});
