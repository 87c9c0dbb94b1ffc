/**
 * Live mode end to end: btblocker runs as a child process (`deno run` with the live
 * permissions, never `-A`) in the router namespace of a client–router–peer test network,
 * capturing and enforcing on both of the router's veths, while real endpoints in the client and
 * peer namespaces talk BitTorrent (and other things) through it. Each test builds its own
 * network and removes it, with btblocker's pins and files, even on failure. Needs root; skipped
 * otherwise.
 */

import assert from "node:assert/strict";
import { IS_ROOT, Net } from "../ffi/xdp_testnet.ts";
import {
  activeBans,
  BLOCKED_MS,
  BT_PORT,
  type Btblocker,
  CUT_MS,
  ECHO_PORT,
  type EnforcerProbe,
  LIVE_PERMISSIONS,
  LiveLab,
  MAIN,
  nftProbe,
  pinnedBans,
  PYTHON,
  SCRATCH,
  SPOOFER,
  tcpServers,
  withLab,
  xdpDroppedPackets,
  xdpProbe,
} from "./helpers/live_lab.ts";
import { runCommand, waitFor, withBindMounts } from "./helpers/process.ts";

const ignore = !IS_ROOT;
if (ignore) console.warn("tests/live_test.ts: skipped, needs root (namespaces, XDP, capture)");

/** The addresses of one family in the test network. */
interface Family {
  name: string;
  client: string;
  peer: string;
  otherPeer: string;
}

const V4: Family = { name: "IPv4", client: Net.client, peer: Net.peer, otherPeer: Net.peer2 };
const V6: Family = { name: "IPv6", client: Net.client6, peer: Net.peer6, otherPeer: Net.peer6b };

/**
 * The TCP blocking scenario: the peer opens a peer wire connection to the client (handshake,
 * then messages); the peer, not the client, gets banned once its answer proves the flow; new
 * connections between them fail both ways while the enforcer's drop counter rises; the other
 * peer host keeps working both ways.
 */
async function tcpBlocking(lab: LiveLab, b: Btblocker, f: Family, probe: EnforcerProbe) {
  const { client, peer } = lab.net;
  // Before any ban, both peer hosts reach the client's non-BitTorrent service.
  assert.ok(await lab.connect(peer, "echo", f.client, ECHO_PORT, { bind: f.peer }));

  const first = await lab.exchange(peer, "bt", f.client, BT_PORT, {
    bind: f.peer,
    timeoutMs: CUT_MS,
  });
  // The handshakes crossed (the client answered); the ban may cut the messages that follow.
  assert.ok(first.ok || first.stage === "messages", JSON.stringify(first));
  const banned = await b.waitForBan(f.peer);
  assert.equal(banned.reason, "bt_handshake");
  assert.equal(banned.evidence.bidirectional, true);
  assert.deepEqual(banned.addresses, [f.peer]);
  assert.ok(banned.ban_latency_ms !== null && banned.ban_latency_ms >= 0);
  // The peer's handshake alone proved nothing: logged, not banned.
  const early = b.records().find((r) => r.src_ip === f.peer && r.event_type === "detection");
  assert.equal(early?.action, "insufficient_evidence", JSON.stringify(early));
  for (const r of b.records()) {
    if (r.action === "banned") assert.ok(!r.addresses.includes(f.client), "client banned");
  }
  await waitFor(
    `${f.peer} in the kernel ban list`,
    async () => (await probe.bans()).includes(f.peer) ? true : undefined,
  );
  assert.ok(!(await probe.bans()).includes(f.client));

  const dropsBefore = await probe.drops();
  assert.equal(
    await lab.connect(peer, "echo", f.client, ECHO_PORT, { bind: f.peer, timeoutMs: BLOCKED_MS }),
    false,
    "banned peer reached the client",
  );
  assert.equal(
    await lab.connect(client, "echo", f.peer, ECHO_PORT, { timeoutMs: BLOCKED_MS }),
    false,
    "client reached the banned peer",
  );
  assert.ok(await probe.drops() > dropsBefore, "drop counter did not rise");

  // The other peer host is not affected, either way.
  assert.ok(await lab.connect(peer, "echo", f.client, ECHO_PORT, { bind: f.otherPeer }));
  assert.ok(await lab.connect(client, "echo", f.otherPeer, ECHO_PORT));
  assert.ok(await lab.net.ping(client, f.otherPeer, 2) >= 1);
  assert.ok(await lab.net.ping(peer, f.client, 2, f.otherPeer) >= 1);
  assert.equal(await lab.net.ping(client, f.peer, 2), 0);
}

