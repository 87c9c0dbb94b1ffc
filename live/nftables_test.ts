/**
 * Tests of the nftables enforcer against the kernel. Each test builds its own network
 * namespaces (a router `R` between hosts `A` and `B`, all traffic inside them), runs the
 * enforcer in `R` through `nsenter --net=/run/netns/R nft`, and removes the namespaces in
 * `finally`. Needs root, nftables, iproute2, util-linux (nsenter) and iputils-ping; skipped
 * with a message otherwise.
 *
 * ```text
 *  A 10.201.1.2 (banned) ┐                     ┌ B 10.201.2.2 (banned)
 *    10.201.1.3          ├─ 10.201.1.1  R  10.201.2.1 ─┤   10.201.2.3
 *    fd01:1::2 (banned)  │  fd01:1::1      fd01:2::1   │   fd01:2::2 (banned)
 *    fd01:1::3           ┘                             └   fd01:2::3
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseAddress } from "../dpi/address.ts";
import type { EnforcedBan } from "./enforcer.ts";
import { NFTABLES_HINT, NftablesEnforcer, NftablesError, NftNotFoundError } from "./nftables.ts";

function missingTool(): string | null {
  if (Deno.build.os !== "linux") return "not Linux";
  if (Deno.uid() !== 0) return "not root (network namespaces and nftables need root)";
  const tools: [string, string, string][] = [
    ["nft", "--version", "nftables"],
    ["ip", "-V", "iproute2"],
    ["nsenter", "--version", "util-linux"],
    ["ping", "-V", "iputils-ping"],
  ];
  for (const [tool, flag, pkg] of tools) {
    try {
      new Deno.Command(tool, { args: [flag], stdout: "null", stderr: "null" }).outputSync();
    } catch {
      return `${tool} missing (apt install ${pkg})`;
    }
  }
  return null;
}

const skip = missingTool();
if (skip !== null) console.warn(`live/nftables_test.ts: kernel tests skipped: ${skip}`);

async function run(cmd: string[], check = true): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" })
    .output();
  const out = new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr);
  if (check && o.code !== 0) throw new Error(`${cmd.join(" ")}: ${out.trim()}`);
  return { code: o.code, out };
}

const ns = (name: string, ...cmd: string[]) => ["nsenter", `--net=/run/netns/${name}`, ...cmd];

interface Lab {
  r: string;
  a: string;
  b: string;
  /** The enforcer's `command` option for the router namespace. */
  nft: string[];
}

let labCount = 0;

/** Builds the namespaces, runs `body`, removes them whatever happens. */
async function withLab(body: (lab: Lab) => Promise<void>): Promise<void> {
  const id = `btn-${Deno.pid}-${++labCount}`;
  const lab: Lab = { r: `${id}r`, a: `${id}a`, b: `${id}b`, nft: ns(`${id}r`, "nft") };
  const made: string[] = [];
  try {
    for (const name of [lab.r, lab.a, lab.b]) {
      await run(["ip", "netns", "add", name]);
      made.push(name);
      await run(["ip", "-n", name, "link", "set", "lo", "up"]);
    }
    await run(["ip", "-n", lab.r, "link", "add", "vra", "type", "veth", "peer", "name", "var"]);
    await run(["ip", "-n", lab.r, "link", "set", "var", "netns", lab.a]);
    await run(["ip", "-n", lab.r, "link", "add", "vrb", "type", "veth", "peer", "name", "vbr"]);
    await run(["ip", "-n", lab.r, "link", "set", "vbr", "netns", lab.b]);
    const addrs: [string, string, string[]][] = [
      [lab.r, "vra", ["10.201.1.1/24", "fd01:1::1/64"]],
      [lab.r, "vrb", ["10.201.2.1/24", "fd01:2::1/64"]],
      [lab.a, "var", ["10.201.1.2/24", "10.201.1.3/24", "fd01:1::2/64", "fd01:1::3/64"]],
      [lab.b, "vbr", ["10.201.2.2/24", "10.201.2.3/24", "fd01:2::2/64", "fd01:2::3/64"]],
    ];
    for (const [n, dev, list] of addrs) {
      for (const addr of list) {
        const v6 = addr.includes(":");
        await run(["ip", "-n", n, "addr", "add", addr, "dev", dev, ...(v6 ? ["nodad"] : [])]);
      }
      await run(["ip", "-n", n, "link", "set", dev, "up"]);
    }
    for (
      const [n, v4, v6] of [[lab.a, "10.201.1.1", "fd01:1::1"], [lab.b, "10.201.2.1", "fd01:2::1"]]
    ) {
      await run(["ip", "-n", n, "route", "add", "default", "via", v4]);
      await run(["ip", "-n", n, "-6", "route", "add", "default", "via", v6]);
    }
    await run(ns(
      lab.r,
      "sh",
      "-c",
      [
        "echo 1 > /proc/sys/net/ipv4/ip_forward",
        "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding",
      ].join("; "),
    ));
    await body(lab);
  } finally {
    for (const name of made) await run(["ip", "netns", "del", name], false);
  }
}

