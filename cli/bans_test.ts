import assert from "node:assert/strict";
import { runningInstance } from "./bans.ts";

function pidFile(content: string, writtenSecondsAgo = 0): string {
  const path = Deno.makeTempFileSync({ prefix: "btblocker-pid-" });
  Deno.writeTextFileSync(path, content);
  const at = new Date(Date.now() - writtenSecondsAgo * 1000);
  Deno.utimeSync(path, at, at);
  return path;
}

Deno.test("runningInstance: the process that wrote the pid file", () => {
  const path = pidFile(`${Deno.pid}\n`);
  try {
    assert.equal(runningInstance(path), Deno.pid);
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("runningInstance: a pid reused by a process started after the file was written is not it", async () => {
  const stranger = new Deno.Command("sleep", { args: ["30"] }).spawn();
  // The file was written a minute before the stranger started: it outlived a crash.
  const path = pidFile(`${stranger.pid}\n`, 60);
  try {
    assert.equal(runningInstance(path), null);
  } finally {
    Deno.removeSync(path);
    stranger.kill("SIGKILL");
    await stranger.status;
  }
});

Deno.test("runningInstance: missing, malformed and dead pid files name nobody", async () => {
  assert.equal(runningInstance("/nonexistent/btblocker.pid"), null);
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  for (const content of ["", "abc\n", "1\n", "-5\n", `${gone.pid}\n`]) {
    const path = pidFile(content);
    try {
      assert.equal(runningInstance(path), null, JSON.stringify(content));
    } finally {
      Deno.removeSync(path);
    }
  }
});
