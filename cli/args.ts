/**
 * The command line: option definitions (which also generate `--help`), parsing with
 * `node:util` `parseArgs`, environment variables, and validation into one
 * {@linkcode CliConfig}.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_ENGINE_CONFIG, type EngineConfig } from "../dpi/config.ts";
import { DEFAULT_LOCAL_NETWORKS, NetworkList } from "../live/networks.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { EXIT_TRUNCATED, UsageError } from "./errors.ts";

/** Sections of `--help`, in order. */
export const SECTIONS = [
  "Live capture",
  "Blocking",
  "Logging",
  "Operations",
  "Offline",
  "Detection",
  "Worker pool",
  "General",
] as const;

/** One command-line option, with the help text printed by `--help`. */
export interface OptionSpec {
  /** Long name without dashes. */
  name: string;
  /** Whether the option takes a value. */
  type: "string" | "boolean";
  /** One-letter alias. */
  short?: string;
  /** Name of the value in help (`FILE`, `N`, `DURATION`). */
  value?: string;
  /** Section of the help. */
  section: typeof SECTIONS[number];
  /** What it does (and its default). */
  help: string;
  /** Environment variable read when the option is not given. */
  env?: string;
  /** May be given several times. */
  multiple?: boolean;
}

const D = DEFAULT_ENGINE_CONFIG;

/** Default live settings. */
export const LIVE_DEFAULTS = {
  snaplen: 512,
  bufferSize: 16 << 20,
  maxBans: 100000,
  banDuration: 5 * 3600,
  cleanupInterval: 300,
  statsInterval: 10,
  reportRate: 20,
  pidFile: "/run/btblocker/btblocker.pid",
  pinDir: "/sys/fs/bpf/btblocker",
} as const;

