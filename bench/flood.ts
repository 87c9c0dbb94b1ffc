/**
 * Hostile floods against the engine and the ban manager (issue #6), in process:
 *
 * 1. Flow flood: 1 000 000 distinct TCP/UDP 5-tuples, each a SYN or a payload packet. The flow
 *    table must stay at --max-flows, evict the least recently seen flows (counted), keep memory
 *    under a bound, and keep its throughput (packets/s per 100 k chunk, first vs last).
 * 2. Ban flood: 1 000 000 distinct genuine offenders (detections with full evidence). The ban
 *    table must never exceed --max-bans; the oldest ban is evicted (counted). Run against the
 *    in-memory enforcer, and against the real XDP maps when run as root.
 *
 *     deno run --allow-ffi --allow-read --allow-env bench/flood.ts [FLOWS] [BANS]
 */
import { Analyzer } from "../dpi/analyzer.ts";
import { LinkType } from "../dpi/decode.ts";
import { XdpEnforcer } from "../ffi/xdp.ts";
import { type Enforcer, NoEnforcer } from "../live/enforcer.ts";
import { OffenderFlood } from "../tests/helpers/offender_flood.ts";
import { frame } from "../tests/helpers/packets.ts";

const flows = Number(Deno.args[0] ?? 1_000_000);
const bans = Number(Deno.args[1] ?? 1_000_000);
const mib = (n: number) => (n / 1048576).toFixed(1);

// 1. Flow flood. One template frame per protocol, addresses and ports rewritten in place.
{
  const analyzer = new Analyzer();
  const tcp = frame({
    l4: 6,
    src: { ip: "10.0.0.1", port: 1 },
    dst: { ip: "198.51.100.1", port: 2 },
    payload: "x".repeat(40),
  });
  const udp = frame({
    l4: 17,
    src: { ip: "10.0.0.1", port: 1 },
    dst: { ip: "198.51.100.1", port: 2 },
    payload: "x".repeat(40),
  });
  const rssBefore = Deno.memoryUsage().rss;
  let t = 1_700_000_000;
  let chunkStart = performance.now();
  const rates: number[] = [];
  let peakFlows = 0;
  for (let i = 0; i < flows; i++) {
    const f = i & 1 ? udp : tcp;
    // source 10.x.y.z and a port: every packet a new flow
    f[26 + 1] = (i >> 16) & 255;
    f[26 + 2] = (i >> 8) & 255;
    f[26 + 3] = i & 255;
    f[34] = (i >> 24) & 255;
    f[35] = 1 + (i % 250);
    analyzer.analyze(LinkType.ETHERNET, f, 0, f.length, f.length, t += 0.00001);
    if (analyzer.flows.size > peakFlows) peakFlows = analyzer.flows.size;
    if ((i + 1) % 100_000 === 0) {
      const now = performance.now();
      rates.push(100_000 / ((now - chunkStart) / 1000));
      chunkStart = now;
    }
  }
  const rss = Deno.memoryUsage().rss;
  const f = analyzer.flows;
  console.log(
    `flow flood: ${flows} distinct flows; table peak ${peakFlows} (bound ${analyzer.config.maxFlows}), ` +
      `evicted ${f.flowsEvicted}, expired ${f.flowsExpired}; RSS ${mib(rssBefore)} -> ${
        mib(rss)
      } MiB; ` +
      `packets/s per 100 k: first ${Math.round(rates[0])}, last ${Math.round(rates.at(-1)!)}, ` +
      `min ${Math.round(Math.min(...rates))}`,
  );
  if (peakFlows > analyzer.config.maxFlows) throw new Error("flow table exceeded its bound");
}

// 2. Ban flood.
function banFlood(enforcer: Enforcer, maxBans: number, count: number): void {
  const offenders = new OffenderFlood(enforcer, maxBans);
  const manager = offenders.manager;
  let peak = 0;
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    if (offenders.judge(i).action !== "banned") throw new Error(`offender ${i} not banned`);
    const active = manager.stats.active;
    if (active > peak) peak = active;
  }
  const seconds = (performance.now() - started) / 1000;
  const s = manager.stats;
  const held = enforcer.list().length;
  console.log(
    `ban flood (${enforcer.name}): ${count} offenders in ${seconds.toFixed(1)} s ` +
      `(${Math.round(count / seconds)} bans/s); table peak ${peak} (bound ${maxBans}), ` +
      `${s.evicted} evicted (oldest first), ${held} held by the enforcer`,
  );
  if (peak > maxBans || held > maxBans) throw new Error("ban table exceeded --max-bans");
}

banFlood(new NoEnforcer(), 100_000, bans);
let xdp: XdpEnforcer | null = null;
try {
  xdp = XdpEnforcer.open({ maxBans: 100_000, persist: false, flush: true });
} catch (e) {
  console.log(`ban flood (xdp): SKIPPED — ${(e as Error).message}`);
}
if (xdp !== null) {
  try {
    banFlood(xdp, 100_000, bans);
  } finally {
    xdp.close(false);
  }
}
