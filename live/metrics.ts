/**
 * The metrics and status endpoint of live mode: Prometheus text exposition at `/metrics`, the
 * ban list as JSON at `/bans`, and `/healthz`. The server only renders snapshots the live run
 * hands it; it never touches the capture or the bans itself.
 *
 * @module
 */

/** Counters of one interface. */
export interface InterfaceMetrics {
  /** Interface name. */
  iface: string;
  /** Packets captured. */
  packets: number;
  /** Wire bytes captured. */
  bytes: number;
  /** Packets libpcap dropped (buffer full). */
  pcapDropped: number;
  /** Packets the interface or driver dropped. */
  interfaceDropped: number;
  /** Packets with truncated or inconsistent headers. */
  malformed: number;
  /** Flows evicted from a full flow table (unknown with the worker pool). */
  flowEvictions?: number;
  /** Packets the worker pool dropped (no free slab). */
  poolDropped: number;
  /** Whether capture on the interface is running. */
  up: boolean;
}

/** Everything `/metrics` reports. */
export interface MetricsSnapshot {
  /** Build information. */
  build: { version: string; commit: string; deno: string };
  /** Per-interface counters. */
  interfaces: InterfaceMetrics[];
  /** Detections by reason name. */
  detections: Record<string, number>;
  /** Bans held now. */
  bansActive: number;
  /** Bans installed since start. */
  bansTotal: number;
  /** Bans that expired. */
  bansExpired: number;
  /** Bans evicted by the `--max-bans` bound. */
  bansEvicted: number;
  /** Bans removed by hand. */
  bansRemoved: number;
  /** Judgements of heuristic detections left unbanned for want of corroboration. */
  suspected: number;
  /** Detection reports held back by the report rate limit. */
  reportsSuppressed: number;
  /** Enforcer drops by family. */
  enforcerDrops: { ipv4Packets: number; ipv4Bytes: number; ipv6Packets: number; ipv6Bytes: number };
  /** Name of the enforcer (`xdp`, `nftables`, `none`). */
  enforcer: string;
  /** Worker pool state, when the pool is on. */
  pool?: {
    workers: number;
    active: number;
    queueUsed: number;
    queueCapacity: number;
    restarts: number;
  };
  /** Seconds since start. */
  uptimeSeconds: number;
}

