/**
 * Records the look-alike fixtures: real traffic of protocols whose handshakes are random bytes of
 * MSE-like sizes, on loopback (captured on `any`: Linux cooked v2 link type), into `tests/fixtures/lookalike_<software>_loopback.pcap`. None of
 * them may be detected (see tests/fixtures/manifest.json).
 *
 * - `rlpx`: Ethereum devp2p RLPx (EIP-8 auth/ack, Hello, ping/pong) between `npm:@ethereumjs/devp2p`
 *   nodes on port 30303, four connections with fresh keys.
 * - `hyperswarm`: Hyperswarm's Noise secret stream (`npm:@hyperswarm/secret-stream`) over TCP,
 *   three connections exchanging messages of peer wire sizes (5, 9, 17, 68 bytes of data).
 * - `shadowsocks`: shadowsocks-libev (`ss-server`, `ss-local`, chacha20-ietf-poly1305) carrying
 *   HTTP requests from curl to a local server (several on one connection, bodies of peer wire
 *   sizes); only the encrypted leg (port 48388) is recorded.
 *
 * Needs root (tcpdump on lo), the npm registry, and Debian's shadowsocks-libev and curl:
 *
 * ```sh
 * deno run -A tests/helpers/record_lookalikes.ts [rlpx|hyperswarm|shadowsocks ...]
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { ETH, RLPx } from "npm:@ethereumjs/devp2p@5.0.0";
import { Chain, Common } from "npm:@ethereumjs/common@3";
import NoiseSecretStream from "npm:@hyperswarm/secret-stream@6";
import { Child, delay, runCommand } from "./process.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;

/**
 * Runs `scenario` while tcpdump records TCP on every interface, then keeps what matches `filter`
 * in the named fixture. (A capture filtered from the start missed shadowsocks-libev's
 * connections on this machine, on `lo` and on `any` alike; filtering the file does not.)
 */
async function record(name: string, filter: string, scenario: () => Promise<void>) {
  const path = `${FIXTURES}lookalike_${name}_loopback.pcap`;
  const all = await Deno.makeTempFile({ suffix: ".pcap" });
  const tcpdump = new Child(["tcpdump", "-i", "any", "-s", "256", "-U", "-w", all, "tcp"], {
    name: "tcpdump",
  });
  await tcpdump.waitForLine(/listening on/);
  try {
    await scenario();
    await delay(500);
  } finally {
    await tcpdump.stop("SIGINT");
  }
  const r = await runCommand(["tcpdump", "-r", all, "-w", path, filter]);
  await Deno.remove(all);
  if (r.code !== 0) throw new Error(`tcpdump -r ${all} failed: ${r.stderr}`);
  const count = await runCommand(["tcpdump", "-r", path, "-n"]);
  console.log(`${path}: ${count.stdout.trim().split("\n").length} packets`);
}

async function rlpx(): Promise<void> {
  const common = new Common({ chain: Chain.Mainnet });
  const node = (listenPort: number | null) =>
    new RLPx(Buffer.from(randomBytes(32)), {
      dpt: null,
      maxPeers: 8,
      capabilities: [ETH.eth66],
      common,
      listenPort,
    });
  const server = node(30303);
  server.listen(30303, "127.0.0.1");
  try {
    for (let i = 0; i < 4; i++) {
      const client = node(null);
      const added = new Promise((resolve) => client.once("peer:added", resolve));
      await client.connect({ id: server._id, address: "127.0.0.1", tcpPort: 30303 });
      await Promise.race([added, delay(5000)]);
      await delay(1000);
      client.destroy();
    }
  } finally {
    server.destroy();
  }
}

async function hyperswarm(): Promise<void> {
  const server = net.createServer((socket) => {
    const s = new NoiseSecretStream(false, socket);
    s.on("data", (data: Buffer) => s.write(Buffer.from(randomBytes(data.length))));
    s.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(49737, "127.0.0.1", resolve));
  try {
    for (let i = 0; i < 3; i++) {
      const socket = net.connect(49737, "127.0.0.1");
      const s = new NoiseSecretStream(true, socket);
      s.on("error", () => {});
      await new Promise((resolve) => s.once("connect", resolve));
      for (const size of [68, 5, 9, 17, 34, 300, 5, 17]) {
        s.write(Buffer.from(randomBytes(size)));
        await new Promise((resolve) => s.once("data", resolve));
      }
      s.end();
      await delay(200);
    }
  } finally {
    server.close();
  }
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

const SCENARIOS: Record<string, [filter: string, run: () => Promise<void>]> = {
  rlpx: ["tcp port 30303", rlpx],
  hyperswarm: ["tcp port 49737", hyperswarm],
  shadowsocks: ["tcp port 48388", shadowsocks],
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
