import { Analyzer } from "../analyzer.ts";
import { LinkType } from "../decode.ts";
import type { Detector } from "../detector.ts";
import { concat, frame, randomBytes } from "../../tests/helpers/packets.ts";
import {
  isOtherTcpProtocol,
  isOtherUdpProtocol,
  OtherProtocolsDetector,
} from "./other_protocols.ts";

// Payloads that match nothing make every predicate run: the detector's worst case.
const MSE_A1 = randomBytes(400, 1);
const TLS_HELLO = concat([0x16, 3, 1, 2, 0, 1, 0, 1, 0xfc, 3, 3], randomBytes(506, 2));
const UTP_DATA = concat([0x01, 0, 0xa1, 0xb3], randomBytes(16, 3), [0, 0, 0, 5, 4, 0, 0, 0, 7]);
const QUIC_INITIAL = concat([0xc3, 0, 0, 0, 1, 8], randomBytes(1194, 4));

Deno.bench({
  name: "isOtherTcpProtocol, random (no match)",
  group: "tcp",
  baseline: true,
  fn: () => void isOtherTcpProtocol(MSE_A1, 0, MSE_A1.length),
});
Deno.bench({
  name: "isOtherTcpProtocol, TLS ClientHello",
  group: "tcp",
  fn: () => void isOtherTcpProtocol(TLS_HELLO, 0, TLS_HELLO.length),
});
Deno.bench({
  name: "isOtherUdpProtocol, uTP data (no match)",
  group: "udp",
  baseline: true,
  fn: () => void isOtherUdpProtocol(UTP_DATA, 0, UTP_DATA.length, UTP_DATA.length),
});
Deno.bench({
  name: "isOtherUdpProtocol, QUIC Initial",
  group: "udp",
  fn: () => void isOtherUdpProtocol(QUIC_INITIAL, 0, QUIC_INITIAL.length, QUIC_INITIAL.length),
});

/**
 * A one-datagram UDP flow, replayed as a new flow (new source port) on each call; the flow table
 * is small enough to forget a flow long before its port comes round again.
 */
function player(detectors: Detector[], payload: Uint8Array): () => void {
  const analyzer = new Analyzer({ maxFlows: 4096 }, detectors);
  const f = frame({
    l4: 17,
    src: { ip: "192.168.1.20", port: 1024 },
    dst: { ip: "198.51.100.7", port: 6881 },
    payload,
  });
  let port = 1024;
  let time = 1_700_000_000;
  return () => {
    port = port === 65535 ? 1024 : port + 1;
    f[34] = port >> 8; // UDP source port (Ethernet 14 + IPv4 20)
    f[35] = port & 0xff;
    time += 0.0001;
    analyzer.analyze(LinkType.ETHERNET, f, 0, f.length, f.length, time);
  };
}

Deno.bench({
  name: "analyze uTP datagram, no detector",
  group: "analyze",
  baseline: true,
  fn: player([], UTP_DATA),
});
Deno.bench({
  name: "analyze uTP datagram, OtherProtocolsDetector",
  group: "analyze",
  fn: player([new OtherProtocolsDetector()], UTP_DATA),
});
Deno.bench({
  name: "analyze QUIC Initial, OtherProtocolsDetector",
  group: "analyze",
  fn: player([new OtherProtocolsDetector()], QUIC_INITIAL),
});
