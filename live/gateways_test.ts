import assert from "node:assert/strict";
import { ipv4Gateways, ipv6Gateways } from "./gateways.ts";
import { type Cidr, formatCidr } from "./networks.ts";

const texts = (ranges: Cidr[]) => ranges.map(formatCidr);

// As read on a Debian VM: a default route via 192.0.2.1 and the connected /24.
const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t0000000A\t FE01000A\t0003\t0\t0\t0\t000000FF\t0\t0\t0
eth1\t0000010A\t0101000A\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth2\t0000000B\t010200C0\t0003\t0\t0\t0\t000000FF\t0\t0\t0
`;

Deno.test("ipv4Gateways: next hops of gateway routes, in host byte order, each once", () => {
  assert.deepEqual(texts(ipv4Gateways(ROUTE, true)), ["192.0.2.1/32", "10.0.1.254/32"]);
});

Deno.test("ipv4Gateways: a big-endian host prints the bytes in order", () => {
  const table = "Iface\tDestination\tGateway\tFlags\neth0\t00000000\tC0000201\t0003\n";
  assert.deepEqual(texts(ipv4Gateways(table, false)), ["192.0.2.1/32"]);
});

Deno.test("ipv4Gateways: routes without RTF_GATEWAY and malformed lines give nothing", () => {
  const table = "Iface\tDestination\tGateway\tFlags\n" +
    "eth0\t00000000\t0101A8C0\t0001\n" + // a gateway field without the flag
    "eth0\t00000000\tzz01A8C0\t0003\n" +
    "eth0\t00000000\n" +
    "\n";
  assert.deepEqual(ipv4Gateways(table, true), []);
  assert.deepEqual(ipv4Gateways("", true), []);
});

const Z = "0".repeat(32);
const IPV6_ROUTE = [
  `fd000000000000000000000000000000 40 ${Z} 00 ${Z} 00000100 00000001 00000000 00000001     eth0`,
  `${Z} 00 ${Z} 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0`,
  `20010db8000000000000000000000000 20 ${Z} 00 fe80000000000000000000000000abcd 00000400 00000001 00000000 00000003     eth1`,
  `${Z} 00 ${Z} 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0`,
  `00000000000000000000000000000001 80 ${Z} 00 ${Z} 00000000 00000004 00000000 80200001       lo`,
  `${Z} 00 ${Z} 00 fd000000000000000000000000000009 00000400 00000003 00000000 00000001     eth0`,
  "truncated line",
].join("\n");

Deno.test("ipv6Gateways: next hops of gateway routes, link-local ones included, each once", () => {
  assert.deepEqual(texts(ipv6Gateways(IPV6_ROUTE)), ["fd00::1/128", "fe80::abcd/128"]);
});
