import assert from "node:assert/strict";
import { isLsdAnnouncement, LSD_PORT, LsdDetector } from "./lsd.ts";
import { Analyzer, Verdict } from "../analyzer.ts";
import { LinkType } from "../decode.ts";
import { Reason } from "../reason.ts";
import {
  bytesOf,
  converse,
  type Endpoint,
  frame,
  randomBytes,
} from "../../tests/helpers/packets.ts";

const HASH = "ED4F1085E885F98F9A69B70EE89EB988B8FD9115";
const HASH2 = "0123456789abcdef0123456789abcdef01234567";

/** The announcement captured in the corpus (µTorrent-style, IPv4). */
const CORPUS = "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 61197\r\n" +
  `Infohash: ${HASH}\r\n\r\n\r\n`;

function announcement(headers: string[], tail = "\r\n\r\n"): string {
  return "BT-SEARCH * HTTP/1.1\r\n" + headers.map((h) => h + "\r\n").join("") + tail;
}

const V4 = "Host: 239.192.152.143:6771";
const V6 = "Host: [ff15::efc0:988f]:6771";

function lsd(payload: string, cut = false): boolean {
  const b = bytesOf(payload);
  return isLsdAnnouncement(b, 0, b.length, cut);
}

const sender: Endpoint = { ip: "192.168.0.102", port: 6771 };
const group: Endpoint = { ip: "239.192.152.143", port: 6771 };

Deno.test("isLsdAnnouncement accepts the BEP 14 forms", () => {
  assert.ok(lsd(CORPUS));
  assert.ok(lsd(announcement([V4, "Port: 6881", `Infohash: ${HASH2}`])));
  assert.ok(lsd(announcement([V6, "Port: 1", `Infohash: ${HASH2}`], "\r\n")));
  assert.ok(lsd(announcement([V4, "Port: 65535", `Infohash: ${HASH}`, `Infohash: ${HASH2}`])));
  assert.ok(lsd(announcement([V4, "Port: 6881", `Infohash: ${HASH2}`, "cookie: 5a3f9e"])));
  // Header names are case-insensitive (libtorrent writes `cookie`); unknown headers are allowed.
  assert.ok(lsd(announcement(["HOST: [FF15::EFC0:988F]:6771", "port:6881", `INFOHASH: ${HASH}`])));
  assert.ok(lsd(announcement([V4, "Port: 6881", `Infohash: ${HASH}`, "X-Client: demo/1.0"])));
});

Deno.test("isLsdAnnouncement judges a cut datagram on its complete lines", () => {
  const full = announcement([V4, "Port: 6881", `Infohash: ${HASH}`, `Infohash: ${HASH2}`]);
  const cutInSecondHash = full.slice(0, full.indexOf(HASH2) + 10);
  assert.ok(lsd(cutInSecondHash, true));
  assert.equal(lsd(cutInSecondHash, false), false);
  const cutInFirstHash = full.slice(0, full.indexOf(HASH) + 10);
  assert.equal(lsd(cutInFirstHash, true), false); // no complete Infohash yet
  const cutBeforePort = full.slice(0, full.indexOf("Port"));
  assert.equal(lsd(cutBeforePort, true), false);
  assert.equal(lsd(CORPUS.slice(0, -3), false), false); // no empty line to end the headers
  assert.ok(lsd(CORPUS.slice(0, -3), true));
});

Deno.test("isLsdAnnouncement validates Host, Port and Infohash strictly", () => {
  const bad = [
    [V4, "Port: 0", `Infohash: ${HASH}`],
    [V4, "Port: 65536", `Infohash: ${HASH}`],
    [V4, "Port: 06881", `Infohash: ${HASH}`],
    [V4, "Port: 688l", `Infohash: ${HASH}`],
    [V4, "Port: ", `Infohash: ${HASH}`],
    [V4, "Port: 6881 ", `Infohash: ${HASH}`],
    [V4, "Port: 123456", `Infohash: ${HASH}`],
    [V4, "Port: 6881", "Port: 6882", `Infohash: ${HASH}`], // two ports
    [V4, "Port: 6881", `Infohash: ${HASH.slice(1)}`], // 39 digits
    [V4, "Port: 6881", `Infohash: ${HASH}0`], // 41 digits
    [V4, "Port: 6881", `Infohash: ${HASH.slice(1)}g`], // not hex
    [V4, "Port: 6881", `Infohash: ${HASH.slice(1)}\x10`],
    [V4, "Port: 6881", "Infohash: "],
    [V4, "Port: 6881"], // no infohash
    ["Port: 6881", `Infohash: ${HASH}`], // no host
    [V4, `Infohash: ${HASH}`], // no port
    ["Host: 239.192.152.143:6772", "Port: 6881", `Infohash: ${HASH}`],
    ["Host: 239.255.255.250:1900", "Port: 6881", `Infohash: ${HASH}`],
    ["Host: 239.192.152.143", "Port: 6881", `Infohash: ${HASH}`],
    ["Host: [ff15::efc0:988f]:1900", "Port: 6881", `Infohash: ${HASH}`],
    [V4, V6, "Port: 6881", `Infohash: ${HASH}`], // two hosts
    [V4, "Port: 6881", `Infohash: ${HASH}`, "cookie: "], // empty cookie
    [V4, "Port: 6881", `Infohash: ${HASH}`, "Bad Header: x"], // not a header line
    [V4, "Port: 6881", `Infohash: ${HASH}`, "no colon"],
    [V4, "Port: 6881", `Infohash: ${HASH}`, "X-Bin: \x01"],
  ];
  for (const headers of bad) assert.equal(lsd(announcement(headers)), false, headers.join("|"));
});

