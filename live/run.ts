/**
 * Live mode: capture on the listed interfaces, detect BitTorrent, ban peers in the kernel, log
 * detections and counters, and shut down cleanly on SIGINT/SIGTERM.
 *
 * @module
 */

import type { CliConfig, LiveConfig } from "../cli/args.ts";
import { RuntimeError } from "../cli/errors.ts";
import { Verdict } from "../dpi/analyzer.ts";
import type { Detection } from "../dpi/detection.ts";
import { XdpEnforcer } from "../ffi/xdp.ts";
import { BanManager, type Judgement } from "./bans.ts";
import {
  CAPTURE_FILTER,
  CaptureLoop,
  type CaptureOptions,
  type InterfaceCapture,
  openCaptures,
  type PacketSink,
} from "./capture.ts";
import { DetectionLog, type DetectionRecord, toHex } from "./detection_log.ts";
import { type Enforcer, NoEnforcer } from "./enforcer.ts";
import { InlineInspector } from "./inline.ts";
import { closeLogging, configureLogging, log } from "./log.ts";
import { type Cidr, NetworkList, parseCidr } from "./networks.ts";
import { formatAddress } from "../dpi/address.ts";
import { ipv4Gateways, ipv6Gateways } from "./gateways.ts";
import { readKernelFile } from "../ffi/procfs.ts";
import { NftablesEnforcer } from "./nftables.ts";
import { missingCapabilities, privilegeHint } from "./privileges.ts";
import { resolveWorkerCount, WorkerPool } from "../workers/pool.ts";
import { maxSlabPacketBytes, SLAB_BYTES } from "../workers/slab.ts";
import { buildInfo } from "../cli/version.ts";
import { REASON_COUNT, reasonName } from "../dpi/reason.ts";
import { type BanListing, type MetricsSnapshot, serveMetrics } from "./metrics.ts";
import { TokenBucket } from "./rate_limit.ts";

const logCapture = log("capture");
const logBans = log("bans");
const logStats = log("stats");
const logPool = log("pool");
const logOps = log("ops");

/** Seconds between the worker pool's status lines. */
const POOL_STATUS_INTERVAL = 10;
/** How often an interface whose capture failed is tried again, ms. */
const REOPEN_INTERVAL_MS = 2000;
/** Queue fill (percent of the ring) above which the status line comes with a warning. */
const POOL_BUSY_PERCENT = 80;

/**
 * Runs live mode until SIGINT/SIGTERM (or until every interface failed) and returns the exit
 * status.
 *
 * @throws {UsageError} / {RuntimeError} for problems found before capture starts
 */
export async function runLive(cli: CliConfig): Promise<number> {
  const live = cli.live;
  await configureLogging({ level: live.logLevel, format: live.logFormat });
  try {
    return await new LiveRun(cli).run();
  } finally {
    await closeLogging();
  }
}

/** One live run: owns the captures, the inspector, the bans and the logs. */
class LiveRun {
  readonly #cli: CliConfig;
  readonly #live: LiveConfig;
  #captures: InterfaceCapture[] = [];
  #captureOptions!: CaptureOptions;
  #enforcer: Enforcer = new NoEnforcer();
  #bans!: BanManager;
  #detectionLog: DetectionLog | null = null;
  #loop: CaptureLoop | null = null;
  #pool: WorkerPool | null = null;
  /** Pool drops per interface, kept when the pool is closed (for the final stats line). */
  #poolDrops: number[] = [];
  /** Wire bytes the pool counted per interface, kept when the pool is closed. */
  #poolBytes: number[] = [];
  #detections = 0;
  readonly #byReason = new Float64Array(REASON_COUNT);
  #inline: InlineInspector | null = null;
  readonly #started = performance.now();
  /** Reports (log line and detection record) of proven detections: bans, monitor, repeats. */
  #provenReports!: TokenBucket;
  /** Reports of detections anybody can provoke with forged packets (no evidence, allowlisted). */
  #unprovenReports!: TokenBucket;
  #lastPackets: number[] = [];
  #lastDrops: number[] = [];

  constructor(cli: CliConfig) {
    this.#cli = cli;
    this.#live = cli.live;
    const rate = cli.live.reportRate;
    this.#provenReports = new TokenBucket(rate, rate * 10);
    this.#unprovenReports = new TokenBucket(rate, rate * 10);
  }

