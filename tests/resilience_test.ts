/**
 * Resilience end to end: what btblocker does when the world changes under it, in the
 * client–router–peer test network of tests/live_test.ts (btblocker runs as a child process in
 * the router namespace, on r0 and r1, with the live permissions).
 *
 * - An interface that goes down and comes back up keeps being captured and enforced.
 * - An interface removed while btblocker runs (`ip link del r1`, inline and with the worker
 *   pool): the capture failure is logged once, naming the interface; the process keeps running;
 *   the remaining interface keeps being inspected and enforced (a new BitTorrent exchange over
 *   r0 gets its remote end banned and cut off by XDP on r0); the periodic and final stats mark
 *   r1 stopped; and a SIGTERM stop is still clean (exit 0, no XDP program left on r0, no failed
 *   detach from the vanished interface).
 * - btblocker killed with SIGKILL mid-run, then restarted, with each enforcer: while it is down,
 *   the ban it made is still enforced by what it left in the kernel (the stale XDP program over
 *   the pinned maps, or the `inet btblocker` table); the restart takes that state over (the stale
 *   program replaced, one program per interface; one table, never two, its ban adopted with the
 *   expiry it had), restores the ban, keeps enforcing it, and stops cleanly. The pid file the
 *   killed run left is taken over by the new run and removed at its clean stop.
 *
 * Each test builds its own network and removes it, with btblocker's pins and files, even on
 * failure. Needs root; skipped otherwise.
 *
 * @module
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { IS_ROOT, Net } from "../ffi/xdp_testnet.ts";
import {
  activeBans,
  BLOCKED_MS,
  BT_PORT,
  type Btblocker,
  CUT_MS,
  ECHO_PORT,
  type EnforcerProbe,
  type LiveLab,
  nftProbe,
  tcpServers,
  withLab,
  xdpDroppedPackets,
  xdpProbe,
} from "./helpers/live_lab.ts";
import { waitFor } from "./helpers/process.ts";

const ignore = !IS_ROOT;
if (ignore) console.warn("tests/resilience_test.ts: skipped, needs root (namespaces, XDP)");

/** The ban expiries (unix seconds) the elements of the IPv4 ban set carry in their comments. */
async function nftExpiries(lab: LiveLab): Promise<string[]> {
  const text = await lab.nft("list", "set", "inet", "btblocker", "ban4");
  return [...text.matchAll(/expiresAt=([\d.]+|inf)/g)].map((m) => m[1]);
}

/** The btblocker tables of the router namespace, as `nft list tables` names them. */
async function btblockerTables(lab: LiveLab): Promise<string[]> {
  return (await lab.nft("list", "tables")).split("\n").filter((l) => l.includes("btblocker"));
}

/** One XDP program attached to an interface, as `ip -j link show` reports it. */
interface AttachedProgram {
  /** 1 native, 2 generic, 3 offloaded. */
  mode: number;
  /** Kernel program id. */
  id: number;
  /** Kernel program name. */
  name: string;
}

/** The XDP programs attached to a router interface (none, one, or one per mode). */
async function xdpPrograms(lab: LiveLab, iface: string): Promise<AttachedProgram[]> {
  const [link] = JSON.parse(await lab.net.ip(lab.net.router, "-j", "link", "show", iface));
  const xdp = link.xdp;
  if (xdp === undefined) return [];
  const attached: { mode: number; prog: { id: number; name: string } }[] = xdp.attached ?? [xdp];
  return attached.map((a) => ({ mode: a.mode, id: a.prog.id, name: a.prog.name }));
}

/** Whether the peer reaches the client's echo service (it does not once banned). */
function reachesClient(lab: LiveLab, timeoutMs?: number): Promise<boolean> {
  return lab.connect(lab.net.peer, "echo", Net.client, ECHO_PORT, { bind: Net.peer, timeoutMs });
}

/**
 * The peer opens a peer wire connection to the client; once the client answered, btblocker
 * bans the peer (crossing r1, then r0). Resolves when the ban is in the kernel.
 */