Deno.test({
  name: "live: a TCP peer wire exchange over IPv4 and IPv6 gets the peer banned by XDP",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      await tcpServers(lab);
      const b = await lab.start();
      assert.ok(await lab.xdpAttached("r0") && await lab.xdpAttached("r1"));
      for (const f of [V4, V6]) await tcpBlocking(lab, b, f, xdpProbe(lab));
      assert.deepEqual(activeBans(lab.pinDir), [V6.peer, V4.peer].sort());
      await lab.stop(b); // exit 0, final stats, XDP detached from r0 and r1
      const final = b.lines.find((l) => l.includes("final:"))!;
      assert.match(final, /bans 2 active/);
      assert.match(final, /xdp drops [1-9]\d* packets/);
    });
  },
});

Deno.test({
  name: "live: the nftables enforcer blocks the same TCP exchange, and its table goes at exit",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      await tcpServers(lab);
      const b = await lab.start({ args: ["--enforcer", "nftables"] });
      assert.match(b.output, /nftables enforcement/);
      assert.ok(!await lab.xdpAttached("r0") && !await lab.xdpAttached("r1"));
      for (const f of [V4, V6]) await tcpBlocking(lab, b, f, nftProbe(lab));
      await lab.stop(b);
      const tables = await lab.inNamespace(lab.net.router, "nft", "list", "tables");
      assert.doesNotMatch(tables, /btblocker/);
    });
  },
});

Deno.test({
  name: "live: DHT, uTP and UDP tracker exchanges with real endpoints get the remote end banned",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      const { client, peer } = lab.net;
      const exchanges = [
        { proto: "dht", host: "10.77.2.4", port: 6881, reason: "dht_krpc" },
        { proto: "utp", host: "10.77.2.5", port: 6882, reason: "utp" },
        { proto: "tracker", host: "10.77.2.6", port: 6969, reason: "udp_tracker" },
        { proto: "dht", host: "fd77:2::4", port: 6881, reason: "dht_krpc" },
        { proto: "utp", host: "fd77:2::5", port: 6882, reason: "utp" },
        { proto: "tracker", host: "fd77:2::6", port: 6969, reason: "udp_tracker" },
      ];
      await lab.addPeerAddresses(
        ...exchanges.map((e) => e.host.includes(":") ? `${e.host}/64` : `${e.host}/24`),
      );
      await Promise.all([
        ...exchanges.map((e) => lab.serve(peer, e.proto, e.host, e.port)),
        lab.serve(peer, "udp-echo", Net.peer2, 7001),
      ]);
      const b = await lab.start();
      await Promise.all(
        exchanges.map((e) => lab.connect(client, e.proto, e.host, e.port, { timeoutMs: 500 })),
      );
      for (const e of exchanges) {
        const r = await b.waitForBan(e.host);
        assert.equal(r.reason, e.reason, e.host);
      }
      // A UDP exchange that is not BitTorrent is left alone.
      assert.ok(await lab.connect(client, "udp-echo", Net.peer2, 7001));
      assert.deepEqual(activeBans(lab.pinDir), exchanges.map((e) => e.host).sort());
      for (const r of b.records()) {
        assert.ok(!r.addresses.some((a) => a.startsWith("10.77.1.") || a.startsWith("fd77:1:")));
      }
      // The banned tracker no longer answers.
      assert.equal(
        await lab.connect(client, "tracker", "10.77.2.6", 6969, { timeoutMs: BLOCKED_MS }),
        false,
      );
      await lab.stop(b);
    });
  },
});