  async run(): Promise<number> {
    const live = this.#live;
    const missing = missingCapabilities(live.monitorOnly ? "none" : live.enforcer);
    if (missing.length > 0) throw new RuntimeError(privilegeHint(missing));
    const hostAddresses = hostNetworks();
    const gateways = routeGateways();
    this.#captureOptions = {
      snaplen: live.snaplen,
      bufferSize: live.bufferSize,
      promiscuous: live.promiscuous,
      filter: CAPTURE_FILTER,
      pool: this.#cli.pool.enabled
        ? {
          workers: resolveWorkerCount(this.#cli.pool.workers),
          batchBytes: maxSlabPacketBytes(SLAB_BYTES),
        }
        : undefined,
    };
    this.#captures = openCaptures(live.interfaces, this.#captureOptions);
    const timers: ReturnType<typeof setInterval>[] = [];
    const signals: [Deno.Signal, () => void][] = [];
    let metrics: Deno.HttpServer | null = null;
    let pidFile: string | null = null;
    try {
      this.#enforcer = await this.#openEnforcer();
      this.#bans = new BanManager(this.#enforcer, {
        localNetworks: live.localNetworks.with(hostAddresses.ranges),
        allow: live.allow.with(gateways),
        hostAddresses,
        scope: live.banScope,
        monitorOnly: live.monitorOnly,
        duration: live.banDuration,
        maxBans: live.maxBans,
      });
      if (gateways.length > 0) {
        logBans.info("never banned: the gateways of the routing table, {gateways}", {
          gateways: gateways.map((g) => formatAddress(g.words, g.ipVersion)).join(", "),
        });
      }
      const restored = this.#bans.restore();
      if (restored > 0) {
        logBans.info("restored {count} bans from the previous run", { count: restored });
      }
      if (live.detectionLog !== null) this.#detectionLog = openDetectionLog(live.detectionLog);
      const onVerdict = (iface: number, verdict: number, d: Detection) =>
        this.#onVerdict(iface, verdict, d);
      if (!this.#cli.pool.enabled) {
        this.#inline = new InlineInspector(this.#captures.length, this.#cli.engine, onVerdict);
      }
      const sink: PacketSink = this.#inline ?? await this.#startPool(onVerdict);
      this.#loop = new CaptureLoop(this.#captures, sink, (c) => this.#onCaptureFailure(c));
      this.#lastPackets = this.#captures.map(() => 0);
      this.#lastDrops = this.#captures.map(() => 0);
      timers.push(setInterval(() => this.#logStats(), live.statsInterval * 1000));
      timers.push(setInterval(() => this.#sweep(), live.cleanupInterval * 1000));
      timers.push(setInterval(() => this.#reopenFailed(), REOPEN_INTERVAL_MS));
      if (this.#pool !== null) {
        timers.push(setInterval(() => this.#logPool(), POOL_STATUS_INTERVAL * 1000));
      }
      const stop = () => this.#loop?.stop();
      for (const s of ["SIGINT", "SIGTERM"] as const) signals.push([s, stop]);
      signals.push(["SIGHUP", () => this.#reopenDetectionLog()]);
      signals.push(["SIGUSR2", () => this.#resyncBans()]);
      for (const [s, f] of signals) Deno.addSignalListener(s, f);
      if (live.metricsListen !== null) metrics = await this.#serveMetrics(live.metricsListen);
      if (live.pidFile !== null) pidFile = writePidFile(live.pidFile);
      logCapture.info(
        "capturing on {interfaces} ({enforcer} enforcement{monitor}); bans last {duration} s",
        {
          interfaces: this.#captures.map((c) => c.name).join(", "),
          enforcer: this.#enforcer.name,
          monitor: live.monitorOnly ? ", monitor only" : "",
          duration: live.banDuration,
        },
      );
      await this.#loop.run();
      await this.#closePool();
      const failed = this.#captures.every((c) => c.error !== null);
      this.#logStats(true);
      return failed ? 1 : 0;
    } finally {
      for (const t of timers) clearInterval(t);
      for (const [s, f] of signals) Deno.removeSignalListener(s, f);
      await metrics?.shutdown();
      if (pidFile !== null) removePidFile(pidFile);
      await this.#closePool();
      this.#shutdown();
    }
  }

  /** Serves /metrics, /bans and /healthz (`--metrics-listen`). */
  async #serveMetrics(at: { hostname: string; port: number }): Promise<Deno.HttpServer> {
    const build = await buildInfo();
    try {
      return serveMetrics(
        at.hostname,
        at.port,
        {
          snapshot: () => this.#metricsSnapshot(build),
          bans: () => this.#banListing(),
        },
        (addr) =>
          logOps.info("metrics at http://{address}/metrics", {
            address: `${addr.hostname}:${addr.port}`,
          }),
      );
    } catch (e) {
      throw new RuntimeError(
        `cannot listen for metrics on ${at.hostname}:${at.port}: ${(e as Error).message}`,
      );
    }
  }

  #metricsSnapshot(build: { version: string; commit: string; deno: string }): MetricsSnapshot {
    const detections: Record<string, number> = {};
    for (let r = 1; r < REASON_COUNT; r++) {
      if (this.#byReason[r] > 0) detections[reasonName(r)] = this.#byReason[r];
    }
    const bans = this.#bans.stats;
    const pool = this.#pool;
    const status = pool?.status();
    return {
      build: { version: build.version, commit: build.commit, deno: build.deno },
      interfaces: this.#captures.map((c, i) => {
        const s = c.readStats();
        const analyzer = this.#inline?.analyzers[i];
        return {
          iface: c.name,
          packets: c.packets,
          bytes: this.#wireBytes(i),
          pcapDropped: s.dropped,
          interfaceDropped: s.interfaceDropped,
          malformed: analyzer?.stats.malformed ?? pool?.malformed(i) ?? 0,
          flowEvictions: analyzer?.flows.flowsEvicted,
          poolDropped: pool?.dropped[i] ?? this.#poolDrops[i] ?? 0,
          up: c.error === null,
        };
      }),
      detections,
      bansActive: bans.active,
      bansTotal: bans.total,
      bansExpired: bans.expired,
      bansEvicted: bans.evicted,
      bansRemoved: bans.removed,
      suspected: bans.suspected,
      reportsSuppressed: this.#provenReports.suppressedTotal +
        this.#unprovenReports.suppressedTotal,
      enforcerDrops: this.#enforcer.counters(),
      enforcer: this.#enforcer.name,
      pool: status === undefined ? undefined : {
        workers: status.workers,
        active: status.busy,
        queueUsed: status.inFlight,
        queueCapacity: status.capacity,
        restarts: status.crashes,
      },
      uptimeSeconds: (performance.now() - this.#started) / 1000,
    };
  }

  #banListing(): BanListing[] {
    return this.#bans.list().map((b) => ({
      address: b.text,
      reason: b.reason === 0 ? "manual" : reasonName(b.reason),
      first_detection: new Date(b.bannedAt * 1000).toISOString(),
      expires: new Date(b.expiresAt * 1000).toISOString(),
      evidence: b.evidence,
    }));
  }

  /** `btblocker bans` changed the enforcer's state: adopt it (SIGUSR2). */
  #resyncBans(): void {
    try {
      const held = this.#bans.resync();
      logBans.info("re-read the ban list from the {enforcer} enforcer: {count} bans", {
        enforcer: this.#enforcer.name,
        count: held,
      });
    } catch (e) {
      logBans.error("cannot re-read the ban list: {error}", { error: (e as Error).message });
    }
  }

  /** Starts the worker pool shared by all interfaces (`--worker-pool`). */
  async #startPool(
    onVerdict: (iface: number, verdict: number, d: Detection) => void,
  ): Promise<WorkerPool> {
    const workers = resolveWorkerCount(this.#cli.pool.workers);
    try {
      this.#pool = await WorkerPool.start({
        workers,
        interfaces: this.#captures.length,
        engine: this.#cli.engine,
        onVerdict,
        whenFull: "drop",
        onDrop: (dropped) =>
          logPool.warn("Worker Pool queue full, packets dropped: {dropped}", { dropped }),
        onCrash: (c) =>
          logPool.error(
            "inspector worker {slot} crashed ({error}); replaced, its flows start over, " +
              "{lost} packets it held are lost",
            { slot: c.slot, error: c.error, lost: c.lostPackets },
          ),
      });
    } catch (e) {
      throw new RuntimeError(`cannot start the worker pool: ${(e as Error).message}`);
    }
    logPool.info("Worker Pool: {workers} workers, queue of {capacity} slabs of {size} KiB", {
      workers,
      capacity: this.#pool.capacity,
      size: this.#pool.slabBytes >> 10,
    });
    return this.#pool;
  }

  /**
   * Drains the pool (the verdicts of the slabs in flight are still judged, see
   * `WorkerPool.close`) and stops its workers.
   */
  async #closePool(): Promise<void> {
    const pool = this.#pool;
    if (pool === null) return;
    this.#pool = null;
    const t = await pool.close();
    if (t.lost > 0) {
      logPool.warn("Worker Pool: {lost} packets lost in crashed or stuck workers", {
        lost: t.lost,
      });
    }
    this.#poolDrops = Array.from(pool.dropped);
    this.#poolBytes = Array.from(pool.wireBytes);
  }

