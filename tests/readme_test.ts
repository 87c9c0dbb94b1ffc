/** The README documents every option, and CI runs exactly the README's test command. */
import assert from "node:assert/strict";
import { OPTIONS } from "../cli/args.ts";

const root = new URL("../", import.meta.url).pathname;
const readme = Deno.readTextFileSync(`${root}README.md`);

Deno.test("README documents every command-line option and environment variable", () => {
  for (const o of OPTIONS) {
    assert.ok(readme.includes(`--${o.name}`), `--${o.name} missing from README.md`);
    if (o.env) assert.ok(readme.includes(o.env), `${o.env} missing from README.md`);
  }
});

Deno.test(".ci/run runs the README's test command", () => {
  assert.match(readme, /^make test\s+#/m, "README names `make test` as the test command");
  const ci = Deno.readTextFileSync(`${root}.ci/run`);
  assert.match(ci, /^exec make test$/m);
});
