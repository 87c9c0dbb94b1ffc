/**
 * The lab's command line (root only).
 *
 *     deno run --allow-run --allow-read --allow-write --allow-env tests/lab/main.ts COMMAND
 *
 * - `demo [--scenario NAME]`: one scenario, explained step by step (what `make demo` runs);
 * - `run [NAME…]`: the scenarios (all by default), then a report; exit 1 when any failed;
 * - `record`: runs every scenario and writes its captures to tests/fixtures/ with their
 *   manifest entries (what each holds, how it was made, the detections expected);
 * - `list`: the scenarios; `cleanup`: removes what a killed lab left behind;
 * - `tools`: installs the npm packages of the look-alikes' Node programs (`make test` does, before
 *   the suite runs with the registry out of reach).
 *
 * Options: `--worker-pool` runs btblocker with its worker pool; `--payload-mb N` sets the size
 * of the downloaded file (32 by default); `--captures DIR` keeps the captures there; `--repeat N`
 * runs each scenario N times.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Btblocker } from "./btblocker.ts";
import { runCommand } from "./proc.ts";
import {
  CLEAN_CAPTURE_PACKETS,
  DEFAULT_PAYLOAD_SIZE,
  isBlocked,
  plan,
  runScenario,
  type Scenario,
  type ScenarioResult,
  SCENARIOS,
  scenariosNamed,
  withLab,
} from "./scenarios.ts";
import { EVERYDAY_CAPTURE_PACKETS } from "./everyday.ts";
import {
  installNpmTools,
  type Lookalike,
  LOOKALIKE_CAPTURE_PACKETS,
  LOOKALIKE_TRIM,
  type LookalikeResult,
  LOOKALIKES,
  lookalikesNamed,
  runLookalikes,
} from "./lookalike.ts";
import { ADDR, LOCAL_NETS, removeStaleLabs } from "./topology.ts";

/** The demo's scenario. */
export const DEMO_SCENARIO = "aria2_plain";

/** Options of {@linkcode runLab}. */
export interface LabRunOptions {
  /** Scenarios to run. */
  scenarios: readonly Scenario[];
  /** Look-alikes to run after them (none by default). */
  lookalikes?: readonly Lookalike[];
  /** Run the look-alikes with btblocker `--monitor-only` (to record them whole). */
  lookalikesMonitorOnly?: boolean;
  /** Payload size, MiB. */
  payloadMb: number;
  /** btblocker with `--worker-pool`. */
  workerPool: boolean;
  /** Runs of each scenario (default 1; more to check that a scenario is not flaky). */
  repeat?: number;
  /** Where captures go (a directory that exists). */
  captureDir: string;
  /** Progress lines. */
  say?: (line: string) => void;
  /** btblocker's own log lines (the demo shows them). */
  onBtblockerLine?: (line: string) => void;
}

/** What a lab run found. */
export interface LabResults {
  /** The BitTorrent scenarios. */
  scenarios: ScenarioResult[];
  /** The look-alikes. */
  lookalikes: LookalikeResult[];
}

/** Builds a lab, runs the scenarios in it, and removes it (also on failure or Ctrl-C). */
export function runLab(o: LabRunOptions): Promise<LabResults> {
  const runs = plan(o.scenarios, o.workerPool, o.repeat);
  return withLab(
    { runs, payloadSize: o.payloadMb << 20, say: o.say },
    async (lab, services) => {
      const results: ScenarioResult[] = [];
      for (const [i, run] of runs.entries()) {
        results.push(
          await runScenario(lab, run, {
            captureDir: o.captureDir,
            services,
            captureEveryday: i === 0,
            onBtblockerLine: o.onBtblockerLine,
          }),
        );
      }
      const lookalikes = o.lookalikes?.length
        ? await runLookalikes(lab, o.lookalikes, {
          captureDir: o.captureDir,
          workerPool: o.workerPool,
          monitorOnly: o.lookalikesMonitorOnly,
        })
        : [];
      return { scenarios: results, lookalikes };
    },
  );
}