/** Every option btblocker accepts. */
export const OPTIONS: readonly OptionSpec[] = [
  {
    name: "interfaces",
    type: "string",
    short: "i",
    value: "LIST",
    section: "Live capture",
    env: "INTERFACE",
    help: "Capture and block on these interfaces (comma-separated); starts live mode.",
  },
  {
    name: "snaplen",
    type: "string",
    value: "BYTES",
    section: "Live capture",
    help: `Bytes captured per packet (${LIVE_DEFAULTS.snaplen}).`,
  },
  {
    name: "buffer-size",
    type: "string",
    value: "SIZE",
    section: "Live capture",
    help: `Kernel capture buffer per interface, e.g. 64M (${LIVE_DEFAULTS.bufferSize >> 20}M).`,
  },
  {
    name: "promiscuous",
    type: "boolean",
    section: "Live capture",
    help: "Put the interfaces in promiscuous mode (not needed on a router).",
  },
  {
    name: "enforcer",
    type: "string",
    value: "auto|xdp|nftables|none",
    section: "Blocking",
    env: "ENFORCER",
    help: "How bans are enforced: XDP, an nftables table, or not at all; auto tries XDP then " +
      "nftables (auto).",
  },
  {
    name: "xdp-mode",
    type: "string",
    value: "auto|native|generic",
    section: "Blocking",
    env: "XDP_MODE",
    help: "XDP attach mode; auto tries native, then generic (auto).",
  },
  {
    name: "ban-duration",
    type: "string",
    value: "DURATION",
    section: "Blocking",
    env: "BAN_DURATION",
    help: `How long a detected peer stays banned (${formatDuration(LIVE_DEFAULTS.banDuration)}).`,
  },
  {
    name: "cleanup-interval",
    type: "string",
    value: "DURATION",
    section: "Blocking",
    env: "XDP_CLEANUP_INTERVAL",
    help: `How often expired bans are removed (${
      formatDuration(LIVE_DEFAULTS.cleanupInterval)
    }; the kernel stops dropping at expiry anyway).`,
  },
  {
    name: "max-bans",
    type: "string",
    value: "N",
    section: "Blocking",
    help: `Bans held at once; beyond it the oldest is lifted (${LIVE_DEFAULTS.maxBans}).`,
  },
  {
    name: "ban-scope",
    type: "string",
    value: "peer|src|both",
    section: "Blocking",
    help: "Who is banned: the endpoint outside the local networks (peer), the detected " +
      "packet's source (src), or both endpoints (peer).",
  },
  {
    name: "local-net",
    type: "string",
    value: "CIDR",
    multiple: true,
    section: "Blocking",
    help: `Local networks (repeatable, or comma-separated; default ${
      DEFAULT_LOCAL_NETWORKS.join(", ")
    }, plus the host's own addresses).`,
  },
  {
    name: "allow",
    type: "string",
    value: "CIDR",
    multiple: true,
    section: "Blocking",
    help: "Never ban these ranges (repeatable, or comma-separated). Loopback, multicast, " +
      "broadcast, the host's own addresses and its gateways are never banned.",
  },
  {
    name: "monitor-only",
    type: "boolean",
    section: "Blocking",
    env: "MONITOR_ONLY",
    help: "Detect and log, never ban.",
  },
  {
    name: "flush-bans",
    type: "boolean",
    section: "Blocking",
    help: "Start with an empty ban list (bans otherwise survive a restart).",
  },
  {
    name: "bpf-pin-dir",
    type: "string",
    value: "DIR",
    section: "Blocking",
    help: `Where the XDP ban maps are pinned so bans survive a restart (${LIVE_DEFAULTS.pinDir}).`,
  },
  {
    name: "log-level",
    type: "string",
    value: "error|warn|info|debug",
    section: "Logging",
    env: "LOG_LEVEL",
    help: "Least severe messages logged (info).",
  },
  {
    name: "log-format",
    type: "string",
    value: "text|json",
    section: "Logging",
    help: "Log lines for people (text) or as JSON objects (text).",
  },
  {
    name: "detection-log",
    type: "string",
    value: "PATH",
    section: "Logging",
    env: "DETECTION_LOG",
    help: "Append every detection as a JSON line (with action, interface, payload); reopened " +
      "on SIGHUP for logrotate.",
  },
  {
    name: "report-rate",
    type: "string",
    value: "N",
    section: "Logging",
    help: `Detection reports (log line and detection-log record) per second, for proven ` +
      `detections and again for unproven ones, with bursts of 10 × N; the rest are counted, ` +
      `not written, so a flood cannot fill the disk (${LIVE_DEFAULTS.reportRate}).`,
  },
  {
    name: "stats-interval",
    type: "string",
    value: "DURATION",
    section: "Logging",
    help: `How often traffic, drop and ban counters are logged (${
      formatDuration(LIVE_DEFAULTS.statsInterval)
    }).`,
  },
  {
    name: "metrics-listen",
    type: "string",
    value: "ADDR:PORT",
    section: "Operations",
    env: "METRICS_LISTEN",
    help: "Serve Prometheus metrics at /metrics, the ban list at /bans and /healthz on this " +
      "address (off by default; keep it on localhost, e.g. 127.0.0.1:9425).",
  },
  {
    name: "pid-file",
    type: "string",
    value: "PATH",
    section: "Operations",
    help: "Where the running instance writes its pid, so `btblocker bans` can tell it to " +
      're-read its bans (/run/btblocker/btblocker.pid; "none" for no pid file).',
  },
  {
    name: "read",
    type: "string",
    short: "r",
    value: "FILE",
    section: "Offline",
    help:
      "Read a pcap or pcapng file, print a detection event per BitTorrent flow, then a summary.",
  },
  {
    name: "format",
    type: "string",
    short: "f",
    value: "text|jsonl",
    section: "Offline",
    help: "Output format: aligned text for people (default) or one JSON object per line.",
  },
  {
    name: "progress",
    type: "boolean",
    section: "Offline",
    help: "Show progress on stderr (default: when stderr is a terminal and the file is large).",
  },
  {
    name: "no-progress",
    type: "boolean",
    section: "Offline",
    help: "Never show progress.",
  },
  {
    name: "max-flows",
    type: "string",
    value: "N",
    section: "Detection",
    help: `Flows tracked at once; the least recently seen is evicted beyond it (${D.maxFlows}).`,
  },
  {
    name: "flow-timeout",
    type: "string",
    value: "DURATION",
    section: "Detection",
    help: `Forget a flow after this much silence (${formatDuration(D.flowIdleTimeout)}).`,
  },
  {
    name: "inspect-packets",
    type: "string",
    value: "N",
    section: "Detection",
    help: `Payload packets inspected per flow before giving up (${D.inspectBudget}).`,
  },
  {
    name: "max-endpoints",
    type: "string",
    value: "N",
    section: "Detection",
    help: `BitTorrent endpoints (address:port) remembered at once (${D.maxEndpoints}).`,
  },
  {
    name: "endpoint-ttl",
    type: "string",
    value: "DURATION",
    section: "Detection",
    help: `How long a BitTorrent endpoint is remembered (${formatDuration(D.endpointTtl)}).`,
  },
  {
    name: "not-bt-ports",
    type: "string",
    value: "LIST",
    section: "Detection",
    help: `Ports judged only by unambiguous signatures, never by heuristics or remembered ` +
      `endpoints (${D.notBitTorrentPorts.join(",")}; "none" for no such ports).`,
  },
  {
    name: "detect-socks",
    type: "boolean",
    section: "Detection",
    help: "Also report SOCKS5 proxy connections (SOCKS5 UDP is always unwrapped and inspected).",
  },
  {
    name: "worker-pool",
    type: "boolean",
    section: "Worker pool",
    help: "Inspect packets on a pool of worker threads, fed in batches, instead of on the main " +
      "thread (off). Live and with --read.",
  },
  {
    name: "workers",
    type: "string",
    value: "N",
    section: "Worker pool",
    help: "Workers in the pool; 0 = 1, the most within 150 MiB (0). Needs --worker-pool.",
  },
  { name: "help", type: "boolean", short: "h", section: "General", help: "Show this help." },
  {
    name: "version",
    type: "boolean",
    short: "V",
    section: "General",
    help: "Show the version.",
  },
];

