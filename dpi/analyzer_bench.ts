/**
 * Per-packet cost of the whole engine (decode + flow table + detectors) on synthetic traffic:
 * a mix of BitTorrent and other flows, and the cheap path of flows already decided.
 */
import { Analyzer } from "./analyzer.ts";
import { LinkType } from "./decode.ts";
import { concat, frame, peerWireHandshake, randomBytes } from "../tests/helpers/packets.ts";

interface Frame {
  bytes: Uint8Array;
}

function mixedTraffic(flows: number): Frame[] {
  const out: Frame[] = [];
  const handshake = peerWireHandshake(randomBytes(20, 3), "-TR3000-abcdefghijkl");
  for (let i = 0; i < flows; i++) {
    const client = { ip: `10.${(i >> 8) & 255}.${i & 255}.2`, port: 40000 + (i % 20000) };
    const server = {
      ip: `198.51.${(i >> 8) & 255}.${i & 255}`,
      port: i % 4 === 0 ? 443 : 6881 + (i % 7),
    };
    const kind = i % 4;
    for (let k = 0; k < 12; k++) {
      const fromClient = k % 2 === 0;
      const l4 = kind === 3 ? 17 : 6;
      const payload = kind === 0
        ? concat([0x17, 0x03, 0x03, 0x01, 0x00], randomBytes(256, i * 31 + k))
        : kind === 1 && k < 2
        ? handshake
        : randomBytes(kind === 3 ? 120 : 1200, i * 17 + k);
      out.push({
        bytes: frame({
          l4,
          src: fromClient ? client : server,
          dst: fromClient ? server : client,
          payload,
          seq: 1000 + k * 1200,
          ack: 5000 + k * 1200,
        }),
      });
    }
  }
  return out;
}

const traffic = mixedTraffic(2000);
let analyzer = new Analyzer({ maxFlows: 65536 });
let t = 1_700_000_000;

Deno.bench(`analyze mixed traffic (${traffic.length} packets, 2000 flows)`, {
  group: "analyze",
  baseline: true,
}, (b) => {
  analyzer = new Analyzer({ maxFlows: 65536 });
  b.start();
  for (const f of traffic) {
    analyzer.analyze(LinkType.ETHERNET, f.bytes, 0, f.bytes.length, f.bytes.length, t += 0.0001);
  }
  b.end();
});

const decided = traffic.slice(0, 12 * 4 * 10).filter((_, i) => Math.floor(i / 12) % 4 === 1);
Deno.bench(`analyze decided flows (${decided.length * 100} packets)`, { group: "analyze" }, (b) => {
  const a = new Analyzer({ maxFlows: 65536 });
  for (const f of decided) {
    a.analyze(LinkType.ETHERNET, f.bytes, 0, f.bytes.length, f.bytes.length, t += 0.0001);
  }
  b.start();
  for (let r = 0; r < 100; r++) {
    for (const f of decided) {
      a.analyze(LinkType.ETHERNET, f.bytes, 0, f.bytes.length, f.bytes.length, t += 0.0001);
    }
  }
  b.end();
});

console.log(
  `analyzer_bench: ${traffic.length} packets per "mixed traffic" iteration, ${
    decided.length * 100
  } per "decided flows" iteration`,
);
