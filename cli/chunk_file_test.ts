import assert from "node:assert/strict";
import { openWithHead } from "./chunk_file.ts";
import { inTempDir, write } from "../tests/helpers/chunk_reading.ts";

/**
 * The files this process holds open. Deno 2's resource sanitizer does not see files opened with
 * `Deno.openSync`, and reading /proc/self/fd needs --allow-all, so `ls` reads it for us.
 */
function openFiles(): number {
  const out = new Deno.Command("ls", { args: [`/proc/${Deno.pid}/fd`] }).outputSync();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").length;
}

Deno.test("openWithHead: hands the head to make and leaves the file open for the reader it returns", async () => {
  await inTempDir((dir) => {
    const path = write(dir, "f", new Uint8Array([1, 2, 3, 4, 5]));
    const before = openFiles();
    const made = openWithHead(path, 4, (file, head) => ({ file, first: head.getUint32(0, false) }));
    assert.ok(made !== null);
    assert.equal(made.first, 0x01020304);
    assert.equal(openFiles(), before + 1);
    const rest = new Uint8Array(4);
    assert.equal(made.file.readSync(rest), 1, "the reader goes on after the head");
    assert.equal(rest[0], 5);
    made.file.close();
  });
});

Deno.test("openWithHead: closes the file when make refuses the head, throws, or the file is short", async () => {
  await inTempDir((dir) => {
    const path = write(dir, "f", new Uint8Array(8));
    const before = openFiles();
    let called = 0;
    const refuse = () => {
      called++;
      return null;
    };
    assert.equal(openWithHead(path, 8, refuse), null);
    assert.equal(called, 1);
    assert.equal(openFiles(), before, "refused");
    assert.throws(() =>
      openWithHead(path, 8, () => {
        throw new Error("bad");
      }), /bad/);
    assert.equal(openFiles(), before, "thrown");
    assert.equal(openWithHead(path, 9, refuse), null);
    assert.equal(called, 1, "a file shorter than the head never reaches make");
    assert.equal(openFiles(), before, "short");
    assert.equal(openWithHead(dir, 8, refuse), null);
    assert.equal(openWithHead(`${dir}/missing`, 8, refuse), null);
    assert.equal(called, 1, "neither does a directory nor a missing file");
    assert.equal(openFiles(), before, "a directory");
  });
});
