import assert from "node:assert/strict";
import { HttpDetector, httpRequestReason, isBitTorrentUserAgent, isClientPeerId } from "./http.ts";
import { Analyzer } from "../analyzer.ts";
import { parseAddress } from "../address.ts";
import { ascii } from "../bytes.ts";
import { LinkType } from "../decode.ts";
import { Reason } from "../reason.ts";
import { concat, converse, frame, type Step } from "../../tests/helpers/packets.ts";

const client = { ip: "192.168.1.128", port: 46882 };
const web = { ip: "176.31.225.118", port: 80 };
const NOW = 1_700_000_000;

const HASH = "%aa7i%c4S%0d%de%06%24%18s%da%d4%3a%b5%cc%ec%2c%e6%22";
const ANNOUNCE = `GET /announce?info_hash=${HASH}&peer_id=-TR2940-chho92c56pul&port=51413` +
  "&uploaded=0&downloaded=0&left=282050560&numwant=80&key=3b5502cc&compact=1" +
  "&supportcrypto=1&requirecrypto=1&event=started HTTP/1.1\r\n" +
  "Host: tracker.trackerfix.com\r\nUser-Agent: Transmission/2.94\r\nAccept: */*\r\n" +
  "Accept-Encoding: gzip;q=1.0, deflate, identity\r\n\r\n";

function reasonOf(request: string): number {
  const b = ascii(request);
  return httpRequestReason(b, 0, b.length);
}

function get(target: string, headers: string[] = []): string {
  return `GET ${target} HTTP/1.1\r\nHost: example.org\r\n${
    headers.map((h) => h + "\r\n").join("")
  }\r\n`;
}

function run(steps: Step[], server = web) {
  return converse(6, client, server, steps, {
    detectors: [new HttpDetector(1024)],
    config: { maxFlows: 1024 },
    tcpHandshake: true,
    startTime: NOW,
  });
}

function recall(analyzer: Analyzer, ip: string, port: number): number {
  const words = new Uint32Array(4);
  const version = parseAddress(ip, words);
  return analyzer.memory.recall(words, version, port, NOW + 1);
}

function compact(...peers: [number, number, number, number, number][]): Uint8Array {
  return concat(...peers.map(([a, b, c, d, port]) => [a, b, c, d, port >> 8, port & 255]));
}

function okHeaders(extra = ""): string {
  return `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n${extra}\r\n`;
}

Deno.test("isClientPeerId knows the Azureus, Mainline, Shadow and aria2 styles", () => {
  for (const id of ["-TR2940-", "-qB4250-", "-lt0D80-", "-UT3550-", "-AZ5760-", "-DE13F0-"]) {
    const b = ascii(id + "chho92c56pul");
    assert.equal(isClientPeerId(b, 0, b.length), true, id);
  }
  for (
    const id of [
      "M7-4-0--xxxxxxxxxxxx",
      "M4-20-8-xxxxxxxxxxxx",
      "S58B-----xxxxxxxxxxx",
      "A2-1-36-0-%C2QU%D1%27",
      "A2-1-9-10-xxxxxxxxxx",
    ]
  ) {
    const b = ascii(id);
    assert.equal(isClientPeerId(b, 0, b.length), true, id);
  }
  for (
    const id of [
      "-TR2940",
      "abcdefghijklmnopqrst",
      "-TR29%40-",
      "M7-4-0-x",
      "X58B-----",
      "S58B--x--",
      "A2-1-36-0x",
      "A2-1-36-",
      "A2-1-3600-0-",
      "A3-1-36-0-",
    ]
  ) {
    const b = ascii(id);
    assert.equal(isClientPeerId(b, 0, b.length), false, id);
  }
});

