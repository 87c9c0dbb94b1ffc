/**
 * Ban and unban through the XDP enforcer (one `bpf_map_update_elem` / `bpf_map_delete_elem`
 * per call through FFI), next to the raw FFI call and the BPF program itself in the kernel.
 * Needs root (or CAP_BPF); skipped otherwise. No interface is touched.
 *
 *     deno bench --allow-ffi ffi/xdp_bench.ts
 */

import type { EnforcedBan } from "../live/enforcer.ts";
import { libbpf, testRun } from "./libbpf.ts";
import { XdpEnforcer } from "./xdp.ts";

let xdp: XdpEnforcer | null = null;
try {
  xdp = XdpEnforcer.open({ maxBans: 100000, persist: false, flush: false });
} catch (e) {
  console.warn(`ffi/xdp_bench.ts: skipped (${e instanceof Error ? e.message : e})`);
}
const ignore = xdp === null;

const COUNT = 4096;
const v4: EnforcedBan[] = [];
const v6: EnforcedBan[] = [];
for (let i = 0; i < COUNT; i++) {
  const expiresAt = Date.now() / 1000 + 3600;
  v4.push({
    address: Uint32Array.of(0, 0, 0xffff, 0xc6336400 + i),
    ipVersion: 4,
    bannedAt: 1700000000,
    expiresAt,
    reason: 1,
  });
  v6.push({
    address: Uint32Array.of(0x20010db8, 0, i, 1),
    ipVersion: 6,
    bannedAt: 1700000000,
    expiresAt,
    reason: 4,
  });
}
let i4 = 0;
let i6 = 0;

Deno.bench("xdp ban IPv4 (new entry) + unban", { group: "xdp", baseline: true, ignore }, () => {
  const b = v4[i4++ & (COUNT - 1)];
  xdp!.ban(b);
  xdp!.unban(b.address, 4);
});

Deno.bench("xdp ban IPv6 (new entry) + unban", { group: "xdp", ignore }, () => {
  const b = v6[i6++ & (COUNT - 1)];
  xdp!.ban(b);
  xdp!.unban(b.address, 6);
});

if (xdp !== null) { for (const b of v4) xdp.ban(b); }

Deno.bench("xdp ban IPv4 (refresh existing)", { group: "xdp", ignore }, () => {
  xdp!.ban(v4[i4++ & (COUNT - 1)]);
});

const key = new Uint8Array(4);
const value = new Uint8Array(32);
Deno.bench("raw bpf_map_update_elem through FFI", { group: "xdp", ignore }, () => {
  key[3] = i4++ & 255;
  libbpf().bpf_map_update_elem(xdp!.mapFds.banV4, key, value, 0n);
});

Deno.bench("xdp list() of 4096 bans", { group: "list", ignore }, () => {
  xdp!.list();
});

Deno.bench("xdp counters()", { group: "list", ignore }, () => {
  xdp!.counters();
});

// The kernel side: the program on a banned and an unbanned IPv4 frame, 10k runs per call.
const frame = new Uint8Array(60);
frame.set([0x08, 0x00], 12);
frame[14] = 0x45;
frame.set([198, 51, 100, 5], 26); // source banned above
const other = frame.slice();
other.set([10, 0, 0, 1], 26);
Deno.bench("XDP program, banned frame, 10k runs", { group: "kernel", ignore }, () => {
  testRun(xdp!.programFd, frame, 10000);
});
Deno.bench("XDP program, other frame, 10k runs", { group: "kernel", ignore }, () => {
  testRun(xdp!.programFd, other, 10000);
});
