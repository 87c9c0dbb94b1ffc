/**
 * The README documents every option and the exit statuses, CI runs exactly the README's test
 * command, and that command runs every test that reads ../shared a second time with the corpus.
 */
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

Deno.test("make test names every test that reads ../shared (the suite ran without it first)", () => {
  const makefile = Deno.readTextFileSync(`${root}Makefile`);
  const listed = /^SHARED_TESTS\s*:=\s*(.*)$/m.exec(makefile)?.[1].trim().split(/\s+/) ?? [];
  const reading: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(`${root}${dir}`)) {
      const path = `${dir}${e.name}`;
      if (e.isDirectory && e.name !== "node_modules" && !e.name.startsWith(".")) walk(`${path}/`);
      else if (e.isFile && e.name.endsWith("_test.ts")) {
        if (/\.\.\/(\.\.\/)?shared\/\w/.test(Deno.readTextFileSync(`${root}${path}`))) {
          reading.push(path);
        }
      }
    }
  };
  walk("");
  assert.deepEqual(listed.sort(), reading.sort());
  assert.match(makefile, /^\tbash \.ci\/pristine_test\.sh "\$\(PERM_TEST\)" \$\(SHARED_TESTS\)$/m);
});

Deno.test("README documents the exit statuses of --help", () => {
  assert.match(
    readme,
    /Exit status: 0 done, 1 runtime error .*, 2 usage error, 3 capture cut off/s,
  );
});
