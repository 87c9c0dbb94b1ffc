/**
 * Tests of the XDP enforcer against the kernel: the parser through BPF_PROG_TEST_RUN, and live
 * traffic between network namespaces built per test (removed in `finally`). Needs root; skipped
 * otherwise.
 */

import assert from "node:assert/strict";
import { parseAddress } from "../dpi/address.ts";
import type { EnforcedBan } from "../live/enforcer.ts";
import {
  BpfError,
  closeFd,
  cString,
  filesystemType,
  interfaceIndex,
  libbpf,
  MapType,
  programInfo,
  ProgType,
  removeFile,
  testRun,
  XdpFlags,
  xdpQuery,
} from "./libbpf.ts";
import { BanListFullError, XDP_PROGRAM_NAME, XdpEnforcer, type XdpMode } from "./xdp.ts";
import { IS_ROOT, Net, removePins, run, TestNet } from "./xdp_testnet.ts";
import { inPrivateMounts } from "../tests/helpers/process.ts";

const XDP_DROP = 1;
const XDP_PASS = 2;
const ignore = !IS_ROOT;
if (ignore) console.warn("ffi/xdp_test.ts: skipped, needs root (BPF programs, network namespaces)");

let pinSequence = 0;

/** A pin directory unique to this process and test. */
function pinDir(): string {
  return `/sys/fs/bpf/btb-${Deno.pid}-${++pinSequence}`;
}

/** Whether a BPF object is pinned at `path`. */
function pinned(path: string): boolean {
  const fd = libbpf().bpf_obj_get(cString(path));
  closeFd(fd);
  return fd >= 0;
}

function words(text: string): { address: Uint32Array; ipVersion: number } {
  const address = new Uint32Array(4);
  const ipVersion = parseAddress(text, address);
  assert.notEqual(ipVersion, 0, text);
  return { address, ipVersion };
}

function ban(text: string, expiresAt = Infinity, reason = 1, bannedAt = 1700000000): EnforcedBan {
  return { ...words(text), bannedAt, expiresAt, reason };
}

function open(options: Partial<Parameters<typeof XdpEnforcer.open>[0]> = {}): XdpEnforcer {
  return XdpEnforcer.open({ maxBans: 1000, persist: false, flush: false, ...options });
}

/**
 * Runs `body` with a new test network and an enforcer (not attached yet), and removes both
 * afterwards, even on failure.
 */
async function withNetAndXdp(
  body: (net: TestNet, xdp: XdpEnforcer) => Promise<void> | void,
): Promise<void> {
  const net = await TestNet.create();
  const xdp = open();
  try {
    await body(net, xdp);
  } finally {
    net.within(net.router, () => xdp.close(false));
    await net.remove();
  }
}

