import assert from "node:assert/strict";
import { Socks5Detector, socks5UdpPayloadOffset } from "./socks5.ts";
import { concat, converse } from "../../tests/helpers/packets.ts";

const client = { ip: "192.168.1.10", port: 50000 };
const proxy = { ip: "203.0.113.5", port: 1080 };

Deno.test("socks5UdpPayloadOffset unwraps IPv4, IPv6 and domain-name headers", () => {
  const v4 = concat([0, 0, 0, 1, 10, 0, 0, 1, 0x1a, 0xe1], "d1:ad2:id");
  assert.equal(socks5UdpPayloadOffset(v4, 0, v4.length), 10);
  const v6 = concat([0, 0, 0, 4], new Uint8Array(16), [0x1a, 0xe1], "x");
  assert.equal(socks5UdpPayloadOffset(v6, 0, v6.length), 22);
  const name = concat([0, 0, 0, 3, 11], "example.org", [0, 53], "x");
  assert.equal(socks5UdpPayloadOffset(name, 0, name.length), 18);
});

Deno.test("socks5UdpPayloadOffset rejects fragments, unknown address types and empty datagrams", () => {
  const fragment = concat([0, 0, 1, 1, 10, 0, 0, 1, 0x1a, 0xe1], "x");
  assert.equal(socks5UdpPayloadOffset(fragment, 0, fragment.length), -1);
  const badType = concat([0, 0, 0, 2, 10, 0, 0, 1, 0x1a, 0xe1], "x");
  assert.equal(socks5UdpPayloadOffset(badType, 0, badType.length), -1);
  const empty = Uint8Array.of(0, 0, 0, 1, 10, 0, 0, 1, 0x1a, 0xe1);
  assert.equal(socks5UdpPayloadOffset(empty, 0, empty.length), -1);
  const binaryName = concat([0, 0, 0, 3, 3, 1, 2, 3, 0, 53], "x");
  assert.equal(socks5UdpPayloadOffset(binaryName, 0, binaryName.length), -1);
});

Deno.test("SOCKS5 TCP connection is detected only when asked", () => {
  const steps = [
    { from: "a" as const, payload: Uint8Array.of(5, 2, 0, 2) },
    { from: "b" as const, payload: Uint8Array.of(5, 0) },
  ];
  const off = converse(6, client, proxy, steps, { tcpHandshake: true });
  assert.equal(off.detections.length, 0);
  const on = converse(6, client, proxy, steps, {
    tcpHandshake: true,
    detectors: [new Socks5Detector(1024)],
    config: { maxFlows: 1024, detectSocks: true },
  });
  assert.equal(on.detections.length, 1);
  assert.equal(on.detections[0].reason, "socks5");
  assert.equal(on.detections[0].flow_packet, 5);
  assert.equal(on.detections[0].evidence.bidirectional, true);
});

Deno.test("SOCKS5 reply choosing a method that was not offered is not SOCKS5", () => {
  const { detections } = converse(6, client, proxy, [
    { from: "a", payload: Uint8Array.of(5, 1, 0) },
    { from: "b", payload: Uint8Array.of(5, 2) },
  ], { detectors: [new Socks5Detector(1024)], config: { maxFlows: 1024 } });
  assert.equal(detections.length, 0);
});