/** Whether one ping from `src` (in namespace `from`) to `dst` is answered. */
async function reaches(from: string, src: string, dst: string): Promise<boolean> {
  const r = await run(ns(from, "ping", "-n", "-q", "-c", "1", "-W", "1", "-I", src, dst), false);
  return r.code === 0;
}

/**
 * Checks many reachabilities at once: [namespace, source, destination, expected]. A ping
 * expected to pass gets three tries (the first packets can be lost to neighbour discovery).
 */
async function expectReach(cases: [string, string, string, boolean][]): Promise<void> {
  const got = await Promise.all(cases.map(async ([n, s, d, want]) => {
    for (let i = 0; i < (want ? 3 : 1); i++) if (await reaches(n, s, d)) return true;
    return false;
  }));
  const wrong = cases.filter((c, i) => got[i] !== c[3]).map(([n, s, d, want]) =>
    `${n.slice(-1)}: ${s} -> ${d} ${want ? "blocked" : "passed"}`
  );
  assert.deepEqual(wrong, [], "unexpected reachability");
}

function words(text: string): { address: Uint32Array; ipVersion: number } {
  const address = new Uint32Array(4);
  const ipVersion = parseAddress(text, address);
  assert.ok(ipVersion !== 0, text);
  return { address, ipVersion };
}

function banOf(text: string, seconds: number, reason = 3): EnforcedBan {
  const now = Date.now() / 1000;
  return { ...words(text), bannedAt: now, expiresAt: now + seconds, reason };
}