  #logPool(): void {
    const pool = this.#pool;
    if (pool === null) return;
    const s = pool.status();
    const percent = Math.round((100 * s.inFlight) / s.capacity);
    const peak = Math.round((100 * s.peakInFlight) / s.capacity);
    logPool.info(
      "Worker Pool: {active}/{workers} active, queue {queued}/{capacity} ({percent}% full)",
      {
        active: s.busy,
        workers: s.workers,
        queued: s.inFlight,
        capacity: s.capacity,
        percent,
        peakPercent: peak,
        dropped: s.dropped.reduce((a, b) => a + b, 0),
        crashes: s.crashes,
      },
    );
    if (peak > POOL_BUSY_PERCENT) {
      logPool.warn(
        "Worker Pool queue reached {peak}% full: the workers fall behind the capture; " +
          "consider more workers (--workers, now {workers})",
        { peak, workers: s.workers },
      );
    }
  }

  /** Chooses and opens the enforcer, attaching XDP to every interface. */
  async #openEnforcer(): Promise<Enforcer> {
    const live = this.#live;
    if (live.monitorOnly || live.enforcer === "none") return new NoEnforcer();
    if (live.enforcer === "nftables") return await openNftables(live);
    try {
      return this.#openXdp();
    } catch (e) {
      if (live.enforcer === "xdp") throw e;
      logBans.warn("XDP unavailable ({error}); falling back to nftables", {
        error: (e as Error).message,
      });
      return await openNftables(live);
    }
  }

  #openXdp(): XdpEnforcer {
    const live = this.#live;
    let xdp: XdpEnforcer;
    try {
      xdp = XdpEnforcer.open({
        maxBans: live.maxBans,
        pinDir: live.pinDir,
        persist: true,
        flush: live.flushBans,
        log: (message) => logBans.info(message),
      });
    } catch (e) {
      throw new RuntimeError(`cannot load the XDP program: ${(e as Error).message}`);
    }
    try {
      for (const c of this.#captures) {
        const mode = xdp.attach(c.name, live.xdpMode);
        logBans.info("XDP attached to {iface} in {mode} mode", { iface: c.name, mode });
      }
    } catch (e) {
      xdp.close(true);
      throw new RuntimeError(`cannot attach XDP: ${(e as Error).message}`);
    }
    return xdp;
  }

  #onVerdict(iface: number, verdict: number, d: Detection): void {
    const j = this.#bans.judge(d);
    // Wall clock with sub-millisecond resolution (Date.now() has whole milliseconds), taken
    // right after the enforcer installed the ban: the end point of the ban latency.
    const judgedAt = performance.timeOrigin + performance.now();
    const name = this.#captures[iface].name;
    if (verdict === Verdict.DETECTION) {
      this.#detections++;
      this.#byReason[d.reason]++;
      this.#report("detection", name, d, j, judgedAt);
    } else if (verdict === Verdict.CONFIRMED) {
      this.#report("confirmation", name, d, j, judgedAt);
    } else if (j.action === "banned" || j.action === "monitor" || j.action === "suspected") {
      this.#report("evidence", name, d, j, judgedAt);
    }
  }

  #report(
    kind: "detection" | "evidence" | "confirmation",
    iface: string,
    d: Detection,
    j: Judgement,
    judgedAt: number,
  ): void {
    const unproven = j.action === "insufficient_evidence" || j.action === "allowlisted";
    const limit = unproven ? this.#unprovenReports : this.#provenReports;
    if (!limit.take(judgedAt / 1000)) return;
    const event = d.toEvent();
    const latency = j.action === "banned" ? judgedAt - d.timestamp * 1000 : null;
    logBans.info(
      "{iface}: BitTorrent {proto} {src} -> {dst} ({reason}, {confidence}, flow packet {packet}): {action} {addresses}",
      {
        iface,
        proto: event.proto,
        src: `${event.src_ip}:${event.src_port}`,
        dst: `${event.dest_ip}:${event.dest_port}`,
        reason: event.reason,
        confidence: event.confidence,
        packet: event.flow_packet,
        action: j.action,
        addresses: j.addresses.join(", "),
        trigger: kind,
      },
    );
    if (this.#detectionLog === null) return;
    const record: DetectionRecord = {
      ...event,
      event_type: kind,
      capture_ts: d.timestamp,
      iface,
      action: j.action,
      addresses: j.addresses,
      ban_expires: j.expiresAt === undefined ? null : new Date(j.expiresAt * 1000).toISOString(),
      ban_latency_ms: latency === null ? null : Math.round(latency * 1000) / 1000,
      payload_hex: toHex(d.payload.subarray(0, d.payloadLength)),
    };
    try {
      this.#detectionLog.write(record);
    } catch (e) {
      logBans.error("cannot write the detection log {path}: {error}", {
        path: this.#detectionLog.path,
        error: (e as Error).message,
      });
    }
  }

  #onCaptureFailure(c: InterfaceCapture): void {
    logCapture.error("{iface}: capture stopped: {error}", { iface: c.name, error: c.error });
    this.#detachXdp(c);
  }

  /**
   * Tries to capture again on every interface that failed (deleted and created again under
   * the same name, as VPN tunnels are); one that is back gets the XDP program again.
   */
  #reopenFailed(): void {
    let resumed = false;
    for (const c of this.#captures) {
      if (c.error === null) continue;
      const was = c.error;
      const why = c.reopen(this.#captureOptions);
      if (why !== null) {
        logCapture.debug("{iface}: not back yet: {error}", { iface: c.name, error: why });
        continue;
      }
      resumed = true;
      let xdp = "";
      if (this.#enforcer instanceof XdpEnforcer) {
        try {
          xdp = `; XDP attached in ${this.#enforcer.attach(c.name, this.#live.xdpMode)} mode`;
        } catch (e) {
          logBans.warn("{iface}: cannot attach XDP again: {error}", {
            iface: c.name,
            error: (e as Error).message,
          });
        }
      }
      logCapture.info(`{iface}: back, capturing again (it had stopped: {was})${xdp}`, {
        iface: c.name,
        was,
      });
    }
    if (resumed) this.#loop?.resume();
  }

  /** Detaches the XDP program from `c`'s interface (XDP enforcer only); a failure is a warning. */
  #detachXdp(c: InterfaceCapture): void {
    if (!(this.#enforcer instanceof XdpEnforcer)) return;
    try {
      this.#enforcer.detach(c.name);
    } catch (e) {
      logBans.warn("{iface}: XDP detach failed: {error}", {
        iface: c.name,
        error: (e as Error).message,
      });
    }
  }

  #sweep(): void {
    const n = this.#bans.sweep();
    if (n > 0) logBans.info("{count} bans expired", { count: n });
  }

  #reopenDetectionLog(): void {
    if (this.#detectionLog === null) return;
    try {
      this.#detectionLog.reopen();
      logBans.info("reopened the detection log {path}", { path: this.#detectionLog.path });
    } catch (e) {
      logBans.error("cannot reopen the detection log {path}: {error}", {
        path: this.#detectionLog.path,
        error: (e as Error).message,
      });
    }
  }

  #logStats(final = false): void {
    const parts: string[] = [];
    const perInterface: Record<string, unknown>[] = [];
    this.#captures.forEach((c, i) => {
      const s = c.readStats();
      const newPackets = c.packets - this.#lastPackets[i];
      const newDrops = s.dropped - this.#lastDrops[i];
      this.#lastPackets[i] = c.packets;
      this.#lastDrops[i] = s.dropped;
      const poolDrops = this.#pool?.dropped[i] ?? this.#poolDrops[i] ?? 0;
      parts.push(
        `${c.name} ${c.packets} packets (+${newPackets}), ${formatBytes(this.#wireBytes(i))}, ` +
          `pcap drops ${s.dropped} (+${newDrops}), interface drops ${s.interfaceDropped}` +
          (this.#cli.pool.enabled ? `, pool drops ${poolDrops}` : "") +
          (c.error !== null ? " [stopped]" : ""),
      );
      perInterface.push({
        iface: c.name,
        packets: c.packets,
        bytes: this.#wireBytes(i),
        pcapDrops: s.dropped,
        interfaceDrops: s.interfaceDropped,
        ...(this.#cli.pool.enabled ? { poolDrops } : {}),
      });
    });
    const bans = this.#bans.stats;
    const drops = this.#enforcer.counters();
    const heldBack = this.#provenReports.drainSuppressed() +
      this.#unprovenReports.drainSuppressed();
    if (heldBack > 0) {
      logBans.warn(
        "{count} detection reports held back by the report rate limit ({rate}/s each for proven " +
          "and unproven detections; bans were still applied)",
        { count: heldBack, rate: this.#live.reportRate },
      );
    }
    logStats.info(
      `${
        final ? "final: " : ""
      }{interfaceSummary}; detections {detections}; bans {active} active ` +
        `({total} installed, {expired} expired, {evicted} evicted); ${this.#enforcer.name} drops ` +
        `{dropPackets} packets ({dropBytes} bytes)`,
      {
        interfaceSummary: parts.join("; "),
        interfaces: perInterface,
        detections: this.#detections,
        active: bans.active,
        total: bans.total,
        expired: bans.expired,
        evicted: bans.evicted,
        dropPackets: drops.ipv4Packets + drops.ipv6Packets,
        dropBytes: drops.ipv4Bytes + drops.ipv6Bytes,
      },
    );
  }

  /**
   * Wire bytes captured on interface `i`: counted by the capture loop packet by packet
   * (inline), or by the workers as they read their batches (pool).
   */
  #wireBytes(i: number): number {
    return this.#captures[i].bytes + (this.#pool?.wireBytes[i] ?? this.#poolBytes[i] ?? 0);
  }

  #shutdown(): void {
    for (const c of this.#captures) {
      if (c.error === null) this.#detachXdp(c);
      c.close();
    }
    // Pinned XDP bans stay for the next run; the nftables table is removed.
    this.#enforcer.close(this.#enforcer instanceof XdpEnforcer);
    this.#detectionLog?.close();
  }
}