Deno.test("isLsdAnnouncement rejects other HTTP-over-UDP and trailing bytes", () => {
  const others = [
    'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n' +
    "MX: 1\r\nST: ssdp:all\r\n\r\n",
    "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\n\r\n",
    "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\n\r\n",
    CORPUS.replace("BT-SEARCH", "bt-search"),
    CORPUS.replace("HTTP/1.1", "HTTP/1.0"),
    CORPUS.replaceAll("\r\n", "\n"),
    CORPUS + "x", // bytes after the headers
    CORPUS.replace("\r\n\r\n\r\n", "\r\n\r\nPort: 1\r\n"),
    "BT-SEARCH * HTTP/1.1\r\n",
    "",
  ];
  for (const o of others) assert.equal(lsd(o), false, o);
  assert.equal(isLsdAnnouncement(randomBytes(200, 3), 0, 200, true), false);
});

Deno.test("LSD multicast announcement is detected on its first packet", () => {
  const { detections } = converse(17, sender, group, [{ from: "a", payload: CORPUS }], {
    detectors: [new LsdDetector()],
    config: { maxFlows: 1024 },
  });
  assert.equal(detections.length, 1);
  assert.equal(detections[0].reason, "lsd");
  assert.equal(detections[0].flow_packet, 1);
  assert.equal(detections[0].dest_port, LSD_PORT);
});

Deno.test("LSD over IPv6 is detected", () => {
  const payload = announcement([V6, "Port: 51413", `Infohash: ${HASH2}`, "cookie: abc"]);
  const { detections } = converse(
    17,
    { ip: "fe80::1", port: 6771 },
    { ip: "ff15::efc0:988f", port: 6771 },
    [{ from: "a", payload }],
    { detectors: [new LsdDetector()], config: { maxFlows: 1024 } },
  );
  assert.equal(detections.length, 1);
  assert.equal(detections[0].dest_ip, "ff15::efc0:988f");
});

Deno.test("an announcement to another port than 6771 is not LSD", () => {
  const { detections } = converse(17, sender, { ip: "239.192.152.143", port: 1900 }, [
    { from: "a", payload: CORPUS },
  ], { detectors: [new LsdDetector()], config: { maxFlows: 1024 } });
  assert.equal(detections.length, 0);
});

Deno.test("a snap-truncated announcement is judged on the bytes present", () => {
  const payload = bytesOf(announcement([V4, "Port: 6881", `Infohash: ${HASH}`, "cookie: 1"]));
  const f = frame({ l4: 17, src: sender, dst: group, payload });
  const analyzer = new Analyzer({ maxFlows: 1024 }, [new LsdDetector()]);
  const captured = f.length - 8; // cut inside the cookie line
  const v = analyzer.analyze(LinkType.ETHERNET, f, 0, captured, f.length, 1_700_000_000);
  assert.equal(v, Verdict.DETECTION);
  assert.equal(analyzer.detection.reason, Reason.LSD);
  // The same bytes as a whole datagram lack the end of the headers.
  const { detections } = converse(17, sender, group, [
    { from: "a", payload: payload.subarray(0, payload.length - 8) },
  ], { detectors: [new LsdDetector()], config: { maxFlows: 1024 } });
  assert.equal(detections.length, 0);
});

Deno.test("SSDP discovery to 239.255.255.250:1900 is not LSD", () => {
  const ssdp = "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n" +
    'MAN: "ssdp:discover"\r\nMX: 1\r\nST: urn:dial-multiscreen-org:service:dial:1\r\n\r\n';
  const { detections } = converse(
    17,
    { ip: "192.168.1.20", port: 6771 },
    {
      ip: "239.255.255.250",
      port: 6771,
    },
    [{ from: "a", payload: ssdp }],
    {
      detectors: [new LsdDetector()],
      config: { maxFlows: 1024 },
    },
  );
  assert.equal(detections.length, 0);
});
