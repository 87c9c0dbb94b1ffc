import { LsdDetector } from "./lsd.ts";
import type { Inspection } from "../detector.ts";
import { standaloneInspection } from "../../tests/helpers/inspection.ts";
import { bytesOf, randomBytes } from "../../tests/helpers/packets.ts";

const x = standaloneInspection();
x.packet.dstPort = 6771;
const detector = new LsdDetector();

const announcement = bytesOf(
  "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 61197\r\n" +
    "Infohash: ED4F1085E885F98F9A69B70EE89EB988B8FD9115\r\ncookie: 5a3f\r\n\r\n\r\n",
);
const ssdp = bytesOf(
  'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n' +
    "ST: ssdp:all\r\n\r\n",
);
const random = randomBytes(120, 3);

function on(payload: Uint8Array): Inspection {
  x.buf = payload;
  x.offset = 0;
  x.end = payload.length;
  x.wireLength = payload.length;
  return x;
}

Deno.bench("lsd: BT-SEARCH announcement (detected)", { group: "lsd", baseline: true }, () => {
  detector.inspect(on(announcement));
});

Deno.bench("lsd: SSDP M-SEARCH to port 6771 (rejected)", { group: "lsd" }, () => {
  detector.inspect(on(ssdp));
});

Deno.bench("lsd: random payload to port 6771 (rejected)", { group: "lsd" }, () => {
  detector.inspect(on(random));
});
