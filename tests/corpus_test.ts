/**
 * Detection quality on the labelled corpus beside the project (../shared/corpus), scored by
 * ../shared/tools/score.py exactly as the project is judged. Skipped, saying so, when the
 * corpus is absent (as in a user's clone).
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url).pathname;
const corpus = `${root}../shared/corpus`;
const scorer = `${root}../shared/tools/score.py`;

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const available = exists(`${corpus}/truth.json`) && exists(scorer);
if (!available) {
  console.log(
    `corpus_test: SKIPPED — ${corpus} or ${scorer} not found (the labelled corpus is not part of the repository)`,
  );
}

Deno.test({
  name: "labelled corpus: recall ≥ 95 %, zero false flags, zero failed captures",
  ignore: !available,
  async fn() {
    const report = `${Deno.makeTempDirSync()}/score.json`;
    const out = await new Deno.Command("python3", {
      args: [
        scorer,
        corpus,
        "--project",
        root,
        "--cmd",
        "deno run --allow-ffi --allow-read --allow-env main.ts",
        "--json",
        report,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    console.log(text.split("\n").filter((l) => !l.startsWith("  ")).join("\n"));
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const score = JSON.parse(Deno.readTextFileSync(report));
    Deno.removeSync(report.replace(/\/score.json$/, ""), { recursive: true });
    assert.deepEqual(score.failures, [], "captures the tool failed on");
    assert.deepEqual(score.false_flags, [], "false flags");
    const recall = score.bt_detected / score.bt_flows;
    assert.ok(
      recall >= 0.95,
      `recall ${score.bt_detected}/${score.bt_flows} = ${(100 * recall).toFixed(1)} % < 95 %`,
    );
  },
});
