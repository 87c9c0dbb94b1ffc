/**
 * The command line: option definitions (which also generate `--help`), parsing with
 * `node:util` `parseArgs`, and validation into one {@linkcode CliConfig}.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_ENGINE_CONFIG, type EngineConfig } from "../dpi/config.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { UsageError } from "./errors.ts";

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
  section: "Offline" | "Detection" | "General";
  /** What it does (and its default). */
  help: string;
}

const D = DEFAULT_ENGINE_CONFIG;

/** Every option btblocker accepts. */
export const OPTIONS: readonly OptionSpec[] = [
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
  { name: "help", type: "boolean", short: "h", section: "General", help: "Show this help." },
  {
    name: "version",
    type: "boolean",
    short: "V",
    section: "General",
    help: "Show the version.",
  },
];

/** Output formats of offline mode. */
export type OutputFormat = "text" | "jsonl";

/** The validated command line. */
export interface CliConfig {
  /** What to do. */
  mode: "read" | "help" | "version";
  /** Capture file for `read`. */
  readPath: string;
  /** Output format. */
  format: OutputFormat;
  /** `true`/`false` forces progress on/off; `undefined` decides by terminal and size. */
  progress: boolean | undefined;
  /** Engine settings given on the command line. */
  engine: Partial<EngineConfig>;
}

/**
 * Parses and validates the command line.
 *
 * @throws {UsageError} with a one-line message for unknown flags and bad values
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./args.ts";
 * const c = parseCommandLine(["--read", "x.pcap", "--format", "jsonl"]);
 * c.mode; // "read"
 * ```
 */
export function parseCommandLine(args: string[]): CliConfig {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const o of OPTIONS) {
    options[o.name] = o.short ? { type: o.type, short: o.short } : { type: o.type };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({ args, options, strict: true, allowPositionals: false });
    values = parsed.values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new UsageError(describeParseError(e));
  }
  const config: CliConfig = {
    mode: "read",
    readPath: "",
    format: "text",
    progress: undefined,
    engine: {},
  };
  if (values.help) return { ...config, mode: "help" };
  if (values.version) return { ...config, mode: "version" };
  if (values.read === undefined) {
    throw new UsageError("nothing to do: give --read FILE (see --help)");
  }
  if (values.read === "") throw new UsageError("--read needs a file name");
  config.readPath = values.read as string;
  const format = values.format as string | undefined;
  if (format !== undefined) {
    if (format !== "text" && format !== "jsonl") {
      throw new UsageError(`--format must be text or jsonl, got "${format}"`);
    }
    config.format = format;
  }
  if (values.progress && values["no-progress"]) {
    throw new UsageError("--progress and --no-progress contradict each other");
  }
  if (values.progress) config.progress = true;
  if (values["no-progress"]) config.progress = false;
  const e = config.engine;
  if (values["max-flows"] !== undefined) {
    e.maxFlows = integer("--max-flows", values["max-flows"] as string, 1, 1 << 24);
  }
  if (values["flow-timeout"] !== undefined) {
    e.flowIdleTimeout = duration("--flow-timeout", values["flow-timeout"] as string);
  }
  if (values["inspect-packets"] !== undefined) {
    e.inspectBudget = integer("--inspect-packets", values["inspect-packets"] as string, 1, 1000);
  }
  if (values["max-endpoints"] !== undefined) {
    e.maxEndpoints = integer("--max-endpoints", values["max-endpoints"] as string, 1, 1 << 24);
  }
  if (values["endpoint-ttl"] !== undefined) {
    e.endpointTtl = duration("--endpoint-ttl", values["endpoint-ttl"] as string);
  }
  if (values["not-bt-ports"] !== undefined) {
    e.notBitTorrentPorts = portList("--not-bt-ports", values["not-bt-ports"] as string);
  }
  if (values["detect-socks"]) e.detectSocks = true;
  return config;
}

/** The `--help` text, generated from {@linkcode OPTIONS}. */
export function usage(): string {
  const lines = [
    "btblocker — find BitTorrent traffic by deep packet inspection.",
    "",
    "Usage:",
    "  btblocker --read FILE [--format text|jsonl] [options]",
    "",
  ];
  for (const section of ["Offline", "Detection", "General"] as const) {
    lines.push(`${section}:`);
    for (const o of OPTIONS.filter((o) => o.section === section)) {
      const flag = `${o.short ? `-${o.short}, ` : "    "}--${o.name}${
        o.value ? ` ${o.value}` : ""
      }`;
      lines.push(`  ${flag.padEnd(34)}${o.help}`);
    }
    lines.push("");
  }
  lines.push("Durations: 250ms, 30s, 5m, 5h, 1d, or plain seconds.");
  lines.push("Exit status: 0 done, 1 runtime error, 2 usage error.");
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

function portList(flag: string, text: string): number[] {
  if (text.trim().toLowerCase() === "none") return [];
  const ports = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  return ports.map((p) => integer(flag, p, 1, 65535));
}
