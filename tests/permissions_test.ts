/**
 * Least privilege: the compiled binary, the deno.json tasks and the live tests use one explicit
 * permission list, never `-A`/`--allow-all`, and the environment permission names exactly the
 * variables btblocker reads.
 */
import assert from "node:assert/strict";
import { ENV_VARS } from "../cli/args.ts";
import { LIVE_PERMISSIONS } from "./helpers/live_lab.ts";

const root = new URL("../", import.meta.url).pathname;
const makefile = Deno.readTextFileSync(`${root}Makefile`).replace(/\\\n\s*/g, "");
const tasks: Record<string, string> = JSON.parse(Deno.readTextFileSync(`${root}deno.json`)).tasks;

function makeVariable(name: string): string {
  const m = new RegExp(`^${name}\\s*:=\\s*(.*)$`, "m").exec(makefile);
  assert.ok(m, `${name} not in the Makefile`);
  return m[1].replace(/\$\((\w+)\)/g, (_, v) => makeVariable(v)).trim();
}

const ALL = /(^|\s)(-A|--allow-all)(\s|$)/;

Deno.test("no -A or --allow-all in the Makefile, the tasks or CI", () => {
  const commands = makefile.split("\n").filter((l) => !l.trimStart().startsWith("#")).join("\n");
  assert.doesNotMatch(commands, ALL);
  for (const [name, command] of Object.entries(tasks)) assert.doesNotMatch(command, ALL, name);
  assert.doesNotMatch(Deno.readTextFileSync(`${root}.ci/run`), ALL);
});

Deno.test("the binary, the tasks and the live tests share one permission list", () => {
  const binary = makeVariable("PERM_BIN").split(/\s+/);
  assert.deepEqual(binary, [...LIVE_PERMISSIONS]);
  for (const name of ["start", "read", "bans"]) {
    assert.ok(tasks[name].includes(binary.join(" ")), `task ${name} uses other permissions`);
  }
  assert.match(makefile, /deno compile \$\(V8_FLAGS\) \$\(PERM_BIN\)/);
});

Deno.test("the environment permission lists exactly the variables btblocker reads", () => {
  const allowed = makeVariable("ENV_VARS").split(",");
  assert.deepEqual(allowed.filter((v) => v !== "BTBLOCKER_DEBUG").sort(), [...ENV_VARS].sort());
});

Deno.test("every permission is scoped except FFI and read, which cannot be", () => {
  for (const flag of LIVE_PERMISSIONS) {
    if (flag === "--allow-ffi" || flag === "--allow-read") continue;
    assert.match(flag, /^--allow-\w+=/, `${flag} is not scoped`);
  }
});
