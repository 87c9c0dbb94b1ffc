import { HttpDetector, httpRequestReason } from "./http.ts";
import { Analyzer } from "../analyzer.ts";
import { ascii } from "../bytes.ts";
import { LinkType } from "../decode.ts";
import { concat, frame, randomBytes } from "../../tests/helpers/packets.ts";

const client = { ip: "192.168.1.128", port: 46882 };
const web = { ip: "176.31.225.118", port: 80 };
/** Offset of the TCP source port in an Ethernet + IPv4 frame. */
const SRC_PORT = 34;

const ANNOUNCE = ascii(
  "GET /announce?info_hash=%aa7i%c4S%0d%de%06%24%18s%da%d4%3a%b5%cc%ec%2c%e6%22" +
    "&peer_id=-TR2940-chho92c56pul&port=51413&uploaded=0&downloaded=0&left=282050560" +
    "&numwant=80&key=3b5502cc&compact=1&supportcrypto=1&requirecrypto=1&event=started " +
    "HTTP/1.1\r\nHost: tracker.trackerfix.com\r\nUser-Agent: Transmission/2.94\r\n" +
    "Accept: */*\r\nAccept-Encoding: gzip;q=1.0, deflate, identity\r\n\r\n",
);
const BROWSER = ascii(
  "GET /static/js/app.3f2a1c.js?v=20240101&lang=en HTTP/1.1\r\nHost: www.example.org\r\n" +
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:91.0) Gecko/20100101 Firefox/91.0\r\n" +
    "Accept: */*\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\n" +
    "Referer: https://www.example.org/\r\nRange: bytes=0-\r\nConnection: keep-alive\r\n\r\n",
);
const BINARY = randomBytes(1400, 5);

Deno.bench("httpRequestReason: tracker announce", { group: "request" }, () => {
  httpRequestReason(ANNOUNCE, 0, ANNOUNCE.length);
});

Deno.bench("httpRequestReason: browser GET with Range", { group: "request" }, () => {
  httpRequestReason(BROWSER, 0, BROWSER.length);
});

Deno.bench("httpRequestReason: 1400 binary bytes", { group: "request" }, () => {
  httpRequestReason(BINARY, 0, BINARY.length);
});

const cfg = { maxFlows: 65536 };

/** Plays one frame through `analyzer` in a new flow per round (the source port changes). */
function newFlowEachRound(analyzer: Analyzer, f: Uint8Array): () => void {
  let port = 1024;
  let time = 1_700_000_000;
  return () => {
    port = port === 65535 ? 1024 : port + 1;
    f[SRC_PORT] = port >> 8;
    f[SRC_PORT + 1] = port & 255;
    time += 0.000001;
    analyzer.analyze(LinkType.ETHERNET, f, 0, f.length, f.length, time);
  };
}

Deno.bench(
  "analyzer packet: announce in a new flow (decides)",
  { group: "analyzer", baseline: true },
  newFlowEachRound(
    new Analyzer(cfg, [new HttpDetector(cfg.maxFlows)]),
    frame({ l4: 6, src: client, dst: web, payload: ANNOUNCE }),
  ),
);

Deno.bench(
  "analyzer packet: browser GET in a new flow (no verdict)",
  { group: "analyzer" },
  newFlowEachRound(
    new Analyzer(cfg, [new HttpDetector(cfg.maxFlows)]),
    frame({ l4: 6, src: client, dst: web, payload: BROWSER }),
  ),
);

{
  const analyzer = new Analyzer(cfg, [new HttpDetector(cfg.maxFlows)]);
  const peers = randomBytes(50 * 6, 9);
  const body = concat("d8:intervali1800e5:peers300:", peers, "e");
  const response = concat("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", body);
  const request = frame({ l4: 6, src: client, dst: web, payload: ANNOUNCE });
  const reply = frame({ l4: 6, src: web, dst: client, payload: response });
  const frames = [request, reply];
  let time = 1_700_000_000;
  analyzer.analyze(LinkType.ETHERNET, request, 0, request.length, request.length, time);
  Deno.bench(
    "harvest: announce + 200 response with 50 peers (2 packets)",
    { group: "harvest" },
    () => {
      for (const f of frames) {
        time += 0.000001;
        analyzer.analyze(LinkType.ETHERNET, f, 0, f.length, f.length, time);
      }
    },
  );
}