/** The router's upstream gateways in the spoofing tests (routes via them, no hosts). */
const GATEWAY = "10.77.2.254";
const GATEWAY6 = "fd77:2::fe";
/** An address the spoofing tests allowlist with `--allow`. */
const ALLOWED = "10.77.2.200";

/**
 * Forged sources of the spoofing tests, by class: a victim that exists (the other peer host),
 * addresses nobody has, an allowlisted one, the router's own addresses, and its gateways.
 */
const FORGED = {
  victims: [Net.peer2, Net.peer6b],
  unused: ["10.77.2.100", "fd77:2::100"],
  protected: [ALLOWED, Net.routerLeft, Net.routerRight, GATEWAY, GATEWAY6],
};
const ALL_FORGED = Object.values(FORGED).flat();

/**
 * A lab whose client answers whatever it receives (a DHT node, a uTP endpoint and a UDP tracker
 * over both families, and a peer wire listener), whose peer runs a genuine DHT node, and whose
 * router has default routes through {@linkcode GATEWAY} and {@linkcode GATEWAY6}. Returns the
 * client's UDP responders.
 */
async function spoofTargets(lab: LiveLab) {
  const { client, peer, router } = lab.net;
  await lab.net.ip(router, "route", "add", "default", "via", GATEWAY);
  await lab.net.ip(router, "-6", "route", "add", "default", "via", GATEWAY6);
  const responders = await Promise.all([
    ...["0.0.0.0", "::"].flatMap((host) => [
      lab.serve(client, "dht", host, 6881),
      lab.serve(client, "utp", host, 6882),
      lab.serve(client, "tracker", host, 6969),
    ]),
    lab.serve(client, "bt", "::", BT_PORT),
  ]);
  await lab.serve(peer, "dht", Net.peer, 6881);
  return responders.slice(0, -1);
}

/** Runs the spoofer in the peer namespace against both client addresses; waits for its end. */
async function spoof(lab: LiveLab, rounds: number, interval: number): Promise<number> {
  const spoofer = lab.spawnIn(lab.net.peer, [
    PYTHON,
    SPOOFER,
    ...["--target", Net.client, "--target", Net.client6],
    ...ALL_FORGED.flatMap((s) => ["--source", s]),
    ...["--rounds", String(rounds), "--interval", String(interval)],
  ]);
  const status = await spoofer.stop(undefined, 120000);
  assert.equal(status.code, 0, spoofer.output);
  return JSON.parse(spoofer.lines.at(-1)!).sent;
}

/**
 * Ends a spoofing run with a genuine DHT exchange: once both interfaces logged it, btblocker
 * has processed everything the spoofer sent before it. The genuine peer is banned.
 */
async function genuineExchange(lab: LiveLab, b: Btblocker): Promise<void> {
  await lab.connect(lab.net.client, "dht", Net.peer, 6881, { timeoutMs: 500 });
  await b.waitForBan(Net.peer);
  for (const iface of ["r0", "r1"]) {
    await b.waitForRecord(
      `genuine DHT query seen on ${iface}`,
      (r) => r.iface === iface && r.dest_ip === Net.peer,
    );
  }
}

