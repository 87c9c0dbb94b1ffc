/**
 * The lab's children (btblocker, the clients, the servers: every command run through
 * `proc.ts`) trust the system certificate store: they get `DENO_TLS_CA_STORE`, the caller's
 * value or `mozilla,system`, whatever else of the caller's environment they are denied.
 */
import assert from "node:assert/strict";
import { Proc, runCommand } from "./proc.ts";

const PRINT = ["sh", "-c", 'printf "store=%s\\n" "$DENO_TLS_CA_STORE"'];

/** Runs `fn` with `DENO_TLS_CA_STORE` set to `value` (or unset), then restores it. */
async function withStore(value: string | undefined, fn: () => Promise<void>): Promise<void> {
  const saved = Deno.env.get("DENO_TLS_CA_STORE");
  if (value === undefined) Deno.env.delete("DENO_TLS_CA_STORE");
  else Deno.env.set("DENO_TLS_CA_STORE", value);
  try {
    await fn();
  } finally {
    if (saved === undefined) Deno.env.delete("DENO_TLS_CA_STORE");
    else Deno.env.set("DENO_TLS_CA_STORE", saved);
  }
}

async function seenBy(): Promise<{ command: string; proc: string }> {
  const command = (await runCommand(PRINT)).stdout.trim();
  const child = new Proc("printer", null, PRINT);
  await child.stop();
  return { command, proc: child.output.trim() };
}

Deno.test("lab children trust Mozilla's roots and the system store by default", async () => {
  await withStore(undefined, async () => {
    assert.deepEqual(await seenBy(), {
      command: "store=mozilla,system",
      proc: "store=mozilla,system",
    });
  });
});

Deno.test("lab children get the caller's DENO_TLS_CA_STORE", async () => {
  await withStore("system", async () => {
    assert.deepEqual(await seenBy(), { command: "store=system", proc: "store=system" });
  });
});

Deno.test("lab children get DENO_TLS_CA_STORE and not the rest of the caller's environment", async () => {
  await withStore("mozilla,system", async () => {
    Deno.env.set("BTBLOCKER_LAB_LEAK_PROBE", "1");
    try {
      const r = await runCommand([
        "sh",
        "-c",
        'printf "%s|%s" "$DENO_TLS_CA_STORE" "$BTBLOCKER_LAB_LEAK_PROBE"',
      ]);
      assert.equal(r.stdout, "mozilla,system|");
    } finally {
      Deno.env.delete("BTBLOCKER_LAB_LEAK_PROBE");
    }
  });
});