Deno.test("isBitTorrentUserAgent: client tokens with a version, nothing else", () => {
  for (
    const ua of [
      "Transmission/2.94",
      " qBittorrent/4.2.5",
      "libtorrent/1.2.5.0",
      "rtorrent/0.9.8/0.13.8",
      "uTorrent/3550(45356)",
      "BitTorrent/7100(255)",
      "Deluge 1.3.15",
      "Deluge/2.0.3 libtorrent/1.2.5.0",
      "Azureus 5.7.6.0;Windows 10;Java 1.8.0",
      "WebTorrent/1.9.7 (https://webtorrent.io)",
    ]
  ) {
    const b = ascii(ua);
    assert.equal(isBitTorrentUserAgent(b, 0, b.length), true, ua);
  }
  for (
    const ua of [
      "aria2/1.35.0",
      "BitComet/1.85",
      "Mozilla/5.0 (Transmission/2.94)",
      "BitTorrentSync/2.0",
      "Transmission/",
      "Transmission/x",
      "curl/7.68.0",
      "transmission/2.94",
    ]
  ) {
    const b = ascii(ua);
    assert.equal(isBitTorrentUserAgent(b, 0, b.length), false, ua);
  }
});

Deno.test("announces, scrapes and web seeds are recognised from the request alone", () => {
  assert.equal(reasonOf(ANNOUNCE), Reason.HTTP_TRACKER);
  const deluge = `GET /announce?info_hash=${HASH}&peer_id=%2dDE13F0-VnpZRF8ZP9iv&port=63448` +
    "&compact=1 HTTP/1.1\r\nHost: torrent.ubuntu.com:6969\r\nUser-Agent: Deluge 1.3.15\r\n\r\n";
  assert.equal(reasonOf(deluge), Reason.HTTP_TRACKER, "peer id of 20 bytes with a port");
  const proxied = ANNOUNCE.replace("GET /announce", "GET http://tracker.example:2710/announce");
  assert.equal(reasonOf(proxied), Reason.HTTP_TRACKER, "absolute form through a proxy");
  assert.equal(reasonOf(get(`/scrape?info_hash=${HASH}`)), Reason.HTTP_TRACKER);
  assert.equal(
    reasonOf(get(`/x/scrape.php?info_hash=${HASH}&info_hash=${HASH}`)),
    Reason.HTTP_TRACKER,
  );
  assert.equal(
    reasonOf(get(`/seed.php?info_hash=${HASH}&piece=12&ranges=0-16383`)),
    Reason.WEBSEED,
  );
  const fid = "0123456789abcdef0123456789ABCDEF01234567";
  assert.equal(reasonOf(get(`/data?fid=${fid}&size=735051776`)), Reason.WEBSEED);
  const notHex = fid.replace("cdef", "wxyz");
  assert.equal(reasonOf(get(`/data?fid=${notHex}&size=735051776`)), 0);
  assert.equal(reasonOf(get(`/data?fid=${fid}&size=`)), 0);
});

Deno.test("BEP 19 web seeds need a Range header and a BitTorrent client User-Agent", () => {
  const seed = get("/ubuntu-20.04-desktop-amd64.iso", [
    "User-Agent: qBittorrent/4.2.5",
    "Range: bytes=16384-32767",
  ]);
  assert.equal(reasonOf(seed), Reason.WEBSEED);
  const rss = get("/rss/feed.xml", ["User-Agent: Transmission/2.94"]);
  assert.equal(reasonOf(rss), Reason.BT_USER_AGENT);
  const items = get("/feed", ["User-Agent: Transmission/2.94", "Range: items=0-5"]);
  assert.equal(reasonOf(items), Reason.BT_USER_AGENT);
});