async function tableCount(nft: string[]): Promise<number> {
  const { out } = await run([...nft, "list", "tables"]);
  return out.split("\n").filter((l) => l.trim() === "table inet btblocker").length;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const kernel = { ignore: skip !== null };

Deno.test("nftables: a missing nft is one line naming the package", async () => {
  const e = await NftablesEnforcer.open({ command: ["/nonexistent/nft"] }).catch((e) => e);
  assert.ok(e instanceof NftNotFoundError);
  assert.equal(e.message, `cannot run /nonexistent/nft: ${NFTABLES_HINT}`);
});

Deno.test({
  name: "nftables: bans drop IPv4 and IPv6 on forward, input and output; unban restores",
  ...kernel,
  fn: () =>
    withLab(async ({ r, a, b, nft }) => {
      const e = await NftablesEnforcer.open({ command: nft });
      try {
        assert.equal(e.name, "nftables");
        const all: [string, string, string, boolean][] = [
          [a, "10.201.1.2", "10.201.2.2", true], // forward, both banned
          [b, "10.201.2.2", "10.201.1.3", true], // forward, banned source
          [a, "10.201.1.3", "10.201.2.2", true], // forward, banned destination
          [a, "10.201.1.3", "10.201.2.3", true], // forward, neither banned
          [a, "10.201.1.2", "10.201.1.1", true], // input, banned source
          [r, "10.201.2.1", "10.201.1.2", true], // output, banned destination
          [a, "10.201.1.3", "10.201.1.1", true], // input, not banned
          [a, "fd01:1::2", "fd01:2::2", true],
          [b, "fd01:2::2", "fd01:1::3", true],
          [a, "fd01:1::3", "fd01:2::2", true],
          [a, "fd01:1::3", "fd01:2::3", true],
          [a, "fd01:1::2", "fd01:1::1", true],
          [r, "fd01:2::1", "fd01:1::2", true],
          [a, "fd01:1::3", "fd01:1::1", true],
        ];
        await expectReach(all);
        assert.deepEqual(e.counters(), {
          ipv4Packets: 0,
          ipv4Bytes: 0,
          ipv6Packets: 0,
          ipv6Bytes: 0,
        });
        const banned = ["10.201.1.2", "10.201.2.2", "fd01:1::2", "fd01:2::2"];
        for (const t of banned) e.ban(banOf(t, 600));
        await e.flush();
        assert.equal(e.list().length, 4);
        const unbanned = new Set([3, 6, 10, 13]);
        await expectReach(all.map((c, i) => [c[0], c[1], c[2], unbanned.has(i)]));
        const c = e.counters();
        assert.ok(c.ipv4Packets >= 5 && c.ipv4Bytes >= 5 * 84, JSON.stringify(c));
        assert.ok(c.ipv6Packets >= 5 && c.ipv6Bytes >= 5 * 104, JSON.stringify(c));
        for (const t of banned) {
          const w = words(t);
          e.unban(w.address, w.ipVersion);
        }
        await e.flush();
        assert.equal(e.list().length, 0);
        await expectReach(all);
        assert.deepEqual(e.counters(), c, "counters keep counting from creation");
      } finally {
        e.close(false);
      }
    }),
});

Deno.test({
  name: "nftables: timeouts expire by themselves; refresh extends; unban of absent is fine",
  ...kernel,
  fn: () =>
    withLab(async ({ a, nft }) => {
      const e = await NftablesEnforcer.open({ command: nft });
      try {
        e.ban(banOf("10.201.1.2", 1.2));
        e.ban(banOf("fd01:1::2", 1.2));
        e.ban(banOf("10.201.1.3", 1.2));
        const absent = words("192.0.2.99");
        e.unban(absent.address, absent.ipVersion);
        await e.flush();
        e.ban(banOf("10.201.1.3", 60)); // refresh: the short timeout is replaced
        await e.flush();
        assert.equal(e.list().length, 3);
        await expectReach([
          [a, "10.201.1.2", "10.201.1.1", false],
          [a, "fd01:1::2", "fd01:1::1", false],
        ]);
        await sleep(1600);
        const left = e.list();
        assert.equal(left.length, 1);
        assert.ok(left[0].expiresAt > Date.now() / 1000 + 55);
        await expectReach([
          [a, "10.201.1.2", "10.201.1.1", true],
          [a, "fd01:1::2", "fd01:1::1", true],
          [a, "10.201.1.3", "10.201.1.1", false],
        ]);
      } finally {
        e.close(false);
      }
    }),
});

Deno.test({
  name: "nftables: close(false) removes the table; close(true) keeps it for the next run",
  ...kernel,
  fn: () =>
    withLab(async ({ a, nft }) => {
      const first = await NftablesEnforcer.open({ command: nft });
      const bans = [banOf("10.201.1.2", 600, 5), banOf("fd01:1::2", 900, 7)];
      for (const ban of bans) first.ban(ban);
      await first.flush();
      await expectReach([[a, "10.201.1.2", "10.201.1.1", false]]);
      const counted = first.counters();
      first.close(true);
      assert.equal(await tableCount(nft), 1);
      await expectReach([[a, "10.201.1.2", "10.201.1.1", false]]); // still enforced

      const second = await NftablesEnforcer.open({ command: nft });
      try {
        assert.equal(second.adopted, 2);
        assert.equal(await tableCount(nft), 1);
        const listed = second.list().sort((x, y) => x.ipVersion - y.ipVersion);
        assert.equal(listed.length, 2);
        for (let i = 0; i < 2; i++) {
          assert.deepEqual(listed[i].address, bans[i].address);
          assert.equal(listed[i].ipVersion, bans[i].ipVersion);
          assert.equal(listed[i].reason, bans[i].reason);
          assert.ok(Math.abs(listed[i].bannedAt - bans[i].bannedAt) < 0.002);
          assert.ok(Math.abs(listed[i].expiresAt - bans[i].expiresAt) < 0.002);
        }
        assert.ok(second.counters().ipv4Packets >= counted.ipv4Packets);
        await expectReach([[a, "10.201.1.2", "10.201.1.1", false]]);
      } finally {
        second.close(false);
      }
      assert.equal(await tableCount(nft), 0);
      await expectReach([[a, "10.201.1.2", "10.201.1.1", true]]);
    }),
});

Deno.test({
  name: "nftables: close(true) applies queued and in-flight changes first",
  ...kernel,
  fn: () =>
    withLab(async ({ nft }) => {
      const first = await NftablesEnforcer.open({ command: nft });
      for (let i = 0; i < 1000; i++) first.ban(banOf(`10.110.${i >> 8}.${i & 255}`, 600));
      const w = words("10.110.0.0");
      first.unban(w.address, w.ipVersion);
      first.close(true); // nothing applied yet: done synchronously, in several nft calls
      const second = await NftablesEnforcer.open({ command: nft });
      assert.equal(second.adopted, 999);
      for (let i = 0; i < 500; i++) second.ban(banOf(`10.111.${i >> 8}.${i & 255}`, 600));
      await sleep(10); // the first batch is probably running now (not asserted: timing)
      for (let i = 500; i < 600; i++) second.ban(banOf(`10.111.${i >> 8}.${i & 255}`, 600));
      const flushed = second.flush();
      second.close(true);
      await flushed;
      const third = await NftablesEnforcer.open({ command: nft });
      try {
        assert.equal(third.adopted, 1599);
      } finally {
        third.close(false);
      }
    }),
});

Deno.test({
  name: "nftables: a crashed run's table is adopted once (no duplicate), or dropped with flush",
  ...kernel,
  fn: () =>
    withLab(async ({ a, nft }) => {
      // An older, different table, with a ban added by hand (no comment).
      await run([
        ...nft,
        "table inet btblocker { set ban4 { type ipv4_addr; flags timeout; " +
        "elements = { 10.201.1.2 timeout 1h }; }; chain stale { type filter hook input " +
        "priority 0; policy accept; ip saddr @ban4 counter drop; }; }",
      ]);
      const crashed = await NftablesEnforcer.open({ command: nft });
      assert.equal(crashed.adopted, 1);
      crashed.ban(banOf("fd01:1::2", 600, 9));
      await crashed.flush();
      // "crash": the enforcer goes away without close().

      const next = await NftablesEnforcer.open({ command: nft });
      try {
        assert.equal(next.adopted, 2);
        assert.equal(await tableCount(nft), 1);
        const { out } = await run([...nft, "-t", "list", "table", "inet", "btblocker"]);
        assert.ok(!out.includes("stale"), out);
        const byHand = next.list().find((x) => x.ipVersion === 4)!;
        assert.equal(byHand.reason, 0);
        assert.ok(Math.abs(byHand.expiresAt - (Date.now() / 1000 + 3600)) < 10);
        assert.equal(next.list().find((x) => x.ipVersion === 6)?.reason, 9);
        await expectReach([
          [a, "10.201.1.2", "10.201.1.1", false],
          [a, "fd01:1::2", "fd01:1::1", false],
        ]);
      } finally {
        next.close(true);
      }
      const fresh = await NftablesEnforcer.open({ command: nft, flush: true });
      try {
        assert.equal(fresh.adopted, 0);
        assert.deepEqual(fresh.list(), []);
        assert.equal(await tableCount(nft), 1);
        await expectReach([[a, "10.201.1.2", "10.201.1.1", true]]);
      } finally {
        fresh.close(false);
      }
    }),
});

Deno.test({
  name: "nftables: a vanished table is rebuilt; nft errors reach flush() as one line",
  ...kernel,
  fn: () =>
    withLab(async ({ a, nft }) => {
      const notices: string[] = [];
      const e = await NftablesEnforcer.open({
        command: nft,
        onError: (x) => notices.push(x.message),
      });
      try {
        e.ban(banOf("10.201.1.2", 600));
        await e.flush();
        await run([...nft, "flush", "ruleset"]); // e.g. `systemctl restart nftables`
        e.ban(banOf("fd01:1::2", 600));
        await e.flush();
        assert.equal(e.list().length, 2);
        assert.equal(e.stats.rebuilds, 1);
        assert.match(notices[0], /vanished.*rebuilt it with 2 bans/);
        await expectReach([
          [a, "10.201.1.2", "10.201.1.1", false],
          [a, "fd01:1::2", "fd01:1::1", false],
        ]);

        // A table of the same name but another shape: the batch fails, flush() says why.
        await run([
          ...nft,
          "delete table inet btblocker; table inet btblocker { set ban4 { type ipv6_addr; }; }",
        ]);
        e.ban(banOf("10.201.1.3", 600));
        const err = await e.flush().then(() => null, (x) => x);
        assert.ok(err instanceof NftablesError, String(err));
        assert.ok(!err.message.includes("\n"), err.message);
        assert.match(err.message, /^nft: .*10\.201\.1\.3/);
        assert.equal(notices.length, 2);
        assert.equal(e.stats.failures, 1);
        console.log(`  nft error as reported: ${err.message}`);
      } finally {
        e.close(false);
      }
    }),
});

Deno.test({
  name: "nftables: 1000 bans are applied in one batch (measured)",
  ...kernel,
  fn: () =>
    withLab(async ({ a, nft }) => {
      const e = await NftablesEnforcer.open({ command: nft });
      try {
        // Spawn cost alone, for comparison.
        let t = performance.now();
        for (let i = 0; i < 5; i++) await run([...nft, "list", "tables"]);
        const spawnMs = (performance.now() - t) / 5;

        const single: number[] = [];
        for (let i = 0; i < 10; i++) {
          t = performance.now();
          e.ban(banOf(`10.202.0.${i + 1}`, 600));
          await e.flush();
          single.push(performance.now() - t);
        }
        single.sort((x, y) => x - y);

        const measure = async (make: (i: number) => string) => {
          const start = performance.now();
          const batches = e.stats.batches;
          for (let i = 0; i < 1000; i++) e.ban(banOf(make(i), 600));
          await e.flush();
          return { ms: performance.now() - start, batches: e.stats.batches - batches };
        };
        const v4 = await measure((i) => `10.100.${i >> 8}.${i & 255}`);
        const v6 = await measure((i) => `2001:db8::${(i + 1).toString(16)}`);
        const refresh = await measure((i) => `10.100.${i >> 8}.${i & 255}`);
        assert.equal(e.list().length, 2010);

        t = performance.now();
        for (let i = 0; i < 1000; i++) {
          const w = words(`10.100.${i >> 8}.${i & 255}`);
          e.unban(w.address, w.ipVersion);
        }
        await e.flush();
        const unbanMs = performance.now() - t;
        assert.equal(e.list().length, 1010);

        // Many small batches: bans arriving one per millisecond.
        t = performance.now();
        const b0 = e.stats.batches;
        for (let i = 0; i < 200; i++) {
          e.ban(banOf(`10.203.0.${i + 1}`, 600));
          await sleep(1);
        }
        await e.flush();
        const trickleMs = performance.now() - t;
        const trickleBatches = e.stats.batches - b0;
        assert.equal(e.list().length, 1210);
        await expectReach([[a, "10.201.1.2", "10.201.1.1", true]]);

        const f = (x: number) => x.toFixed(1);
        console.log(
          `  nft spawn (list tables, via nsenter): ${f(spawnMs)} ms\n` +
            `  single ban, ban() to flush(): median ${f(single[5])} ms, min ${f(single[0])} ms\n` +
            `  1000 IPv4 bans: ${f(v4.ms)} ms in ${v4.batches} batch(es) ` +
            `= ${Math.round(1000 / v4.ms * 1000)} bans/s\n` +
            `  1000 IPv6 bans: ${f(v6.ms)} ms in ${v6.batches} batch(es)\n` +
            `  1000 refreshes: ${f(refresh.ms)} ms in ${refresh.batches} batch(es)\n` +
            `  1000 unbans: ${f(unbanMs)} ms\n` +
            `  200 bans 1 ms apart: ${f(trickleMs)} ms in ${trickleBatches} batches`,
        );
      } finally {
        e.close(false);
      }
    }),
});