Deno.test({
  name: "live: forged DHT, uTP, UDP tracker and TCP SYN+payload packets ban nobody, even " +
    "when the local host answers, whatever the forged source",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      const responders = await spoofTargets(lab);
      // Every report written (the next test covers the rate limit).
      const b = await lab.start({ args: ["--allow", ALLOWED, "--report-rate", "100000"] });
      assert.match(b.output, new RegExp(`never banned: the gateways .*${GATEWAY}, ${GATEWAY6}`));
      await spoof(lab, 3, 0.0005);
      // The local host answered the forged sources that reached it (the router's kernel drops
      // packets forged with its own addresses; btblocker saw them on r1 all the same).
      await waitFor("answers to forged queries", () => {
        const answered = responders.flatMap((r) => r.lines).filter((l) => l.includes("answered"));
        return [...FORGED.victims, ...FORGED.unused].every((a) =>
            answered.some((l) => l.includes(`"${a}"`))
          )
          ? true
          : undefined;
      });
      await genuineExchange(lab, b);
      const records = b.records();
      for (const source of ALL_FORGED) {
        const reasons = new Set(
          records.filter((r) => r.src_ip === source || r.dest_ip === source).map((r) => r.reason),
        );
        // uTP alone (one way, or answered by the local side only) proves nothing to detect.
        for (const reason of ["dht_krpc", "udp_tracker", "bt_handshake"]) {
          assert.ok(reasons.has(reason), `${source}: no ${reason} detection`);
        }
      }
      for (const r of records) {
        if (!ALL_FORGED.includes(r.src_ip) && !ALL_FORGED.includes(r.dest_ip)) continue;
        const expected = r.addresses.every((a) => FORGED.protected.includes(a))
          ? "allowlisted"
          : "insufficient_evidence";
        assert.equal(r.action, expected, JSON.stringify(r));
      }
      for (const r of records) {
        if (r.action === "banned") assert.deepEqual(r.addresses, [Net.peer]);
      }
      assert.deepEqual(activeBans(lab.pinDir), [Net.peer]);
      assert.ok(await lab.net.ping(lab.net.client, Net.peer2, 2) >= 1, "the victim was cut off");
      assert.ok(await lab.net.ping(lab.net.client, Net.peer6b, 2) >= 1, "the victim was cut off");
      await lab.stop(b);
      assert.match(b.lines.find((l) => l.includes("final:"))!, /bans 1 active \(1 installed/);
    });
  },
});

Deno.test({
  name: "live: a spoofed flood fills the detection log no faster than --report-rate allows, " +
    "and counts what it held back",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      await spoofTargets(lab);
      const rate = 5;
      const started = performance.now();
      const b = await lab.start({ args: ["--allow", ALLOWED, "--report-rate", String(rate)] });
      const sent = await spoof(lab, 40, 0);
      // The genuine ban shows the run bans; its query's record may well be held back here, so
      // unlike genuineExchange this waits for the ban only.
      await lab.connect(lab.net.client, "dht", Net.peer, 6881, { timeoutMs: 500 });
      await b.waitForBan(Net.peer);
      await lab.stop(b);
      const seconds = (performance.now() - started) / 1000;
      const records = b.records();
      // A bucket of rate × 10 reports for proven and one for unproven detections, refilled at
      // `rate` per second each.
      const bound = 2 * rate * (10 + seconds);
      assert.ok(records.length <= bound, `${records.length} records in ${seconds} s`);
      const held = b.lines.filter((l) => l.includes("held back by the report rate limit"))
        .map((l) => Number(/(\d+) detection reports held back/.exec(l)![1]))
        .reduce((a, n) => a + n, 0);
      const detections = Number(
        /detections (\d+)/.exec(b.lines.find((l) => l.includes("final:"))!)![1],
      );
      assert.ok(
        held > 0 && records.length + held >= detections,
        `${held} held back, ${records.length} written, ${detections} detections of ${sent} packets`,
      );
      assert.deepEqual(activeBans(lab.pinDir), [Net.peer]);
    });
  },
});