async function openNftables(live: LiveConfig): Promise<NftablesEnforcer> {
  try {
    return await NftablesEnforcer.open({
      flush: live.flushBans,
      onError: (e) => logBans.error("nftables: {error}", { error: e.message }),
    });
  } catch (e) {
    throw new RuntimeError(`cannot set up nftables: ${(e as Error).message}`);
  }
}

function openDetectionLog(path: string): DetectionLog {
  try {
    return DetectionLog.open(path);
  } catch (e) {
    throw new RuntimeError(`cannot open the detection log ${path}: ${(e as Error).message}`);
  }
}

/** Writes this process's pid (creating the directory); returns the path, or null on failure. */
function writePidFile(path: string): string | null {
  try {
    Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")) || "/", { recursive: true });
    Deno.writeTextFileSync(path, `${Deno.pid}\n`);
    return path;
  } catch (e) {
    logOps.warn(
      "cannot write the pid file {path} ({error}): `btblocker bans` cannot notify " +
        "this instance",
      { path, error: (e as Error).message },
    );
    return null;
  }
}

/** Removes the pid file if it still names this process. */
function removePidFile(path: string): void {
  try {
    if (Deno.readTextFileSync(path).trim() === String(Deno.pid)) Deno.removeSync(path);
  } catch {
    // already gone
  }
}

/** The host's own addresses, as host ranges. */
function hostNetworks(): NetworkList {
  const ranges = [];
  for (const i of Deno.networkInterfaces()) {
    const r = parseCidr(i.address);
    if (typeof r !== "string") ranges.push(r);
  }
  return new NetworkList(ranges);
}

/**
 * The next hops of the host's routes (never banned); a routing table that cannot be read is a
 * warning, not a failure.
 */
function routeGateways(): Cidr[] {
  const gateways: Cidr[] = [];
  for (
    const [path, parse] of [
      ["/proc/net/route", ipv4Gateways],
      ["/proc/net/ipv6_route", ipv6Gateways],
    ] as const
  ) {
    try {
      gateways.push(...parse(readKernelFile(path)));
    } catch (e) {
      logBans.warn(
        "cannot read the routing table {path}: {error}; its gateways are not " +
          "protected from bans (use --allow)",
        { path, error: (e as Error).message },
      );
    }
  }
  return gateways;
}

function formatBytes(n: number): string {
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}
