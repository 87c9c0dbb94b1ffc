import assert from "node:assert/strict";
import { Decoded, decodePacket, isSupportedLinkType, LinkType } from "./decode.ts";
import { formatAddress } from "./address.ts";
import { Packet } from "./packet.ts";
import { concat, frame } from "../tests/helpers/packets.ts";

const a4 = { ip: "10.0.0.1", port: 40000 };
const b4 = { ip: "192.0.2.7", port: 6881 };
const a6 = { ip: "2001:db8::1", port: 40000 };
const b6 = { ip: "2001:db8::beef", port: 6881 };

function decode(linkType: number, bytes: Uint8Array, captured = bytes.length, offset = 0) {
  const p = new Packet();
  const r = decodePacket(linkType, bytes, offset, captured, p);
  return { r, p };
}

/** The IP packet inside an Ethernet frame built by `frame()`. */
function ipOf(f: Uint8Array): Uint8Array {
  return f.subarray(14);
}

Deno.test("Ethernet IPv4 TCP: addresses, ports, flags, sequence numbers, payload", () => {
  const f = frame({
    l4: 6,
    src: a4,
    dst: b4,
    payload: "hello",
    seq: 0xfffffff0,
    ack: 7,
    flags: 0x18,
  });
  const { r, p } = decode(LinkType.ETHERNET, f);
  assert.equal(r, Decoded.OK);
  assert.equal(p.ipVersion, 4);
  assert.equal(p.l4, 6);
  assert.equal(formatAddress(p.src, 4), "10.0.0.1");
  assert.equal(formatAddress(p.dst, 4), "192.0.2.7");
  assert.equal(p.srcPort, 40000);
  assert.equal(p.dstPort, 6881);
  assert.equal(p.seq, 0xfffffff0);
  assert.equal(p.ack, 7);
  assert.equal(p.tcpFlags, 0x18);
  assert.equal(p.payloadLength, 5);
  assert.equal(p.payloadWireLength, 5);
  assert.equal(String.fromCharCode(...f.subarray(p.payloadOffset, p.payloadOffset + 5)), "hello");
});

Deno.test("Ethernet IPv6 UDP decodes with compressed address text", () => {
  const { r, p } = decode(LinkType.ETHERNET, frame({ l4: 17, src: a6, dst: b6, payload: "x" }));
  assert.equal(r, Decoded.OK);
  assert.equal(p.ipVersion, 6);
  assert.equal(formatAddress(p.src, 6), "2001:db8::1");
  assert.equal(formatAddress(p.dst, 6), "2001:db8::beef");
  assert.equal(p.payloadLength, 1);
});

Deno.test("802.1Q and 802.1ad tags are skipped", () => {
  const f = frame({ l4: 17, src: a4, dst: b4, payload: "abc" });
  const tagged = concat(f.subarray(0, 12), [0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20], f.subarray(12));
  const { r, p } = decode(LinkType.ETHERNET, tagged);
  assert.equal(r, Decoded.OK);
  assert.equal(p.dstPort, 6881);
  assert.equal(p.payloadLength, 3);
});

Deno.test("PPPoE session and MPLS carry IP", () => {
  const f = frame({ l4: 17, src: a4, dst: b4, payload: "abc" });
  const pppoe = concat(f.subarray(0, 12), [0x88, 0x64, 0x11, 0, 0, 1, 0, 30, 0x00, 0x21], ipOf(f));
  assert.equal(decode(LinkType.ETHERNET, pppoe).r, Decoded.OK);
  const mpls = concat(f.subarray(0, 12), [0x88, 0x47, 0, 1, 0, 64, 0, 2, 1, 64], ipOf(f));
  assert.equal(decode(LinkType.ETHERNET, mpls).r, Decoded.OK);
});