Deno.test({
  name: "live: a ban of --ban-duration 4s ends and traffic passes again",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      await tcpServers(lab);
      const { peer } = lab.net;
      const b = await lab.start({ args: ["--ban-duration", "4s", "--cleanup-interval", "1s"] });
      await lab.exchange(peer, "bt", Net.client, BT_PORT, { bind: Net.peer, timeoutMs: CUT_MS });
      const r = await b.waitForBan(Net.peer);
      const expires = Date.parse(r.ban_expires!);
      const lasts = expires - Date.parse(r.timestamp);
      assert.ok(lasts > 3500 && lasts < 4500, `ban lasts ${lasts} ms`);
      assert.equal(
        await lab.connect(peer, "echo", Net.client, ECHO_PORT, {
          bind: Net.peer,
          timeoutMs: BLOCKED_MS,
        }),
        false,
      );
      await waitFor(
        "the banned peer gets through again",
        async () =>
          await lab.connect(peer, "echo", Net.client, ECHO_PORT, {
            bind: Net.peer,
            timeoutMs: 300,
          }) || undefined,
        10000,
        0,
      );
      assert.ok(Date.now() >= expires - 50, "passed before the ban ended");
      // The sweep removes the entry from the map and counts it.
      await waitFor("expired ban swept", () => pinnedBans(lab.pinDir).length === 0 || undefined);
      await b.waitForLine(/1 bans expired/);
      await lab.stop(b);
      assert.match(b.lines.find((l) => l.includes("final:"))!, /1 installed, 1 expired/);
    });
  },
});

Deno.test({
  name: "live: --monitor-only detects and logs but never bans",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      await tcpServers(lab);
      const { peer } = lab.net;
      const b = await lab.start({ args: ["--monitor-only"] });
      assert.match(b.output, /monitor only/);
      assert.ok(!await lab.xdpAttached("r0") && !await lab.xdpAttached("r1"));
      assert.ok(await lab.connect(peer, "bt", Net.client, BT_PORT, { bind: Net.peer }));
      const r = await b.waitForRecord("monitor", (r) => r.action === "monitor");
      assert.deepEqual(r.addresses, [Net.peer]);
      assert.equal(r.ban_expires, null);
      assert.ok(await lab.connect(peer, "bt", Net.client, BT_PORT, { bind: Net.peer }));
      assert.ok(await lab.connect(peer, "echo", Net.client, ECHO_PORT, { bind: Net.peer }));
      assert.ok(b.records().every((r) => r.action !== "banned"));
      assert.deepEqual(pinnedBans(lab.pinDir), []);
      await lab.stop(b);
      assert.match(b.lines.find((l) => l.includes("final:"))!, /bans 0 active \(0 installed/);
    });
  },
});

Deno.test({
  name: "live: --allow keeps its range from being banned (others still are)",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      await tcpServers(lab);
      const { peer } = lab.net;
      const b = await lab.start({ args: ["--allow", "10.77.2.0/28,192.0.2.0/24"] });
      await lab.exchange(peer, "bt", Net.client, BT_PORT, { bind: Net.peer });
      await b.waitForRecord("allowlisted", (r) => r.action === "allowlisted");
      // Outside the allowed range, the same exchange is banned: the run does ban.
      await lab.exchange(peer, "bt", Net.client6, BT_PORT, { bind: Net.peer6, timeoutMs: CUT_MS });
      await b.waitForBan(Net.peer6);
      assert.ok(await lab.connect(peer, "bt", Net.client, BT_PORT, { bind: Net.peer }));
      assert.ok(
        b.records().every((r) => !(r.action === "banned" && r.addresses.includes(Net.peer))),
      );
      assert.deepEqual(activeBans(lab.pinDir), [Net.peer6]);
      await lab.stop(b);
    });
  },
});

Deno.test({
  name: "live: bans survive a restart through the pinned maps; --flush-bans clears them",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      await tcpServers(lab);
      const { peer } = lab.net;
      const echo = (timeoutMs?: number) =>
        lab.connect(peer, "echo", Net.client, ECHO_PORT, { bind: Net.peer, timeoutMs });

      const first = await lab.start();
      await lab.exchange(peer, "bt", Net.client, BT_PORT, { bind: Net.peer, timeoutMs: CUT_MS });
      await first.waitForBan(Net.peer);
      await lab.stop(first);
      // Stopped: XDP is detached, the bans stay pinned.
      assert.deepEqual(activeBans(lab.pinDir), [Net.peer]);
      assert.ok(await echo());

      const second = await lab.start();
      assert.match(second.output, /restored 1 bans/);
      const drops = xdpDroppedPackets(lab.pinDir);
      assert.equal(await echo(BLOCKED_MS), false, "the restored ban is not enforced");
      assert.ok(xdpDroppedPackets(lab.pinDir) > drops);
      await lab.stop(second);

      const third = await lab.start({ args: ["--flush-bans"] });
      assert.match(third.output, /flushed 1 pinned bans/);
      assert.deepEqual(pinnedBans(lab.pinDir), []);
      assert.ok(await echo());
      await lab.stop(third);
    });
  },
});