/** A plain-text report of the results. */
export function report(results: ScenarioResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const s = r.scenario;
    lines.push(`${r.problems.length === 0 ? "PASS" : "FAIL"} ${s.name}: ${s.title}`);
    lines.push(`     client: ${s.client.label}`);
    lines.push(
      `     clean: ${
        r.cleanSeconds === null ? "did not complete" : `${r.cleanSeconds.toFixed(1)} s`
      }` +
        `; offline detections in its capture: ${JSON.stringify(r.offlineDetections)}`,
    );
    if (r.cleanSeconds !== null) {
      const outcome = r.blockedCompleted
        ? `completed in ${r.blockedSeconds?.toFixed(1)} s`
        : `not complete after ${r.windowSeconds.toFixed(0)} s (${
          (r.blockedBytes / 1048576).toFixed(2)
        } MiB of ${(isBlocked(r.scenario) ? "the file" : "it")} arrived)`;
      lines.push(`     with btblocker: ${outcome}; XDP dropped ${r.drops.packets} packets`);
      for (const x of r.records) {
        lines.push(
          `       ${x.iface} ${x.event_type} ${x.proto} ${x.src_ip}:${x.src_port} -> ` +
            `${x.dest_ip}:${x.dest_port} ${x.reason}: ${x.action} ${x.addresses.join(", ")}` +
            (x.ban_latency_ms !== null ? ` (${x.ban_latency_ms} ms)` : ""),
        );
      }
      lines.push(
        `     bans: ${r.bans.map((b) => `${b.address} (${b.reason})`).join(", ") || "none"}`,
      );
      lines.push(
        `     everyday: ${
          r.everyday.map((e) => `${e.name} ${e.ok ? "ok" : "FAILED"} (${e.detail})`).join("; ")
        }`,
      );
    }
    for (const p of r.problems) lines.push(`     problem: ${p}`);
    if (r.problems.length > 0 && r.btblockerOutput !== "") {
      lines.push("     btblocker's last lines:");
      for (const l of r.btblockerOutput.split("\n").slice(-12)) lines.push(`       | ${l}`);
    }
    if (r.problems.length > 0 && r.leecherOutput !== "") {
      lines.push("     the leecher's last lines:");
      for (const l of r.leecherOutput.split("\n")) lines.push(`       | ${l}`);
    }
    lines.push(`     ${r.seconds.toFixed(0)} s`);
  }
  return lines.join("\n");
}

/** A plain-text report of the look-alikes' results. */
export function reportLookalikes(results: LookalikeResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const l = r.lookalike;
    lines.push(`${r.problems.length === 0 ? "PASS" : "FAIL"} lookalike_${l.name}: ${l.title}`);
    lines.push(`     software: ${l.software}`);
    lines.push(`     ${r.ok ? "flowed" : "did NOT flow"}: ${r.flowed}`);
    lines.push(
      `     live detections: ${r.records.length}; bans: ${r.bans.length}; offline detections ` +
        `in its capture (${r.packets} packets): ${JSON.stringify(r.offlineDetections)}`,
    );
    for (const p of r.problems) lines.push(`     problem: ${p}`);
    lines.push(`     ${r.seconds.toFixed(0)} s`);
  }
  return lines.join("\n");
}

/** A few words on each detection reason the demo may show (README.md has the full table). */
const REASON_WORDS: Record<string, string> = {
  bt_handshake: "the plaintext BitTorrent handshake",
  mse: "an MSE/PE-encrypted BitTorrent connection, judged by its key exchange",
  utp: "BitTorrent's uTP transport",
  http_tracker: "a tracker announce over HTTP",
  udp_tracker: "a UDP tracker exchange",
  dht_krpc: "DHT messages",
  tracker_peer: "a peer announced by a tracker the router saw",
  lsd: "a Local Service Discovery announcement",
};

