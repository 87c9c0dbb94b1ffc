/**
 * The detection check of `bench/pool_detections.sh`: the detection events of `--read` with the
 * worker pool must equal those without it, flow by flow (same flows, decided by the same
 * packet, for the same reason; `tests/helpers/detection_diff.ts`).
 *
 * The only differences accepted are order-dependent ones: the pool's workers share one endpoint
 * memory but read the capture at their own pace, so a flow that the inline path recognised from
 * a remembered endpoint (`known_peer`, `tracker_peer`, `dht_peer`, `pex_peer`) may, in the pool,
 * be analysed before the worker that teaches that endpoint got there. The memory never answers
 * with what was learned later in capture time, so the pool then knows less, never more: such a
 * flow is decided by the same or a later packet (for another reason) or not at all. Everything
 * else fails: a flow only the pool detects, or decided earlier, or a difference in a flow the
 * inline path did not decide from memory. Prints counts and every difference; exits 1 when a
 * difference is not accepted, 2 on bad input.
 *
 *     deno run --allow-read bench/pool_detections.ts INLINE.jsonl POOL.jsonl...
 */
import type { DetectionEvent } from "../dpi/detection.ts";
import {
  compareDetections,
  type FlowEvent,
  flowEvent,
  MEMORY_REASONS,
} from "../tests/helpers/detection_diff.ts";

function events(path: string): FlowEvent[] {
  const out: FlowEvent[] = [];
  for (const line of Deno.readTextFileSync(path).split("\n")) {
    if (line.trim() === "") continue;
    const r = JSON.parse(line) as Partial<DetectionEvent> & { event_type?: string };
    if (r.event_type === "detection") out.push(flowEvent(r as DetectionEvent));
  }
  return out;
}

/** Whether a difference line of `compareDetections` is one the shared memory's order explains. */
function orderDependent(line: string): boolean {
  const m = / inline (\S+?)(?:@(\d+))?, pool (\S+?)(?:@(\d+))?$/.exec(line);
  if (m === null) return false;
  const [, inlineReason, inlinePacket, poolReason, poolPacket] = m;
  if (!MEMORY_REASONS.has(inlineReason)) return false;
  return poolReason === "none" || Number(poolPacket) >= Number(inlinePacket);
}

if (Deno.args.length < 2) {
  console.error("usage: pool_detections.ts INLINE.jsonl POOL.jsonl...");
  Deno.exit(2);
}
let reference: FlowEvent[];
try {
  reference = events(Deno.args[0]);
} catch (e) {
  console.error(`pool_detections: cannot read ${Deno.args[0]}: ${(e as Error).message}`);
  Deno.exit(2);
}
let failed = false;
console.log(`inline: ${reference.length} detections`);
for (const path of Deno.args.slice(1)) {
  let pool: FlowEvent[];
  try {
    pool = events(path);
  } catch (e) {
    console.error(`pool_detections: cannot read ${path}: ${(e as Error).message}`);
    Deno.exit(2);
  }
  const { differences } = compareDetections(reference, pool);
  const accepted = differences.filter(orderDependent);
  const refused = differences.filter((d) => !orderDependent(d));
  console.log(
    `${path}: ${pool.length} detections, ${differences.length} differ: ` +
      `${accepted.length} order-dependent, ${refused.length} not explained`,
  );
  for (const d of accepted) console.log(`  order-dependent: ${d}`);
  for (const d of refused) console.log(`  NOT EXPLAINED:   ${d}`);
  if (refused.length > 0) failed = true;
}
if (failed) Deno.exit(1);