/** Environment variables btblocker reads. */
export const ENV_VARS: readonly string[] = OPTIONS.flatMap((o) => o.env ? [o.env] : []);

/** Output formats of offline mode. */
export type OutputFormat = "text" | "jsonl";

/** Settings of live mode. */
export interface LiveConfig {
  /** Interfaces to capture and block on. */
  interfaces: string[];
  /** Bytes captured per packet. */
  snaplen: number;
  /** Kernel buffer per interface, bytes. */
  bufferSize: number;
  /** Promiscuous mode. */
  promiscuous: boolean;
  /** Ban enforcement. */
  enforcer: "auto" | "xdp" | "nftables" | "none";
  /** XDP attach mode. */
  xdpMode: "auto" | "native" | "generic";
  /** Ban length, seconds. */
  banDuration: number;
  /** Seconds between sweeps of expired bans. */
  cleanupInterval: number;
  /** Maximum bans held. */
  maxBans: number;
  /** Which endpoint is banned. */
  banScope: "peer" | "src" | "both";
  /** Local networks (the host's addresses are added at start). */
  localNetworks: NetworkList;
  /** Never-banned ranges. */
  allow: NetworkList;
  /** Detect and log only. */
  monitorOnly: boolean;
  /** Start with an empty ban list. */
  flushBans: boolean;
  /** bpffs directory for pinned maps. */
  pinDir: string;
  /** Log level. */
  logLevel: "error" | "warn" | "info" | "debug";
  /** Log line format. */
  logFormat: "text" | "json";
  /** Detection log file, if any. */
  detectionLog: string | null;
  /** Seconds between stats lines. */
  statsInterval: number;
  /** Detection reports per second (each of proven and unproven). */
  reportRate: number;
  /** Metrics listener, when one is asked for. */
  metricsListen: { hostname: string; port: number } | null;
  /** The pid file, or null for none. */
  pidFile: string | null;
}

