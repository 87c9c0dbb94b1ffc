import assert from "node:assert/strict";
import { parseAddress } from "../address.ts";
import { Analyzer } from "../analyzer.ts";
import { FlowState } from "../flow_table.ts";
import { Reason } from "../reason.ts";
import { bytesOf, concat, converse, randomBytes } from "../../tests/helpers/packets.ts";
import {
  isDtlsRecord,
  isFramedStun,
  isOtherTcpProtocol,
  isOtherUdpProtocol,
  isQuicWithVersion,
  isRtsp,
  isSip,
  isSmb,
  isSshBanner,
  isStun,
  isTlsRecord,
  isTpktConnection,
  isWireGuard,
  OtherProtocolsDetector,
} from "./other_protocols.ts";

/** Whole-buffer form of a `(buf, off, end)` predicate, at a non-zero offset to catch off-by-ones. */
function at(
  predicate: (buf: Uint8Array, off: number, end: number) => boolean,
  bytes: Uint8Array | string | number[],
): boolean {
  const b = concat([0xee, 0xee, 0xee], Array.isArray(bytes) ? bytes : bytesOf(bytes));
  return predicate(b, 3, b.length);
}

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g)!.map((h) => parseInt(h, 16)));
}

// BitTorrent payloads that no negative signature may claim.
const BT_HANDSHAKE = concat([19], "BitTorrent protocol", new Uint8Array(8), randomBytes(40, 9));
const BT_MESSAGES = concat([0, 0, 0, 5, 4, 0, 0, 0, 7], [0, 0, 0, 13, 6], new Uint8Array(12));
const HTTP_ANNOUNCE = "GET /announce?info_hash=%124Vx%9a%bc%de%f0%124Vx%9a%bc%de%f0%124Vx&" +
  "peer_id=-TR3000-abcdefghijkl&port=51413 HTTP/1.1\r\nHost: tracker.example\r\n\r\n";
const HTTP_RESPONSE =
  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nd8:intervali1800e5:peers0:e";
const WEBSEED = "GET /files/ubuntu.iso HTTP/1.1\r\nRange: bytes=0-16383\r\n\r\n";
const LSD = "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n" +
  "Infohash: 0123456789abcdef0123456789abcdef01234567\r\n\r\n";
const KRPC = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
const UTP_SYN = hex("4100a1b2" + "0001e240" + "00000000" + "00100000" + "00010000");
const UTP_DATA = concat(hex("0100a1b3" + "0001e241" + "00000010" + "00100000" + "00020001"), [
  0,
  0,
  0,
  5,
  4,
]);
const UDP_TRACKER_CONNECT = hex("0000041727101980" + "00000000" + "12345678");
const UDP_TRACKER_ANNOUNCE_REPLY = hex(
  "00000001" + "12345678" + "00000708" + "00000002" + "00000005",
);

Deno.test("TLS records: hellos, mid-stream records and chained records", () => {
  assert.ok(at(isTlsRecord, concat([0x16, 3, 1, 2, 0, 1, 0, 1, 0xfc, 3, 3], randomBytes(32))));
  assert.ok(at(isTlsRecord, concat([0x16, 3, 3, 0, 0x5a, 2, 0, 0, 0x56, 3, 3], randomBytes(40))));
  assert.ok(at(isTlsRecord, concat([0x17, 3, 3, 0, 0x20], randomBytes(0x20))));
  assert.ok(at(isTlsRecord, [0x15, 3, 1, 0, 2, 2, 40]));
  // ServerHello then ChangeCipherSpec in one segment.
  const chained = concat([0x16, 3, 3, 0, 4, 2, 0, 0, 0], [0x14, 3, 3, 0, 1, 1]);
  assert.ok(at(isTlsRecord, chained));
  const badChain = concat([0x16, 3, 3, 0, 4, 2, 0, 0, 0], [0x99, 3, 3, 0, 1, 1]);
  assert.equal(at(isTlsRecord, badChain), false);
  const otherVersion = concat([0x16, 3, 3, 0, 4, 2, 0, 0, 0], [0x14, 3, 1, 0, 1, 1]);
  assert.equal(at(isTlsRecord, otherVersion), false);
  assert.equal(at(isTlsRecord, [0x16, 3, 5, 0, 4, 1, 0, 0, 0]), false); // no TLS 3.5
  assert.equal(at(isTlsRecord, [0x16, 3, 1, 0, 0]), false); // empty record
  assert.equal(at(isTlsRecord, [0x17, 3, 3, 0x48, 1]), false); // longer than any record
  assert.equal(at(isTlsRecord, [0x19, 3, 3, 0, 1, 0]), false); // no content type 25
  assert.equal(at(isTlsRecord, [0x16, 3, 1, 2]), false); // header cut short
});