Deno.test("ordinary HTTP is not BitTorrent", () => {
  const browser = get("/video.mp4", [
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:91.0) Gecko/20100101 Firefox/91.0",
    "Range: bytes=0-",
  ]);
  assert.equal(reasonOf(browser), 0);
  const curl = get("/releases/big.tar.gz", ["User-Agent: curl/7.68.0", "Range: bytes=100-200"]);
  assert.equal(reasonOf(curl), 0);
  const aria2 = get("/file.iso", ["User-Agent: aria2/1.35.0", "Range: bytes=0-1048575"]);
  assert.equal(reasonOf(aria2), 0, "aria2 is also a plain download manager");
  const api = get("/api/v1/session?id=42&port=8080&peer_id=abc&token=x", ["User-Agent: okhttp/3"]);
  assert.equal(reasonOf(api), 0);
  const hexHash = get("/torrent/details?info_hash=0123456789abcdef0123456789abcdef01234567");
  assert.equal(reasonOf(hexHash), 0, "a 40-digit hex info hash is a web page's parameter");
  const noPeer = get(`/lookup?info_hash=${HASH}&port=6881`);
  assert.equal(reasonOf(noPeer), 0, "an info hash and a port without a peer id");
  const rpc = "POST /transmission/rpc HTTP/1.1\r\nHost: localhost:9091\r\n" +
    'User-Agent: Transmission/3.00\r\nContent-Type: application/json\r\n\r\n{"method":"torrent-get"}';
  assert.equal(reasonOf(rpc), 0, "a remote-control POST is not BitTorrent traffic");
  const post =
    `POST /announce?info_hash=${HASH}&peer_id=-TR2940-chho92c56pul&port=1 HTTP/1.1\r\n\r\n`;
  assert.equal(reasonOf(post), 0);
  assert.equal(
    reasonOf(`GET /announce?info_hash=${HASH}&peer_id=-TR2940-x&port=1 RTSP/1.0\r\n`),
    0,
  );
  assert.equal(reasonOf("HTTP/1.1 200 OK\r\nServer: Transmission/2.94\r\n\r\n"), 0);
  const badEscape = ANNOUNCE.replace("%aa7i", "%zz7i");
  assert.equal(reasonOf(badEscape), Reason.BT_USER_AGENT, "not an info hash, still the UA");
});

Deno.test("requests cut by the capture are judged on the bytes present", () => {
  const b = ascii(ANNOUNCE);
  const afterPeerId = ANNOUNCE.indexOf("chho92");
  assert.equal(httpRequestReason(b, 0, afterPeerId), Reason.HTTP_TRACKER, "client peer id");
  const beforePort = ANNOUNCE.indexOf("&port=");
  const plain = ascii(ANNOUNCE.replace("-TR2940-", "xTR2940x"));
  assert.equal(httpRequestReason(plain, 0, beforePort), 0, "no client prefix, no port yet");
  assert.equal(httpRequestReason(b, 0, ANNOUNCE.indexOf("%22")), 0, "cut inside info_hash");
  // aria2's announce as captured with a 256-byte snap length: `port=` comes after `key=`.
  const aria2 = ascii(
    `GET /announce?info_hash=${HASH}&peer_id=A2-1-36-0-%C2QU%D1%27%FB%F1%1C%85%C5` +
      "&uploaded=0&downloaded=0&left=33554432&compact=1&key=U%D1%27",
  );
  assert.equal(httpRequestReason(aria2, 0, aria2.length), Reason.HTTP_TRACKER, "aria2 prefix");
  const port = ascii(`GET /announce?info_hash=${HASH}&peer_id=abcdefghijklmnopqrst&port=6`);
  assert.equal(httpRequestReason(port, 0, port.length), 0, "the port may be cut short");
  const hashLast = ascii(`GET /announce?peer_id=-TR2940-chho92c56pul&port=1&info_hash=${HASH}`);
  assert.equal(httpRequestReason(hashLast, 0, hashLast.length - 3), 0, "info_hash cut at 19");
  const longer = ascii(`GET /announce?peer_id=-TR2940-chho92c56pul&port=1&info_hash=${HASH}x`);
  assert.equal(httpRequestReason(longer, 0, longer.length - 1), 0, "20 bytes so far, cut");
  for (let n = 0; n <= b.length; n++) httpRequestReason(b, 0, n); // never throws
});

