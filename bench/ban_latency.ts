/**
 * Detection-to-ban latency and packets let through after a ban, measured end to end on a live
 * btblocker (XDP enforcement, per-packet inline path) in a client–router–peer namespace network.
 *
 *     sudo deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env --allow-sys \
 *       bench/ban_latency.ts [--bans 1000] [--concurrency 4] [--warmup 0] [--pin] \
 *       [-- extra btblocker options]
 *
 * The peer namespace gets `--bans` addresses (10.78.0.1 onwards, routed through the router). The
 * client opens one real peer wire connection to each (a few at a time); each peer answers the
 * handshake, which proves the flow and gets that peer banned, then keeps sending numbered UDP
 * datagrams to the client (a burst, then one every 0.5 ms) stamped with their send time
 * (see bench/ban_latency_peer.py).
 *
 * - **Latency**: btblocker's detection log gives, per ban, `ban_latency_ms`: from the capture
 *   timestamp of the packet that decided the ban (the kernel's, from libpcap) to the return of
 *   the ban map update. p50, p90, p99 and max over all bans.
 * - **Packets after the ban**: the ban is in place from `capture_ts + ban_latency_ms` (both in the
 *   detection log, to the microsecond, on the realtime clock). Every datagram the client got from
 *   a peer that was sent (stamped just before `sendto`, on the same clock) after that moment got
 *   through after its ban was installed (target: 0). A second count with a 0.1 ms margin shows
 *   whether clock error could explain any; "through after an earlier one was dropped" counts
 *   datagrams received although an earlier datagram of the same peer was dropped (a leaking ban
 *   shows there whatever the clocks).
 *
 * - **Baseline**: during the measured run, a small program measures how long this machine takes to
 *   wake a process blocked in `poll(2)` from another CPU under the same load. btblocker's idle
 *   capture loop waits in `poll(2)` on a helper thread and then wakes its event loop, so on a
 *   small, loaded VM this wake-up dominates the tail of the ban latency.
 *
 * Options: `--warmup N` bans N other peers first and leaves them out of the numbers (a warm
 * start: the first bans of a fresh process run colder code); `--pin` runs btblocker on the last
 * CPU and the load generators on the others; anything after `--` goes to btblocker;
 * `BAN_LATENCY_DUMP=FILE` writes one line per ban (capture time, latency, interface, flow packet).
 *
 * Everything it creates (namespaces, addresses, pins, files) is removed at the end, even on
 * failure. Needs root, python3 (Debian's) and the test tools of `make test`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { LiveLab, PYTHON, xdpDroppedPackets } from "../tests/helpers/live_lab.ts";
import { runCommand, waitFor } from "../tests/helpers/process.ts";

const PEER_PROGRAM = new URL("./ban_latency_peer.py", import.meta.url).pathname;

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    bans: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "4" },
    warmup: { type: "string", default: "0" },
    pin: { type: "boolean", default: false },
  },
});
/** Peers banned before the measurement starts (excluded from the numbers): a warm start. */
const warmup = Number(values.warmup);
/** Offset of the warm-up peers' addresses. */
const WARMUP_BASE = 30000;
/** With --pin: btblocker on the last CPU, the load generators on the others. */
const cpus = navigator.hardwareConcurrency;
const pinBtblocker = values.pin ? ["taskset", "-c", String(cpus - 1)] : [];
const pinLoad = values.pin ? ["taskset", "-c", `0-${Math.max(0, cpus - 2)}`] : [];
const bans = Number(values.bans);
const concurrency = Number(values.concurrency);
if (!(Number.isInteger(bans) && bans >= 1 && bans <= WARMUP_BASE)) {
  throw new Error(`--bans must be a whole number from 1 to ${WARMUP_BASE}`);
}
if (!(Number.isInteger(warmup) && warmup >= 0 && warmup <= 10000)) {
  throw new Error("--warmup must be a whole number from 0 to 10000");
}
if (!(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 64)) {
  throw new Error("--concurrency must be a whole number from 1 to 64");
}

