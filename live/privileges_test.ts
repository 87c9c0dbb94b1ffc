import assert from "node:assert/strict";
import { effectiveCapabilities, missingCapabilities, privilegeHint } from "./privileges.ts";

const FULL = "Name:\tx\nCapEff:\t000001ffffffffff\n";
const NONE = "Name:\tx\nCapEff:\t0000000000000000\n";
const CAPTURE_ONLY = `CapEff:\t${((1n << 12n) | (1n << 13n)).toString(16).padStart(16, "0")}\n`;

Deno.test("capabilities are read from /proc status text", () => {
  assert.equal(effectiveCapabilities(FULL), 0x1ffffffffffn);
  assert.equal(effectiveCapabilities("no caps here"), null);
});

Deno.test("missing capabilities are named per enforcer", () => {
  assert.deepEqual(missingCapabilities("xdp", effectiveCapabilities(FULL)), []);
  assert.deepEqual(missingCapabilities("xdp", effectiveCapabilities(NONE)), [
    "CAP_NET_RAW",
    "CAP_NET_ADMIN",
    "CAP_BPF",
    "CAP_PERFMON",
  ]);
  assert.deepEqual(missingCapabilities("nftables", effectiveCapabilities(CAPTURE_ONLY)), []);
  assert.deepEqual(missingCapabilities("auto", effectiveCapabilities(CAPTURE_ONLY)), [
    "CAP_BPF",
    "CAP_PERFMON",
  ]);
  assert.match(privilegeHint(["CAP_BPF"]), /sudo.*setcap/);
});

Deno.test("this process's own capabilities can be read without --allow-all", () => {
  // Deno's file APIs refuse /proc without --allow-all (as in `deno task test`); libc does not.
  const caps = effectiveCapabilities();
  assert.equal(typeof caps, "bigint");
  if (Deno.uid() === 0) assert.deepEqual(missingCapabilities("xdp", caps), []);
});
