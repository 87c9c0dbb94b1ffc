import assert from "node:assert/strict";
import { formatAddress, isUnicastHost, parseAddress } from "./address.ts";

function roundTrip(text: string): string {
  const w = new Uint32Array(4);
  const v = parseAddress(text, w);
  assert.ok(v !== 0, text);
  return formatAddress(w, v);
}

Deno.test("addresses round-trip in canonical text", () => {
  assert.equal(roundTrip("192.168.0.1"), "192.168.0.1");
  assert.equal(roundTrip("2001:db8:0:0:0:0:0:1"), "2001:db8::1");
  assert.equal(roundTrip("::"), "::");
  assert.equal(roundTrip("::1"), "::1");
  assert.equal(roundTrip("fe80::4c:f07a:28fd:47b0"), "fe80::4c:f07a:28fd:47b0");
  assert.equal(roundTrip("2001:db8:0:1:0:0:1:1"), "2001:db8:0:1::1:1");
  assert.equal(roundTrip("[ff15::efc0:988f]"), "ff15::efc0:988f");
  assert.equal(roundTrip("::ffff:10.1.2.3"), "::ffff:a01:203");
});

Deno.test("bad addresses are refused", () => {
  const w = new Uint32Array(4);
  for (
    const bad of [
      "",
      "1.2.3",
      "256.1.1.1",
      "1.2.3.4.5",
      "1::2::3",
      "12345::",
      "g::1",
      "a:b:c:d:e:f:1:2:3",
    ]
  ) {
    assert.equal(parseAddress(bad, w), 0, bad);
  }
});

Deno.test("isUnicastHost excludes loopback, multicast, broadcast and unspecified", () => {
  const w = new Uint32Array(4);
  const check = (text: string) => isUnicastHost(w, parseAddress(text, w));
  assert.ok(check("8.8.8.8"));
  assert.ok(check("2001:db8::1"));
  for (
    const no of [
      "127.0.0.1",
      "0.0.0.0",
      "239.192.152.143",
      "255.255.255.255",
      "::",
      "::1",
      "ff15::efc0:988f",
    ]
  ) {
    assert.ok(!check(no), no);
  }
});
