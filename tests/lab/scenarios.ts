/**
 * The lab's scenarios and how one is run.
 *
 * Each scenario is run twice with a torrent of its own each time:
 * 1. **clean** — without btblocker: the download must complete; its time is measured, and its
 *    first packets are captured on the router's LAN interface (snaplen 256) for the offline
 *    check and the fixtures;
 * 2. **blocked** — with btblocker running live on the router (XDP on both legs): the download
 *    must not complete within {@linkcode blockWindowSeconds} of the clean time, the seeder must
 *    be banned with the detection reasons expected, and XDP must have dropped packets — while
 *    the everyday checks (HTTP, HTTPS, DNS, SSH, iperf3) run through the same router at the same
 *    time, undetected and unbanned.
 *
 * Local Service Discovery is the exception, by the nature of the protocol: its multicast stays
 * on one segment, so both peers are on the LAN and their transfer never crosses the router.
 * btblocker sees and logs the announcements (`lsd`), bans nobody (neither endpoint is remote,
 * and a multicast group is never banned), and the download completes. The scenario asserts
 * exactly that.
 *
 * @module
 */

import {
  aria2,
  type Client,
  libtorrent,
  qbittorrent,
  startDhtNode,
  transmission,
} from "./clients.ts";
import { Btblocker, type DetectionRecord, type PinnedBan } from "./btblocker.ts";
import { runCli } from "../helpers/cli.ts";
import { type EverydayResult, Services } from "./everyday.ts";
import { Lab, type TrackerKind } from "./lab.ts";
import { delay, type Proc, waitFor } from "./proc.ts";
import { isComplete } from "./torrent.ts";
import { ADDR } from "./topology.ts";

/** One scenario. */
export interface Scenario {
  /** Short name (also the fixture's name). */
  name: string;
  /** What it shows, in one line. */
  title: string;
  /** The client on both sides. */
  client: Client;
  /** The tracker of its torrents. */
  tracker: TrackerKind;
  /** How the peers find each other. */
  discovery: "tracker" | "dht" | "lsd";
  /** Address family of the peer connections. */
  family: 4 | 6;
  /**
   * Whom the run with btblocker must show banned: the seeder; or the tracker where its ban can
   * win the race against the client's announce (a UDP tracker's connect reply already bans it,
   * so the seeder may never be contacted); or nobody where btblocker cannot and must not stop
   * the download (LSD: both peers on the LAN) — the download must then complete.
   */
  mustBan: "seeder" | "tracker" | "nobody";
  /** Detection reasons that the live detection log and the offline capture must both show. */
  reasons: string[];
}

const DHT_NODE = `${ADDR.dhtNode}:6881`;

