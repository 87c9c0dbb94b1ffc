import { UtpDetector, utpPacketType, UtpType } from "./utp.ts";
import { Analyzer } from "../analyzer.ts";
import { LinkType } from "../decode.ts";
import { concat, frame, randomBytes } from "../../tests/helpers/packets.ts";

const FLOWS = 1024;

function header(type: number, conn: number, stamp: number, seq: number, ack: number): Uint8Array {
  const h = new Uint8Array(20);
  const v = new DataView(h.buffer);
  h[0] = (type << 4) | 1;
  v.setUint16(2, conn);
  v.setUint32(4, stamp);
  v.setUint32(12, 1 << 20);
  v.setUint16(16, seq);
  v.setUint16(18, ack);
  return h;
}

/** Frames of `FLOWS` flows, `perFlow` packets each, in flow order. */
function flows(perFlow: (flow: number) => [from: "a" | "b", payload: Uint8Array][]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let f = 0; f < FLOWS; f++) {
    const a = { ip: "10.1.0.2", port: 20000 + f };
    const b = { ip: "198.51.100.7", port: 51413 };
    for (const [from, payload] of perFlow(f)) {
      out.push(frame({ l4: 17, src: from === "a" ? a : b, dst: from === "a" ? b : a, payload }));
    }
  }
  return out;
}

/**
 * Replays `frames` one per call; each round starts on fresh flows (the old ones expired).
 * Checks first that one round detects `expected` flows, so the bench measures the right path.
 */
function replayer(frames: Uint8Array[], expected: number, withUtp = true): () => void {
  const detectors = withUtp ? [new UtpDetector(FLOWS * 2)] : [];
  const analyzer = new Analyzer({ maxFlows: FLOWS * 2, flowIdleTimeout: 60 }, detectors);
  let i = 0;
  let time = 1_700_000_000;
  let detections = 0;
  const next = () => {
    const f = frames[i];
    detections += analyzer.analyze(LinkType.ETHERNET, f, 0, f.length, f.length, time);
    time += 0.00001;
    if (++i === frames.length) {
      i = 0;
      time += 1000;
    }
  };
  for (let n = 0; n < frames.length; n++) next();
  if (detections !== expected) throw new Error(`${detections} detections, ${expected} expected`);
  return next;
}

const handshake = flows((f) => [
  ["a", header(UtpType.SYN, f, 0x1000_0000, f, 0)],
  ["b", header(UtpType.STATE, f, 0x7000_0000, 0x4000 + f, f)],
  ["a", concat(header(UtpType.DATA, f + 1, 0x1000_0800, f + 1, 0x3fff + f), randomBytes(300))],
]);
const random = flows((f) => [
  ["a", randomBytes(200, f * 3 + 1)],
  ["b", randomBytes(120, f * 3 + 2)],
  ["a", concat([0x01, 0x00], randomBytes(1000, f * 3 + 3))],
]);

const data = concat(
  header(UtpType.DATA, 7, 0x1000_0000, 9, 3),
  [0, 4, 1, 0, 0, 0],
  randomBytes(1400),
);
Deno.bench("utpPacketType on a 1400-byte DATA packet", () => {
  utpPacketType(data, 0, data.length, data.length);
});

Deno.bench("analyzer + UtpDetector, uTP handshakes (per packet)", replayer(handshake, FLOWS));

Deno.bench("analyzer + UtpDetector, random UDP (per packet)", replayer(random, 0));

Deno.bench("analyzer alone (baseline), random UDP (per packet)", replayer(random, 0, false));