Deno.test("an HTTP tracker on port 80 decides on the request", () => {
  const { detections } = run([
    { from: "a", payload: ANNOUNCE },
    { from: "b", payload: "HTTP/1.1 307 Temporary Redirect\r\nConnection: close\r\n\r\n" },
  ]);
  assert.equal(detections.length, 1);
  assert.equal(detections[0].reason, "http_tracker");
  assert.equal(detections[0].flow_packet, 4);
  assert.equal(detections[0].dest_port, 80);
});

Deno.test("compact peers in the header segment are learned", () => {
  const body = concat(
    "d8:completei5e10:incompletei3e8:intervali1800e5:peers12:",
    compact([198, 51, 100, 7, 51413], [203, 0, 113, 9, 6881]),
    "6:peers618:",
    [0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0x1a, 0xe2],
    "e",
  );
  const { analyzer } = run([
    { from: "a", payload: ANNOUNCE },
    { from: "b", payload: concat(okHeaders(`Content-Length: ${body.length}\r\n`), body) },
  ]);
  assert.equal(recall(analyzer, "198.51.100.7", 51413), Reason.TRACKER_PEER);
  assert.equal(recall(analyzer, "203.0.113.9", 6881), Reason.TRACKER_PEER);
  assert.equal(recall(analyzer, "2001:db8:2::5", 6882), Reason.TRACKER_PEER);
});

Deno.test("a body in the next segment, and a peer string spanning segments", () => {
  const peers = compact(
    [198, 51, 100, 1, 6881],
    [198, 51, 100, 2, 6882],
    [198, 51, 100, 3, 6883],
    [198, 51, 100, 4, 6884],
  );
  const body = concat("d8:intervali1800e5:peers24:", peers, "e");
  const split = body.length - 24 + 8; // the second entry straddles the two body segments
  const { analyzer } = run([
    { from: "a", payload: ANNOUNCE },
    { from: "b", payload: okHeaders() },
    { from: "b", payload: body.subarray(0, split) },
    { from: "b", payload: body.subarray(split) },
  ]);
  assert.equal(recall(analyzer, "198.51.100.1", 6881), Reason.TRACKER_PEER);
  assert.equal(recall(analyzer, "198.51.100.2", 6882), 0, "split between segments");
  assert.equal(recall(analyzer, "198.51.100.3", 6883), Reason.TRACKER_PEER);
  assert.equal(recall(analyzer, "198.51.100.4", 6884), Reason.TRACKER_PEER);
});

Deno.test("dictionary-form peer lists are learned", () => {
  const body = "d8:intervali1800e5:peersld2:ip12:198.51.100.77:peer id20:-TR2940-chho92c56pul" +
    "4:porti51413eed2:ip11:example.org4:porti6881eed2:ip7:1.2.3.44:porti0eeee";
  const { analyzer } = run([
    { from: "a", payload: ANNOUNCE },
    { from: "b", payload: okHeaders() + body },
  ]);
  assert.equal(recall(analyzer, "198.51.100.7", 51413), Reason.TRACKER_PEER);
  assert.equal(recall(analyzer, "1.2.3.4", 0), 0);
});

Deno.test("compressed, chunked, failed and unrelated responses teach nothing", () => {
  const body = concat("d5:peers6:", compact([198, 51, 100, 7, 51413]), "e");
  for (
    const headers of [
      okHeaders("Content-Encoding: gzip\r\n"),
      okHeaders("Transfer-Encoding: chunked\r\n"),
      "HTTP/1.1 404 Not Found\r\n\r\n",
    ]
  ) {
    const { analyzer } = run([
      { from: "a", payload: ANNOUNCE },
      { from: "b", payload: concat(headers, body) },
    ]);
    assert.equal(recall(analyzer, "198.51.100.7", 51413), 0, headers);
  }
  // Peers are learned only from flows decided as tracker flows.
  const { analyzer } = run([
    { from: "a", payload: get("/rss.xml", ["User-Agent: Transmission/2.94"]) },
    { from: "b", payload: concat(okHeaders(), body) },
  ]);
  assert.equal(recall(analyzer, "198.51.100.7", 51413), 0);
});

