/**
 * The committed ffi/xdp_object.ts holds the object that bpf/xdp_ban.c compiles to: checked
 * byte for byte against a fresh `bpf/build.sh` when the local clang is the one that built it.
 */

import assert from "node:assert/strict";
import {
  XDP_OBJECT_COMPILER,
  XDP_OBJECT_SHA256,
  XDP_OBJECT_SIZE,
  xdpObject,
} from "./xdp_object.ts";

const root = new URL("..", import.meta.url).pathname;

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function localClang(): Promise<string | null> {
  try {
    const out = await new Deno.Command("clang", { args: ["--version"], stdout: "piped" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).split("\n")[0] : null;
  } catch {
    return null;
  }
}

Deno.test("xdp object: the embedded bytes are an ELF BPF object with the recorded hash", async () => {
  const bytes = xdpObject();
  assert.equal(bytes.length, XDP_OBJECT_SIZE);
  assert.equal(await sha256(bytes), XDP_OBJECT_SHA256);
  assert.deepEqual([...bytes.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]); // \x7fELF
  assert.equal(new DataView(bytes.buffer).getUint16(18, true), 247); // EM_BPF
  assert.equal(xdpObject(), bytes, "decoded once");
});

const clang = await localClang();
const sameCompiler = clang === XDP_OBJECT_COMPILER;
if (!sameCompiler) {
  console.warn(
    `ffi/xdp_object_test.ts: rebuild check skipped: ${
      clang ?? "no clang"
    } here, the object was built by ${XDP_OBJECT_COMPILER}`,
  );
}

Deno.test({
  name: "xdp object: ffi/xdp_object.ts matches a fresh build of bpf/xdp_ban.c",
  ignore: !sameCompiler,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "btb-xdp-object-" });
    try {
      const out = `${dir}/xdp_object.ts`;
      const result = await new Deno.Command("bash", {
        args: [`${root}bpf/build.sh`, out],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(result.success, new TextDecoder().decode(result.stderr));
      const fresh = await Deno.readTextFile(out);
      const committed = await Deno.readTextFile(`${root}ffi/xdp_object.ts`);
      assert.ok(
        fresh === committed,
        "ffi/xdp_object.ts is out of date with bpf/xdp_ban.c: run `make bpf`",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
