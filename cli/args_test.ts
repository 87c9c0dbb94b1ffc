import assert from "node:assert/strict";
import { type CliConfig, HELP_WIDTH, OPTIONS, parseCommandLine, usage } from "./args.ts";
import { UsageError } from "./errors.ts";

const noEnv = () => undefined;
const parse = (...args: string[]) => parseCommandLine(args, noEnv);

/** A value for every option that differs from its default (booleans are given bare). */
const SAMPLES: Record<string, string | null> = {
  interfaces: "eth0,eth1",
  snaplen: "256",
  "buffer-size": "4M",
  promiscuous: null,
  enforcer: "nftables",
  "xdp-mode": "generic",
  "ban-duration": "30s",
  "cleanup-interval": "1m",
  "max-bans": "5000",
  "ban-scope": "both",
  "local-net": "192.0.2.0/24",
  allow: "198.51.100.7",
  "monitor-only": null,
  "flush-bans": null,
  "bpf-pin-dir": "/sys/fs/bpf/other",
  "log-level": "debug",
  "log-format": "json",
  "detection-log": "/var/log/btblocker/detections.jsonl",
  "report-rate": "5",
  "stats-interval": "1m",
  "metrics-listen": "127.0.0.1:9101",
  "pid-file": "none",
  read: "other.pcap",
  format: "jsonl",
  progress: null,
  "no-progress": null,
  "max-flows": "1000",
  "flow-timeout": "30s",
  "inspect-packets": "3",
  "max-endpoints": "1000",
  "endpoint-ttl": "10m",
  "not-bt-ports": "8080",
  "detect-socks": null,
  "worker-pool": null,
  workers: "3",
  help: null,
  version: null,
};

const LIVE_SECTIONS = ["Live capture", "Blocking", "Logging", "Operations"];

/**
 * Two command lines that differ only by option `o` (with its sample value): a base line of the
 * option's mode, and the same line with the option.
 */
function pair(o: (typeof OPTIONS)[number]): [string[], string[]] {
  const sample = SAMPLES[o.name];
  const flag = sample === null ? [`--${o.name}`] : [`--${o.name}`, sample];
  if (o.name === "read") return [["--read", "x.pcap"], flag];
  if (o.name === "interfaces") return [["--interfaces", "eth9"], flag];
  const mode = LIVE_SECTIONS.includes(o.section) ? ["--interfaces", "eth9"] : ["--read", "x.pcap"];
  if (o.name === "workers") mode.push("--worker-pool");
  return [mode, [...mode, ...flag]];
}

/** JSON of a config (NetworkList ranges as text). */
function snapshot(c: CliConfig): string {
  return JSON.stringify(c, (_k, v) => {
    if (v instanceof Uint32Array) return [...v];
    if (v !== null && typeof v === "object" && "ranges" in v) return v.ranges;
    return v;
  });
}

Deno.test("every option has a sample in this test", () => {
  assert.deepEqual(OPTIONS.map((o) => o.name).sort(), Object.keys(SAMPLES).sort());
});

for (const o of OPTIONS) {
  Deno.test(`--${o.name} changes the parsed configuration`, () => {
    const [without, withOption] = pair(o);
    assert.notEqual(snapshot(parse(...withOption)), snapshot(parse(...without)));
  });
}

Deno.test("environment variables apply; the command line overrides them", () => {
  const env = (name: string) =>
    ({ INTERFACE: "eth3", BAN_DURATION: "60", MONITOR_ONLY: "true" })[name];
  const c = parseCommandLine([], env);
  assert.equal(c.mode, "live");
  assert.deepEqual(c.live.interfaces, ["eth3"]);
  assert.equal(c.live.banDuration, 60);
  assert.equal(c.live.monitorOnly, true);
  assert.deepEqual(parseCommandLine(["--interfaces", "eth4"], env).live.interfaces, ["eth4"]);
});

Deno.test("live options are refused with --read, offline ones live", () => {
  assert.throws(() => parse("--read", "x.pcap", "--max-bans", "5"), UsageError);
  assert.throws(() => parse("--interfaces", "eth0", "--format", "jsonl"), UsageError);
  assert.throws(() => parse("--read", "x.pcap", "--interfaces", "eth0"), UsageError);
  assert.throws(() => parse(), /nothing to do/);
});

Deno.test("--help: every line fits the width, and no option spec runs into its text", () => {
  const lines = usage().split("\n");
  for (const line of lines) {
    assert.ok([...line].length <= HELP_WIDTH, `over ${HELP_WIDTH} columns: "${line}"`);
  }
  for (const o of OPTIONS) {
    const spec = `${o.short ? `-${o.short}, ` : "    "}--${o.name}${o.value ? ` ${o.value}` : ""}`;
    const at = lines.findIndex((l) => l.startsWith(`  ${spec}`));
    assert.ok(at >= 0, `--${o.name} has a line`);
    const rest = lines[at].slice(2 + spec.length);
    assert.ok(
      rest === "" || /^ {2,}\S/.test(rest),
      `--${o.name} runs into its text: "${lines[at]}"`,
    );
    // The text follows (on the spec's line or the next), indented, with every word kept.
    const text: string[] = rest === "" ? [] : [rest.trim()];
    for (let i = at + 1; i < lines.length && /^ {8,}\S/.test(lines[i]); i++) {
      text.push(lines[i].trim());
    }
    assert.equal(text.join(" "), `${o.help}${o.env ? ` [env ${o.env}]` : ""}`);
  }
});
