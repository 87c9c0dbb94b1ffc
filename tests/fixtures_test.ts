/**
 * The project's own recorded captures (tests/fixtures/manifest.json): each must yield exactly
 * the detections its manifest lists — every BitTorrent scenario detected, nothing detected in
 * everyday traffic.
 */
import assert from "node:assert/strict";
import { Analyzer } from "../dpi/analyzer.ts";
import { captureDetections } from "./helpers/capture_detections.ts";

interface Fixture {
  holds: string;
  made: string;
  detections: Record<string, number>;
}

const dir = new URL("./fixtures/", import.meta.url).pathname;
const manifest: Record<string, Fixture> = JSON.parse(Deno.readTextFileSync(`${dir}manifest.json`));

function detectionsIn(path: string): Record<string, number> {
  const found: Record<string, number> = {};
  for (const { reason } of captureDetections(path, new Analyzer({ maxFlows: 4096 }))) {
    found[reason] = (found[reason] ?? 0) + 1;
  }
  return found;
}

Deno.test("every fixture file is listed in the manifest", () => {
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /\.pcap(ng)?$/.test(n));
  assert.deepEqual(files.sort(), Object.keys(manifest).sort());
});

for (const [name, fixture] of Object.entries(manifest)) {
  Deno.test(`fixture ${name}: ${JSON.stringify(fixture.detections)}`, () => {
    assert.deepEqual(detectionsIn(`${dir}${name}`), fixture.detections);
  });
}