Deno.test({
  name: "live: SIGHUP reopens the detection log (logrotate)",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      const { client, peer } = lab.net;
      await lab.addPeerAddresses("10.77.2.4/24", "10.77.2.6/24");
      await lab.serve(peer, "dht", "10.77.2.4", 6881);
      await lab.serve(peer, "tracker", "10.77.2.6", 6969);
      const b = await lab.start();
      await lab.connect(client, "dht", "10.77.2.4", 6881, { timeoutMs: 500 });
      await b.waitForBan("10.77.2.4");
      const rotated = `${b.detectionLog}.1`;
      Deno.renameSync(b.detectionLog, rotated);
      b.signal("SIGHUP");
      await b.waitForLine(/reopened the detection log/);
      await lab.connect(client, "tracker", "10.77.2.6", 6969, { timeoutMs: 500 });
      await b.waitForBan("10.77.2.6");
      const old = b.records(rotated);
      assert.ok(old.some((r) => r.addresses.includes("10.77.2.4")));
      assert.ok(old.every((r) => !r.addresses.includes("10.77.2.6")));
      assert.ok(b.records().every((r) => !r.addresses.includes("10.77.2.4")));
      await lab.stop(b);
    });
  },
});

/** Runs btblocker in the current namespace; returns its exit code and output. */
function btblocker(args: string[], prefix: string[] = [], env: Record<string, string> = {}) {
  return runCommand(
    [...prefix, Deno.execPath(), "run", ...LIVE_PERMISSIONS, MAIN, ...args],
    { env },
  );
}

/** Asserts one line on stderr, starting `btblocker: `, with no stack trace, and nothing else. */
function assertOneLine(r: { stdout: string; stderr: string }, pattern: RegExp): void {
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0], /^btblocker: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\bat\s+\S+:\d+:\d+/, "no stack trace");
  assert.equal(r.stdout, "");
}

Deno.test({
  name: "live: bad command lines end with one line and exit status 2",
  ignore,
  async fn() {
    const cases: [string[], RegExp][] = [
      [["--interfaces", "lo", "--local-net", "10.0.0.0/33"], /--local-net.*10\.0\.0\.0\/33/],
      [["--interfaces", "lo", "--allow", "banana"], /--allow.*banana/],
      [["--interfaces", "lo", "--ban-duration", "soon"], /--ban-duration must be a duration/],
      [["--interfaces", "lo", "--ban-duration", "0"], /--ban-duration must be a duration/],
      [["--interfaces", "lo", "--monitor-only", "--enforcer", "xdp"], /--monitor-only/],
      [["--interfaces", "lo", "--read", "x.pcap"], /exclude each other/],
      [["--interfaces", "lo", "--format", "jsonl"], /--format does not apply/],
      [["--interfaces", "lo", "--enforcer", "iptables"], /--enforcer must be/],
    ];
    for (const [args, pattern] of cases) {
      const r = await btblocker(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assertOneLine(r, pattern);
    }
  },
});

Deno.test({
  name: "live: an unknown interface is named with the interfaces of the namespace (exit 2)",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      const r = await btblocker(
        ["--interfaces", "r0,eth9", "--bpf-pin-dir", lab.pinDir],
        LiveLab.nsenter(lab.net.router),
      );
      assert.equal(r.code, 2, r.stderr);
      assertOneLine(r, /no such interface: eth9 \(available: lo, r0, r1\)/);
      assert.ok(!await lab.xdpAttached("r0"));
    });
  },
});

