import { Analyzer } from "../analyzer.ts";
import { LinkType } from "../decode.ts";
import type { Detector } from "../detector.ts";
import { concat, frame, randomBytes } from "../../tests/helpers/packets.ts";
import { looksRandom, MseDetector } from "./mse.ts";

const client = { ip: "192.168.1.20", port: 50000 };
const peer = { ip: "198.51.100.7", port: 51413 };

/** A flow's frames, with the offset of the client's port in each (Ethernet + IPv4 + TCP). */
interface Frames {
  frames: Uint8Array[];
  /** 34 (source port) in frames from the client, 36 (destination port) in the peer's. */
  clientPortAt: number[];
}

/** One TCP flow: SYN, SYN+ACK, ACK, then the payloads. */
function flow(payloads: { from: "a" | "b"; payload: Uint8Array }[]): Frames {
  const seq = { a: 1000, b: 9000 };
  const frames = [
    frame({ l4: 6, src: client, dst: peer, flags: 0x02, seq: 999 }),
    frame({ l4: 6, src: peer, dst: client, flags: 0x12, seq: 8999, ack: 1000 }),
    frame({ l4: 6, src: client, dst: peer, flags: 0x10, seq: 1000, ack: 9000 }),
  ];
  const clientPortAt = [34, 36, 34];
  for (const { from, payload } of payloads) {
    const a = from === "a";
    const src = a ? client : peer;
    const dst = a ? peer : client;
    frames.push(frame({ l4: 6, src, dst, payload, seq: seq[from], ack: a ? seq.b : seq.a }));
    clientPortAt.push(a ? 34 : 36);
    seq[from] += payload.length;
  }
  return { frames, clientPortAt };
}

const MSE = flow([
  { from: "a", payload: randomBytes(96 + 300, 1) },
  { from: "b", payload: randomBytes(96 + 200, 2) },
  { from: "a", payload: randomBytes(124, 3) },
]);
/** A look-alike: the MSE-sized handshake, then 64 full segments that never confirm it. */
const LOOKALIKE = flow([
  { from: "a", payload: randomBytes(96 + 300, 1) },
  { from: "b", payload: randomBytes(96 + 200, 2) },
  { from: "a", payload: randomBytes(124, 3) },
  ...Array.from({ length: 64 }, (_, i) => ({
    from: i % 4 === 0 ? "a" as const : "b" as const,
    payload: randomBytes(1448, 10 + i),
  })),
]);
const TLS = flow([
  { from: "a", payload: concat([0x16, 3, 1, 2, 1, 1, 0, 1, 0xfd, 3, 3], randomBytes(507, 4)) },
  { from: "b", payload: concat([0x16, 3, 3, 0, 0x7a, 2, 0, 0, 0x76, 3, 3], randomBytes(118, 5)) },
  { from: "a", payload: concat([0x14, 3, 3, 0, 1, 1], randomBytes(58, 6)) },
]);

/**
 * Plays the frames as a new flow on each call: the client port and the peer address change, and
 * the tables are small enough to forget a flow and a learned peer long before its port comes
 * round again, so neither the flow table nor the endpoint memory shortcuts the detector.
 */
function player(detectors: Detector[], { frames, clientPortAt }: Frames): () => void {
  const analyzer = new Analyzer({ maxFlows: 4096, maxEndpoints: 4096 }, detectors);
  let port = 1024;
  let time = 1_700_000_000;
  return () => {
    port = port === 65535 ? 1024 : port + 1;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      const portAt = clientPortAt[i];
      const peerAt = portAt === 34 ? 30 + 2 : 26 + 2; // low half of the peer's IPv4 address
      f[portAt] = f[peerAt] = port >> 8;
      f[portAt + 1] = f[peerAt + 1] = port & 0xff;
      time += 0.0001;
      analyzer.analyze(LinkType.ETHERNET, f, 0, f.length, f.length, time);
    }
  };
}

Deno.bench({
  name: "MSE handshake, no detector (6 packets)",
  group: "mse-flow",
  baseline: true,
  fn: player([], MSE),
});
Deno.bench({
  name: "MSE handshake, MseDetector (6 packets)",
  group: "mse-flow",
  fn: player([new MseDetector(4096)], MSE),
});
Deno.bench({
  name: "MSE-sized look-alike followed for confirmation, no detector (70 packets)",
  group: "mse-confirm",
  baseline: true,
  fn: player([], LOOKALIKE),
});
Deno.bench({
  name: "MSE-sized look-alike followed for confirmation, MseDetector (70 packets)",
  group: "mse-confirm",
  fn: player([new MseDetector(4096)], LOOKALIKE),
});
Deno.bench({
  name: "TLS 1.3 resumption, MseDetector (6 packets)",
  group: "mse-flow",
  fn: player([new MseDetector(4096)], TLS),
});

const block = randomBytes(512, 9);
Deno.bench({ name: "looksRandom, 512 random bytes", fn: () => void looksRandom(block, 0, 512) });
