/**
 * The host's gateways: the next hops of its routes, read from the kernel's routing tables
 * (`/proc/net/route`, `/proc/net/ipv6_route`). btblocker never bans them: a gateway banned on
 * forged evidence would cut the host, or everything behind it, off the network. Parsing is pure;
 * the caller reads the files.
 *
 * @module
 */

import { type Cidr, parseCidr } from "./networks.ts";

/** `RTF_GATEWAY` of `<linux/route.h>`: the route goes through a next hop. */
const RTF_GATEWAY = 0x2;

/**
 * The gateways of the IPv4 routing table in the text of `/proc/net/route`. The kernel prints
 * each address as a 32-bit word in host byte order, so the bytes of `0101A8C0` read backwards on
 * a little-endian host: 192.168.1.1.
 *
 * @param text contents of `/proc/net/route`
 * @param littleEndian byte order of the host that printed it (default: this host's)
 * @returns one host range per distinct gateway
 *
 * @example
 * ```ts
 * import { ipv4Gateways } from "./gateways.ts";
 * const table = "Iface\tDestination\tGateway\tFlags\n" +
 *   "eth0\t00000000\t0101A8C0\t0003\n";
 * ipv4Gateways(table, true).map((c) => c.prefix); // [32]
 * ```
 */
export function ipv4Gateways(text: string, littleEndian = LITTLE_ENDIAN): Cidr[] {
  const found = new Set<string>();
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4) continue;
    const gateway = fields[2];
    const flags = parseInt(fields[3], 16);
    if (!/^[0-9A-Fa-f]{8}$/.test(gateway)) continue;
    if ((flags & RTF_GATEWAY) === 0) continue;
    const word = parseInt(gateway, 16);
    if (word === 0) continue;
    const bytes = [24, 16, 8, 0].map((shift) => (word >>> shift) & 0xff);
    if (littleEndian) bytes.reverse();
    found.add(bytes.join("."));
  }
  return toRanges(found);
}

/**
 * The gateways of the IPv6 routing table in the text of `/proc/net/ipv6_route` (fields:
 * destination, prefix, source, prefix, next hop, metric, references, use, flags, device).
 *
 * @param text contents of `/proc/net/ipv6_route`
 * @returns one host range per distinct gateway
 *
 * @example
 * ```ts
 * import { ipv6Gateways } from "./gateways.ts";
 * const zero = "0".repeat(32);
 * const line = `${zero} 00 ${zero} 00 fe800000000000000000000000000001 00000400 ` +
 *   "00000001 00000000 00000003 eth0\n";
 * ipv6Gateways(line).length; // 1
 * ```
 */
export function ipv6Gateways(text: string): Cidr[] {
  const found = new Set<string>();
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const nextHop = fields[4];
    const flags = parseInt(fields[8], 16);
    if (!/^[0-9a-fA-F]{32}$/.test(nextHop)) continue;
    if ((flags & RTF_GATEWAY) === 0) continue;
    if (/^0+$/.test(nextHop)) continue;
    found.add(nextHop.match(/.{4}/g)!.join(":"));
  }
  return toRanges(found);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function toRanges(addresses: Set<string>): Cidr[] {
  const ranges: Cidr[] = [];
  for (const a of addresses) {
    const r = parseCidr(a);
    if (typeof r !== "string") ranges.push(r);
  }
  return ranges;
}