Deno.test("a new request on a kept-alive connection expects a new response", () => {
  const first = concat("d5:peers6:", compact([198, 51, 100, 7, 51413]), "e");
  const second = concat("d5:peers6:", compact([198, 51, 100, 8, 51414]), "e");
  const { analyzer } = run([
    { from: "a", payload: ANNOUNCE },
    { from: "b", payload: concat(okHeaders(), first) },
    { from: "a", payload: ANNOUNCE },
    { from: "b", payload: concat(okHeaders(), second) },
  ]);
  assert.equal(recall(analyzer, "198.51.100.7", 51413), Reason.TRACKER_PEER);
  assert.equal(recall(analyzer, "198.51.100.8", 51414), Reason.TRACKER_PEER);
});

Deno.test("truncated and lost segments: only bytes present and in order are read", () => {
  const analyzer = new Analyzer({ maxFlows: 1024 }, [new HttpDetector(1024)]);
  const server = { ip: "91.189.95.21", port: 6969 };
  let time = NOW;
  let clientSeq = 1000;
  let serverSeq = 9000;
  const send = (fromClient: boolean, payload: Uint8Array, cut = 0, skip = 0) => {
    if (!fromClient) serverSeq += skip;
    const f = frame({
      l4: 6,
      src: fromClient ? client : server,
      dst: fromClient ? server : client,
      payload,
      seq: fromClient ? clientSeq : serverSeq,
      ack: fromClient ? serverSeq : clientSeq,
    });
    if (fromClient) clientSeq += payload.length;
    else serverSeq += payload.length;
    time += 0.001;
    return analyzer.analyze(LinkType.ETHERNET, f, 0, f.length - cut, f.length, time);
  };
  assert.equal(send(true, ascii(ANNOUNCE), ANNOUNCE.length - 120), 1, "cut after the peer id");
  const peers = compact([198, 51, 100, 1, 6881], [198, 51, 100, 2, 6882], [198, 51, 100, 3, 6883]);
  const body = concat("d5:peers30:", peers, compact([198, 51, 100, 4, 6884]));
  // The capture keeps the first entry and half of the second; the wire segment holds three.
  send(false, concat(okHeaders(), body), body.length - 11 - 9);
  // The rest of the string arrives in order (entry 5), the capture kept it all.
  send(false, compact([198, 51, 100, 5, 6885]));
  assert.equal(recall(analyzer, "198.51.100.1", 6881), Reason.TRACKER_PEER);
  assert.equal(recall(analyzer, "198.51.100.2", 6882), 0);
  assert.equal(recall(analyzer, "198.51.100.3", 6883), 0);
  assert.equal(recall(analyzer, "198.51.100.5", 6885), Reason.TRACKER_PEER);
  // A continuation waits for the next in-order segment: a segment after a gap and a
  // retransmission are not read as peers; the missing segment, when it comes, is.
  send(true, ascii(ANNOUNCE));
  const headers = concat(okHeaders(), "d5:peers18:", compact([198, 51, 100, 6, 6886]));
  send(false, headers);
  const next = serverSeq;
  send(false, compact([198, 51, 100, 8, 6888]), 0, 6);
  serverSeq = next - headers.length;
  send(false, headers);
  serverSeq = next;
  send(false, compact([198, 51, 100, 7, 6887]));
  assert.equal(recall(analyzer, "198.51.100.6", 6886), Reason.TRACKER_PEER);
  assert.equal(recall(analyzer, "198.51.100.7", 6887), Reason.TRACKER_PEER);
  assert.equal(recall(analyzer, "198.51.100.8", 6888), 0, "after a gap: not followed");
});
