import { Decoded, decodePacket, LinkType } from "./decode.ts";
import { Packet } from "./packet.ts";
import { concat, frame } from "../tests/helpers/packets.ts";

const p = new Packet();
const tcp4 = frame({
  l4: 6,
  src: { ip: "10.0.0.1", port: 40000 },
  dst: { ip: "192.0.2.7", port: 6881 },
  payload: "x".repeat(200),
});
const udp6 = frame({
  l4: 17,
  src: { ip: "2001:db8::1", port: 40000 },
  dst: { ip: "2001:db8::2", port: 6881 },
  payload: "x".repeat(100),
});
const vlan = concat(tcp4.subarray(0, 12), [0x81, 0x00, 0, 10], tcp4.subarray(12));

function bench(frameBytes: Uint8Array) {
  return () => {
    if (decodePacket(LinkType.ETHERNET, frameBytes, 0, frameBytes.length, p) !== Decoded.OK) {
      throw new Error("decode failed");
    }
  };
}

Deno.bench("decode Ethernet IPv4 TCP", { group: "decode", baseline: true }, bench(tcp4));
Deno.bench("decode Ethernet IPv6 UDP", { group: "decode" }, bench(udp6));
Deno.bench("decode 802.1Q IPv4 TCP", { group: "decode" }, bench(vlan));