async function banPeer(lab: LiveLab, b: Btblocker, probe: EnforcerProbe): Promise<void> {
  assert.ok(await reachesClient(lab), "the peer does not reach the client before any ban");
  const first = await lab.exchange(lab.net.peer, "bt", Net.client, BT_PORT, {
    bind: Net.peer,
    timeoutMs: CUT_MS,
  });
  // The handshakes crossed (the client answered); the ban may cut the messages that follow.
  assert.ok(first.ok || first.stage === "messages", JSON.stringify(first));
  const banned = await b.waitForBan(Net.peer);
  assert.equal(banned.reason, "bt_handshake");
  assert.deepEqual(banned.addresses, [Net.peer]);
  await waitFor(
    `${Net.peer} in the kernel ban list`,
    async () => (await probe.bans()).includes(Net.peer) || undefined,
  );
}

/** Asserts that the banned peer is cut off (the enforcer's drop counter rises), others pass. */
async function assertEnforced(lab: LiveLab, probe: EnforcerProbe, when: string): Promise<void> {
  const drops = await probe.drops();
  assert.equal(
    await reachesClient(lab, BLOCKED_MS),
    false,
    `${when}: the banned peer reached the client`,
  );
  assert.ok(await probe.drops() > drops, `${when}: the drop counter did not rise`);
  const { client, peer } = lab.net;
  assert.ok(await lab.net.ping(peer, Net.client, 2, Net.peer2) >= 1, `${when}: other peer cut off`);
  assert.ok(await lab.net.ping(client, Net.peer2, 2) >= 1, `${when}: other peer cut off`);
}

Deno.test({
  name: "resilience: an interface that goes down and up again is still captured and enforced",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      const { client, router, peer } = lab.net;
      await tcpServers(lab);
      const b = await lab.start();
      await lab.net.ip(router, "link", "set", "r1", "down");
      await waitFor(
        "the peer unreachable with r1 down",
        async () => await lab.net.ping(client, Net.peer2, 1) === 0 || undefined,
      );
      await lab.net.ip(router, "link", "set", "r1", "up");
      await waitFor(
        "the peer reachable with r1 up again",
        async () => await lab.net.ping(client, Net.peer2, 1) === 1 || undefined,
        5000,
        50,
      );
      assert.equal(b.status, null, "btblocker exited when r1 went down");
      assert.ok(await lab.xdpAttached("r1"), "XDP left r1 when it went down");

      await banPeer(lab, b, xdpProbe(lab));
      // r1 (the peer side) saw the exchange after coming back.
      await b.waitForRecord(
        "the exchange seen on r1",
        (r) => r.iface === "r1" && r.src_ip === Net.peer,
      );
      await assertEnforced(lab, xdpProbe(lab), "after r1 went down and up");
      // Packets of the peer to the router itself never reach r0: XDP on r1 drops them.
      assert.equal(await lab.net.ping(peer, Net.routerRight, 2, Net.peer), 0);
      assert.ok(await lab.net.ping(peer, Net.routerRight, 2, Net.peer2) >= 1);
      assert.doesNotMatch(b.output, /\[(ERR|WRN)\]/, "errors or warnings logged");
      await lab.stop(b);
    });
  },
});

