import { Analyzer } from "../analyzer.ts";
import { decodePacket, LinkType } from "../decode.ts";
import type { Inspection } from "../detector.ts";
import { PeerWireDetector } from "./peer_wire.ts";
import { standaloneInspection } from "../../tests/helpers/inspection.ts";
import { concat, converse, frame, randomBytes } from "../../tests/helpers/packets.ts";

const a = { ip: "192.168.1.3", port: 52915 };
const b = { ip: "198.51.100.9", port: 60163 };

function be32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

const handshake = concat(
  "\x13BitTorrent protocol",
  [0, 0, 0, 0, 0, 0x10, 0, 5],
  randomBytes(40, 3),
  be32(3),
  [9, 0x1a, 0xe1], // PORT
);
const requests = concat(
  ...Array.from(
    { length: 8 },
    (_, i) => concat(be32(13), [6], be32(17), be32(i * 0x4000), be32(0x4000)),
  ),
);
const bulk = randomBytes(1448, 5);
const peers = randomBytes(50 * 6, 6);
const pexDict = concat(`d5:added${peers.length}:`, peers, "7:dropped0:e");
const pex = concat(be32(2 + pexDict.length), [20, 1], pexDict);

/** A reusable inspection context holding one decoded segment from `a` to `b`. */
function inspection(payload: Uint8Array): Inspection {
  const x = standaloneInspection();
  const { packet, flows } = x;
  const f = frame({ l4: 6, src: a, dst: b, payload, seq: 1000, ack: 1 });
  decodePacket(LinkType.ETHERNET, f, 0, f.length, packet);
  x.slot = flows.lookup(packet, 0);
  x.direction = flows.direction;
  x.directionPayloadIndex = 1;
  x.payloadIndex = 1;
  x.buf = packet.buf;
  x.offset = packet.payloadOffset;
  x.end = packet.payloadOffset + packet.payloadLength;
  x.wireLength = packet.payloadWireLength;
  return x;
}

const detector = new PeerWireDetector(1024);

function benchInspect(name: string, payload: Uint8Array): void {
  const x = inspection(payload);
  Deno.bench(`peer wire inspect: ${name}`, { group: "inspect" }, () => {
    detector.reset(x.slot);
    detector.inspect(x);
  });
}

benchInspect("handshake + PORT at stream start", handshake);
benchInspect("8 requests mid-flow", requests);
benchInspect("1448 random bytes mid-flow", bulk);

function benchHarvest(name: string, payload: Uint8Array): void {
  const x = inspection(payload);
  Deno.bench(`peer wire harvest: ${name}`, { group: "harvest" }, () => {
    detector.harvest(x);
  });
}

benchHarvest("1448 bytes of piece data", bulk);
benchHarvest("PEX with 50 peers", pex);

// End to end: data packets of a flow decided by its handshake (decode, flow table, harvest).
const analyzer = new Analyzer({ maxFlows: 1024 }, [new PeerWireDetector(1024)]);
converse(6, a, b, [{ from: "a", payload: handshake }], { analyzer, tcpHandshake: true });
const data = frame({ l4: 6, src: b, dst: a, payload: bulk, seq: 500001, ack: 1069 });
let time = 1_700_000_001;
Deno.bench("analyzer: data packet of a decided peer wire flow", { group: "analyzer" }, () => {
  analyzer.analyze(LinkType.ETHERNET, data, 0, data.length, data.length, time += 1e-6);
});