/** Waits until the client reaches both peers (ARP and neighbour discovery done). */
async function warmUp(net: TestNet): Promise<void> {
  for (const target of [Net.peer, Net.peer2, Net.peer6, Net.peer6b, Net.routerLeft]) {
    for (let i = 0;; i++) {
      if (await net.ping(net.client, target, 1) === 1) break;
      if (i === 10) throw new Error(`test network: ${target} unreachable`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Frames for BPF_PROG_TEST_RUN

interface FrameSpec {
  src: string;
  dst: string;
  /** VLAN tag protocol ids, outermost first (0x8100, 0x88a8). */
  tags?: number[];
  /** IPv4 header length in 32-bit words (5-15). */
  ihl?: number;
  /** Cut the frame to this many bytes. */
  truncate?: number;
}

function frame(spec: FrameSpec): Uint8Array {
  const src = words(spec.src);
  const dst = words(spec.dst);
  const v6 = src.ipVersion === 6;
  const tags = spec.tags ?? [];
  const ihl = spec.ihl ?? 5;
  const ipHeader = v6 ? 40 : ihl * 4;
  const l2 = 14 + 4 * tags.length;
  const out = new Uint8Array(l2 + ipHeader + 8 + 10);
  const view = new DataView(out.buffer);
  out.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
  let offset = 12;
  for (const tag of tags) {
    view.setUint16(offset, tag);
    view.setUint16(offset + 2, 100);
    offset += 4;
  }
  view.setUint16(offset, v6 ? 0x86dd : 0x0800);
  const ip = l2;
  if (v6) {
    out[ip] = 0x60;
    view.setUint16(ip + 4, 18);
    out[ip + 6] = 17;
    out[ip + 7] = 64;
    for (let i = 0; i < 4; i++) {
      view.setUint32(ip + 8 + 4 * i, src.address[i]);
      view.setUint32(ip + 24 + 4 * i, dst.address[i]);
    }
  } else {
    out[ip] = 0x40 | ihl;
    view.setUint16(ip + 2, ipHeader + 18);
    out[ip + 8] = 64;
    out[ip + 9] = 17;
    view.setUint32(ip + 12, src.address[3]);
    view.setUint32(ip + 16, dst.address[3]);
    out.fill(1, ip + 20, ip + ipHeader); // NOP options
  }
  view.setUint16(ip + ipHeader, 6881);
  view.setUint16(ip + ipHeader + 2, 6881);
  view.setUint16(ip + ipHeader + 4, 18);
  return spec.truncate === undefined ? out : out.slice(0, spec.truncate);
}

Deno.test({
  name: "xdp: the parser drops by source or destination through VLAN, QinQ, IPv4 options, IPv6",
  ignore,
  fn() {
    const xdp = open();
    try {
      xdp.ban(ban("198.51.100.7"));
      xdp.ban(ban("2001:db8::7"));
      const fd = xdp.programFd;
      const cases: [string, FrameSpec, number][] = [
        ["v4 source", { src: "198.51.100.7", dst: "10.0.0.1" }, XDP_DROP],
        ["v4 destination", { src: "10.0.0.1", dst: "198.51.100.7" }, XDP_DROP],
        ["v4 other", { src: "10.0.0.1", dst: "198.51.100.8" }, XDP_PASS],
        ["v4 IHL 15", { src: "198.51.100.7", dst: "10.0.0.1", ihl: 15 }, XDP_DROP],
        ["v4 IHL 6 dst", { src: "10.0.0.1", dst: "198.51.100.7", ihl: 6 }, XDP_DROP],
        ["802.1Q", { src: "198.51.100.7", dst: "10.0.0.1", tags: [0x8100] }, XDP_DROP],
        ["802.1ad", { src: "10.0.0.1", dst: "198.51.100.7", tags: [0x88a8] }, XDP_DROP],
        ["QinQ", { src: "198.51.100.7", dst: "10.0.0.1", tags: [0x88a8, 0x8100] }, XDP_DROP],
        ["Q in Q 8100", { src: "198.51.100.7", dst: "10.0.0.1", tags: [0x8100, 0x8100] }, XDP_DROP],
        ["QinQ other", { src: "10.0.0.1", dst: "10.0.0.2", tags: [0x88a8, 0x8100] }, XDP_PASS],
        [
          "three tags (not parsed)",
          { src: "198.51.100.7", dst: "10.0.0.1", tags: [0x88a8, 0x8100, 0x8100] },
          XDP_PASS,
        ],
        ["v6 source", { src: "2001:db8::7", dst: "2001:db8::1" }, XDP_DROP],
        ["v6 destination", { src: "2001:db8::1", dst: "2001:db8::7" }, XDP_DROP],
        ["v6 other", { src: "2001:db8::1", dst: "2001:db8::8" }, XDP_PASS],
        [
          "v6 in QinQ",
          { src: "2001:db8::7", dst: "2001:db8::1", tags: [0x88a8, 0x8100] },
          XDP_DROP,
        ],
        ["v4 truncated", { src: "198.51.100.7", dst: "10.0.0.1", truncate: 14 + 19 }, XDP_PASS],
        ["v6 truncated", { src: "2001:db8::7", dst: "2001:db8::1", truncate: 14 + 39 }, XDP_PASS],
        [
          "VLAN truncated",
          { src: "198.51.100.7", dst: "10.0.0.1", tags: [0x8100], truncate: 16 },
          XDP_PASS,
        ],
        ["Ethernet only", { src: "198.51.100.7", dst: "10.0.0.1", truncate: 14 }, XDP_PASS],
      ];
      let v4 = { packets: 0, bytes: 0 };
      const v6 = { packets: 0, bytes: 0 };
      for (const [name, spec, expected] of cases) {
        const data = frame(spec);
        assert.equal(testRun(fd, data).retval, expected, name);
        if (expected === XDP_DROP) {
          const family = spec.src.includes(":") ? v6 : v4;
          family.packets++;
          family.bytes += data.length;
        }
      }
      // An ARP frame passes.
      const arp = frame({ src: "198.51.100.7", dst: "10.0.0.1" });
      new DataView(arp.buffer).setUint16(12, 0x0806);
      assert.equal(testRun(fd, arp).retval, XDP_PASS, "ARP");
      // IPv4 bans do not match IPv4-mapped IPv6 addresses and vice versa.
      assert.equal(
        testRun(fd, frame({ src: "::ffff:198.51.100.7", dst: "2001:db8::1" })).retval,
        XDP_PASS,
      );
      assert.deepEqual(xdp.counters(), {
        ipv4Packets: v4.packets,
        ipv4Bytes: v4.bytes,
        ipv6Packets: v6.packets,
        ipv6Bytes: v6.bytes,
      });
      // Many runs: the counters are per CPU and summed.
      testRun(fd, frame({ src: "198.51.100.7", dst: "10.0.0.1" }), 1000);
      v4 = { packets: v4.packets + 1000, bytes: v4.bytes + 1000 * 52 }; // 14 + 20 + 8 + 10
      assert.equal(xdp.counters().ipv4Packets, v4.packets);
      assert.equal(xdp.counters().ipv4Bytes, v4.bytes);
      // Unbanned: passes.
      xdp.unban(words("198.51.100.7").address, 4);
      xdp.unban(words("2001:db8::7").address, 6);
      xdp.unban(words("2001:db8::7").address, 6); // absent: no error
      assert.equal(testRun(fd, frame({ src: "198.51.100.7", dst: "10.0.0.1" })).retval, XDP_PASS);
      assert.equal(testRun(fd, frame({ src: "2001:db8::1", dst: "2001:db8::7" })).retval, XDP_PASS);
    } finally {
      xdp.close(false);
    }
  },
});

Deno.test({
  name: "xdp: the kernel ends a ban at its expiry without userspace (test run)",
  ignore,
  async fn() {
    const xdp = open();
    try {
      const fd = xdp.programFd;
      const packet = frame({ src: "198.51.100.9", dst: "10.0.0.1" });
      xdp.ban(ban("198.51.100.9", Date.now() / 1000 + 0.3));
      xdp.ban(ban("198.51.100.10", Date.now() / 1000 - 1)); // already over
      assert.equal(testRun(fd, packet).retval, XDP_DROP);
      assert.equal(
        testRun(fd, frame({ src: "198.51.100.10", dst: "10.0.0.1" })).retval,
        XDP_PASS,
      );
      await new Promise((r) => setTimeout(r, 350));
      assert.equal(testRun(fd, packet).retval, XDP_PASS);
      assert.deepEqual(xdp.size(), { ipv4: 2, ipv6: 0 }, "the entries are still there");
      assert.deepEqual(xdp.list(), [], "list() leaves expired entries out");
      assert.equal(xdp.sweepExpired(), 2);
      assert.deepEqual(xdp.size(), { ipv4: 0, ipv6: 0 });
    } finally {
      xdp.close(false);
    }
  },
});

Deno.test({
  name: "xdp: maxBans is the capacity of each map; a ban beyond it throws BanListFullError",
  ignore,
  fn() {
    const xdp = open({ maxBans: 4 });
    try {
      for (let i = 1; i <= 4; i++) xdp.ban(ban(`198.51.100.${i}`));
      assert.throws(
        () => xdp.ban(ban("198.51.100.5")),
        (e: unknown) =>
          e instanceof BanListFullError && e.errno === 7 &&
          e.message === "ban 198.51.100.5: the IPv4 ban map is full (4 bans, --max-bans)",
      );
      xdp.ban(ban("198.51.100.4", Infinity, 9)); // refreshing an existing ban still works
      assert.equal(xdp.list().find((b) => b.address[3] === 0xc6336404)?.reason, 9);
      for (let i = 1; i <= 4; i++) xdp.ban(ban(`2001:db8::${i}`)); // IPv6 has its own map
      xdp.unban(words("198.51.100.1").address, 4);
      xdp.ban(ban("198.51.100.5"));
      assert.deepEqual(xdp.size(), { ipv4: 4, ipv6: 4 });
      assert.throws(
        () => XdpEnforcer.open({ maxBans: 0, persist: false, flush: false }),
        RangeError,
      );
    } finally {
      xdp.close(false);
    }
  },
});

for (const mode of ["native", "generic"] as const) {
  Deno.test({
    name: `xdp: ${mode} on a veth: banned IPv4 and IPv6 peers are cut off both ways, others pass`,
    ignore,
    async fn() {
      await withNetAndXdp(async (net, xdp) => {
        await warmUp(net);
        assert.equal(net.within(net.router, () => xdp.attach("r0", mode)), mode);
        const query = net.within(net.router, () => xdpQuery(interfaceIndex("r0")));
        assert.equal(mode === "native" ? query.drvProgId : query.skbProgId, xdp.programId);

        // Destination match: the client's packets to banned peers are dropped at r0.
        xdp.ban(ban(Net.peer));
        xdp.ban(ban(Net.peer6));
        assert.equal(await net.ping(net.client, Net.peer), 0);
        assert.equal(await net.ping(net.client, Net.peer6), 0);
        assert.equal(await net.ping(net.client, Net.peer2), 3, "other IPv4 peer passes");
        assert.equal(await net.ping(net.client, Net.peer6b), 3, "other IPv6 peer passes");
        // From the banned peer towards the client: the answers come back through r0.
        assert.equal(await net.ping(net.peer, Net.client, 3, Net.peer), 0);
        assert.equal(await net.ping(net.peer, Net.client6, 3, Net.peer6), 0);
        let c = xdp.counters();
        assert.equal(c.ipv4Packets, 6);
        assert.equal(c.ipv4Bytes, 6 * 98); // 14 Ethernet + 20 IP + 8 ICMP + 56 data
        assert.equal(c.ipv6Packets, 6);
        assert.equal(c.ipv6Bytes, 6 * 118); // 14 + 40 + 8 + 56

        // Source match: a banned client address.
        xdp.ban(ban(Net.client));
        xdp.ban(ban(Net.client6));
        assert.equal(await net.ping(net.client, Net.routerLeft, 3, Net.client), 0);
        assert.equal(await net.ping(net.client, Net.routerLeft, 3, Net.client2), 3);
        assert.equal(await net.ping(net.client, Net.routerLeft6, 3, Net.client6), 0);
        assert.equal(await net.ping(net.client, Net.routerLeft6, 3, Net.client6b), 3);
        c = xdp.counters();
        assert.ok(c.ipv4Packets >= 9 && c.ipv6Packets >= 9, JSON.stringify(c));

        // Unban: passes again.
        for (const text of [Net.peer, Net.peer6, Net.client, Net.client6]) {
          const w = words(text);
          xdp.unban(w.address, w.ipVersion);
        }
        assert.equal(await net.ping(net.client, Net.peer), 3);
        assert.equal(await net.ping(net.client, Net.peer6), 3);
        assert.equal(await net.ping(net.client, Net.routerLeft, 3, Net.client), 3);

        assert.equal(net.within(net.router, () => xdp.detach("r0")), true);
        assert.equal(net.within(net.router, () => xdp.detach("r0")), false);
        assert.equal(net.within(net.router, () => xdpQuery(interfaceIndex("r0"))).progId, 0);
      });
    },
  });
}

Deno.test({
  name: "xdp: auto mode picks native on a veth; re-attaching in the same mode is a no-op",
  ignore,
  async fn() {
    await withNetAndXdp((net, xdp) => {
      net.within(net.router, () => {
        assert.equal(xdp.attach("r0", "auto"), "native");
        assert.equal(xdp.attach("r0", "auto"), "native");
        assert.equal(xdp.attach("r0", "generic"), "generic"); // switches mode
        assert.equal(xdpQuery(interfaceIndex("r0")).skbProgId, xdp.programId);
        assert.equal(xdp.attach("r1", "generic"), "generic");
        assert.deepEqual(xdp.attachments.map((a) => [a.ifname, a.mode]), [
          ["r0", "generic"],
          ["r1", "generic"],
        ]);
        assert.throws(
          () => xdp.attach("nosuch0", "native"),
          (e: unknown) =>
            e instanceof BpfError && e.message === "interface nosuch0: No such device",
        );
        xdp.close(false); // detaches everywhere
        assert.equal(xdpQuery(interfaceIndex("r0")).progId, 0);
        assert.equal(xdpQuery(interfaceIndex("r1")).progId, 0);
      });
    });
  },
});

Deno.test({
  name: "xdp: a ban with a short expiry stops dropping on time, without userspace (live)",
  ignore,
  async fn() {
    await withNetAndXdp(async (net, xdp) => {
      await warmUp(net);
      net.within(net.router, () => xdp.attach("r0", "native"));
      const expiresAt = Date.now() / 1000 + 1.5;
      xdp.ban(ban(Net.peer, expiresAt));
      assert.equal(await net.ping(net.client, Net.peer, 2), 0);
      const wait = expiresAt * 1000 - Date.now() + 50;
      assert.ok(wait > 0, "the pings took longer than the ban");
      await new Promise((r) => setTimeout(r, wait));
      assert.equal(await net.ping(net.client, Net.peer, 2), 2);
      assert.equal(xdp.size().ipv4, 1, "no userspace sweep happened");
    });
  },
});

Deno.test({
  name: "xdp: persist: close(keepBans) then reopen restores bans with reasons and times; flush",
  ignore,
  fn() {
    const dir = pinDir();
    try {
      const first = open({ pinDir: dir, persist: true });
      assert.equal(first.restored, 0);
      first.ban(ban("198.51.100.7", 4102444800, 4, 1700000001));
      first.ban(ban("2001:db8::7", Infinity, 7, 1700000002));
      first.ban(ban("198.51.100.8", Date.now() / 1000 - 1, 1)); // expired: not restored
      testRun(first.programFd, frame({ src: "198.51.100.7", dst: "10.0.0.1" }), 3);
      first.close(true);
      for (const name of ["ban_v4", "ban_v6", "stats"]) {
        assert.ok(pinned(`${dir}/${name}`), name);
      }

      const second = open({ pinDir: dir, persist: true });
      assert.equal(second.restored, 2);
      assert.deepEqual(second.notes, ["removed 1 expired bans found at start"]);
      const restored = second.list().sort((a, b) => a.bannedAt - b.bannedAt);
      assert.deepEqual(restored, [
        { ...words("198.51.100.7"), bannedAt: 1700000001, expiresAt: 4102444800, reason: 4 },
        { ...words("2001:db8::7"), bannedAt: 1700000002, expiresAt: Infinity, reason: 7 },
      ]);
      assert.equal(second.counters().ipv4Packets, 3, "counters persist too");
      // The restored bans are enforced by the new program.
      const packet = frame({ src: "10.0.0.1", dst: "198.51.100.7" });
      assert.equal(testRun(second.programFd, packet).retval, XDP_DROP);
      second.close(true);

      const third = open({ pinDir: dir, persist: true, flush: true });
      assert.equal(third.restored, 0);
      assert.deepEqual(third.list(), []);
      assert.deepEqual(third.counters(), {
        ipv4Packets: 0,
        ipv4Bytes: 0,
        ipv6Packets: 0,
        ipv6Bytes: 0,
      });
      assert.deepEqual(third.notes, ["flushed 2 pinned bans"]);
      third.ban(ban("198.51.100.9"));
      third.close(false); // removes the pins
      assert.equal(filesystemType(dir), -2, "the pin directory is gone");

      const fourth = open({ pinDir: dir, persist: true });
      assert.equal(fourth.restored, 0);
      fourth.close(false);

      // Without persist nothing is pinned.
      const volatile = open({ pinDir: dir, persist: false });
      volatile.close(true);
      assert.equal(filesystemType(dir), -2, "the pin directory is gone");
    } finally {
      removePins(dir);
    }
  },
});

Deno.test({
  name: "xdp: pinned maps of another size are migrated to the new --max-bans",
  ignore,
  fn() {
    const dir = pinDir();
    try {
      const first = open({ pinDir: dir, persist: true, maxBans: 10 });
      const now = Date.now() / 1000;
      for (let i = 1; i <= 5; i++) first.ban(ban(`198.51.100.${i}`, now + 100 * i, i));
      first.ban(ban("198.51.100.6", Infinity, 6));
      first.ban(ban("2001:db8::1", now + 50, 1));
      first.close(true);

      const notes: string[] = [];
      const second = open({ pinDir: dir, persist: true, maxBans: 3, log: (m) => notes.push(m) });
      assert.deepEqual(notes, [
        `rebuilt pinned map ${dir}/ban_v4 (capacity 10 -> 3): moved 3 entries, dropped the 3 ` +
        `bans ending soonest`,
        `rebuilt pinned map ${dir}/ban_v6 (capacity 10 -> 3): moved 1 entries`,
      ]);
      assert.deepEqual(second.notes, notes);
      // The longest-lasting bans are kept.
      const reasons = second.list().filter((b) => b.ipVersion === 4).map((b) => b.reason).sort();
      assert.deepEqual(reasons, [4, 5, 6]);
      assert.equal(second.restored, 4);
      assert.throws(() => second.ban(ban("198.51.100.7")), BanListFullError);
      second.close(true);

      const third = open({ pinDir: dir, persist: true, maxBans: 3 });
      assert.deepEqual(third.notes, [], "same size: reused as is");
      assert.equal(third.restored, 4);
      third.close(true);

      // A map of another layout under our name is replaced (its contents cannot be read).
      removeFile(`${dir}/ban_v6`);
      const lib = libbpf();
      const other = lib.bpf_map_create(MapType.HASH, cString("other"), 8, 8, 4, null);
      assert.ok(other >= 0, `bpf_map_create: ${other}`);
      assert.equal(lib.bpf_obj_pin(other, cString(`${dir}/ban_v6`)), 0);
      closeFd(other);
      const fourth = open({ pinDir: dir, persist: true, maxBans: 3 });
      assert.match(fourth.notes[0], /ban_v6 has another layout \(type 1, key 8 B, value 8 B\)/);
      assert.equal(fourth.restored, 3);
      fourth.close(false);
    } finally {
      removePins(dir);
    }
  },
});

async function crashedRun(
  net: TestNet,
  dir: string,
  mode: XdpMode,
  ...addresses: string[]
): Promise<{ programId: number; mode: XdpMode }> {
  const fixture = new URL("./xdp_fixture.ts", import.meta.url).pathname;
  // nsenter switches only the network namespace: `ip netns exec` would also give the process
  // a private /sys without the host's bpffs, and its pins would vanish with it.
  const out = await run(
    "nsenter",
    `--net=/run/netns/${net.router}`,
    Deno.execPath(),
    "run",
    "--allow-ffi",
    "--allow-read",
    fixture,
    "crash",
    dir,
    "r0",
    mode,
    ...addresses,
  );
  return JSON.parse(out);
}

Deno.test({
  name: "xdp: after a crash the bans survive and the stale program is replaced at attach",
  ignore,
  async fn() {
    const net = await TestNet.create();
    const dir = pinDir();
    try {
      await warmUp(net);
      // Same mode: the stale program is replaced atomically.
      const crashed = await crashedRun(net, dir, "generic", Net.peer);
      assert.equal(crashed.mode, "generic");
      assert.equal(await net.ping(net.client, Net.peer, 2), 0, "the stale program still drops");
      const logs: string[] = [];
      const xdp = open({ pinDir: dir, persist: true, log: (m) => logs.push(m) });
      try {
        assert.equal(xdp.restored, 1);
        assert.equal(xdp.list()[0].reason, 5);
        assert.equal(net.within(net.router, () => xdp.attach("r0", "generic")), "generic");
        assert.deepEqual(logs, [
          `replaced stale btblocker XDP program ${crashed.programId} on r0 (generic)`,
        ]);
        assert.equal(
          net.within(net.router, () => xdpQuery(interfaceIndex("r0"))).skbProgId,
          xdp.programId,
        );
        assert.equal(await net.ping(net.client, Net.peer, 2), 0, "still banned");
        assert.equal(await net.ping(net.client, Net.peer2, 2), 2);
      } finally {
        net.within(net.router, () => xdp.close(true));
      }

      // Another mode: the stale native program is removed, then ours attached in generic mode.
      const second = await crashedRun(net, dir, "native", Net.peer6);
      assert.equal(second.mode, "native");
      logs.length = 0;
      const again = open({ pinDir: dir, persist: true, log: (m) => logs.push(m) });
      try {
        assert.equal(again.restored, 2);
        assert.equal(net.within(net.router, () => again.attach("r0", "generic")), "generic");
        assert.deepEqual(logs, [`removed stale btblocker XDP program ${second.programId} from r0`]);
        const q = net.within(net.router, () => xdpQuery(interfaceIndex("r0")));
        assert.deepEqual([q.drvProgId, q.skbProgId], [0, again.programId]);
        assert.equal(await net.ping(net.client, Net.peer, 2), 0);
        assert.equal(await net.ping(net.client, Net.peer6, 2), 0);
      } finally {
        net.within(net.router, () => again.close(false));
      }
    } finally {
      await net.remove();
      removePins(dir);
    }
  },
});

Deno.test({
  name: "xdp: a foreign XDP program is left in place and attach fails clearly",
  ignore,
  async fn() {
    await withNetAndXdp((net, xdp) => {
      // A two-instruction program, r0 = XDP_PASS; exit, named foreign_xdp.
      const insns = new Uint8Array([0xb7, 0, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
      const lib = libbpf();
      const foreign = lib.bpf_prog_load(
        ProgType.XDP,
        cString("foreign_xdp"),
        cString("GPL"),
        insns,
        2n,
        null,
      );
      assert.ok(foreign >= 0, `bpf_prog_load: ${foreign}`);
      net.within(net.router, () => {
        const ifindex = interfaceIndex("r0");
        assert.equal(lib.bpf_xdp_attach(ifindex, foreign, XdpFlags.SKB_MODE, null), 0);
        const before = xdpQuery(ifindex).skbProgId;
        for (const mode of ["auto", "native", "generic"] as const) {
          assert.throws(
            () => xdp.attach("r0", mode),
            (e: unknown) =>
              e instanceof BpfError && e.errno === 17 &&
              e.message ===
                `attach XDP to r0: the interface already has XDP program "foreign_xdp" (id ` +
                  `${before}, generic); btblocker does not replace other programs: remove it ` +
                  `first (ip link set dev r0 xdp off)`,
          );
        }
        assert.equal(xdpQuery(ifindex).skbProgId, before);
        assert.deepEqual(xdp.attachments, []);
      });
      closeFd(foreign);
    });
  },
});

Deno.test({
  name: "xdp: detach leaves a program that replaced ours alone",
  ignore,
  async fn() {
    const net = await TestNet.create();
    const a = open();
    const b = open();
    try {
      net.within(net.router, () => {
        a.attach("r0", "generic");
        // Another btblocker instance takes over (it sees a's program as stale).
        b.attach("r0", "generic");
        assert.throws(
          () => a.detach("r0"),
          (e: unknown) =>
            e instanceof BpfError &&
            e.message ===
              "detach XDP from r0: another program has replaced btblocker's there; it is left in place",
        );
        assert.equal(xdpQuery(interfaceIndex("r0")).skbProgId, b.programId);
      });
    } finally {
      net.within(net.router, () => {
        a.close(false);
        b.close(false);
      });
      await net.remove();
    }
  },
});

Deno.test({
  name: "xdp: bpffs is mounted at /sys/fs/bpf when missing (private mount namespace)",
  ignore,
  async fn() {
    const fixture = new URL("./xdp_fixture.ts", import.meta.url).pathname;
    const dir = `/sys/fs/bpf/btb-${Deno.pid}-mount`;
    const script = `while mountpoint -q /sys/fs/bpf; do umount /sys/fs/bpf; done; ` +
      `stat -f -c %T /sys/fs/bpf; ` +
      `exec "$0" run --allow-ffi --allow-read "$1" open "$2"`;
    const out = await run(...inPrivateMounts(script, Deno.execPath(), fixture, dir));
    const [fsType, json] = out.trim().split("\n");
    assert.notEqual(fsType, "bpf_fs");
    assert.deepEqual(JSON.parse(json), {
      notes: ["mounted a bpf filesystem at /sys/fs/bpf"],
      restored: 0,
    });
  },
});

Deno.test({
  name: "xdp: the program has the name a stale one is recognised by",
  ignore,
  fn() {
    const xdp = open();
    try {
      assert.equal(XDP_PROGRAM_NAME, "btblocker_xdp");
      const lib = libbpf();
      const fd = lib.bpf_prog_get_fd_by_id(xdp.programId);
      assert.ok(fd >= 0);
      try {
        assert.deepEqual(programInfo(fd), {
          type: ProgType.XDP,
          id: xdp.programId,
          name: XDP_PROGRAM_NAME,
        });
      } finally {
        closeFd(fd);
      }
      assert.equal(lib.bpf_prog_get_fd_by_id(0x7ffffff0), -2);
    } finally {
      xdp.close(false);
    }
  },
});
