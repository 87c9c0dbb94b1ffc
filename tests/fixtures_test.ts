/**
 * The project's own recorded captures (tests/fixtures/manifest.json): each must yield exactly
 * the detections its manifest lists — every BitTorrent scenario detected, nothing detected in
 * everyday traffic — and exactly the confirmations of heuristic detections it lists (`confirmed`,
 * by reason and confidence: every MSE flow that went on to exchange BitTorrent messages). The
 * look-alikes (`lookalike_*`: other protocols with random-looking handshakes) may only yield
 * heuristic detections, and teach the endpoint memory nothing.
 */
import assert from "node:assert/strict";
import { Analyzer } from "../dpi/analyzer.ts";
import { captureDetections } from "./helpers/capture_detections.ts";

interface Fixture {
  holds: string;
  made: string;
  detections: Record<string, number>;
  confirmed?: Record<string, number>;
}

const dir = new URL("./fixtures/", import.meta.url).pathname;
const manifest: Record<string, Fixture> = JSON.parse(Deno.readTextFileSync(`${dir}manifest.json`));

interface Found {
  detections: Record<string, number>;
  confirmed: Record<string, number>;
  /** Confidence names of the detections. */
  confidences: Set<string>;
  /** Endpoints the analyzer learned. */
  learned: number;
}

function eventsIn(path: string): Found {
  const detections: Record<string, number> = {};
  const confirmed: Record<string, number> = {};
  const confidences = new Set<string>();
  const analyzer = new Analyzer({ maxFlows: 4096 });
  for (const e of captureDetections(path, analyzer)) {
    if (e.event_type === "detection") {
      confidences.add(e.confidence);
      detections[e.reason] = (detections[e.reason] ?? 0) + 1;
    } else {
      const key = `${e.reason} ${e.confidence}`;
      confirmed[key] = (confirmed[key] ?? 0) + 1;
    }
  }
  return { detections, confirmed, confidences, learned: analyzer.memory.learned };
}

Deno.test("every fixture file is listed in the manifest", () => {
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /\.pcap(ng)?$/.test(n));
  assert.deepEqual(files.sort(), Object.keys(manifest).sort());
});

for (const [name, fixture] of Object.entries(manifest)) {
  Deno.test(`fixture ${name}: ${JSON.stringify(fixture.detections)}`, () => {
    const found = eventsIn(`${dir}${name}`);
    assert.deepEqual(found.detections, fixture.detections);
    assert.deepEqual(found.confirmed, fixture.confirmed ?? {});
    if (name.startsWith("lookalike_")) {
      // A look-alike that still matches a heuristic stays heuristic: never banned alone, and
      // its endpoints never reach the endpoint memory.
      assert.deepEqual([...found.confidences].filter((c) => c !== "heuristic"), []);
      assert.equal(found.learned, 0);
    }
  });
}
