/**
 * What an operator uses day to day, against a running instance in a namespace test network:
 * the metrics endpoint (values move with traffic), `btblocker bans` (list, add, remove, flush
 * without a restart), `--version`, and the compiled single binary when Deno's runtime archive
 * is available (said plainly when it is not).
 */

import assert from "node:assert/strict";
import { IS_ROOT, Net } from "../ffi/xdp_testnet.ts";
import {
  activeBans,
  BT_PORT,
  CUT_MS,
  ECHO_PORT,
  LIVE_PERMISSIONS,
  type LiveLab,
  MAIN,
  tcpServers,
  withLab,
  xdpDroppedPackets,
} from "./helpers/live_lab.ts";
import { runCommand, waitFor } from "./helpers/process.ts";

const ignore = !IS_ROOT;
if (ignore) console.warn("tests/operations_test.ts: live parts skipped, they need root");

const METRICS = "127.0.0.1:9425";

/** Scrapes a URL from inside the router namespace. */
function fetchInRouter(lab: LiveLab, path: string): Promise<string> {
  return lab.inNamespace(
    lab.net.router,
    "curl",
    "-sS",
    "--max-time",
    "5",
    `http://${METRICS}${path}`,
  );
}

/** Parses the samples of a Prometheus text exposition into `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Runs `btblocker bans …` with the live permissions; returns its exit code and output. */
function bans(lab: LiveLab, ...args: string[]) {
  return runCommand([
    Deno.execPath(),
    "run",
    ...LIVE_PERMISSIONS,
    MAIN,
    "bans",
    ...args,
    "--bpf-pin-dir",
    lab.pinDir,
    "--pid-file",
    `${lab.dir}/btblocker.pid`,
  ]);
}

/** Makes the peer get banned through a real peer wire exchange; returns when it is. */
async function getPeerBanned(lab: LiveLab, b: { waitForBan(a: string): Promise<unknown> }) {
  await lab.exchange(lab.net.peer, "bt", Net.client, BT_PORT, {
    bind: Net.peer,
    timeoutMs: CUT_MS,
  });
  await b.waitForBan(Net.peer);
}

Deno.test({
  name: "metrics: /metrics values move with traffic; /bans lists the ban with its evidence",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      await tcpServers(lab);
      const b = await lab.start({ args: ["--metrics-listen", METRICS] });
      assert.match(await fetchInRouter(lab, "/healthz"), /^ok/);
      const before = samples(await fetchInRouter(lab, "/metrics"));
      assert.equal(before.get("btblocker_bans_active"), 0);
      assert.ok(before.has('btblocker_packets_total{iface="r0"}'));
      assert.ok([...before.keys()].some((k) => k.startsWith("btblocker_build_info{")));

      await getPeerBanned(lab, b);
      assert.equal(
        await lab.connect(lab.net.peer, "echo", Net.client, ECHO_PORT, {
          bind: Net.peer,
          timeoutMs: 700,
        }),
        false,
      );
      const after = samples(await fetchInRouter(lab, "/metrics"));
      for (const iface of ["r0", "r1"]) {
        const key = `btblocker_packets_total{iface="${iface}"}`;
        assert.ok(after.get(key)! > before.get(key)!, `${key} did not move`);
      }
      assert.ok((after.get('btblocker_detections_total{reason="bt_handshake"}') ?? 0) >= 1);
      assert.equal(after.get("btblocker_bans_active"), 1);
      assert.equal(after.get("btblocker_bans_total"), 1);
      const dropped = after.get(
        'btblocker_enforcer_dropped_packets_total{enforcer="xdp",family="ipv4"}',
      );
      assert.ok(dropped !== undefined && dropped > 0, "XDP drops not reported");
      assert.ok(dropped <= xdpDroppedPackets(lab.pinDir));

      const listed = JSON.parse(await fetchInRouter(lab, "/bans"));
      assert.equal(listed.length, 1);
      assert.equal(listed[0].address, Net.peer);
      assert.equal(listed[0].reason, "bt_handshake");
      assert.match(listed[0].evidence, /TCP/);
      assert.ok(Date.parse(listed[0].expires) > Date.parse(listed[0].first_detection));
      await lab.stop(b);
    });
  },
});