/** The n-th peer address, 10.78.0.1 onwards. */
function peerAddress(n: number): string {
  const v = 0x0a4e0001 + n;
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join(".");
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)];
}

const lab = await LiveLab.create();
// Ctrl-C still removes the namespaces, addresses and pins.
let aborted = false;
const interrupted = () => {
  aborted = true;
  console.error("ban_latency: interrupted, cleaning up");
  lab.close().finally(() => Deno.exit(130));
};
Deno.addSignalListener("SIGINT", interrupted);
try {
  const { client, peer, router } = lab.net;
  // The peer addresses, added in one batch, and the router's route to them.
  const batch = `${lab.dir}/addresses.batch`;
  const lines = [];
  for (let i = 0; i < bans; i++) lines.push(`address add ${peerAddress(i)}/32 dev p0`);
  for (let i = 0; i < warmup; i++) {
    lines.push(`address add ${peerAddress(WARMUP_BASE + i)}/32 dev p0`);
  }
  Deno.writeTextFileSync(batch, lines.join("\n") + "\n");
  await lab.net.ip(peer, "-batch", batch);
  await lab.net.ip(router, "route", "add", "10.78.0.0/16", "via", "10.77.2.2");

  // Every ban must reach the detection log (it is what is measured): no report rate limit.
  const b = await lab.start({
    args: ["--report-rate", "1000000", ...positionals],
    wrapper: pinBtblocker,
  });
  const mode = /XDP attached to r1 in (\w+) mode/.exec(b.output)?.[1] ?? "?";
  const peerOut = `${lab.dir}/peer.json`;
  const clientOut = `${lab.dir}/client.json`;
  const peerProcess = lab.spawnIn(peer, [
    ...pinLoad,
    PYTHON,
    PEER_PROGRAM,
    "peer",
    "--out",
    peerOut,
  ]);
  await peerProcess.waitForLine(/^ready$/);

  console.log(
    `ban_latency: ${bans} peers (after ${warmup} warm-up bans), ${concurrency} connections at ` +
      `a time, XDP ${mode} mode on r0 and r1${values.pin ? ", btblocker pinned to a CPU" : ""}, ` +
      `kernel ${Deno.osRelease()}, ${cpus} CPUs`,
  );
  const runClient = async (base: string, count: number, out: string) => {
    const clientProcess = lab.spawnIn(client, [
      ...pinLoad,
      PYTHON,
      PEER_PROGRAM,
      "client",
      ...["--base", base, "--count", String(count), "--concurrency", String(concurrency)],
      ...["--out", out],
    ]);
    const status = await clientProcess.stop(undefined, 30 * 60_000);
    if (status.code !== 0) throw new Error(`client failed:\n${clientProcess.output}`);
  };
  if (warmup > 0) {
    await runClient(peerAddress(WARMUP_BASE), warmup, `${lab.dir}/warmup.json`);
  }
  const total = warmup + bans;
  // Alongside the measured run, the machine's own wake-up latency under the same load.
  const baseline = runCommand([PYTHON, PEER_PROGRAM, "wakeup", "--count", String(bans)]);
  await runClient(peerAddress(0), bans, clientOut);
  const wake = await baseline;

  // Wait until the detection log holds a ban for every peer (or stops growing).
  let last = -1;
  const banned = await waitFor(
    "bans logged",
    () => {
      const records = b.records().filter((r) => r.action === "banned");
      if (records.length >= total || records.length === last) return records;
      last = records.length;
      return undefined;
    },
    30_000,
    500,
  );
  await peerProcess.stop("SIGTERM");
  const drops = xdpDroppedPackets(lab.pinDir);
  await lab.stop(b);

  const peerData = JSON.parse(Deno.readTextFileSync(peerOut)) as Record<
    string,
    { answered: number; sent: number[] }
  >;
  const clientData = JSON.parse(Deno.readTextFileSync(clientOut)) as {
    answered: string[];
    received: [string, number, number, number][];
    seconds: number;
  };

  const measuredPeers = new Set(Array.from({ length: bans }, (_, i) => peerAddress(i)));
  const byPeer = new Map<string, (typeof banned)[number]>();
  for (const r of banned) {
    for (const a of r.addresses) if (measuredPeers.has(a) && !byPeer.has(a)) byPeer.set(a, r);
  }
  const latencies = [...byPeer.values()].map((r) => r.ban_latency_ms!).sort((x, y) => x - y);
  // The deciding packet should be the peer's answer (its handshake).
  const byAnswer = [...byPeer.entries()].filter(([a, r]) =>
    r.src_ip === a && r.payload_hex.startsWith("13426974")
  ).length;

  const receivedBy = new Map<string, [number, number][]>();
  for (const [address, seq, stamp] of clientData.received) {
    let list = receivedBy.get(address);
    if (list === undefined) receivedBy.set(address, list = []);
    list.push([seq, stamp]);
  }
  let sent = 0, sentAfter = 0, received = 0, leaked = 0, leakedMargin = 0, afterGap = 0;
  let measured = 0;
  for (const [address, p] of Object.entries(peerData)) {
    if (!measuredPeers.has(address)) continue;
    const r = byPeer.get(address);
    const got = receivedBy.get(address) ?? [];
    sent += p.sent.length;
    received += got.length;
    if (r === undefined) continue;
    measured++;
    const banAt = r.capture_ts * 1e9 + r.ban_latency_ms! * 1e6;
    sentAfter += p.sent.filter((t) => t > banAt).length;
    leaked += got.filter(([, t]) => t > banAt).length;
    leakedMargin += got.filter(([, t]) => t > banAt + 100_000).length;
    const seqs = new Set(got.map(([s]) => s));
    let firstMissing = 0;
    while (seqs.has(firstMissing)) firstMissing++;
    afterGap += got.filter(([s]) => s > firstMissing).length;
  }

  const fmt = (n: number) => n.toFixed(3);
  console.log(
    `connections answered ${clientData.answered.length}/${bans} in ${
      clientData.seconds.toFixed(1)
    } s (${(bans / clientData.seconds).toFixed(0)} bans/s offered)`,
  );
  console.log(
    `bans: ${byPeer.size} peers banned; deciding packet = the peer's answer for ${byAnswer}`,
  );
  console.log(
    `detection-to-ban latency (capture timestamp -> ban map updated), ms: ` +
      `p50 ${fmt(percentile(latencies, 50))}  p90 ${fmt(percentile(latencies, 90))}  ` +
      `p99 ${fmt(percentile(latencies, 99))}  max ${fmt(latencies[latencies.length - 1])}  ` +
      `(n=${latencies.length})`,
  );
  console.log(
    `datagrams from the peers: ${sent} sent, ${received} received; ${sentAfter} sent after ` +
      `their sender's ban (${measured} peers)`,
  );
  console.log(
    `packets through after the ban: ${leaked} (with a 0.1 ms margin: ${leakedMargin}); ` +
      `through after an earlier one was dropped: ${afterGap}`,
  );
  console.log(`XDP drop counter: ${drops} packets`);
  if (wake.code === 0) {
    const w = JSON.parse(wake.stdout);
    console.log(
      `baseline under the same load: waking a process blocked in poll(2) from another CPU ` +
        `takes p50 ${fmt(w.p50)}  p99 ${fmt(w.p99)}  max ${fmt(w.max)} ms (n=${w.n}); ` +
        `btblocker's idle capture loop goes through such wake-ups (its poll thread, then its ` +
        `event loop) when a packet arrives`,
    );
  }
  if (Deno.env.get("BAN_LATENCY_DUMP")) {
    const rows = [...byPeer.values()].sort((x, y) => x.capture_ts - y.capture_ts);
    Deno.writeTextFileSync(
      Deno.env.get("BAN_LATENCY_DUMP")!,
      rows.map((r) => `${r.capture_ts} ${r.ban_latency_ms} ${r.iface} ${r.flow_packet}`).join("\n"),
    );
  }
} catch (e) {
  if (!aborted) throw e;
} finally {
  Deno.removeSignalListener("SIGINT", interrupted);
  await lab.close();
}