Deno.test("SSH banners", () => {
  assert.ok(at(isSshBanner, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"));
  assert.ok(at(isSshBanner, "SSH-1.99-Cisco-1.25\r\n"));
  assert.ok(at(isSshBanner, "SSH-1.5-dropbear\r\n"));
  assert.equal(at(isSshBanner, "SSH-3.0-future\r\n"), false);
  assert.equal(at(isSshBanner, "ssh-2.0-lower\r\n"), false);
  assert.equal(at(isSshBanner, "SSH-2.0"), false);
});

Deno.test("TPKT/X.224 connection requests and confirms (RDP, S7, MMS)", () => {
  const rdpRequest = hex(
    "0300002722e00000000000436f6f6b69653a206d737473686173683d41646d696e697374720d0a",
  );
  assert.ok(at(isTpktConnection, rdpRequest));
  assert.ok(at(isTpktConnection, hex("0300000b06d00000123400")));
  assert.equal(at(isTpktConnection, hex("0300002721e00000000000")), false); // wrong LI
  assert.equal(at(isTpktConnection, hex("0300000b06f00000123400")), false); // data TPDU
  assert.equal(at(isTpktConnection, hex("0301000b06e00000123400")), false);
});

Deno.test("SMB over NetBIOS session service and direct TCP", () => {
  const smb2 = hex("00000178fe534d4240000100000000000500000100000000980000009c0f0000");
  assert.ok(at(isSmb, smb2));
  assert.ok(at(isSmb, hex("00000055ff534d4272000000001843c8")));
  assert.ok(at(isSmb, hex("00010010fd534d42"))); // length extension bit, SMB3 transform
  const request = concat(
    [0x81, 0, 0, 0x44, 0x20],
    "CKFDENECFDEFFCFGEFFCCACACACACACA",
    [0, 0x20],
    "EMEJENEDEFCACACACACACACACACACAAA",
    [0],
  );
  assert.ok(at(isSmb, request));
  const badName = concat([0x81, 0, 0, 0x44, 0x20], "CKFDENECFDEFFCFGEFFCCACACACACACz");
  assert.equal(at(isSmb, badName), false);
  assert.equal(at(isSmb, hex("00000010fe534d42")), false); // shorter than an SMB header
  assert.equal(at(isSmb, hex("00000078fe534d43")), false);
  assert.equal(at(isSmb, BT_MESSAGES), false);
});

Deno.test("STUN messages, bare and RFC 4571 framed", () => {
  const binding = hex("000100002112a442" + "704b6e453952586746596c59");
  assert.ok(at(isStun, binding));
  const allocate = hex("000300082112a442704b6e453952586746596c590019000411000000");
  assert.ok(at(isStun, allocate));
  assert.ok(at(isFramedStun, concat([0, 28], allocate)));
  assert.equal(at(isFramedStun, concat([0, 29], allocate, [0])), false); // frame ≠ message
  assert.equal(at(isStun, hex("000100002112a443704b6e453952586746596c59")), false); // cookie
  assert.equal(at(isStun, hex("000100062112a442704b6e453952586746596c59000000")), false);
  assert.equal(at(isStun, hex("000100082112a442704b6e453952586746596c59")), false); // too long
  assert.equal(at(isStun, hex("c00100002112a442704b6e453952586746596c59")), false);
});

Deno.test("DTLS records", () => {
  const hello = concat([22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x30], randomBytes(0x30));
  assert.ok(at(isDtlsRecord, hello));
  assert.ok(at(isDtlsRecord, concat([23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 4], [1, 2, 3, 4])));
  assert.equal(at(isDtlsRecord, concat([22, 0xfe, 0xfe], new Uint8Array(9), [0, 1], [1])), false);
  assert.equal(at(isDtlsRecord, concat([26, 0xfe, 0xfd], new Uint8Array(9), [0, 1], [1])), false);
  assert.equal(at(isDtlsRecord, concat([22, 0xfe, 0xfd], new Uint8Array(9), [0, 0], [1])), false);
  assert.equal(at(isDtlsRecord, concat([22, 0xfe, 0xfd], new Uint8Array(9), [0, 9], [1])), false);
});

Deno.test("QUIC packets naming a known version", () => {
  const cid = [8, 1, 2, 3, 4, 5, 6, 7, 8, 0];
  assert.ok(at(isQuicWithVersion, concat([0xc3, 0, 0, 0, 1], cid)));
  assert.ok(at(isQuicWithVersion, concat([0x83, 0, 0, 0, 1], cid))); // greased fixed bit
  assert.ok(at(isQuicWithVersion, concat([0xd1, 0x6b, 0x33, 0x43, 0xcf], cid))); // v2
  assert.ok(at(isQuicWithVersion, concat([0xef, 0xff, 0, 0, 0x1d], cid))); // draft-29
  assert.ok(at(isQuicWithVersion, concat([0xe3, 0xfa, 0xce, 0xb0, 2], cid))); // mvfst
  assert.ok(at(isQuicWithVersion, concat([0xc3], "Q046", cid)));
  assert.ok(at(isQuicWithVersion, concat([0x0d], randomBytes(8), "Q035", [1, 0x3b]))); // gQUIC
  // A LAN discovery broadcast whose bytes 1–4 read 0xff0000a0: no such QUIC draft.
  assert.equal(at(isQuicWithVersion, hex("ffff0000a0005cd998ddf5f3c0a80a6e00000200")), false);
  assert.equal(at(isQuicWithVersion, concat([0xc3, 0x12, 0x34, 0x56, 0x78], cid)), false);
  assert.equal(at(isQuicWithVersion, concat([0x43], randomBytes(20))), false); // short header
  assert.equal(at(isQuicWithVersion, concat([0x0f], randomBytes(8), "Q035", [1, 2])), false);
  assert.equal(at(isQuicWithVersion, concat([0x0d], randomBytes(8), "X035", [1, 2])), false);
});

Deno.test("WireGuard messages by type, reserved bytes and size", () => {
  const msg = (type: number, size: number, reserved = 0) => {
    const b = randomBytes(size, size);
    b.set([type, reserved, 0, 0]);
    return b;
  };
  const wg = (b: Uint8Array, wire = b.length) => isWireGuard(b, 0, b.length, wire);
  assert.ok(wg(msg(1, 148)));
  assert.ok(wg(msg(2, 92)));
  assert.ok(wg(msg(3, 64)));
  assert.ok(wg(msg(4, 32)));
  assert.ok(wg(msg(4, 1440)));
  assert.ok(wg(msg(4, 1440).subarray(0, 200), 1440)); // truncated capture: wire size counts
  assert.equal(wg(msg(1, 149)), false);
  assert.equal(wg(msg(4, 1441)), false);
  assert.equal(wg(msg(4, 16)), false);
  assert.equal(wg(msg(5, 64)), false);
  assert.equal(wg(msg(1, 148, 0x3a)), false); // Cloudflare WARP reuses the reserved bytes
});

Deno.test("SIP and RTSP start lines", () => {
  assert.ok(at(isSip, "REGISTER sip:sip.cybercity.dk SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.2\r\n"));
  assert.ok(at(isSip, "INVITE sips:alice@example.org SIP/2.0\r\n"));
  assert.ok(at(isSip, "MESSAGE tel:+15551234567 SIP/2.0\r\n"));
  assert.ok(at(isSip, "SIP/2.0 180 Ringing\r\n"));
  assert.equal(at(isSip, "NOTIFY * HTTP/1.1\r\nHost: 239.255.255.250:1900\r\n"), false); // SSDP
  assert.equal(at(isSip, "OPTIONS * HTTP/1.1\r\n"), false);
  assert.equal(at(isSip, "SIP/2.0 2x0 Odd\r\n"), false);
  assert.ok(at(isRtsp, "OPTIONS rtsp://192.168.1.10:554/live RTSP/1.0\r\nCSeq: 1\r\n"));
  assert.ok(at(isRtsp, "GET_PARAMETER rtsp://cam/stream RTSP/1.0\r\n"));
  assert.ok(at(isRtsp, "RTSP/1.0 200 OK\r\nCSeq: 1\r\n"));
  assert.equal(at(isRtsp, "OPTIONS http://example.org/ HTTP/1.1\r\n"), false);
  assert.equal(at(isRtsp, "RTSP/1.0 20"), false);
});

Deno.test("no BitTorrent payload matches a negative signature", () => {
  const tcp = [BT_HANDSHAKE, BT_MESSAGES, HTTP_ANNOUNCE, HTTP_RESPONSE, WEBSEED].map(bytesOf);
  for (const b of tcp) assert.equal(isOtherTcpProtocol(b, 0, b.length), false);
  const udp = [LSD, KRPC, UTP_SYN, UTP_DATA, UDP_TRACKER_CONNECT, UDP_TRACKER_ANNOUNCE_REPLY];
  for (const p of udp) {
    const b = bytesOf(p);
    assert.equal(isOtherUdpProtocol(b, 0, b.length, b.length), false);
  }
  // MSE: every byte random.
  for (let seed = 1; seed <= 5000; seed++) {
    const b = randomBytes(96 + (seed % 513), seed * 2654435761);
    assert.equal(isOtherTcpProtocol(b, 0, b.length), false, `seed ${seed}`);
  }
});

const client = { ip: "192.168.1.20", port: 50123 };
const server = { ip: "198.51.100.1", port: 8443 };

function otherFlows(analyzer: Analyzer): number {
  return analyzer.flows.state.filter((s) => s === FlowState.OTHER).length;
}

Deno.test("a TLS flow to an endpoint remembered as BitTorrent is not flagged", () => {
  const address = new Uint32Array(4);
  parseAddress(server.ip, address);
  const tls = [
    {
      from: "a" as const,
      payload: concat([0x16, 3, 1, 0, 0x80, 1, 0, 0, 0x7c, 3, 3], randomBytes(60)),
    },
    {
      from: "b" as const,
      payload: concat([0x16, 3, 3, 0, 0x5a, 2, 0, 0, 0x56, 3, 3], randomBytes(80)),
    },
  ];
  const run = (detectors: OtherProtocolsDetector[]) => {
    const analyzer = new Analyzer({ maxFlows: 16 }, detectors);
    analyzer.memory.remember(address, 4, server.port, Reason.TRACKER_PEER, 1_700_000_000);
    return converse(6, client, server, tls, { tcpHandshake: true, analyzer });
  };
  // Without the negative signature, a poisoned peer list would cut this connection.
  assert.equal(run([]).detections[0].reason, "tracker_peer");
  const { detections, analyzer } = run([new OtherProtocolsDetector()]);
  assert.equal(detections.length, 0);
  assert.equal(otherFlows(analyzer), 1);
});

Deno.test("UDP signatures end inspection; BitTorrent UDP keeps being inspected", () => {
  const quic = concat([0xc3, 0, 0, 0, 1, 8], randomBytes(1194));
  const wg = randomBytes(148, 4);
  wg.set([1, 0, 0, 0]);
  for (const payload of [quic, wg, hex("000100002112a442704b6e453952586746596c59")]) {
    const { analyzer } = converse(17, client, server, [{ from: "a", payload }], {
      detectors: [new OtherProtocolsDetector()],
      config: { maxFlows: 16 },
    });
    assert.equal(otherFlows(analyzer), 1);
  }
  const { analyzer } = converse(17, client, server, [
    { from: "a", payload: UTP_SYN },
    { from: "b", payload: KRPC },
  ], { detectors: [new OtherProtocolsDetector()], config: { maxFlows: 16 } });
  assert.equal(otherFlows(analyzer), 0);
});

Deno.test("only the first payload of each direction is judged", () => {
  const banner = "SSH-2.0-OpenSSH_9.2\r\n";
  const late = converse(6, client, server, [
    { from: "a", payload: BT_HANDSHAKE },
    { from: "a", payload: banner },
  ], { tcpHandshake: true, detectors: [new OtherProtocolsDetector()], config: { maxFlows: 16 } });
  assert.equal(otherFlows(late.analyzer), 0);
  const responder = converse(6, client, server, [
    { from: "a", payload: randomBytes(10) },
    { from: "b", payload: banner },
  ], { tcpHandshake: true, detectors: [new OtherProtocolsDetector()], config: { maxFlows: 16 } });
  assert.equal(otherFlows(responder.analyzer), 1);
});

Deno.test("TCP and UDP signatures stay on their transport", () => {
  const wg = randomBytes(148, 4);
  wg.set([1, 0, 0, 0]);
  const overTcp = converse(6, client, server, [{ from: "a", payload: wg }], {
    tcpHandshake: true,
    detectors: [new OtherProtocolsDetector()],
    config: { maxFlows: 16 },
  });
  assert.equal(otherFlows(overTcp.analyzer), 0);
  const ssh = "SSH-2.0-OpenSSH_9.2\r\n";
  const overUdp = converse(17, client, server, [{ from: "a", payload: ssh }], {
    detectors: [new OtherProtocolsDetector()],
    config: { maxFlows: 16 },
  });
  assert.equal(otherFlows(overUdp.analyzer), 0);
});