for (const pool of [false, true]) {
  Deno.test({
    name: "resilience: an interface removed while running is logged, the others keep working, " +
      `and once created again it is captured again${pool ? " (worker pool)" : ""}`,
    ignore,
    async fn() {
      await withLab(async (lab) => {
        const { client, router } = lab.net;
        // The router itself serves BitTorrent and echo on its client-side address. Only the
        // client's first address is local: its second one plays a remote peer reached over r0.
        await Promise.all([
          lab.serve(router, "bt", Net.routerLeft, BT_PORT),
          lab.serve(router, "echo", Net.routerLeft, ECHO_PORT),
        ]);
        const b = await lab.start({
          noLocalNet: true,
          args: [
            ...["--local-net", `${Net.client}/32,${Net.client6}/128`],
            ...["--stats-interval", "1"],
            ...(pool ? ["--worker-pool", "--workers", "2"] : []),
          ],
        });
        assert.ok(await lab.xdpAttached("r0") && await lab.xdpAttached("r1"));

        await lab.net.ip(router, "link", "del", "r1"); // and with it the other end, p0
        const failure = await b.waitForLine(/\[ERR\] btblocker\.capture: r1: capture stopped: /);
        assert.equal(b.status, null, "btblocker exited when r1 went away");
        assert.ok(await lab.xdpAttached("r0"), "XDP left r0 when r1 went away");

        // r0 is still inspected and enforced: a new exchange over it gets the remote end
        // banned and cut off by XDP on r0.
        const remote = Net.client2;
        const echo = (timeoutMs?: number) =>
          lab.connect(client, "echo", Net.routerLeft, ECHO_PORT, { bind: remote, timeoutMs });
        assert.ok(await echo(), "the router's echo service is not reachable before any ban");
        const first = await lab.exchange(client, "bt", Net.routerLeft, BT_PORT, {
          bind: remote,
          timeoutMs: CUT_MS,
        });
        assert.ok(first.ok || first.stage === "messages", JSON.stringify(first));
        const banned = await b.waitForBan(remote);
        assert.equal(banned.iface, "r0");
        assert.deepEqual(banned.addresses, [remote]);
        await waitFor(
          `${remote} in the pinned ban map`,
          () => activeBans(lab.pinDir).includes(remote) || undefined,
        );
        const drops = xdpDroppedPackets(lab.pinDir);
        assert.equal(await echo(BLOCKED_MS), false, "a ban made after r1 went is not enforced");
        assert.ok(xdpDroppedPackets(lab.pinDir) > drops, "XDP on r0 dropped nothing");
        assert.ok(await lab.xdpAttached("r0"));
        // The periodic stats go on, with r1 marked stopped.
        await b.waitForLine(/btblocker\.stats: r0 \d+ packets.*; r1 \d+ packets[^;]*\[stopped\]/);
        assert.equal(b.status, null);

        // Created again under the same name (as a VPN tunnel is): r1 is captured and enforced
        // again, without a restart.
        await lab.net.linkPeer();
        await b.waitForLine(/btblocker\.capture: r1: back, capturing again .*XDP attached/);
        assert.ok(await lab.xdpAttached("r1"), "no XDP on the new r1");
        const { peer } = lab.net;
        const again = await lab.exchange(peer, "bt", Net.routerLeft, BT_PORT, {
          bind: Net.peer,
          timeoutMs: CUT_MS,
        });
        assert.ok(again.ok || again.stage === "messages", JSON.stringify(again));
        const bannedAgain = await b.waitForBan(Net.peer);
        assert.equal(bannedAgain.iface, "r1");
        await waitFor(
          `${Net.peer} in the pinned ban map`,
          () => activeBans(lab.pinDir).includes(Net.peer) || undefined,
        );
        // Traffic that crosses only r1: the banned peer is cut off, the other peer host is not.
        assert.equal(await lab.net.ping(peer, Net.routerRight, 2, Net.peer), 0);
        assert.ok(await lab.net.ping(peer, Net.routerRight, 2, Net.peer2) >= 1);

        await lab.stop(b); // exit 0, final stats, XDP detached from r0 and r1
        const final = b.lines.find((l) => l.includes("final:"))!;
        assert.doesNotMatch(final, /\[stopped\]/, final);
        // One error, the capture failure: the detach from the vanished r1 (at the failure and
        // again at shutdown) neither failed nor threw.
        const problems = b.lines.filter((l) => /\[(ERR|WRN|FTL)\]|Uncaught|^\s+at /.test(l));
        assert.deepEqual(problems, [failure], b.output);
      });
    },
  });
}

