/**
 * A seeded fuzz run of the whole engine (CI size: 500 000 packets): random bytes, truncations,
 * bit flips and field-level mutations of real packets, in every link type. No exception may
 * escape, every packet must be counted, none may be pathologically slow. The long run is
 * bench/fuzz.ts.
 */
import assert from "node:assert/strict";
import { fuzz, type Seed, seedsFromCapture } from "./helpers/fuzz.ts";

const fixtures = new URL("./fixtures/", import.meta.url).pathname;
const corpus = new URL("../../shared/corpus/pcap/", import.meta.url).pathname;

function seeds(): Seed[] {
  const out: Seed[] = [];
  for (const e of Deno.readDirSync(fixtures)) {
    if (/\.pcap(ng)?$/.test(e.name)) out.push(...seedsFromCapture(fixtures + e.name));
  }
  try {
    for (const e of [...Deno.readDirSync(corpus)].sort((a, b) => a.name < b.name ? -1 : 1)) {
      out.push(...seedsFromCapture(corpus + e.name, 300));
    }
  } catch {
    console.log("fuzz_test: ../shared/corpus not found — seeding from the project's fixtures only");
  }
  return out;
}

Deno.test("500 000 fuzzed packets: no exception, every packet counted, none slow", () => {
  const report = fuzz(seeds(), 20261127, 500_000, 50);
  console.log(
    `fuzz: ${report.packets} packets, ${report.inspected} inspected, ${report.malformed} ` +
      `malformed, ${report.detections} detections or evidence events, ` +
      `slowest ${report.maxMs.toFixed(2)} ms, ${report.slow} over 50 ms`,
  );
  assert.equal(report.exceptions, 0, report.firstError ?? "");
  assert.equal(report.counted, report.packets);
  assert.ok(report.malformed > 0, "the mutations produce malformed packets, and they are counted");
  assert.ok(
    report.inspected > report.packets / 4,
    "the detectors see a good share of the packets",
  );
  assert.ok(
    report.slow <= 5,
    `${report.slow} packets took over 50 ms (garbage collection allows a few)`,
  );
});