Deno.test("every supported link type decodes the same IP packet", () => {
  const ip4 = ipOf(frame({ l4: 17, src: a4, dst: b4, payload: "abc" }));
  const ip6 = ipOf(frame({ l4: 17, src: a6, dst: b6, payload: "abc" }));
  const sll = (proto: number, ip: Uint8Array) =>
    concat([0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, proto >> 8, proto & 255], ip);
  const sll2 = (proto: number, ip: Uint8Array) =>
    concat([proto >> 8, proto & 255, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0], ip);
  const cases: [string, number, Uint8Array][] = [
    ["raw", LinkType.RAW, ip4],
    ["raw6", LinkType.RAW, ip6],
    ["raw file", LinkType.RAW_FILE, ip6],
    ["ipv4", LinkType.IPV4, ip4],
    ["ipv6", LinkType.IPV6, ip6],
    ["sll", LinkType.LINUX_SLL, sll(0x0800, ip4)],
    ["sll v6", LinkType.LINUX_SLL, sll(0x86dd, ip6)],
    ["sll2", LinkType.LINUX_SLL2, sll2(0x0800, ip4)],
    ["null", LinkType.NULL, concat([2, 0, 0, 0], ip4)],
    ["null v6 (BSD)", LinkType.NULL, concat([30, 0, 0, 0], ip6)],
    ["loop", LinkType.LOOP, concat([0, 0, 0, 2], ip4)],
    ["ppp", LinkType.PPP, concat([0x00, 0x21], ip4)],
    ["ppp hdlc", LinkType.PPP_SERIAL, concat([0xff, 0x03, 0x00, 0x57], ip6)],
    ["ppp compressed", LinkType.PPP, concat([0x21], ip4)],
    ["cisco hdlc", LinkType.C_HDLC, concat([0x0f, 0x00, 0x08, 0x00], ip4)],
  ];
  for (const [name, linkType, bytes] of cases) {
    assert.ok(isSupportedLinkType(linkType), name);
    const { r, p } = decode(linkType, bytes);
    assert.equal(r, Decoded.OK, name);
    assert.equal(p.dstPort, 6881, name);
    assert.equal(p.payloadLength, 3, name);
  }
});

Deno.test("a frame can sit at an offset inside a larger buffer", () => {
  const f = frame({ l4: 6, src: a4, dst: b4, payload: "xyz" });
  const slab = concat(new Uint8Array(100), f, new Uint8Array(50));
  const { r, p } = decode(LinkType.ETHERNET, slab, f.length, 100);
  assert.equal(r, Decoded.OK);
  assert.equal(p.payloadOffset, 100 + 54);
  assert.equal(p.payloadLength, 3);
});

Deno.test("non-IP frames, other transports and unknown link types are told apart", () => {
  const arp = concat(new Uint8Array(12), [0x08, 0x06], new Uint8Array(28));
  assert.equal(decode(LinkType.ETHERNET, arp).r, Decoded.NOT_IP);
  const f = frame({ l4: 17, src: a4, dst: b4, payload: "x" });
  f[14 + 9] = 1; // ICMP
  assert.equal(decode(LinkType.ETHERNET, f).r, Decoded.OTHER_L4);
  assert.equal(decode(147, f).r, Decoded.UNSUPPORTED_LINK);
  assert.ok(!isSupportedLinkType(147));
});

Deno.test("IPv4 options and a snap-length cut payload still decode", () => {
  const ip = ipOf(frame({ l4: 6, src: a4, dst: b4, payload: "0123456789" }));
  const withOptions = concat(ip.subarray(0, 20), [1, 1, 1, 0], ip.subarray(20));
  withOptions[0] = 0x46;
  withOptions[3] += 4;
  let d = decode(LinkType.RAW, withOptions);
  assert.equal(d.r, Decoded.OK);
  assert.equal(d.p.payloadLength, 10);
  d = decode(LinkType.RAW, withOptions, withOptions.length - 6);
  assert.equal(d.r, Decoded.OK);
  assert.equal(d.p.payloadLength, 4);
  assert.equal(d.p.payloadWireLength, 10);
});

Deno.test("Ethernet padding after the IP packet is not payload", () => {
  const f = frame({ l4: 17, src: a4, dst: b4, payload: "ab" });
  const padded = concat(f, new Uint8Array(14));
  assert.equal(decode(LinkType.ETHERNET, padded).p.payloadLength, 2);
});

Deno.test("IPv4 fragments: the first carries L4, later ones are counted as fragments", () => {
  const ip = ipOf(frame({ l4: 17, src: a4, dst: b4, payload: new Uint8Array(100) }));
  const first = ip.slice(0, 20 + 8 + 40);
  first[3] = 68;
  first[6] = 0x20; // more fragments; UDP length still says 108
  const d = decode(LinkType.RAW, first);
  assert.equal(d.r, Decoded.OK);
  assert.equal(d.p.payloadLength, 40);
  const later = ip.slice();
  later[6] = 0x00;
  later[7] = 6; // offset 48 bytes
  assert.equal(decode(LinkType.RAW, later).r, Decoded.FRAGMENT);
});

