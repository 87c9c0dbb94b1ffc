import assert from "node:assert/strict";
import { networkInterfaceNames, processStartTime, readKernelFile } from "./procfs.ts";

Deno.test("readKernelFile reads /proc files Deno's own file API refuses without -A", () => {
  assert.match(readKernelFile("/proc/self/status"), /^Name:/m);
  assert.throws(() => readKernelFile("/proc/nonexistent"), /cannot open \/proc\/nonexistent/);
});

Deno.test("networkInterfaceNames lists loopback", () => {
  assert.ok(networkInterfaceNames().includes("lo"));
});

Deno.test("processStartTime: when a process started; no process, no time", async () => {
  const before = Date.now() / 1000;
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  const after = Date.now() / 1000;
  try {
    const started = processStartTime(child.pid)!;
    // Boot time has whole seconds, and the boot clock may drift from the wall clock a little.
    assert.ok(started > before - 2 && started < after + 2, `${before} ${started} ${after}`);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  assert.equal(processStartTime(0x3fffff + 1), null);
});