Deno.test({
  name: "bans: list, add, remove and flush act on a running instance without a restart",
  ignore,
  async fn() {
    await withLab(async (lab) => {
      await tcpServers(lab);
      const b = await lab.start({ args: ["--pid-file", `${lab.dir}/btblocker.pid`] });
      await getPeerBanned(lab, b);

      let r = await bans(lab, "list", "--json");
      assert.equal(r.code, 0, r.stderr);
      const listed = JSON.parse(r.stdout);
      assert.deepEqual(listed.map((x: { address: string }) => x.address), [Net.peer]);
      assert.equal(listed[0].reason, "bt_handshake");

      // A ban by hand takes effect in the kernel at once, and the instance adopts it.
      r = await bans(lab, "add", Net.peer2, "--duration", "10m");
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /told the running btblocker \(pid \d+\)/);
      await b.waitForLine(/re-read the ban list from the xdp enforcer: 2 bans/);
      assert.deepEqual(activeBans(lab.pinDir), [Net.peer, Net.peer2].sort());
      assert.equal(
        await lab.connect(lab.net.peer, "echo", Net.client, ECHO_PORT, {
          bind: Net.peer2,
          timeoutMs: 700,
        }),
        false,
      );

      // Lifting a ban lets the peer through again, and the instance bans it anew when it
      // does BitTorrent again (it forgot the ban instead of calling it already banned).
      r = await bans(lab, "remove", Net.peer);
      assert.equal(r.code, 0, r.stderr);
      await b.waitForLine(/re-read the ban list from the xdp enforcer: 1 bans/);
      assert.ok(await lab.connect(lab.net.peer, "echo", Net.client, ECHO_PORT, { bind: Net.peer }));
      const bansBefore = b.records().filter((x) => x.action === "banned").length;
      await lab.exchange(lab.net.peer, "bt", Net.client, BT_PORT, {
        bind: Net.peer,
        timeoutMs: 1000,
      });
      await waitFor(
        "a second ban of the peer",
        () =>
          b.records().filter((x) => x.action === "banned").length > bansBefore ? true : undefined,
      );

      r = await bans(lab, "remove", "198.51.100.99");
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^btblocker: 198\.51\.100\.99 is not banned$/m);
      r = await bans(lab, "add", "not-an-address");
      assert.equal(r.code, 2);

      r = await bans(lab, "flush");
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /lifted 2 bans/);
      assert.deepEqual(activeBans(lab.pinDir), []);
      r = await bans(lab, "list");
      assert.match(r.stdout, /^no bans$/m);
      await lab.stop(b);
    });
  },
});

Deno.test("--version names the version, the commit and Deno", async () => {
  const r = await runCommand([Deno.execPath(), "run", ...LIVE_PERMISSIONS, MAIN, "--version"]);
  assert.equal(r.code, 0);
  assert.match(
    r.stdout,
    /^btblocker \d+\.\d+\.\d+ \(commit ([0-9a-f]{7,}|unknown), (built \S+|run from source), deno \d+\.\d+\.\d+\)$/m,
  );
});

/** Where `deno compile` finds its runtime without downloading it. */
function compileRuntimeAvailable(): string | null {
  const denort = Deno.env.get("DENORT_BIN");
  if (denort) return `DENORT_BIN=${denort}`;
  const dir = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
  const archive = `${dir}/dl/release/v${Deno.version.deno}/denort-x86_64-unknown-linux-gnu.zip`;
  try {
    Deno.statSync(archive);
    return archive;
  } catch {
    return null;
  }
}

const runtime = compileRuntimeAvailable();
if (runtime === null) {
  console.warn(
    "tests/operations_test.ts: the compiled-binary test is SKIPPED — deno compile needs its " +
      "runtime archive (denort), which cannot be downloaded here; set DENORT_BIN to run it",
  );
}

Deno.test({
  name: "make build: the single binary prints its version, reads a capture, installs",
  ignore: runtime === null,
  async fn() {
    const root = new URL("../", import.meta.url).pathname;
    const build = await runCommand(["make", "-C", root, "build"]);
    assert.equal(build.code, 0, build.stderr);
    const version = await runCommand([`${root}btblocker`, "--version"]);
    assert.match(version.stdout, /^btblocker \d+\.\d+\.\d+ \(commit \S+, built \S+, deno/);
    const read = await runCommand([
      `${root}btblocker`,
      "--read",
      `${root}tests/fixtures/mse_loopback.pcap`,
      "--format",
      "jsonl",
    ]);
    assert.equal(read.code, 0, read.stderr);
    assert.match(read.stdout, /"reason":"mse"/);
    const pool = await runCommand([
      `${root}btblocker`,
      "--read",
      `${root}tests/fixtures/mse_loopback.pcap`,
      "--worker-pool",
      "--workers",
      "2",
    ]);
    assert.equal(pool.code, 0, pool.stderr);
    assert.match(pool.stdout, /mse/);
    const stage = await Deno.makeTempDir();
    try {
      const install = await runCommand(["make", "-C", root, "install", `DESTDIR=${stage}`]);
      assert.equal(install.code, 0, install.stderr);
      for (
        const f of [
          "usr/local/bin/btblocker",
          "etc/systemd/system/btblocker.service",
          "etc/default/btblocker",
          "etc/logrotate.d/btblocker",
        ]
      ) {
        Deno.statSync(`${stage}/${f}`);
      }
      const uninstall = await runCommand(["make", "-C", root, "uninstall", `DESTDIR=${stage}`]);
      assert.equal(uninstall.code, 0, uninstall.stderr);
      assert.throws(() => Deno.statSync(`${stage}/usr/local/bin/btblocker`));
    } finally {
      await Deno.remove(stage, { recursive: true });
    }
  },
});
