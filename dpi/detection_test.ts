import assert from "node:assert/strict";
import {
  Detection,
  DETECTION_RECORD_HEADER_BYTES,
  DETECTION_RECORD_MAX_BYTES,
} from "./detection.ts";
import { parseAddress } from "./address.ts";
import { Confidence, Reason, reasonConfidence } from "./reason.ts";

function sample(): Detection {
  const d = new Detection();
  d.flowId = 2 ** 40 + 7;
  d.reason = 9;
  d.flowPacket = 70000;
  d.timestamp = 1_700_000_000.123456;
  d.ipVersion = 6;
  d.l4 = 17;
  parseAddress("2001:db8::1", d.src);
  parseAddress("2001:db8::ffff:2", d.dst);
  d.srcPort = 65535;
  d.dstPort = 6881;
  d.fromResponder = true;
  d.initiatorAnswered = false;
  d.responderAnswered = true;
  d.bidirectional = true;
  d.corroborated = true;
  d.confidence = Confidence.STRUCTURAL;
  for (let i = 0; i < 300; i++) d.payload[i] = i * 7;
  d.payloadLength = 300;
  return d;
}

Deno.test("detection record: a round trip keeps every field and the payload", () => {
  const d = sample();
  const buf = new Uint8Array(1000);
  const n = d.toRecord(buf, 5);
  assert.equal(n, DETECTION_RECORD_HEADER_BYTES + 300);
  const back = new Detection();
  back.payload.fill(0xee);
  assert.equal(back.fromRecord(buf, 5), n);
  assert.deepEqual(back.toEvent(), d.toEvent());
  assert.equal(back.flowId, d.flowId);
  assert.equal(back.timestamp, d.timestamp);
  assert.deepEqual(back.src, d.src);
  assert.deepEqual(back.dst, d.dst);
  assert.equal(back.payloadLength, 300);
  assert.deepEqual(back.payload.subarray(0, 300), d.payload.subarray(0, 300));
  assert.equal(back.confidence, Confidence.STRUCTURAL);
  assert.equal(back.toEvent().confidence, "structural");
  assert.equal(back.toEvent().corroborated, true);
  const flags = [
    "fromResponder",
    "initiatorAnswered",
    "responderAnswered",
    "corroborated",
  ] as const;
  for (const flag of flags) {
    assert.equal(back[flag], d[flag], flag);
  }
});

Deno.test("detection record: too small a buffer and truncated records are refused", () => {
  const d = sample();
  assert.throws(
    () => d.toRecord(new Uint8Array(DETECTION_RECORD_HEADER_BYTES + 299), 0),
    RangeError,
  );
  const buf = new Uint8Array(DETECTION_RECORD_MAX_BYTES);
  const n = d.toRecord(buf, 0);
  assert.throws(() => new Detection().fromRecord(buf.subarray(0, n - 1), 0), RangeError);
  assert.throws(() => new Detection().fromRecord(buf.subarray(0, 10), 0), RangeError);
});

Deno.test("confidence: cleartext grammars are signatures, MSE alone is a heuristic", () => {
  assert.equal(reasonConfidence(Reason.BT_HANDSHAKE), Confidence.SIGNATURE);
  assert.equal(reasonConfidence(Reason.DHT_KRPC), Confidence.SIGNATURE);
  assert.equal(reasonConfidence(Reason.UTP), Confidence.STRUCTURAL);
  assert.equal(reasonConfidence(Reason.KNOWN_PEER), Confidence.STRUCTURAL);
  assert.equal(reasonConfidence(Reason.MSE), Confidence.HEURISTIC);
  const d = new Detection();
  d.reason = Reason.MSE;
  assert.equal(d.toEvent().confidence, "heuristic");
});
