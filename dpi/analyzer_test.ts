import assert from "node:assert/strict";
import { Analyzer, Verdict } from "./analyzer.ts";
import { LinkType } from "./decode.ts";
import { type Detector, type Inspection, NOT_BITTORRENT } from "./detector.ts";
import { FlowState } from "./flow_table.ts";
import { parseAddress } from "./address.ts";
import { Reason } from "./reason.ts";
import {
  concat,
  converse,
  frame,
  peerWireHandshake,
  randomBytes,
} from "../tests/helpers/packets.ts";

const client = { ip: "192.168.1.10", port: 50000 };
const peer = { ip: "198.51.100.7", port: 6881 };
const handshake = peerWireHandshake(randomBytes(20, 4), "-qB4250-abcdefghijkl");

/** A detector that recognises payloads starting with a marker byte, for engine tests. */
class MarkerDetector implements Detector {
  readonly transport = 0;
  calls = 0;
  inspect(x: Inspection): number {
    this.calls++;
    if (x.buf[x.offset] === 0xbb) return Reason.BT_MESSAGE;
    if (x.buf[x.offset] === 0xee) return NOT_BITTORRENT;
    return 0;
  }
}

function recall(a: Analyzer, ip: string, port: number): number {
  const w = new Uint32Array(4);
  return a.memory.recall(w, parseAddress(ip, w), port, 1_700_000_001);
}

Deno.test("a TCP detection without evidence is followed by EVIDENCE events as the flow proves itself", () => {
  const a = new Analyzer({ maxFlows: 64 });
  const send = (
    src: typeof client,
    dst: typeof peer,
    o: { flags: number; seq: number; ack: number; payload?: Uint8Array },
  ) => {
    const f = frame({ l4: 6, src, dst, ...o });
    return a.analyze(LinkType.ETHERNET, f, 0, f.length, f.length, 1_700_000_000);
  };
  // mid-flow: the client's handshake is seen first
  assert.equal(
    send(client, peer, { flags: 0x18, seq: 100, ack: 900, payload: handshake }),
    Verdict.DETECTION,
  );
  assert.equal(a.detection.reason, Reason.BT_HANDSHAKE);
  assert.equal(a.detection.responderAnswered, false);
  assert.equal(a.detection.bidirectional, false);
  assert.equal(a.detection.payloadLength, 68);
  assert.deepEqual(a.detection.payload.subarray(0, 20), handshake.subarray(0, 20));
  // the peer acknowledges the handshake and answers with its own
  assert.equal(
    send(peer, client, { flags: 0x18, seq: 900, ack: 168, payload: handshake }),
    Verdict.EVIDENCE,
  );
  assert.equal(a.detection.responderAnswered, true);
  assert.equal(a.detection.bidirectional, true);
  assert.equal(a.detection.flowPacket, 2);
  assert.equal(a.detection.fromResponder, true);
  // the client acknowledges the peer's bytes: both sides proven
  assert.equal(send(client, peer, { flags: 0x10, seq: 168, ack: 968 }), Verdict.EVIDENCE);
  assert.equal(a.detection.initiatorAnswered, true);
  // nothing new afterwards
  assert.equal(send(peer, client, { flags: 0x10, seq: 968, ack: 168 }), Verdict.NONE);
});

Deno.test("a flow to a remembered endpoint is recognised at its first payload", () => {
  const a = new Analyzer({ maxFlows: 64 });
  converse(6, client, peer, [{ from: "a", payload: handshake }], { analyzer: a });
  assert.equal(recall(a, peer.ip, peer.port), Reason.KNOWN_PEER);
  assert.equal(recall(a, client.ip, client.port), 0, "a TCP initiator's port is ephemeral");
  const other = { ip: "192.168.1.11", port: 50001 };
  const { detections } = converse(6, other, peer, [{ from: "a", payload: randomBytes(300, 9) }], {
    analyzer: a,
    tcpHandshake: true,
  });
  assert.equal(detections.length, 1);
  assert.equal(detections[0].reason, "known_peer");
  assert.equal(detections[0].flow_packet, 4);
});