/** Every scenario, in the order they run. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: "transmission_plain",
    title:
      "Transmission defaults (uTP first), encryption tolerated, HTTPS tracker (unreadable to DPI)",
    client: transmission("tolerated", true),
    tracker: "https",
    discovery: "tracker",
    family: 4,
    mustBan: "seeder",
    reasons: ["utp"],
  },
  {
    name: "transmission_encrypted",
    title:
      "Transmission, encryption required (MSE/PE), TCP only, HTTPS tracker (unreadable to DPI)",
    client: transmission("required", false),
    tracker: "https",
    discovery: "tracker",
    family: 4,
    mustBan: "seeder",
    reasons: ["mse"],
  },
  {
    name: "aria2_plain",
    title: "aria2, default settings, HTTPS tracker (unreadable to DPI)",
    client: aria2(false),
    tracker: "https",
    discovery: "tracker",
    family: 4,
    mustBan: "seeder",
    reasons: ["mse"],
  },
  {
    name: "aria2_encrypted",
    title: "aria2 --bt-require-crypto=true (MSE/PE), HTTPS tracker (unreadable to DPI)",
    client: aria2(true),
    tracker: "https",
    discovery: "tracker",
    family: 4,
    mustBan: "seeder",
    reasons: ["mse"],
  },
  {
    name: "qbittorrent",
    title:
      "qBittorrent, default settings (uTP preferred, encryption allowed), HTTPS tracker (unreadable to DPI)",
    client: qbittorrent(),
    tracker: "https",
    discovery: "tracker",
    family: 4,
    mustBan: "seeder",
    reasons: ["utp"],
  },
  {
    name: "libtorrent_rc4",
    title:
      "libtorrent, MSE/PE with RC4 forced both ways, TCP only, HTTPS tracker (unreadable to DPI)",
    client: libtorrent({ transport: "tcp", encryption: "rc4", label: "RC4 forced, TCP" }),
    tracker: "https",
    discovery: "tracker",
    family: 4,
    mustBan: "seeder",
    reasons: ["mse"],
  },
  {
    name: "libtorrent_utp",
    title: "libtorrent, uTP only, HTTPS tracker (unreadable to DPI)",
    client: libtorrent({ transport: "utp", encryption: "allowed", label: "uTP only" }),
    tracker: "https",
    discovery: "tracker",
    family: 4,
    mustBan: "seeder",
    reasons: ["utp"],
  },
  {
    name: "libtorrent_tcp",
    title: "libtorrent, TCP only, no encryption, HTTP tracker",
    client: libtorrent({ transport: "tcp", encryption: "plain", label: "TCP only, plaintext" }),
    tracker: "http",
    discovery: "tracker",
    family: 4,
    mustBan: "seeder",
    reasons: ["http_tracker", "bt_handshake"],
  },
  {
    name: "libtorrent_dht",
    title: "libtorrent, DHT only (no tracker; a third DHT node introduces the peers)",
    client: libtorrent({
      transport: "both",
      encryption: "allowed",
      dhtBootstrap: DHT_NODE,
      label: "DHT only",
    }),
    tracker: "none",
    discovery: "dht",
    family: 4,
    mustBan: "seeder",
    reasons: ["dht_krpc"],
  },
  {
    name: "libtorrent_udp_tracker",
    title: "libtorrent, UDP tracker (BEP 15, opentracker)",
    client: libtorrent({ transport: "both", encryption: "allowed", label: "UDP tracker" }),
    tracker: "udp",
    discovery: "tracker",
    family: 4,
    mustBan: "tracker",
    reasons: ["udp_tracker"],
  },
  {
    name: "libtorrent_ipv6",
    title: "libtorrent, IPv6 only, HTTP tracker on IPv6 (the lab's own tracker)",
    client: libtorrent({ transport: "both", encryption: "allowed", label: "IPv6 only" }),
    tracker: "http6",
    discovery: "tracker",
    family: 6,
    mustBan: "seeder",
    reasons: ["http_tracker"],
  },
  {
    name: "libtorrent_lsd",
    title: "libtorrent, Local Service Discovery between two LAN hosts (never crosses the router)",
    client: libtorrent({ transport: "both", encryption: "allowed", lsd: true, label: "LSD" }),
    tracker: "none",
    discovery: "lsd",
    family: 4,
    mustBan: "nobody",
    reasons: ["lsd"],
  },
];

/** Finds scenarios by name; throws naming the known ones. */
export function scenariosNamed(names: string[]): Scenario[] {
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new Error(`scenario ${twice} named twice (use --repeat)`);
  return names.map((n) => {
    const s = SCENARIOS.find((x) => x.name === n);
    if (s === undefined) {
      throw new Error(`unknown scenario ${n}; known: ${SCENARIOS.map((x) => x.name).join(", ")}`);
    }
    return s;
  });
}

/** One planned run of a scenario in a lab. */
export interface PlannedRun {
  /** The scenario. */
  scenario: Scenario;
  /** Unique in the lab (names the run's torrents, directories and pins). */
  id: string;
  /** btblocker with `--worker-pool`. */
  workerPool: boolean;
}

/**
 * Plans the runs of the scenarios, each `repeat` times (ids `name`, `name-pool` with the worker
 * pool, `name-2`… for repeats).
 */
export function plan(
  scenarios: readonly Scenario[],
  workerPool: boolean,
  repeat = 1,
): PlannedRun[] {
  const runs: PlannedRun[] = [];
  for (let i = 1; i <= repeat; i++) {
    for (const scenario of scenarios) {
      const id = `${scenario.name}${workerPool ? "-pool" : ""}${i > 1 ? `-${i}` : ""}`;
      runs.push({ scenario, id, workerPool });
    }
  }
  return runs;
}

/** The torrents the runs need, for {@linkcode Lab.open}. */
export function torrentsFor(runs: readonly PlannedRun[]): [string, TrackerKind][] {
  return runs.flatMap((r): [string, TrackerKind][] => [
    [`${r.id}-clean`, r.scenario.tracker],
    [`${r.id}-blocked`, r.scenario.tracker],
  ]);
}

/** Options of {@linkcode withLab}. */
export interface WithLabOptions {
  /** The runs planned in the lab. */
  runs: readonly PlannedRun[];
  /** Size of the downloaded file, bytes (default {@linkcode DEFAULT_PAYLOAD_SIZE}). */
  payloadSize?: number;
  /** Progress lines. */
  say?: (line: string) => void;
}

