/**
 * The detection check of `bench/soak.sh`: the set of flows and reasons detected live must equal
 * the set detected offline on the same traffic.
 *
 * Reads the offline events (`--read FILE --format jsonl`) and the live detection log
 * (`--detection-log`), keeps the `detection` records, reduces each to its flow (protocol and
 * the unordered pair of endpoints) and reason with {@linkcode flowEvent}, and compares the two
 * sets. Sets, not event lists: the replay loops the capture, so live a flow may be decided on
 * a later pass than offline (or, where idle expiry let it go, decided again), and its packet
 * index and timestamp differ by construction. Prints the counts by reason and every difference;
 * exits 1 when the sets differ, 2 on bad input.
 *
 *     deno run --allow-read bench/soak_compare.ts OFFLINE.jsonl LIVE.jsonl
 */
import type { DetectionEvent } from "../dpi/detection.ts";
import { flowEvent, MEMORY_REASONS } from "../tests/helpers/detection_diff.ts";

/** Distinct "flow reason" keys of the detection records in a JSON-lines file, by key. */
function detectionSet(path: string): { keys: Map<string, string>; records: number } {
  const keys = new Map<string, string>();
  let records = 0;
  for (const line of Deno.readTextFileSync(path).split("\n")) {
    if (line.trim() === "") continue;
    const r = JSON.parse(line) as Partial<DetectionEvent> & { event_type?: string };
    if (r.event_type !== "detection") continue;
    records++;
    const e = flowEvent(r as DetectionEvent);
    keys.set(`${e.flow} ${e.reason}`, e.reason);
  }
  return { keys, records };
}

function countByReason(keys: Map<string, string>): Map<string, number> {
  const m = new Map<string, number>();
  for (const reason of keys.values()) m.set(reason, (m.get(reason) ?? 0) + 1);
  return m;
}

if (Deno.args.length !== 2) {
  console.error("usage: soak_compare.ts OFFLINE.jsonl LIVE.jsonl");
  Deno.exit(2);
}
let offline, live;
try {
  offline = detectionSet(Deno.args[0]);
  live = detectionSet(Deno.args[1]);
} catch (e) {
  console.error(`soak_compare: ${(e as Error).message}`);
  Deno.exit(2);
}
const onlyOffline = [...offline.keys.keys()].filter((k) => !live.keys.has(k)).sort();
const onlyLive = [...live.keys.keys()].filter((k) => !offline.keys.has(k)).sort();
const differ = onlyOffline.length + onlyLive.length > 0;
console.log(
  differ
    ? `sets DIFFER: ${onlyOffline.length} flow+reason offline only, ${onlyLive.length} live only`
    : `sets equal: ${live.keys.size} flow+reason`,
);
console.log(
  `offline ${offline.keys.size} flow+reason (${offline.records} events), ` +
    `live ${live.keys.size} (${live.records} events); by reason, offline/live:`,
);
const byOffline = countByReason(offline.keys);
const byLive = countByReason(live.keys);
const reasons = [...new Set([...byOffline.keys(), ...byLive.keys()])].sort();
let line = " ";
for (const r of reasons) {
  const item = ` ${r} ${byOffline.get(r) ?? 0}/${byLive.get(r) ?? 0}`;
  if (line.length + item.length > 78) {
    console.log(line);
    line = " ";
  }
  line += item;
}
console.log(line);
const memory = (k: string) =>
  MEMORY_REASONS.has(k.slice(k.lastIndexOf(" ") + 1)) ? " (endpoint memory)" : "";
for (const k of onlyOffline) console.log(`  offline only: ${k}${memory(k)}`);
for (const k of onlyLive) console.log(`  live only:    ${k}${memory(k)}`);
if (differ) Deno.exit(1);