async function demo(name: string, workerPool: boolean, payloadMb: number): Promise<boolean> {
  const [s] = scenariosNamed([name]);
  const out = (line = "") => console.log(line);
  const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
  out("btblocker demo: a real BitTorrent client downloads through a router running btblocker.");
  out();
  out("The lab is a set of network namespaces on this machine (nothing leaves them):");
  out();
  out("  LAN (local)              router (btblocker, XDP)           WAN (remote)");
  out(
    `  downloader ${ADDR.downloader} ── lan0 ${ADDR.routerLan} │ wan0 ${ADDR.routerWan} ── seeder ${ADDR.seeder}`,
  );
  out(
    `                                                            tracker ${ADDR.tracker} (HTTPS)`,
  );
  out(
    `                                                            web, DNS, SSH, iperf3 ${ADDR.services}`,
  );
  out();
  out(`Scenario: ${s.title}.`);
  out(`Client on both sides: ${s.client.label}.`);
  out("The download runs twice: first without btblocker, then with it. Every step waits on a");
  out("condition (a file complete, a log line), never on a fixed sleep.");
  out();
  out("btblocker runs in the router's namespace as:");
  out(
    `  nsenter --net=/run/netns/<router> deno run ${
      Btblocker.command({
        ns: "",
        pinDir: "/sys/fs/bpf/<lab>",
        detectionLog: "<lab>/detections.jsonl",
        workerPool,
      }).slice(2).map((a) => a.replace(/^.*\/main\.ts$/, "main.ts")).join(" ")
    }`,
  );
  out(`  (--local-net ${LOCAL_NETS.join(",")}: the LAN is local, so remote peers get banned)`);
  out();
  const dir = await Deno.makeTempDir({ prefix: "btblocker-demo-" });
  try {
    const { scenarios: [r] } = await runLab({
      scenarios: [s],
      payloadMb,
      workerPool,
      captureDir: dir,
      say: (line) => out(`» ${line}`),
      onBtblockerLine: (line) => out(`    btblocker | ${line}`),
    });
    out();
    out("Summary");
    out(
      `  without btblocker: the ${payloadMb} MiB download completed in ${
        r.cleanSeconds?.toFixed(1) ?? "—"
      } s`,
    );
    out(
      r.blockedCompleted
        ? `  with btblocker: the download COMPLETED in ${
          r.blockedSeconds?.toFixed(1)
        } s (it should not have)`
        : `  with btblocker: ${mib(r.blockedBytes)} of ${payloadMb} MiB after ${
          r.windowSeconds.toFixed(0)
        } s — blocked`,
    );
    out("  at the same time, through the same router:");
    for (const e of r.everyday) {
      out(`    ${e.name.padEnd(11)} ${e.ok ? "ok    " : "FAILED"} ${e.detail}`);
    }
    out();
    out("The detection log (one JSON line per decision; a few fields shown):");
    for (const x of r.records) {
      out(
        `  ${x.iface} ${x.proto} ${x.src_ip}:${x.src_port} -> ${x.dest_ip}:${x.dest_port}  ` +
          `reason ${x.reason}  action ${x.action} ${x.addresses.join(", ")}`,
      );
    }
    for (const reason of new Set(r.records.map((x) => x.reason))) {
      if (REASON_WORDS[reason]) out(`  (${reason}: ${REASON_WORDS[reason]})`);
    }
    out("The ban list (bpftool map dump pinned <pin-dir>/ban_v4 and ban_v6):");
    for (const b of r.bans) {
      out(
        `  ${b.address}  reason ${b.reason}  until ${new Date(b.expiresAt * 1000).toISOString()}`,
      );
    }
    out(
      `XDP drop counters (bpftool map dump pinned <pin-dir>/stats): ${r.drops.packets} packets, ${r.drops.bytes} bytes`,
    );
    out();
    if (r.problems.length === 0) {
      out("Result: BitTorrent blocked, everyday traffic untouched. The lab has been removed.");
    } else {
      out("Result: something did not go as expected:");
      for (const p of r.problems) out(`  ${p}`);
    }
    return r.problems.length === 0;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Writes the captures of `results` (and of the look-alikes that flowed) into the fixture
 * directory with their manifest entries.
 */
async function record(results: ScenarioResult[], lookalikes: LookalikeResult[]): Promise<void> {
  const fixtures = new URL("../fixtures/", import.meta.url).pathname;
  const manifestPath = `${fixtures}manifest.json`;
  const manifest = JSON.parse(await Deno.readTextFile(manifestPath)) as Record<string, unknown>;
  const version = async (pkg: string) =>
    (await runCommand(["dpkg-query", "-W", "-f", "${Version}", pkg])).stdout.trim();
  const packets = async (path: string) =>
    (await runCommand(["tcpdump", "-r", path, "-n", "-q"])).stdout.split("\n").filter((l) => l)
      .length;

  for (const r of results) {
    const name = `lab_${r.scenario.name}.pcap`;
    const capture = r.cleanCapture!; // passing runs have one
    await Deno.copyFile(capture, `${fixtures}${name}`);
    const client = r.scenario.client;
    const where = r.scenario.discovery === "lsd" ? "LAN" : "downloader-to-remote-seeder";
    manifest[name] = {
      holds: `${r.scenario.title}: the first ${await packets(capture)} packets seen on the ` +
        `lab router's LAN interface during a ${where} transfer of a random file ` +
        `(${client.label}; Debian ${client.debPackage} ${await version(client.debPackage)}).`,
      made:
        `tests/lab/main.ts record: tcpdump -i lan0 -s 256 -c ${CLEAN_CAPTURE_PACKETS} in the router ` +
        "namespace during the scenario's clean run (no btblocker).",
      detections: r.offlineDetections,
    };
  }
  for (const e of results[0]?.everyday ?? []) {
    if (e.capture === undefined) continue;
    const name = `lab_everyday_${e.name}.pcap`;
    await Deno.copyFile(e.capture, `${fixtures}${name}`);
    manifest[name] = {
      holds: `Everyday traffic through the lab router, check "${e.name}" (${e.detail}): ` +
        `${await packets(e.capture)} packets between the downloader and the services host.`,
      made: `tests/lab/main.ts record: tcpdump -i lan0 -s 256 -c ${EVERYDAY_CAPTURE_PACKETS} ` +
        `'host ${ADDR.services} or host ${ADDR.services6}' in the router namespace while the ` +
        "check ran (with btblocker running and a BitTorrent download being blocked).",
      detections: {},
    };
  }
  for (const r of lookalikes) {
    if (!r.ok) continue;
    const name = `lookalike_${r.lookalike.name}.pcap`;
    await Deno.copyFile(r.capture, `${fixtures}${name}`);
    manifest[name] = {
      holds: `Look-alike traffic through the lab router: ${r.lookalike.title} ` +
        `(${r.lookalike.software}; ${r.flowed}): ${r.packets} packets between the downloader ` +
        `and ${ADDR.seeder}.`,
      made: `tests/lab/main.ts record: tcpdump -i lan0 -s 0 -c ${LOOKALIKE_CAPTURE_PACKETS} ` +
        `'host ${ADDR.seeder}' in the router namespace, btblocker running --monitor-only, then trimmed: ` +
        `the first ${LOOKALIKE_TRIM.wholePerFlow} packets of each flow longer than ` +
        `${LOOKALIKE_TRIM.snap} bytes whole, later ones cut to ` +
        `${LOOKALIKE_TRIM.snap} bytes, at most ${LOOKALIKE_TRIM.maxPackets} packets.`,
      detections: {},
    };
  }
  const sorted = Object.fromEntries(Object.entries(manifest).sort(([a], [b]) => a < b ? -1 : 1));
  await Deno.writeTextFile(manifestPath, JSON.stringify(sorted, null, 2) + "\n");
}

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      "worker-pool": { type: "boolean", default: false },
      "payload-mb": { type: "string", default: String(DEFAULT_PAYLOAD_SIZE >> 20) },
      scenario: { type: "string", default: DEMO_SCENARIO },
      captures: { type: "string" },
      repeat: { type: "string", default: "1" },
    },
    allowPositionals: true,
  });
  const [command = "run", ...names] = positionals;
  const payloadMb = Number(values["payload-mb"]);
  if (command === "list") {
    for (const s of SCENARIOS) console.log(`${s.name.padEnd(24)} ${s.title}`);
    for (const l of LOOKALIKES) console.log(`${`lookalike_${l.name}`.padEnd(24)} ${l.title}`);
    return 0;
  }
  if (command === "tools") {
    await installNpmTools();
    return 0;
  }
  if (Deno.uid() !== 0) {
    console.error("the lab needs root (network namespaces, XDP, bpffs)");
    return 1;
  }
  if (command === "cleanup") {
    const removed = await removeStaleLabs();
    console.log(removed.length === 0 ? "nothing to remove" : `removed ${removed.join(", ")}`);
    return 0;
  }
  if (command === "demo") {
    return await demo(values.scenario, values["worker-pool"], payloadMb) ? 0 : 1;
  }
  if (command !== "run" && command !== "record") {
    console.error(`unknown command ${command} (demo, run, record, list, cleanup, tools)`);
    return 2;
  }
  const btNames = names.filter((n) => !n.startsWith("lookalike"));
  const scenarios = names.length === 0 ? SCENARIOS : scenariosNamed(btNames);
  const lookalikes = names.length === 0 ? LOOKALIKES : lookalikesNamed(names);
  const keep = values.captures;
  if (keep !== undefined) await Deno.mkdir(keep, { recursive: true });
  const captureDir = keep ?? await Deno.makeTempDir({ prefix: "btblocker-lab-captures-" });
  const started = performance.now();
  try {
    const { scenarios: results, lookalikes: lookalikeResults } = await runLab({
      scenarios,
      lookalikes,
      lookalikesMonitorOnly: command === "record",
      payloadMb,
      workerPool: values["worker-pool"],
      repeat: Number(values.repeat),
      captureDir,
      say: (line) => console.log(`» ${line}`),
    });
    console.log(report(results));
    console.log(reportLookalikes(lookalikeResults));
    console.log(`lab: ${((performance.now() - started) / 1000).toFixed(0)} s`);
    const passed = results.every((r) => r.problems.length === 0);
    if (command === "record") {
      // Look-alikes ran with btblocker --monitor-only and are recorded when their traffic
      // flowed, detected or not: their fixtures expect no detection all the same.
      if (!passed) {
        console.error(
          "not recording: a scenario failed (the fixtures come from passing runs only)",
        );
        return 1;
      }
      await record(results, lookalikeResults);
      console.log(
        "recorded tests/fixtures/lab_*.pcap, lookalike_*.pcap and their manifest entries",
      );
    }
    return passed && lookalikeResults.every((r) => r.problems.length === 0) ? 0 : 1;
  } finally {
    if (keep === undefined) await Deno.remove(captureDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