/** Settings of the worker pool. */
export interface PoolConfig {
  /** Inspect on worker threads (`--worker-pool`); off means inline on the main thread. */
  enabled: boolean;
  /** Requested workers; 0 means the default (see `resolveWorkerCount`). */
  workers: number;
}

/** Most workers `--workers` accepts. */
export const MAX_WORKERS = 64;

/** The validated command line. */
export interface CliConfig {
  /** What to do. */
  mode: "read" | "live" | "help" | "version";
  /** Capture file for `read`. */
  readPath: string;
  /** Output format. */
  format: OutputFormat;
  /** `true`/`false` forces progress on/off; `undefined` decides by terminal and size. */
  progress: boolean | undefined;
  /** Engine settings given on the command line. */
  engine: Partial<EngineConfig>;
  /** Live settings (defaults in offline mode). */
  live: LiveConfig;
  /** Worker pool settings (both modes). */
  pool: PoolConfig;
}

type Values = Record<string, string | boolean | string[] | undefined>;

/**
 * Parses and validates the command line, taking unset options from the environment.
 *
 * @param args the arguments (without the program name)
 * @param env reads an environment variable (default `Deno.env.get`)
 * @throws {UsageError} with a one-line message for unknown flags, bad values and conflicts
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./args.ts";
 * const c = parseCommandLine(["--read", "x.pcap", "--format", "jsonl"], () => undefined);
 * c.mode; // "read"
 * ```
 */
export function parseCommandLine(
  args: string[],
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): CliConfig {
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = {};
  for (const o of OPTIONS) {
    options[o.name] = {
      type: o.type,
      ...(o.short ? { short: o.short } : {}),
      ...(o.multiple ? { multiple: true } : {}),
    };
  }
  let given: Values;
  try {
    given = parseArgs({ args, options, strict: true, allowPositionals: false }).values as Values;
  } catch (e) {
    throw new UsageError(describeParseError(e));
  }
  const values: Values = { ...given };
  for (const o of OPTIONS) {
    if (o.env === undefined || values[o.name] !== undefined) continue;
    const text = env(o.env);
    if (text === undefined || text === "") continue;
    values[o.name] = o.type === "boolean" ? envBoolean(o.env, text) : text;
  }
  const config: CliConfig = {
    mode: "read",
    readPath: "",
    format: "text",
    progress: undefined,
    engine: {},
    live: liveDefaults(),
    pool: { enabled: false, workers: 0 },
  };
  if (values.help) return { ...config, mode: "help" };
  if (values.version) return { ...config, mode: "version" };
  if (given.read !== undefined && given.interfaces !== undefined) {
    throw new UsageError("--read and --interfaces exclude each other: read a file or capture live");
  }
  if (given.read !== undefined) config.mode = "read";
  else if (values.interfaces !== undefined) config.mode = "live";
  else throw new UsageError("nothing to do: give --interfaces LIST or --read FILE (see --help)");
  parseEngine(values, config.engine);
  parsePool(values, config.pool);
  if (config.mode === "read") {
    parseOffline(given, config);
    refuseOthers(given, "Offline", "--read");
  } else {
    parseLive(values, config.live);
    refuseOthers(given, "Live", "--interfaces");
  }
  return config;
}

/** Live-only options refused with --read, and offline-only ones refused live. */
function refuseOthers(given: Values, mode: "Offline" | "Live", flag: string): void {
  const foreign = mode === "Offline"
    ? ["Live capture", "Blocking", "Logging", "Operations"]
    : ["Offline"];
  for (const o of OPTIONS) {
    if (foreign.includes(o.section) && given[o.name] !== undefined) {
      throw new UsageError(`--${o.name} does not apply with ${flag}`);
    }
  }
}

