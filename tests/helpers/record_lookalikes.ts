/**
 * Records the loopback look-alike fixtures: real traffic of protocols whose handshakes are random
 * bytes of MSE-like sizes, on loopback (captured on `any`: Linux cooked v2 link type), into
 * `tests/fixtures/lookalike_<software>_loopback.pcap`, with request sizes chosen to resemble
 * BitTorrent's (see tests/fixtures/manifest.json for what each may yield). The look-alike lab
 * (tests/lab/lookalike.ts) records the same software, and Ethereum devp2p and Hyperswarm, through
 * its router.
 *
 * - `shadowsocks`: shadowsocks-libev (`ss-server`, `ss-local`, chacha20-ietf-poly1305) carrying
 *   HTTP requests from curl to a local server (several on one connection, bodies of peer wire
 *   sizes); only the encrypted leg (port 48388) is recorded.
 * - `obfs4`: obfs4proxy as server and client pluggable transports (managed mode), eight
 *   connections through the client's SOCKS5 port to the bridge, echoing 68, 5, 17 and 300 bytes;
 *   only the obfuscated leg (port 48443) is recorded.
 *
 * Needs root (tcpdump) and Debian's shadowsocks-libev, obfs4proxy and curl:
 *
 * ```sh
 * deno run -A tests/helpers/record_lookalikes.ts [shadowsocks|obfs4 ...]
 * ```
 *
 * @module
 */

import { Child, delay, runCommand } from "./process.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;

/**
 * Runs `scenario` while tcpdump records `filter` into the named fixture. `--immediate-mode`:
 * without it, packets of a short scenario can sit in a capture block that is not yet handed to
 * tcpdump when it is stopped, and the fixture comes out empty.
 */
async function record(name: string, filter: string, scenario: () => Promise<void>) {
  const path = `${FIXTURES}lookalike_${name}_loopback.pcap`;
  const tcpdump = new Child(
    ["tcpdump", "-i", "any", "--immediate-mode", "-s", "256", "-w", path, filter],
    { name: "tcpdump" },
  );
  await tcpdump.waitForLine(/listening on/);
  try {
    await scenario();
    await delay(500);
  } finally {
    await tcpdump.stop("SIGINT");
  }
  const captured = tcpdump.lines.find((l) => /packets captured/.test(l)) ?? "? packets captured";
  if (captured.startsWith("0 ")) throw new Error(`${path}: nothing captured`);
  console.log(`${path}: ${captured}`);
}

async function shadowsocks(): Promise<void> {
  const cipher = ["-k", "lookalike", "-m", "chacha20-ietf-poly1305"];
  const web = Deno.serve(
    { hostname: "127.0.0.1", port: 48081, onListen: () => {} },
    (r) => new Response("x".repeat(Number(new URL(r.url).searchParams.get("n") ?? 100))),
  );
  const ssServer = new Child(["ss-server", "-s", "127.0.0.1", "-p", "48388", ...cipher, "-v"], {
    name: "ss-server",
  });
  const ssLocal = new Child(
    ["ss-local", "-s", "127.0.0.1", "-p", "48388", "-l", "41080", ...cipher, "-v"],
    { name: "ss-local" },
  );
  try {
    await delay(1000);
    // Each curl keeps one connection for its requests: several flights each way, as in MSE.
    for (const sizes of [[40, 300, 5, 2000, 68], [200], [17, 9, 5, 68, 16397, 4]]) {
      const urls = sizes.flatMap((n) => ["-o", "/dev/null", `http://127.0.0.1:48081/?n=${n}`]);
      const r = await runCommand(["curl", "-s", "--socks5-hostname", "127.0.0.1:41080", ...urls]);
      if (r.code !== 0) throw new Error(`curl through ss-local failed (${r.code}): ${r.stderr}`);
    }
  } finally {
    await ssLocal.stop("SIGTERM");
    await ssServer.stop("SIGTERM");
    await web.shutdown();
  }
}

/** Reads exactly `n` bytes from `conn`. */
async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  for (let got = 0; got < n;) {
    const r = await conn.read(out.subarray(got));
    if (r === null) throw new Error(`connection closed after ${got} of ${n} bytes`);
    got += r;
  }
  return out;
}

/** Opens a connection through a pluggable transport's SOCKS5 port to the bridge at `port`. */
async function socks5(proxy: number, user: string, port: number): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy });
  const u = new TextEncoder().encode(user);
  await conn.write(Uint8Array.of(5, 1, 2));
  await readExactly(conn, 2);
  await conn.write(Uint8Array.of(1, u.length, ...u, 1, 0));
  if ((await readExactly(conn, 2))[1] !== 0) throw new Error("obfs4 client refused the arguments");
  await conn.write(Uint8Array.of(5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff));
  if ((await readExactly(conn, 10))[1] !== 0) throw new Error("obfs4 client could not connect");
  return conn;
}

async function obfs4(): Promise<void> {
  const state = await Deno.makeTempDir();
  const echo = Deno.listen({ hostname: "127.0.0.1", port: 48090 });
  (async () => {
    for await (const c of echo) c.readable.pipeTo(c.writable).catch(() => {});
  })();
  const managed = { TOR_PT_MANAGED_TRANSPORT_VER: "1" };
  const server = new Child(["obfs4proxy"], {
    name: "obfs4 server",
    env: {
      ...managed,
      TOR_PT_SERVER_TRANSPORTS: "obfs4",
      TOR_PT_SERVER_BINDADDR: "obfs4-127.0.0.1:48443",
      TOR_PT_ORPORT: "127.0.0.1:48090",
      TOR_PT_STATE_LOCATION: `${state}/server`,
    },
  });
  const client = new Child(["obfs4proxy"], {
    name: "obfs4 client",
    env: {
      ...managed,
      TOR_PT_CLIENT_TRANSPORTS: "obfs4",
      TOR_PT_STATE_LOCATION: `${state}/client`,
    },
  });
  try {
    const cert = (await server.waitForLine(/^SMETHOD obfs4 /)).match(/cert=([^,]+)/)![1];
    const proxy = Number((await client.waitForLine(/^CMETHOD obfs4 socks5 /)).split(":").at(-1));
    for (let i = 0; i < 8; i++) {
      const conn = await socks5(proxy, `cert=${cert};iat-mode=0`, 48443);
      for (const size of [68, 5, 17, 300]) {
        await conn.write(crypto.getRandomValues(new Uint8Array(size)));
        await readExactly(conn, size);
      }
      conn.close();
    }
  } finally {
    await client.stop("SIGTERM");
    await server.stop("SIGTERM");
    echo.close();
    await Deno.remove(state, { recursive: true });
  }
}

const SCENARIOS: Record<string, [filter: string, run: () => Promise<void>]> = {
  shadowsocks: ["tcp port 48388", shadowsocks],
  obfs4: ["tcp port 48443", obfs4],
};

const names = Deno.args.length > 0 ? Deno.args : Object.keys(SCENARIOS);
for (const name of names) {
  const scenario = SCENARIOS[name];
  if (scenario === undefined) {
    console.error(`unknown scenario ${name}: try ${Object.keys(SCENARIOS).join(", ")}`);
    Deno.exit(2);
  }
  await record(name, scenario[0], scenario[1]);
}
Deno.exit(0);
