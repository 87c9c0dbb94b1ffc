import { isUdpTrackerConnect, UdpTrackerDetector } from "./udp_tracker.ts";
import { Analyzer } from "../analyzer.ts";
import { LinkType } from "../decode.ts";
import { concat, frame, randomBytes } from "../../tests/helpers/packets.ts";

const client = { ip: "192.168.0.102", port: 36360 };
const tracker = { ip: "94.23.183.33", port: 6969 };
/** Offset of the UDP source port in an Ethernet + IPv4 frame. */
const SRC_PORT = 34;

function be32(v: number): number[] {
  return [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
}

const connect = concat([0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80], be32(0), be32(0x69bc5c82));
const announce = concat(be32(7), be32(8), be32(1), be32(0x42), new Uint8Array(82));
const peers = randomBytes(50 * 6, 9);
const response = concat(be32(1), be32(0x42), be32(1800), be32(10), be32(40), peers);

/** Plays `frames` through `analyzer` in a new flow per round (the source port changes). */
function newFlowEachRound(analyzer: Analyzer, frames: Uint8Array[]): () => void {
  let port = 1024;
  let time = 1_700_000_000;
  return () => {
    port = port === 65535 ? 1024 : port + 1;
    for (const f of frames) {
      f[SRC_PORT] = port >> 8;
      f[SRC_PORT + 1] = port & 255;
      time += 0.000001;
      analyzer.analyze(LinkType.ETHERNET, f, 0, f.length, f.length, time);
    }
  };
}

Deno.bench("isUdpTrackerConnect on a connect request", { group: "predicate" }, () => {
  isUdpTrackerConnect(connect, 0, connect.length);
});

Deno.bench("isUdpTrackerConnect on 100 random bytes", { group: "predicate" }, () => {
  isUdpTrackerConnect(peers, 0, 100);
});

const cfg = { maxFlows: 65536 };

Deno.bench(
  "analyzer packet: connect request in a new flow (decides)",
  { group: "analyzer", baseline: true },
  newFlowEachRound(new Analyzer(cfg, [new UdpTrackerDetector(cfg.maxFlows)]), [
    frame({ l4: 17, src: client, dst: tracker, payload: connect }),
  ]),
);

Deno.bench(
  "analyzer packet: 100 random bytes in a new flow (no verdict)",
  { group: "analyzer" },
  newFlowEachRound(new Analyzer(cfg, [new UdpTrackerDetector(cfg.maxFlows)]), [
    frame({ l4: 17, src: client, dst: tracker, payload: randomBytes(100, 3) }),
  ]),
);

{
  const analyzer = new Analyzer(cfg, [new UdpTrackerDetector(cfg.maxFlows)]);
  const frames = [
    frame({ l4: 17, src: client, dst: tracker, payload: announce }),
    frame({ l4: 17, src: tracker, dst: client, payload: response }),
  ];
  const c = frame({ l4: 17, src: client, dst: tracker, payload: connect });
  analyzer.analyze(LinkType.ETHERNET, c, 0, c.length, c.length, 1_700_000_000);
  let time = 1_700_000_000;
  Deno.bench("harvest: announce + response with 50 peers (2 packets)", { group: "harvest" }, () => {
    for (const f of frames) {
      time += 0.000001;
      analyzer.analyze(LinkType.ETHERNET, f, 0, f.length, f.length, time);
    }
  });
}