function liveDefaults(): LiveConfig {
  return {
    interfaces: [],
    snaplen: LIVE_DEFAULTS.snaplen,
    bufferSize: LIVE_DEFAULTS.bufferSize,
    promiscuous: false,
    enforcer: "auto",
    xdpMode: "auto",
    banDuration: LIVE_DEFAULTS.banDuration,
    cleanupInterval: LIVE_DEFAULTS.cleanupInterval,
    maxBans: LIVE_DEFAULTS.maxBans,
    banScope: "peer",
    localNetworks: NetworkList.parse(DEFAULT_LOCAL_NETWORKS),
    allow: NetworkList.parse([]),
    monitorOnly: false,
    flushBans: false,
    pinDir: LIVE_DEFAULTS.pinDir,
    logLevel: "info",
    logFormat: "text",
    detectionLog: null,
    statsInterval: LIVE_DEFAULTS.statsInterval,
    reportRate: LIVE_DEFAULTS.reportRate,
    metricsListen: null,
    pidFile: LIVE_DEFAULTS.pidFile,
  };
}

function parseOffline(values: Values, config: CliConfig): void {
  if (values.read === "") throw new UsageError("--read needs a file name");
  config.readPath = values.read as string;
  const format = values.format as string | undefined;
  if (format !== undefined) config.format = choice("--format", format, ["text", "jsonl"]);
  if (values.progress && values["no-progress"]) {
    throw new UsageError("--progress and --no-progress contradict each other");
  }
  if (values.progress) config.progress = true;
  if (values["no-progress"]) config.progress = false;
}

function parsePool(values: Values, p: PoolConfig): void {
  const workers = values.workers as string | undefined;
  if (workers !== undefined && !values["worker-pool"]) {
    throw new UsageError(
      "--workers sets the size of the worker pool, which is off by default: add --worker-pool",
    );
  }
  if (values["worker-pool"]) p.enabled = true;
  if (workers !== undefined) p.workers = integer("--workers", workers, 0, MAX_WORKERS);
}

function parseEngine(values: Values, e: Partial<EngineConfig>): void {
  const text = (name: string) => values[name] as string | undefined;
  if (text("max-flows") !== undefined) {
    e.maxFlows = integer("--max-flows", text("max-flows")!, 1, 1 << 24);
  }
  if (text("flow-timeout") !== undefined) {
    e.flowIdleTimeout = duration("--flow-timeout", text("flow-timeout")!);
  }
  if (text("inspect-packets") !== undefined) {
    e.inspectBudget = integer("--inspect-packets", text("inspect-packets")!, 1, 1000);
  }
  if (text("max-endpoints") !== undefined) {
    e.maxEndpoints = integer("--max-endpoints", text("max-endpoints")!, 1, 1 << 24);
  }
  if (text("endpoint-ttl") !== undefined) {
    e.endpointTtl = duration("--endpoint-ttl", text("endpoint-ttl")!);
  }
  if (text("not-bt-ports") !== undefined) {
    e.notBitTorrentPorts = portList("--not-bt-ports", text("not-bt-ports")!);
  }
  if (values["detect-socks"]) e.detectSocks = true;
}

