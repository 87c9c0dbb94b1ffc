/**
 * The long fuzz run of the engine (issue #6): by default 10 000 000 mutated packets in chunks of
 * one million, each chunk with its own seed, over the project's fixtures and the shared corpus
 * when present. Prints per chunk and in total: packets, inspected, malformed, exceptions (must
 * be 0) and the slowest packet.
 *
 *     deno run --allow-ffi --allow-read bench/fuzz.ts [PACKETS] [FIRST_SEED]
 *
 * A crash prints the mutation and the packet in hex: add it to tests/ as a regression test.
 */
import { fuzz, type Seed, seedsFromCapture } from "../tests/helpers/fuzz.ts";

const total = Number(Deno.args[0] ?? 10_000_000);
const firstSeed = Number(Deno.args[1] ?? 1);
const chunk = 1_000_000;

const seeds: Seed[] = [];
for (const dir of ["tests/fixtures/", "../shared/corpus/pcap/"]) {
  try {
    for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
      if (/\.(pcap|pcapng|cap)$/.test(e.name)) seeds.push(...seedsFromCapture(dir + e.name, 500));
    }
  } catch {
    console.log(`fuzz: ${dir} not found, skipped`);
  }
}
console.log(`fuzz: ${seeds.length} seed packets; ${total} packets in chunks of ${chunk}`);

let packets = 0, inspected = 0, malformed = 0, exceptions = 0, slow = 0, maxMs = 0;
const started = performance.now();
for (let seed = firstSeed; packets < total; seed++) {
  const n = Math.min(chunk, total - packets);
  const r = fuzz(seeds, seed, n, 10);
  packets += r.packets;
  inspected += r.inspected;
  malformed += r.malformed;
  exceptions += r.exceptions;
  slow += r.slow;
  maxMs = Math.max(maxMs, r.maxMs);
  if (r.counted !== r.packets) {
    throw new Error(`seed ${seed}: ${r.packets - r.counted} packets not counted`);
  }
  console.log(
    `seed ${seed}: ${r.packets} packets, ${r.inspected} inspected, ${r.malformed} malformed, ` +
      `${r.exceptions} exceptions, slowest ${r.maxMs.toFixed(2)} ms` +
      (r.firstError ? `\n  first error: ${r.firstError}` : ""),
  );
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `total: ${packets} packets (${Math.round(packets / seconds)} /s), ${inspected} inspected, ` +
    `${malformed} malformed (all counted), ${exceptions} exceptions, ${slow} over 10 ms, ` +
    `slowest ${maxMs.toFixed(2)} ms`,
);
if (exceptions > 0) Deno.exit(1);