Deno.test("peer-list endpoints do not taint flows that open with text, nor sensitive ports", () => {
  const a = new Analyzer({ maxFlows: 64 });
  const w = new Uint32Array(4);
  const v = parseAddress(peer.ip, w);
  a.memory.remember(w, v, 8080, Reason.TRACKER_PEER, 1_699_999_999);
  a.memory.remember(w, v, 443, Reason.TRACKER_PEER, 1_699_999_999);
  const server = { ip: peer.ip, port: 8080 };
  const web = converse(6, client, server, [{
    from: "a",
    payload: "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
  }], {
    analyzer: a,
  });
  assert.equal(web.detections.length, 0);
  const tls = converse(6, { ip: client.ip, port: 50002 }, { ip: peer.ip, port: 443 }, [
    { from: "a", payload: randomBytes(200, 3) },
  ], { analyzer: a });
  assert.equal(tls.detections.length, 0);
  const opaque = converse(6, { ip: client.ip, port: 50003 }, server, [
    { from: "a", payload: Uint8Array.of(0x91, 0x02, ...randomBytes(200, 5)) },
  ], { analyzer: a });
  assert.equal(opaque.detections[0]?.reason, "tracker_peer");
});

Deno.test("negative signatures stop inspection; the budget gives up; decided flows skip detectors", () => {
  const marker = new MarkerDetector();
  const a = new Analyzer({ maxFlows: 64, inspectBudget: 3 }, [marker]);
  const play = (port: number, payloads: number[]) =>
    converse(
      17,
      { ip: client.ip, port },
      peer,
      payloads.map((b, i) => ({ from: i % 2 ? "b" : "a", payload: Uint8Array.of(b, 1, 2) })),
      { analyzer: a },
    );
  marker.calls = 0;
  play(1, [0xee, 0xbb, 0xbb]);
  assert.equal(marker.calls, 1, "OTHER: no more inspection");
  marker.calls = 0;
  const given = play(2, [1, 2, 3, 0xbb, 0xbb]);
  assert.equal(given.detections.length, 0);
  assert.equal(marker.calls, 3, "budget of 3 payload packets");
  const states = [...a.flows.state.subarray(0, 2)];
  assert.deepEqual(states, [FlowState.OTHER, FlowState.GIVEN_UP]);
  marker.calls = 0;
  const decided = play(3, [0xbb, 5, 6, 7]);
  assert.equal(decided.detections.length, 1);
  assert.equal(a.stats.detections[Reason.BT_MESSAGE], 1);
});

Deno.test("undecodable packets are counted by kind and never thrown", () => {
  const a = new Analyzer({ maxFlows: 64 });
  const f = frame({ l4: 17, src: client, dst: peer, payload: "x" });
  a.analyze(LinkType.ETHERNET, f, 0, 20, f.length, 1);
  a.analyze(
    LinkType.ETHERNET,
    concat(new Uint8Array(12), [0x08, 0x06], new Uint8Array(28)),
    0,
    42,
    42,
    1,
  );
  a.analyze(147, f, 0, f.length, f.length, 1);
  for (let i = 0; i < 2000; i++) {
    const junk = randomBytes(60 + (i % 100), i + 1);
    a.analyze(LinkType.ETHERNET, junk, 0, junk.length, junk.length, 1 + i);
  }
  assert.equal(a.stats.packets, 2003);
  assert.ok(a.stats.malformed >= 1);
  assert.equal(a.stats.notIp >= 1, true);
  assert.equal(a.stats.unsupportedLink, 1);
  assert.equal(
    a.stats.decoded + a.stats.malformed + a.stats.notIp + a.stats.otherTransport +
      a.stats.fragments + a.stats.unsupportedLink,
    a.stats.packets,
  );
});

Deno.test("the flow table stays bounded under a flood of distinct flows", () => {
  const a = new Analyzer({ maxFlows: 1000 });
  for (let i = 0; i < 20000; i++) {
    const f = frame({
      l4: 17,
      src: { ip: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, port: 1000 + (i % 5000) },
      dst: peer,
      payload: "zz",
    });
    a.analyze(LinkType.ETHERNET, f, 0, f.length, f.length, 1_700_000_000 + i / 1000);
  }
  assert.equal(a.flows.size, 1000);
  assert.equal(a.flows.flowsCreated, 20000);
  assert.equal(a.flows.flowsEvicted, 19000);
});