/** One ban as `/bans` lists it. */
export interface BanListing {
  /** Banned address. */
  address: string;
  /** Detection reason behind the ban (`manual` for bans added by hand). */
  reason: string;
  /** ISO 8601 time of the ban. */
  first_detection: string;
  /** ISO 8601 expiry. */
  expires: string;
  /** What the flow proved about this address when it was banned. */
  evidence: string;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function labels(pairs: Record<string, string>): string {
  const parts = Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/**
 * Renders a snapshot in the Prometheus text exposition format (version 0.0.4).
 *
 * @example
 * ```ts ignore
 * const text = renderMetrics(snapshot);
 * // # TYPE btblocker_packets_total counter
 * // btblocker_packets_total{iface="eth0"} 1234
 * ```
 */
export function renderMetrics(s: MetricsSnapshot): string {
  const out: string[] = [];
  const family = (name: string, type: "counter" | "gauge", help: string) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  const sample = (name: string, value: number, l: Record<string, string> = {}) => {
    out.push(`${name}${labels(l)} ${Number.isFinite(value) ? value : 0}`);
  };
  family("btblocker_build_info", "gauge", "Build information (always 1).");
  sample("btblocker_build_info", 1, s.build);
  family("btblocker_uptime_seconds", "gauge", "Seconds since btblocker started.");
  sample("btblocker_uptime_seconds", Math.round(s.uptimeSeconds));
  const perInterface: [
    string,
    "counter" | "gauge",
    string,
    (i: InterfaceMetrics) => number | undefined,
  ][] = [
    ["btblocker_packets_total", "counter", "Packets captured.", (i) => i.packets],
    ["btblocker_bytes_total", "counter", "Bytes captured (wire length).", (i) => i.bytes],
    [
      "btblocker_pcap_dropped_packets_total",
      "counter",
      "Packets dropped by libpcap (buffer full).",
      (i) => i.pcapDropped,
    ],
    [
      "btblocker_interface_dropped_packets_total",
      "counter",
      "Packets dropped by the interface or driver.",
      (i) => i.interfaceDropped,
    ],
    [
      "btblocker_malformed_packets_total",
      "counter",
      "Packets with truncated or inconsistent headers.",
      (i) => i.malformed,
    ],
    [
      "btblocker_flow_evictions_total",
      "counter",
      "Flows evicted from a full flow table.",
      (i) => i.flowEvictions,
    ],
    [
      "btblocker_pool_dropped_packets_total",
      "counter",
      "Packets dropped because the worker pool had no free slab.",
      (i) => i.poolDropped,
    ],
    [
      "btblocker_capture_up",
      "gauge",
      "1 while capture on the interface runs.",
      (i) => i.up ? 1 : 0,
    ],
  ];
  for (const [name, type, help, get] of perInterface) {
    family(name, type, help);
    for (const i of s.interfaces) {
      const value = get(i);
      if (value !== undefined) sample(name, value, { iface: i.iface });
    }
  }
  family("btblocker_detections_total", "counter", "BitTorrent flows detected, by reason.");
  for (const [reason, n] of Object.entries(s.detections)) {
    sample("btblocker_detections_total", n, { reason });
  }
  family(
    "btblocker_reports_suppressed_total",
    "counter",
    "Detection reports (log line and detection-log record) held back by the rate limit.",
  );
  sample("btblocker_reports_suppressed_total", s.reportsSuppressed);
  family("btblocker_bans_active", "gauge", "Bans in force.");
  sample("btblocker_bans_active", s.bansActive);
  family("btblocker_bans_total", "counter", "Bans installed since start.");
  sample("btblocker_bans_total", s.bansTotal);
  family("btblocker_ban_removals_total", "counter", "Bans lifted, by cause.");
  sample("btblocker_ban_removals_total", s.bansExpired, { cause: "expired" });
  sample("btblocker_ban_removals_total", s.bansEvicted, { cause: "evicted" });
  sample("btblocker_ban_removals_total", s.bansRemoved, { cause: "manual" });
  family(
    "btblocker_suspected_total",
    "counter",
    "Heuristic detections with evidence but no corroboration: logged, never banned.",
  );
  sample("btblocker_suspected_total", s.suspected);
  family(
    "btblocker_enforcer_dropped_packets_total",
    "counter",
    "Packets dropped by the enforcer, by address family.",
  );
  sample("btblocker_enforcer_dropped_packets_total", s.enforcerDrops.ipv4Packets, {
    enforcer: s.enforcer,
    family: "ipv4",
  });
  sample("btblocker_enforcer_dropped_packets_total", s.enforcerDrops.ipv6Packets, {
    enforcer: s.enforcer,
    family: "ipv6",
  });
  family(
    "btblocker_enforcer_dropped_bytes_total",
    "counter",
    "Bytes dropped by the enforcer, by address family.",
  );
  sample("btblocker_enforcer_dropped_bytes_total", s.enforcerDrops.ipv4Bytes, {
    enforcer: s.enforcer,
    family: "ipv4",
  });
  sample("btblocker_enforcer_dropped_bytes_total", s.enforcerDrops.ipv6Bytes, {
    enforcer: s.enforcer,
    family: "ipv6",
  });
  if (s.pool !== undefined) {
    family("btblocker_pool_workers", "gauge", "Workers in the pool, and how many are busy.");
    sample("btblocker_pool_workers", s.pool.workers, { state: "total" });
    sample("btblocker_pool_workers", s.pool.active, { state: "active" });
    family(
      "btblocker_pool_queue_utilization_ratio",
      "gauge",
      "Share of the pool's slabs in use (0-1).",
    );
    sample(
      "btblocker_pool_queue_utilization_ratio",
      s.pool.queueCapacity === 0 ? 0 : s.pool.queueUsed / s.pool.queueCapacity,
    );
    family("btblocker_pool_worker_restarts_total", "counter", "Workers replaced after a crash.");
    sample("btblocker_pool_worker_restarts_total", s.pool.restarts);
  }
  return out.join("\n") + "\n";
}

/** What the server asks the live run for. */
export interface MetricsSource {
  /** A current snapshot. */
  snapshot(): MetricsSnapshot;
  /** The ban list. */
  bans(): BanListing[];
}

/**
 * Serves `/metrics`, `/bans` and `/healthz` on `hostname:port` until the returned server is
 * shut down. Needs `--allow-net` for that address.
 */
export function serveMetrics(
  hostname: string,
  port: number,
  source: MetricsSource,
  onListen?: (addr: Deno.NetAddr) => void,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname, port, onListen: onListen ?? (() => {}) }, (request) => {
    const path = new URL(request.url).pathname;
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    if (path === "/metrics") {
      return new Response(renderMetrics(source.snapshot()), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    }
    if (path === "/bans") {
      return new Response(JSON.stringify(source.bans(), null, 1) + "\n", {
        headers: { "content-type": "application/json" },
      });
    }
    if (path === "/healthz") {
      const s = source.snapshot();
      const up = s.interfaces.some((i) => i.up);
      return new Response(up ? "ok\n" : "no interface is capturing\n", { status: up ? 200 : 503 });
    }
    return new Response("not found: try /metrics, /bans or /healthz\n", { status: 404 });
  });
}
