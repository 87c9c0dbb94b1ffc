/**
 * The project's own recorded captures (tests/fixtures/manifest.json): each must yield exactly
 * the detections its manifest lists — every BitTorrent scenario detected, nothing detected in
 * everyday traffic — and exactly the confirmations of heuristic detections it lists (`confirmed`,
 * by reason and confidence: every MSE flow that went on to exchange BitTorrent messages).
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

function eventsIn(
  path: string,
): { detections: Record<string, number>; confirmed: Record<string, number> } {
  const detections: Record<string, number> = {};
  const confirmed: Record<string, number> = {};
  for (const e of captureDetections(path, new Analyzer({ maxFlows: 4096 }))) {
    if (e.event_type === "detection") detections[e.reason] = (detections[e.reason] ?? 0) + 1;
    const key = `${e.reason} ${e.confidence}`;
    if (e.event_type === "confirmation") confirmed[key] = (confirmed[key] ?? 0) + 1;
  }
  return { detections, confirmed };
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
  });
}
