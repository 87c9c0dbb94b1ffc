import assert from "node:assert/strict";
import { formatCidr, NetworkList, parseCidr } from "./networks.ts";
import { parseAddress } from "../dpi/address.ts";

function inList(list: NetworkList, text: string): boolean {
  const w = new Uint32Array(4);
  return list.contains(w, parseAddress(text, w));
}

Deno.test("parseCidr clears host bits and accepts bare addresses", () => {
  const r = parseCidr("192.168.7.9/16");
  assert.ok(typeof r !== "string");
  assert.equal(formatCidr(r), "192.168.0.0/16");
  const h = parseCidr("2001:db8::1");
  assert.ok(typeof h !== "string");
  assert.equal(formatCidr(h), "2001:db8::1/128");
  const odd = parseCidr("10.255.255.255/9");
  assert.ok(typeof odd !== "string");
  assert.equal(formatCidr(odd), "10.128.0.0/9");
});

Deno.test("parseCidr rejects bad ranges with a message", () => {
  for (const bad of ["10.0.0.0/33", "::/129", "10.0.0/8", "x/8", "10.0.0.0/-1", "10.0.0.0/"]) {
    assert.equal(typeof parseCidr(bad), "string", bad);
  }
});

Deno.test("NetworkList matches by family and prefix, comma lists and repeats", () => {
  const list = NetworkList.parse(["10.0.0.0/8, 192.168.1.0/24", "fd00::/8", "203.0.113.5"]);
  assert.equal(list.ranges.length, 4);
  assert.ok(inList(list, "10.200.0.1"));
  assert.ok(inList(list, "192.168.1.254"));
  assert.ok(!inList(list, "192.168.2.1"));
  assert.ok(inList(list, "fd12:3456::1"));
  assert.ok(!inList(list, "fe80::1"));
  assert.ok(inList(list, "203.0.113.5"));
  assert.ok(!inList(list, "203.0.113.6"));
  assert.ok(NetworkList.parse(["0.0.0.0/0"]).contains(new Uint32Array([0, 0, 0xffff, 1]), 4));
  assert.throws(() => NetworkList.parse(["10.0.0.0/8,bogus"]), /bogus/);
});
