/** The systemd unit, its environment file and the logrotate snippet are valid and consistent. */
import assert from "node:assert/strict";
import { ENV_VARS } from "../cli/args.ts";

const dir = new URL("../packaging/", import.meta.url).pathname;
const unit = Deno.readTextFileSync(`${dir}btblocker.service`);

async function available(command: string): Promise<boolean> {
  try {
    return (await new Deno.Command(command, { args: ["--version"], stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

const hasAnalyze = await available("systemd-analyze");
if (!hasAnalyze) {
  console.log("packaging_test: systemd-analyze not found — unit verification SKIPPED");
}

Deno.test({
  name: "systemd-analyze verify accepts the unit",
  ignore: !hasAnalyze,
  async fn() {
    // verify checks that ExecStart exists: point it at a binary that does.
    const tmp = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(
        `${tmp}/btblocker.service`,
        unit.replace("/usr/local/bin/btblocker", "/bin/true"),
      );
      const out = await new Deno.Command("systemd-analyze", {
        args: ["verify", `${tmp}/btblocker.service`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const messages = new TextDecoder().decode(out.stderr).trim();
      assert.ok(out.success, messages);
      assert.equal(messages, "", "no warnings");
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("the unit runs as a simple, restarting service with only the capabilities it needs", () => {
  assert.match(unit, /^Type=simple$/m);
  assert.match(unit, /^Restart=on-failure$/m);
  assert.match(unit, /^AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN CAP_BPF CAP_PERFMON$/m);
  assert.match(unit, /^LimitMEMLOCK=infinity$/m);
  assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  assert.doesNotMatch(unit, /^MemoryDenyWriteExecute=yes/m, "V8's JIT needs W+X pages");
});

Deno.test("the environment file sets only variables btblocker reads (and BTBLOCKER_OPTIONS)", () => {
  const env = Deno.readTextFileSync(`${dir}btblocker.env`);
  const names = [...env.matchAll(/^([A-Z_]+)=/gm)].map((m) => m[1]);
  for (const name of names) {
    assert.ok(
      ENV_VARS.includes(name) || name === "BTBLOCKER_OPTIONS",
      `${name} is not read by btblocker`,
    );
  }
  assert.ok(names.includes("INTERFACE"));
});

Deno.test("logrotate reopens the detection log with SIGHUP", () => {
  const rotate = Deno.readTextFileSync(`${dir}btblocker.logrotate`);
  assert.match(rotate, /--signal=HUP/);
  assert.match(rotate, /\/var\/log\/btblocker\/\*\.jsonl/);
});