function parseLive(values: Values, l: LiveConfig): void {
  const text = (name: string) => values[name] as string | undefined;
  const interfaces = (text("interfaces") ?? "").split(",").map((s) => s.trim()).filter((s) => s);
  if (interfaces.length === 0) {
    throw new UsageError("--interfaces needs at least one interface name");
  }
  const seen = new Set<string>();
  for (const name of interfaces) {
    if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(name)) {
      throw new UsageError(`"${name}" is not an interface name`);
    }
    if (seen.has(name)) throw new UsageError(`interface ${name} is listed twice`);
    seen.add(name);
  }
  l.interfaces = interfaces;
  if (text("snaplen") !== undefined) l.snaplen = integer("--snaplen", text("snaplen")!, 64, 262144);
  if (text("buffer-size") !== undefined) l.bufferSize = size("--buffer-size", text("buffer-size")!);
  if (values.promiscuous) l.promiscuous = true;
  if (text("enforcer") !== undefined) {
    l.enforcer = choice("--enforcer", text("enforcer")!, ["auto", "xdp", "nftables", "none"]);
  }
  if (text("xdp-mode") !== undefined) {
    l.xdpMode = choice("--xdp-mode", text("xdp-mode")!, ["auto", "native", "generic"]);
  }
  if (text("ban-duration") !== undefined) {
    l.banDuration = duration("--ban-duration", text("ban-duration")!);
  }
  if (text("cleanup-interval") !== undefined) {
    l.cleanupInterval = duration("--cleanup-interval", text("cleanup-interval")!);
  }
  if (text("max-bans") !== undefined) {
    l.maxBans = integer("--max-bans", text("max-bans")!, 1, 1 << 24);
  }
  if (text("ban-scope") !== undefined) {
    l.banScope = choice("--ban-scope", text("ban-scope")!, ["peer", "src", "both"]);
  }
  if (values["local-net"] !== undefined) {
    l.localNetworks = cidrs("--local-net", values["local-net"] as string[]);
  }
  if (values.allow !== undefined) l.allow = cidrs("--allow", values.allow as string[]);
  if (values["monitor-only"]) l.monitorOnly = true;
  if (values["flush-bans"]) l.flushBans = true;
  if (text("bpf-pin-dir") !== undefined) {
    if (!text("bpf-pin-dir")!.startsWith("/")) {
      throw new UsageError("--bpf-pin-dir must be an absolute path");
    }
    l.pinDir = text("bpf-pin-dir")!;
  }
  if (text("log-level") !== undefined) {
    l.logLevel = choice("--log-level", text("log-level")!, ["error", "warn", "info", "debug"]);
  }
  if (text("log-format") !== undefined) {
    l.logFormat = choice("--log-format", text("log-format")!, ["text", "json"]);
  }
  if (text("detection-log") !== undefined) {
    if (text("detection-log") === "") throw new UsageError("--detection-log needs a file name");
    l.detectionLog = text("detection-log")!;
  }
  if (text("report-rate") !== undefined) {
    l.reportRate = integer("--report-rate", text("report-rate")!, 1, 1_000_000);
  }
  if (text("stats-interval") !== undefined) {
    l.statsInterval = duration("--stats-interval", text("stats-interval")!);
  }
  if (text("metrics-listen") !== undefined) {
    l.metricsListen = listenAddress(text("metrics-listen")!);
  }
  if (text("pid-file") !== undefined) {
    const path = text("pid-file")!;
    if (path !== "none" && !path.startsWith("/")) {
      throw new UsageError(`--pid-file must be an absolute path or "none", got "${path}"`);
    }
    l.pidFile = path === "none" ? null : path;
  }
  if (l.monitorOnly && values.enforcer !== undefined && l.enforcer !== "none") {
    throw new UsageError("--monitor-only never bans: --enforcer does not apply (drop one of them)");
  }
}

/** Columns `--help` fits in. */
export const HELP_WIDTH = 80;
/** Column where an option's text starts; a longer option spec gets a line of its own. */
const HELP_TEXT_COLUMN = 32;

/**
 * `words` (or the words of a string) filled into lines of at most `width` columns, each after
 * `indent` spaces (the first after `first` instead, when given). A word longer than a line
 * keeps a line of its own.
 */
function wrap(
  words: string | string[],
  width: number,
  indent: number,
  first = " ".repeat(indent),
): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of typeof words === "string" ? words.split(" ") : words) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = " ".repeat(indent);
      empty = true;
    }
    line += empty ? word : ` ${word}`;
    empty = false;
  }
  lines.push(line);
  return lines;
}