/** Default size of the downloaded file: 32 MiB. */
export const DEFAULT_PAYLOAD_SIZE = 32 << 20;

/**
 * Builds a lab with its everyday services, runs `fn` in it, and removes the lab afterwards —
 * also when `fn` throws, and on SIGINT/SIGTERM (then the process exits with 130).
 */
export async function withLab<T>(
  o: WithLabOptions,
  fn: (lab: Lab, services: Services) => Promise<T>,
): Promise<T> {
  const say = o.say ?? (() => {});
  const lab = await Lab.open({
    payloadSize: o.payloadSize ?? DEFAULT_PAYLOAD_SIZE,
    torrents: torrentsFor(o.runs),
    say,
  });
  const onSignal = () => {
    say("interrupted: removing the lab");
    lab.close().finally(() => Deno.exit(130));
  };
  for (const s of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(s, onSignal);
  try {
    say(`lab ${lab.net.id} is up: namespaces ${Object.values(lab.net.ns).join(", ")}`);
    const services = await Services.start(lab);
    say("everyday services are up: HTTP and HTTPS, DNS, SSH, iperf3");
    return await fn(lab, services);
  } finally {
    for (const s of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(s, onSignal);
    await lab.close();
    say("lab removed: processes, namespaces, pinned maps, files");
  }
}

/** Shortest wait for a blocked download (a fast clean run still gets this long). */
export const MIN_BLOCK_WINDOW_SECONDS = 10;

/** How many times the clean download time a blocked download gets. */
export const BLOCK_WINDOW_FACTOR = 3;

/** Fresh swarms a clean download gets before the scenario fails. */
const CLEAN_ATTEMPTS = 2;
/** Longest a clean download may take before the scenario fails. */
export const CLEAN_TIMEOUT_SECONDS = 120;

/** Packets captured of a clean run (enough for every detection; the rest is bulk data). */
export const CLEAN_CAPTURE_PACKETS = 400;

/** How long a blocked download is watched: several times the clean time. */
export function blockWindowSeconds(cleanSeconds: number): number {
  return Math.max(MIN_BLOCK_WINDOW_SECONDS, BLOCK_WINDOW_FACTOR * cleanSeconds);
}

/** What one scenario did. */
export interface ScenarioResult {
  /** The scenario. */
  scenario: Scenario;
  /** Seconds the clean download took (null when it did not complete). */
  cleanSeconds: number | null;
  /** Capture of the clean run (router LAN interface, snaplen 256). */
  cleanCapture: string | null;
  /** Detections found offline in the clean capture, by reason. */
  offlineDetections: Record<string, number>;
  /** Seconds the blocked download was watched. */
  windowSeconds: number;
  /** Whether the download completed with btblocker running, and after how long. */
  blockedCompleted: boolean;
  /** Seconds to completion with btblocker (null when it did not complete). */
  blockedSeconds: number | null;
  /** Bytes the leecher had when the window ended. */
  blockedBytes: number;
  /** btblocker's detection log. */
  records: DetectionRecord[];
  /** The bans in the pinned maps at the end. */
  bans: PinnedBan[];
  /** XDP drops at the end. */
  drops: { packets: number; bytes: number };
  /** btblocker's exit code. */
  exitCode: number | null;
  /** btblocker's output. */
  btblockerOutput: string;
  /** The last lines the leecher printed in the blocked run. */
  leecherOutput: string;
  /** The everyday checks run during the blocked download. */
  everyday: EverydayResult[];
  /** Everything that did not go as required (empty: the scenario passed). */
  problems: string[];
  /** Wall-clock seconds of the whole scenario. */
  seconds: number;
}

/** Options of {@linkcode runScenario}. */
export interface RunOptions {
  /** Directory for the captures (clean run and everyday checks). */
  captureDir: string;
  /** The everyday servers (started once per lab). */
  services: Services;
  /** Capture the everyday checks and check the captures offline (once per lab is enough). */
  captureEveryday?: boolean;
  /** Echo btblocker's log lines (the demo). */
  onBtblockerLine?: (line: string) => void;
}

/** The seeder's namespace and addresses for a scenario. */
function seederOf(lab: Lab, s: Scenario): { ns: string; addresses: string[] } {
  if (s.discovery === "lsd") {
    return { ns: lab.net.ns.lanPeer, addresses: [ADDR.lanPeer, ADDR.lanPeer6] };
  }
  return { ns: lab.net.ns.seeder, addresses: [s.family === 6 ? ADDR.seeder6 : ADDR.seeder] };
}

/** Whether btblocker must stop the scenario's download. */
export function isBlocked(s: Scenario): boolean {
  return s.mustBan !== "nobody";
}

/** The address the run with btblocker must show banned (empty for nobody). */
export function mustBanAddress(s: Scenario): string {
  if (s.mustBan === "nobody") return "";
  if (s.mustBan === "tracker") return s.family === 6 ? ADDR.tracker6 : ADDR.tracker;
  return s.family === 6 ? ADDR.seeder6 : ADDR.seeder;
}

function leecherAddresses(s: Scenario): string[] {
  if (s.discovery === "lsd") return [ADDR.downloader, ADDR.downloader6];
  return s.family === 6 ? [ADDR.downloader6] : [ADDR.downloader];
}

/** One download: seeder (and DHT node) up, leecher started; returns what to stop. */
async function startSwarm(
  lab: Lab,
  s: Scenario,
  tag: string,
  runDir: string,
): Promise<{ procs: Proc[]; leechFile: string; t0: number }> {
  const torrent = lab.torrent(tag);
  const procs: Proc[] = [];
  const seeder = seederOf(lab, s);
  for (const d of ["seed", "seed-state", "leech", "leech-state"]) {
    await Deno.mkdir(`${runDir}/${d}`, { recursive: true });
  }
  await Deno.copyFile(lab.payload.path, `${runDir}/seed/${lab.payload.name}`);
  try {
    let dhtNode: Proc | null = null;
    if (s.discovery === "dht") {
      dhtNode = await startDhtNode(lab, lab.net.ns.services, ADDR.dhtNode);
      procs.push(dhtNode);
    }
    const seed = await s.client.start(lab, {
      ns: seeder.ns,
      addresses: seeder.addresses,
      torrent: torrent.path,
      dataDir: `${runDir}/seed`,
      stateDir: `${runDir}/seed-state`,
      role: "seed",
      caFile: lab.certFile,
    });
    procs.push(seed);
    // The leecher starts only once the seeder can be found.
    const found = s.discovery === "tracker"
      ? waitFor(
        `the ${s.tracker} tracker knows the seeder of ${tag}`,
        async () => (await lab.seedersKnown(s.tracker, torrent)) > 0 ? true : undefined,
        60000,
        200,
      )
      : s.discovery === "dht"
      ? dhtNode!.waitForLine(
        new RegExp(`"ip": "${seeder.addresses[0]}".*"${torrent.infoHashHex}".*"dht_announce"`),
        60000,
      )
      : Promise.resolve();
    await found.catch((e) => {
      throw new Error(
        `${(e as Error).message}; the seeder said:\n${seed.lines.slice(-20).join("\n")}`,
      );
    });
    const t0 = performance.now();
    procs.push(
      await s.client.start(lab, {
        ns: lab.net.ns.downloader,
        addresses: leecherAddresses(s),
        torrent: torrent.path,
        dataDir: `${runDir}/leech`,
        stateDir: `${runDir}/leech-state`,
        role: "leech",
        caFile: lab.certFile,
      }),
    );
    return { procs, leechFile: `${runDir}/leech/${lab.payload.name}`, t0 };
  } catch (e) {
    await lab.stopClients(procs);
    throw e;
  }
}

/** Detections in a capture by reason, as btblocker's offline mode reports them. */
export async function offlineDetections(path: string): Promise<Record<string, number>> {
  const r = await runCli("--read", path, "--format", "jsonl");
  if (r.code !== 0) throw new Error(`btblocker --read ${path}: ${r.stderr.trim()}`);
  const counts: Record<string, number> = {};
  for (const line of r.stdout.split("\n")) {
    if (line === "") continue;
    const e = JSON.parse(line) as { event_type: string; reason?: string };
    if (e.event_type === "detection" && e.reason) counts[e.reason] = (counts[e.reason] ?? 0) + 1;
  }
  return counts;
}

/** Bytes actually downloaded (clients may preallocate the file: count non-zero 16 KiB blocks). */
async function downloadedBytes(path: string): Promise<number> {
  let data: Uint8Array;
  try {
    data = await Deno.readFile(path);
  } catch {
    return 0;
  }
  let n = 0;
  for (let off = 0; off < data.length; off += 16384) {
    const block = data.subarray(off, off + 16384);
    if (block.some((b) => b !== 0)) n += block.length;
  }
  return n;
}

/** Runs one scenario (clean, then blocked) and checks everything it must show. */
export async function runScenario(
  lab: Lab,
  run: PlannedRun,
  o: RunOptions,
): Promise<ScenarioResult> {
  const started = performance.now();
  const result: ScenarioResult = {
    scenario: run.scenario,
    cleanSeconds: null,
    cleanCapture: null,
    offlineDetections: {},
    windowSeconds: 0,
    blockedCompleted: false,
    blockedSeconds: null,
    blockedBytes: 0,
    records: [],
    bans: [],
    drops: { packets: 0, bytes: 0 },
    exitCode: null,
    btblockerOutput: "",
    leecherOutput: "",
    everyday: [],
    problems: [],
    seconds: 0,
  };
  const name = `${run.scenario.name}${run.workerPool ? " (worker pool)" : ""}`;
  try {
    if (await cleanPhase(lab, run, o, result, name)) await blockedPhase(lab, run, o, result, name);
  } catch (e) {
    result.problems.push(`error: ${(e as Error).message}`);
  }
  result.seconds = (performance.now() - started) / 1000;
  const problems = result.problems;
  lab.say(`[${name}] ${problems.length === 0 ? "passed" : `FAILED: ${problems.join("; ")}`}`);
  return result;
}

/** Without btblocker: the download must complete; returns whether it did. */
async function cleanPhase(
  lab: Lab,
  run: PlannedRun,
  o: RunOptions,
  result: ScenarioResult,
  name: string,
): Promise<boolean> {
  const s = run.scenario;
  lab.say(`[${name}] clean download (no btblocker) of ${lab.payload.size >> 20} MiB…`);
  result.cleanCapture = `${o.captureDir}/${run.id}.pcap`;
  const dump = await lab.capture(result.cleanCapture, CLEAN_CAPTURE_PACKETS);
  try {
    // The clean run has no btblocker: it proves the lab works. A swarm that never finds itself
    // there (libtorrent_tcp, then libtorrent_dht: one scenario of 13 in two of three full lab runs,
    // cause not found; the next fresh swarm completed each time) gets one more, fresh swarm.
    for (let attempt = 1;; attempt++) {
      const dir = `${lab.dir}/runs/${run.id}/clean${attempt > 1 ? `-${attempt}` : ""}`;
      const swarm = await startSwarm(lab, s, `${run.id}-clean`, dir);
      const complete = await waitFor(
        "clean download complete",
        async () => await isComplete(swarm.leechFile, lab.payload) ? true : undefined,
        CLEAN_TIMEOUT_SECONDS * 1000,
        200,
      ).then(() => true, () => false);
      const seconds = (performance.now() - swarm.t0) / 1000;
      await lab.stopClients(swarm.procs);
      if (complete) {
        result.cleanSeconds = seconds;
        lab.say(`[${name}] clean download complete in ${seconds.toFixed(1)} s`);
        break;
      }
      if (attempt === CLEAN_ATTEMPTS) {
        result.problems.push(
          `the clean download did not complete within ${CLEAN_TIMEOUT_SECONDS} s, ` +
            `${CLEAN_ATTEMPTS} times`,
        );
        return false;
      }
      lab.say(`[${name}] clean download incomplete after ${CLEAN_TIMEOUT_SECONDS} s: once more`);
    }
  } finally {
    await lab.stop([dump]);
  }
  result.offlineDetections = await offlineDetections(result.cleanCapture);
  for (const reason of s.reasons) {
    if (!(reason in result.offlineDetections)) {
      result.problems.push(
        `offline: ${reason} not detected in the clean capture (found ${
          JSON.stringify(result.offlineDetections)
        })`,
      );
    }
  }
  return true;
}

/** With btblocker (and the everyday checks at the same time): see the module documentation. */
async function blockedPhase(
  lab: Lab,
  run: PlannedRun,
  o: RunOptions,
  result: ScenarioResult,
  name: string,
): Promise<void> {
  const s = run.scenario;
  const runDir = `${lab.dir}/runs/${run.id}/blocked`;
  result.windowSeconds = isBlocked(s)
    ? blockWindowSeconds(result.cleanSeconds!)
    : CLEAN_TIMEOUT_SECONDS;
  await Deno.mkdir(runDir, { recursive: true });
  const btb = await Btblocker.start({
    ns: lab.net.ns.router,
    pinDir: lab.pinDir(run.id),
    detectionLog: `${runDir}/detections.jsonl`,
    workerPool: run.workerPool,
    onLine: o.onBtblockerLine,
  });
  try {
    lab.say(
      isBlocked(s)
        ? `[${name}] download with btblocker; watching it for ${
          result.windowSeconds.toFixed(0)
        } s (${BLOCK_WINDOW_FACTOR}× the clean time, at least ${MIN_BLOCK_WINDOW_SECONDS} s)…`
        : `[${name}] download with btblocker (LSD: the peers share the LAN; expected to complete)…`,
    );
    const swarm = await startSwarm(lab, s, `${run.id}-blocked`, runDir);
    const everyday = o.services.check(o.captureEveryday ? o.captureDir : undefined);
    try {
      const deadline = swarm.t0 + result.windowSeconds * 1000;
      while (performance.now() < deadline) {
        if (await isComplete(swarm.leechFile, lab.payload)) {
          result.blockedCompleted = true;
          result.blockedSeconds = (performance.now() - swarm.t0) / 1000;
          break;
        }
        if (btb.proc.status !== null) break;
        await delay(250);
      }
      result.blockedBytes = await downloadedBytes(swarm.leechFile);
      result.everyday = await everyday;
    } finally {
      await lab.stopClients(swarm.procs);
      result.leecherOutput = swarm.procs.at(-1)!.lines.flatMap((l) => l.split("\r"))
        .filter((l) => l.trim() !== "").slice(-30).join("\n");
    }
    result.records = btb.records();
    try {
      result.drops = await btb.xdpDrops();
      result.bans = await btb.bans();
    } catch (e) {
      result.problems.push((e as Error).message);
    }
  } finally {
    result.exitCode = btb.proc.status?.code ?? await btb.stop();
    result.btblockerOutput = btb.proc.output;
    await btb.removePins();
  }
  check(s, result, mustBanAddress(s));
  for (const e of result.everyday) {
    if (e.capture === undefined) continue;
    const found = await offlineDetections(e.capture);
    e.offlineDetections = found;
    if (Object.keys(found).length > 0) {
      result.problems.push(
        `offline: everyday ${e.name} capture detected as ${JSON.stringify(found)}`,
      );
    }
  }
}

const SERVICE_ADDRESSES: readonly string[] = [ADDR.services, ADDR.services6];

/** Adds to `r.problems` everything the run with btblocker did not show. */
function check(s: Scenario, r: ScenarioResult, banned: string): void {
  const problems = r.problems;
  if (r.exitCode !== 0) problems.push(`btblocker exited with ${r.exitCode}`);
  const liveReasons = new Set(r.records.map((x) => x.reason));
  for (const reason of s.reasons) {
    if (!liveReasons.has(reason)) {
      problems.push(
        `live: no ${reason} detection (found ${[...liveReasons].join(", ") || "none"})`,
      );
    }
  }
  if (isBlocked(s)) {
    if (r.blockedCompleted) {
      problems.push(
        `the download completed with btblocker running, after ${r.blockedSeconds?.toFixed(1)} s`,
      );
    }
    if (!r.records.some((x) => x.action === "banned" && x.addresses.includes(banned))) {
      problems.push(`no "banned" record for the ${s.mustBan} ${banned} in the detection log`);
    }
    if (!r.bans.some((b) => b.address === banned)) {
      problems.push(`the ${s.mustBan} ${banned} is not in the pinned ban maps`);
    }
    if (r.drops.packets === 0) problems.push("XDP dropped no packets");
  } else {
    if (!r.blockedCompleted) {
      problems.push("the LAN download did not complete (btblocker cannot and must not stop it)");
    }
    if (r.records.some((x) => x.action === "banned") || r.bans.length > 0) {
      problems.push("a ban was installed for LAN-only traffic");
    }
  }
  const touched = r.records.filter((x) =>
    SERVICE_ADDRESSES.includes(x.src_ip) || SERVICE_ADDRESSES.includes(x.dest_ip)
  );
  if (touched.length > 0) {
    problems.push(
      `everyday traffic detected: ${
        touched.map((x) => `${x.proto} ${x.src_ip}:${x.src_port} ${x.reason}`).join(", ")
      }`,
    );
  }
  const bannedServices = r.bans.filter((b) => SERVICE_ADDRESSES.includes(b.address));
  if (bannedServices.length > 0) problems.push("an everyday service address was banned");
  for (const e of r.everyday) {
    if (!e.ok) problems.push(`everyday ${e.name} failed: ${e.detail}`);
  }
}
