import { DhtDetector } from "./dht.ts";
import type { Inspection } from "../detector.ts";
import { standaloneInspection } from "../../tests/helpers/inspection.ts";
import { concat, randomBytes } from "../../tests/helpers/packets.ts";

const x = standaloneInspection();
const detector = new DhtDetector(x.config.maxFlows);

const id = randomBytes(20, 1);
const getPeers = concat(
  "d1:ad2:id20:",
  id,
  "9:info_hash20:",
  randomBytes(20, 2),
  "e1:q9:get_peers1:t4:",
  [1, 2, 3, 4],
  "1:v4:UT\x8f\x7a1:y1:qe",
);
const nodes = new Uint8Array(8 * 26);
for (let i = 0; i < 8; i++) nodes.set([198, 51, 100, i + 1, 0x1a, 0xe1], i * 26 + 20);
const nodesResponse = concat(
  "d2:ip6:",
  [192, 0, 2, 1, 0x1a, 0xe1],
  "1:rd2:id20:",
  id,
  "5:nodes208:",
  nodes,
  "5:token8:abcdefgh6:valuesl6:",
  [198, 51, 100, 50, 0x1a, 0xe1],
  "6:",
  [198, 51, 100, 51, 0x1a, 0xe1],
  "ee1:t4:",
  [1, 2, 3, 4],
  "1:y1:re",
);
const random = randomBytes(120, 3);
const dText = concat("dldata.load_skins_idx_ok,env=production,circuit=production");

function on(payload: Uint8Array, direction: number): Inspection {
  x.buf = payload;
  x.offset = 0;
  x.end = payload.length;
  x.wireLength = payload.length;
  x.slot = 7;
  x.direction = direction;
  x.now = 1_700_000_000;
  return x;
}

Deno.bench("dht: get_peers query (inspect, decides)", { group: "dht", baseline: true }, () => {
  detector.inspect(on(getPeers, 0));
});

Deno.bench(
  "dht: response with 8 nodes + 2 values (harvest, answers, learns)",
  { group: "dht" },
  () => {
    detector.harvest(on(nodesResponse, 1));
  },
);

Deno.bench("dht: random UDP payload (inspect, rejected)", { group: "dht" }, () => {
  detector.inspect(on(random, 0));
});

Deno.bench("dht: 'd'-prefixed text (inspect, rejected)", { group: "dht" }, () => {
  detector.inspect(on(dText, 0));
});
