/**
 * The worker pool from the command line: `--read` with `--worker-pool` prints the same
 * detection events, evidence and counters as without (our fixtures, 1, 2 and 4 workers, real
 * processes), and the pool options are validated. The workers share one endpoint memory but
 * read the capture at their own pace: only the flows listed in `tests/helpers/order_dependent.ts`
 * may differ, and then only the counters of flows (not of reasons) must match.
 */
import assert from "node:assert/strict";
import { runCli } from "./helpers/cli.ts";
import { compareDetections, type FlowEvent, flowEvent } from "./helpers/detection_diff.ts";
import { ORDER_DEPENDENT } from "./helpers/order_dependent.ts";
import { testDirectory } from "./helpers/pcap_writer.ts";
import { pcapAsPcapng } from "./helpers/pcapng_blocks.ts";

const root = new URL("../", import.meta.url).pathname;

interface Run {
  events: FlowEvent[];
  evidence: string[];
  /** Heuristic detections confirmed later in their flow (flow, packet and confidence). */
  confirmations: string[];
  stats: Record<string, unknown>;
}

function parse(stdout: string): Run {
  const lines = stdout.trim().split("\n").map((l) => JSON.parse(l));
  const stats = lines.pop();
  assert.equal(stats.event_type, "stats");
  for (const volatile of ["seconds", "packets_per_second"]) delete stats[volatile];
  const detections = lines.filter((e) => e.event_type === "detection");
  const confirmations = lines.filter((e) => e.event_type === "confirmation");
  assert.equal(detections.length + confirmations.length, lines.length, "only detections");
  return {
    events: detections.map(flowEvent),
    confirmations: confirmations.map((e) =>
      `${e.src_ip}:${e.src_port} > ${e.dest_ip}:${e.dest_port} ${e.flow_packet} ${e.confidence}`
    ).sort(),
    // Flow ids differ by design (each worker numbers its own flows); the rest must match.
    evidence: detections.map((e) =>
      `${e.timestamp} ${e.src_ip}:${e.src_port} > ${e.dest_ip}:${e.dest_port} ${e.reason} ` +
      JSON.stringify(e.evidence)
    ).sort(),
    stats,
  };
}

/** Counters that do not depend on which reason decided a flow. */
const FLOW_COUNTERS = [
  "file",
  "link_type",
  "packets",
  "bytes",
  "decoded",
  "malformed",
  "not_ip",
  "other_transport",
  "fragments",
  "flows",
  "flows_expired",
  "flows_evicted",
];

const fixtures = [...Deno.readDirSync(`${root}tests/fixtures`)]
  .filter((e) => /\.pcap(ng)?$/.test(e.name)).map((e) => `${root}tests/fixtures/${e.name}`).sort();

/**
 * Runs `--read` of `path` inline and with 1, 2 and 4 workers and asserts the same detections
 * (save the order-dependent flows of the fixture `name`), evidence and counters.
 */
async function assertPoolReadsAsInline(path: string, name: string): Promise<void> {
  const runs = await Promise.all([
    runCli("--read", path, "--format", "jsonl"),
    ...[1, 2, 4].map((n) =>
      runCli("--read", path, "--format", "jsonl", "--worker-pool", "--workers", String(n))
    ),
  ]);
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  const [inline, ...pooled] = runs.map((r) => parse(r.stdout));
  for (const [i, p] of pooled.entries()) {
    const workers = [1, 2, 4][i];
    const d = compareDetections(inline.events, p.events, ORDER_DEPENDENT[name]);
    assert.deepEqual(d.differences, [], `${workers} worker(s): events`);
    if (d.orderDependent.length === 0) {
      assert.deepEqual(p.evidence, inline.evidence, `${workers} worker(s): evidence`);
      assert.deepEqual(
        p.confirmations,
        inline.confirmations,
        `${workers} worker(s): confirmations`,
      );
      assert.deepEqual(p.stats, inline.stats, `${workers} worker(s): counters`);
    } else {
      console.log(`${workers} workers, order-dependent differences:`);
      for (const line of d.orderDependent) console.log(`  ${line}`);
      for (const k of FLOW_COUNTERS) assert.deepEqual(p.stats[k], inline.stats[k], k);
    }
  }
}

for (const path of fixtures) {
  const name = path.split("/").pop()!;
  Deno.test(`--read --worker-pool = --read: ${name}`, () => assertPoolReadsAsInline(path, name));
}

// A pcapng file is read in chunks up to its second section, whose blocks the pool leaves to
// libpcap (read on packet by packet): both ways, and the switch, must keep every detection.
for (
  const [name, sections] of [["lab_qbittorrent.pcap", 1], ["lab_qbittorrent.pcap", 2], [
    "lab_transmission_encrypted.pcap",
    2,
  ]] as const
) {
  Deno.test(`--read --worker-pool = --read: ${name} as pcapng of ${sections} section(s)`, async () => {
    const pcap = Deno.readFileSync(`${root}tests/fixtures/${name}`);
    const path = `${testDirectory()}/${name}.${sections}.pcapng`;
    Deno.writeFileSync(path, pcapAsPcapng(pcap, sections));
    await assertPoolReadsAsInline(path, name);
  });
}

Deno.test("pool options: validated, listed in --help, usable live and offline", async () => {
  const help = await runCli("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Worker pool:\n\s+--worker-pool\s+[^]*?\n\s+--workers N\s+/);
  const cases: [string[], RegExp][] = [
    [["--read", "x.pcap", "--workers", "2"], /--workers .* add --worker-pool/],
    [["--read", "x.pcap", "--worker-pool", "--workers", "65"], /--workers must be .* 0 to 64/],
    [["--read", "x.pcap", "--worker-pool", "--workers", "two"], /--workers must be/],
    [["--interfaces", "lo", "--workers", "2"], /add --worker-pool/],
  ];
  for (const [args, pattern] of cases) {
    const r = await runCli(...args);
    assert.equal(r.code, 2, args.join(" "));
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], pattern);
  }
  const missing = await runCli("--read", "/nonexistent.pcap", "--worker-pool");
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^btblocker: cannot read \/nonexistent.pcap/);
});