/** The `--help` text, generated from {@linkcode OPTIONS}, fitting {@linkcode HELP_WIDTH}. */
export function usage(): string {
  const lines = [
    ...wrap(
      "btblocker — find BitTorrent traffic by deep packet inspection and ban the peers in " +
        "the kernel.",
      HELP_WIDTH,
      0,
    ),
    "",
    "Usage:",
    "  btblocker --interfaces eth0,eth1 [options]   live: detect and ban (as root)",
    "  btblocker --read FILE [--format text|jsonl]  offline: audit a capture",
    "  btblocker bans list|add|remove|flush …       manage a running instance's bans",
    "",
  ];
  for (const section of SECTIONS) {
    lines.push(`${section}:`);
    for (const o of OPTIONS.filter((o) => o.section === section)) {
      const spec = `  ${o.short ? `-${o.short}, ` : "    "}--${o.name}${
        o.value ? ` ${o.value}` : ""
      }`;
      const text = o.help.split(" ");
      if (o.env) text.push(`[env ${o.env}]`);
      const ownLine = spec.length + 2 > HELP_TEXT_COLUMN;
      if (ownLine) lines.push(spec);
      const first = ownLine ? undefined : spec.padEnd(HELP_TEXT_COLUMN);
      lines.push(...wrap(text, HELP_WIDTH, HELP_TEXT_COLUMN, first));
    }
    lines.push("");
  }
  for (
    const note of [
      "Durations: 250ms, 30s, 5m, 5h, 1d, or plain seconds. Sizes: 512k, 64M, 1G or bytes.",
      "Options given on the command line override the environment.",
      `Exit status: 0 done, 1 runtime error, 2 usage error, ${EXIT_TRUNCATED} capture cut ` +
      "off part-way (what was read before the cut is reported).",
    ]
  ) lines.push(...wrap(note, HELP_WIDTH, 0));
  return lines.join("\n");
}

function describeParseError(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown option ${unknown[1]} (see --help)`;
  const missing = /Option '([^']+?)(?: <value>)?' argument missing/.exec(message);
  if (missing) return `${missing[1].replace(/^-\w, /, "")} needs a value`;
  const positional = /Unexpected argument '([^']+)'/.exec(message);
  if (positional) {
    return `unexpected argument "${positional[1]}" (options start with --; see --help)`;
  }
  return message.split("\n")[0];
}

function envBoolean(name: string, text: string): boolean {
  const t = text.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(t)) return true;
  if (["0", "false", "no", "off"].includes(t)) return false;
  throw new UsageError(`${name} must be true or false, got "${text}"`);
}

function choice<T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) {
    throw new UsageError(
      `${flag} must be ${allowed.join(", ").replace(/, ([^,]*)$/, " or $1")}, got "${text}"`,
    );
  }
  return text as T;
}

function integer(flag: string, text: string, min: number, max: number): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got "${text}"`);
  }
  return n;
}

function duration(flag: string, text: string): number {
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds <= 0) {
    throw new UsageError(`${flag} must be a duration like 30s, 5m, 5h or 1d, got "${text}"`);
  }
  return seconds;
}

function size(flag: string, text: string): number {
  const m = /^\s*(\d+)\s*([kmg]?)i?b?\s*$/i.exec(text);
  const bytes = m === null ? NaN : Number(m[1]) *
    { "": 1, k: 1024, m: 1 << 20, g: 1 << 30 }[m[2].toLowerCase() as "" | "k" | "m" | "g"];
  if (!(bytes >= 65536 && bytes <= 2 ** 31 - 1)) {
    throw new UsageError(`${flag} must be a size from 64k to 2G, like 32M, got "${text}"`);
  }
  return bytes;
}

function cidrs(flag: string, values: string[]): NetworkList {
  try {
    return NetworkList.parse(values);
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
}

/** Parses `host:port` or `[ipv6]:port` for a listener. */
function listenAddress(text: string): { hostname: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text.trim());
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port >= 1 && port <= 65535)) {
    throw new UsageError(
      `--metrics-listen must be ADDRESS:PORT, like 127.0.0.1:9425 or [::1]:9425, got "${text}"`,
    );
  }
  return { hostname: m[1] ?? m[2], port };
}

function portList(flag: string, text: string): number[] {
  if (text.trim().toLowerCase() === "none") return [];
  const ports = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  return ports.map((p) => integer(flag, p, 1, 65535));
}