Deno.test("IPv6 extension headers are skipped; a non-first fragment is a fragment", () => {
  const ip = ipOf(frame({ l4: 17, src: a6, dst: b6, payload: "abc" }));
  const header = ip.slice(0, 40);
  const udp = ip.subarray(40);
  const hopByHop = [60, 0, 1, 4, 0, 0, 0, 0]; // next: destination options
  const destOpts = [44, 0, 1, 4, 0, 0, 0, 0]; // next: fragment
  const fragment = [17, 0, 0, 1, 0, 0, 0, 9]; // offset 0, M=1, next: UDP
  const chain = concat(header, hopByHop, destOpts, fragment, udp);
  chain[6] = 0;
  chain[4] = 0;
  chain[5] = 24 + udp.length;
  const d = decode(LinkType.RAW, chain);
  assert.equal(d.r, Decoded.OK);
  assert.equal(d.p.l4, 17);
  assert.equal(d.p.payloadLength, 3);
  chain[40 + 16 + 2] = 0;
  chain[40 + 16 + 3] = 8; // fragment offset 1 (8 bytes)
  assert.equal(decode(LinkType.RAW, chain).r, Decoded.FRAGMENT);
});

Deno.test("IP-in-IP tunnels are decoded to the inner packet", () => {
  const inner = ipOf(frame({ l4: 17, src: a4, dst: b4, payload: "abc" }));
  const outer = ipOf(frame({ l4: 17, src: a6, dst: b6 })).slice(0, 40);
  outer[6] = 4;
  outer[4] = 0;
  outer[5] = inner.length;
  const { r, p } = decode(LinkType.RAW, concat(outer, inner));
  assert.equal(r, Decoded.OK);
  assert.equal(p.ipVersion, 4);
  assert.equal(formatAddress(p.dst, 4), "192.0.2.7");
});

Deno.test("every truncation of a valid frame is rejected or decoded, never thrown", () => {
  for (
    const f of [
      frame({ l4: 6, src: a4, dst: b4, payload: "hello world" }),
      frame({ l4: 17, src: a6, dst: b6, payload: "hello" }),
    ]
  ) {
    for (let cut = 0; cut <= f.length; cut++) {
      const { r, p } = decode(LinkType.ETHERNET, f, cut);
      if (r === Decoded.OK) assert.ok(p.payloadOffset + p.payloadLength <= cut);
      else assert.equal(r, Decoded.MALFORMED);
    }
  }
});

Deno.test("inconsistent headers are malformed", () => {
  const f = frame({ l4: 6, src: a4, dst: b4, payload: "abc" });
  const badIhl = f.slice();
  badIhl[14] = 0x44;
  assert.equal(decode(LinkType.ETHERNET, badIhl).r, Decoded.MALFORMED);
  const badVersion = f.slice();
  badVersion[14] = 0x55;
  assert.equal(decode(LinkType.ETHERNET, badVersion).r, Decoded.MALFORMED);
  const badDataOffset = f.slice();
  badDataOffset[14 + 20 + 12] = 0x40;
  assert.equal(decode(LinkType.ETHERNET, badDataOffset).r, Decoded.MALFORMED);
  const u = frame({ l4: 17, src: a4, dst: b4, payload: "abc" });
  u[14 + 20 + 5] = 200; // UDP length beyond the IP packet
  assert.equal(decode(LinkType.ETHERNET, u).r, Decoded.MALFORMED);
});

/** An 802.11 data frame header: frame control, flags, duration, three or four addresses. */
function wlanHeader(fc: number, flags: number): number[] {
  const fourth = (flags & 3) === 3 ? 6 : 0;
  return [fc, flags, 0, 0, ...new Array(18 + fourth).fill(0x22), 0x10, 0x00];
}
/** LLC/SNAP (RFC 1042) for an EtherType. */
const snap = (etherType: number) => [0xaa, 0xaa, 0x03, 0, 0, 0, etherType >> 8, etherType & 255];
/** A PPI header of `length` bytes (field TLVs as zeros) naming link type `dlt`. */
function ppi(dlt: number, length = 8): number[] {
  const h = new Array(length).fill(0);
  h[2] = length & 255;
  h[3] = length >> 8;
  h[4] = dlt & 255;
  h[5] = (dlt >> 8) & 255;
  return h;
}