Deno.test({
  name: "live: missing privileges are named in one line (exit 1)",
  ignore,
  async fn() {
    // Root without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN: capture is allowed, XDP is not.
    const noBpf = ["setpriv", "--inh-caps=-all", "--bounding-set=-bpf,-perfmon,-sys_admin"];
    let r = await btblocker(["--interfaces", "lo", "--enforcer", "xdp"], noBpf);
    assert.equal(r.code, 1, r.stderr);
    assertOneLine(r, /needs root or the capabilities CAP_BPF, CAP_PERFMON: /);

    // An ordinary user: no capabilities at all. It needs a Deno cache it can read.
    const info = JSON.parse((await runCommand([Deno.execPath(), "info", "--json"])).stdout);
    Deno.mkdirSync(SCRATCH, { recursive: true });
    const denoDir = Deno.makeTempDirSync({ dir: SCRATCH, prefix: "deno-dir-" });
    try {
      await runCommand(["cp", "-r", `${info.denoDir}/npm`, `${denoDir}/npm`]);
      Deno.chmodSync(denoDir, 0o755);
      await runCommand(["chown", "-R", "65534:65534", denoDir]);
      const nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
      const readable = await runCommand([...nobody, "test", "-r", MAIN]);
      if (readable.code !== 0) {
        console.warn(`  skipped the unprivileged user: uid 65534 cannot read ${MAIN}`);
        return;
      }
      r = await btblocker(["--interfaces", "lo"], nobody, { DENO_DIR: denoDir, HOME: denoDir });
      assert.equal(r.code, 1, r.stderr);
      assertOneLine(
        r,
        /needs root or the capabilities CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON: run it with sudo/,
      );
    } finally {
      Deno.removeSync(denoDir, { recursive: true });
    }
  },
});

/** The file the dynamic loader opens for libbpf.so.1. */
async function libbpfFile(): Promise<string> {
  const out = (await runCommand(["/sbin/ldconfig", "-p"])).stdout;
  const m = /libbpf\.so\.1 \(libc6,x86-64\) => (\S+)/.exec(out) ??
    /libbpf\.so\.1 \([^)]*\) => (\S+)/.exec(out);
  assert.ok(m !== null, "libbpf.so.1 is not installed");
  return Deno.realPathSync(m[1]);
}

Deno.test({
  name: "live: without a loadable libbpf, --enforcer xdp fails in one line; auto uses nftables",
  ignore,
  async fn() {
    // A private mount namespace where the libbpf file is an empty file: the library is
    // really unloadable for btblocker, and nothing outside that namespace is touched.
    const empty = `${SCRATCH}/empty-libbpf-${Deno.pid}.so`;
    Deno.mkdirSync(SCRATCH, { recursive: true });
    Deno.writeFileSync(empty, new Uint8Array(0));
    const hide = withBindMounts([[empty, await libbpfFile()]]);
    try {
      await withLab(async (lab) => {
        const inRouter = [...hide, ...LiveLab.nsenter(lab.net.router)];
        const r = await btblocker(
          ["--interfaces", "r0,r1", "--enforcer", "xdp", "--bpf-pin-dir", lab.pinDir],
          inRouter,
        );
        assert.equal(r.code, 1, r.stderr);
        assertOneLine(r, /cannot load libbpf.*apt install libbpf1/);
        assert.ok(!await lab.xdpAttached("r0"));

        await tcpServers(lab);
        const b = await lab.start({ wrapper: hide });
        assert.match(b.output, /XDP unavailable \(.*libbpf.*\); falling back to nftables/);
        assert.match(b.output, /nftables enforcement/);
        await tcpBlocking(lab, b, V4, nftProbe(lab));
        await lab.stop(b);
      });
    } finally {
      Deno.removeSync(empty);
    }
  },
});