Deno.test({
  name: "resilience: SIGKILL mid-run, then restart (XDP): stale program replaced, ban kept",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      await tcpServers(lab);
      const probe = xdpProbe(lab);
      const pidFile = `${lab.dir}/btblocker.pid`;
      const args = ["--pid-file", pidFile];
      const first = await lab.start({ args });
      await banPeer(lab, first, probe);
      const [stale] = await xdpPrograms(lab, "r0");
      const firstPid = Deno.readTextFileSync(pidFile);

      const killed = await first.stop("SIGKILL");
      assert.equal(killed.signal, "SIGKILL");
      assert.doesNotMatch(first.output, /final:/);
      // Left behind: the program on both interfaces, the pinned ban, still enforced.
      for (const iface of ["r0", "r1"]) {
        assert.deepEqual(await xdpPrograms(lab, iface), [stale], `${iface} after SIGKILL`);
      }
      assert.equal(stale.name, "btblocker_xdp");
      assert.deepEqual(activeBans(lab.pinDir), [Net.peer]);
      await assertEnforced(lab, probe, "btblocker killed");
      assert.equal(Deno.readTextFileSync(pidFile), firstPid, "the killed run's pid file");

      const second = await lab.start({ args });
      const secondPid = Deno.readTextFileSync(pidFile);
      assert.notEqual(secondPid, firstPid, "the restart kept the dead run's pid file");
      for (const iface of ["r0", "r1"]) {
        assert.match(
          second.output,
          new RegExp(`replaced stale btblocker XDP program ${stale.id} on ${iface} \\(native\\)`),
        );
      }
      assert.match(second.output, /restored 1 bans from the previous run/);
      const [fresh] = await xdpPrograms(lab, "r0");
      assert.notEqual(fresh.id, stale.id, "the stale program is still attached");
      for (const iface of ["r0", "r1"]) {
        assert.deepEqual(await xdpPrograms(lab, iface), [fresh], `one program on ${iface}`);
      }
      assert.deepEqual(activeBans(lab.pinDir), [Net.peer]);
      await assertEnforced(lab, probe, "after the restart");

      await lab.stop(second);
      assert.match(second.lines.find((l) => l.includes("final:"))!, /bans 1 active/);
      assert.deepEqual(activeBans(lab.pinDir), [Net.peer]);
      assert.ok(!existsSync(pidFile), "the pid file outlived a clean stop");
    });
  },
});

Deno.test({
  name: "resilience: SIGKILL mid-run, then restart (nftables): one table, the ban adopted",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      await tcpServers(lab);
      const probe = nftProbe(lab);
      const args = ["--enforcer", "nftables"];
      const first = await lab.start({ args });
      assert.match(first.output, /nftables enforcement/);
      await banPeer(lab, first, probe);
      const expiries = await nftExpiries(lab);
      assert.equal(expiries.length, 1, "no expiry in the element's comment");

      const killed = await first.stop("SIGKILL");
      assert.equal(killed.signal, "SIGKILL");
      // Left behind: the table with the ban, still enforced.
      assert.deepEqual(await btblockerTables(lab), ["table inet btblocker"]);
      assert.deepEqual(await probe.bans(), [Net.peer]);
      await assertEnforced(lab, probe, "btblocker killed");

      const second = await lab.start({ args });
      assert.match(second.output, /restored 1 bans from the previous run/);
      assert.deepEqual(await btblockerTables(lab), ["table inet btblocker"]);
      assert.deepEqual(await probe.bans(), [Net.peer]);
      // Adopted as it was, not banned anew: it ends when it would have.
      assert.deepEqual(await nftExpiries(lab), expiries);
      await assertEnforced(lab, probe, "after the restart");
      assert.ok(!await lab.xdpAttached("r0") && !await lab.xdpAttached("r1"));

      await lab.stop(second);
      assert.match(second.lines.find((l) => l.includes("final:"))!, /bans 1 active/);
      assert.deepEqual(await btblockerTables(lab), [], "the table outlived a clean stop");
    });
  },
});