Deno.test("PPI decodes the 802.11 or Ethernet frame it wraps, after its full header length", () => {
  const ip4 = ipOf(frame({ l4: 17, src: a4, dst: b4, payload: "abc" }));
  const ip6 = ipOf(frame({ l4: 6, src: a6, dst: b6, payload: "abc" }));
  const eth = frame({ l4: 17, src: a4, dst: b4, payload: "abc" });
  const cases: [string, Uint8Array][] = [
    ["802.11 data", concat(ppi(105), wlanHeader(0x08, 0x01), snap(0x0800), ip4)],
    [
      "802.11 QoS data, 4 addresses",
      concat(ppi(105), wlanHeader(0x88, 0x03), [0, 0], snap(0x86dd), ip6),
    ],
    [
      "802.11 QoS + HT control",
      concat(ppi(105), wlanHeader(0x88, 0x82), [0, 0, 1, 2, 3, 4], snap(0x0800), ip4),
    ],
    ["Ethernet, 32-byte PPI with a field", concat(ppi(1, 32), eth)],
  ];
  for (const [name, bytes] of cases) {
    assert.ok(isSupportedLinkType(LinkType.PPI), name);
    const { r, p } = decode(LinkType.PPI, bytes);
    assert.equal(r, Decoded.OK, name);
    assert.equal(p.dstPort, 6881, name);
    assert.equal(p.payloadLength, 3, name);
    assert.equal(p.payloadOffset + 3, bytes.length, name);
  }
  // 802.11 on its own (DLT 105) decodes the same way.
  const wlan = concat(wlanHeader(0x08, 0x02), snap(0x0800), ip4);
  assert.equal(decode(LinkType.IEEE802_11, wlan).r, Decoded.OK);
  assert.equal(formatAddress(decode(LinkType.IEEE802_11, wlan).p.src, 4), "10.0.0.1");
});

Deno.test("PPI: 802.11 frames without readable IP are not IP; bad headers are malformed", () => {
  const ip4 = ipOf(frame({ l4: 17, src: a4, dst: b4, payload: "abc" }));
  const notIp: [string, Uint8Array][] = [
    ["beacon (management)", concat(ppi(105), wlanHeader(0x80, 0), new Uint8Array(40))],
    ["ack (control)", concat(ppi(105), [0xd4, 0, 0, 0, 1, 2, 3, 4, 5, 6], new Uint8Array(14))],
    ["null data", concat(ppi(105), wlanHeader(0x48, 0x01), new Uint8Array(8))],
    ["protected", concat(ppi(105), wlanHeader(0x08, 0x41), snap(0x0800), ip4)],
    ["not SNAP", concat(ppi(105), wlanHeader(0x08, 0x01), [0x42, 0x42, 0x03], new Uint8Array(30))],
    ["ARP", concat(ppi(105), wlanHeader(0x08, 0x01), snap(0x0806), new Uint8Array(28))],
  ];
  for (const [name, bytes] of notIp) {
    assert.equal(decode(LinkType.PPI, bytes).r, Decoded.NOT_IP, name);
  }
  const good = concat(ppi(105), wlanHeader(0x08, 0x01), snap(0x0800), ip4);
  const version1 = good.slice();
  version1[0] = 1;
  const short = good.slice();
  short[2] = 4; // a header length under 8
  const long = good.slice();
  long[2] = 0xff; // a header longer than the frame
  long[3] = 0x0f;
  const nested = concat(ppi(192), good);
  for (
    const [name, bytes] of [["version 1", version1], ["length 4", short], [
      "length past the end",
      long,
    ], [
      "PPI in PPI",
      nested,
    ]] as const
  ) {
    assert.equal(decode(LinkType.PPI, bytes).r, Decoded.MALFORMED, name);
  }
  assert.equal(
    decode(LinkType.PPI, concat(ppi(147), good.subarray(8))).r,
    Decoded.UNSUPPORTED_LINK,
  );
  for (let cut = 0; cut <= good.length; cut++) {
    const { r, p } = decode(LinkType.PPI, good, cut);
    if (r === Decoded.OK) assert.ok(p.payloadOffset + p.payloadLength <= cut);
    else assert.equal(r, Decoded.MALFORMED, `cut at ${cut}`);
  }
});
