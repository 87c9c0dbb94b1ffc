/**
 * Hyperswarm peers for the look-alike lab (a Node program: Deno cannot load udx-native, the
 * UDP transport's native addon, which wants libuv): a small HyperDHT network (hyperdht's own testnet:
 * a bootstrap node and four more, on UDP), a peer announcing a topic, and a peer looking it up
 * and connecting over UDX with a Noise secret stream; the two exchange 256 KiB each way.
 *
 *     node hyperswarm_peer.mjs dht HOST PORT
 *     node hyperswarm_peer.mjs serve HOST PORT TOPIC
 *     node hyperswarm_peer.mjs connect HOST PORT TOPIC
 *
 * `dht` prints `ready` once its nodes are bootstrapped; `serve` prints `announced` once the
 * topic is announced, then answers every connection; `connect` prints `received N bytes` and
 * exits 0 once the server's 256 KiB arrived (1 after 30 s).
 * HOST:PORT is the bootstrap node; TOPIC is 64 hex digits. The lab installs the packages
 * (`NPM_TOOLS` in lookalike.ts, exact versions) with npm next to a copy of this file.
 *
 * @module
 */

import process from "node:process";
import Hyperswarm from "hyperswarm";
import createTestnet from "hyperdht/testnet.js";

/** Bytes each side sends on a connection. */
const SEND = 256 << 10;

/** The topic's 32 bytes from hex. */
function topicBytes(hex) {
  return Uint8Array.from(hex.match(/../g).map((b) => parseInt(b, 16)));
}

/** Sends SEND random bytes in 16 KiB writes and counts what arrives. */
function exchange(conn, onData) {
  let total = 0;
  conn.on("error", () => {});
  conn.on("data", (d) => onData(total += d.length));
  for (let off = 0; off < SEND; off += 16384) {
    conn.write(crypto.getRandomValues(new Uint8Array(16384)));
  }
}

async function dht(host, port) {
  await createTestnet(5, { host, port });
  console.log("ready");
}

async function serve(host, port, topic) {
  const swarm = new Hyperswarm({ bootstrap: [{ host, port }] });
  swarm.on("connection", (conn) => exchange(conn, () => {}));
  await swarm.join(topicBytes(topic), { server: true, client: false }).flushed();
  console.log("announced");
}

async function connect(host, port, topic) {
  const swarm = new Hyperswarm({ bootstrap: [{ host, port }] });
  let received = 0;
  const done = new Promise((resolve) => {
    swarm.on("connection", (conn) =>
      exchange(conn, (total) => {
        received = total;
        if (total >= SEND) resolve();
      }));
  });
  swarm.join(topicBytes(topic), { server: false, client: true });
  const timeout = new Promise((resolve) => setTimeout(resolve, 30000));
  await Promise.race([done, timeout]);
  console.log(`received ${received} bytes`);
  await swarm.destroy();
  process.exit(received >= SEND ? 0 : 1);
}

const [command, host, port, topic] = process.argv.slice(2);
if (command === "dht") await dht(host, Number(port));
else if (command === "serve") await serve(host, Number(port), topic);
else if (command === "connect") await connect(host, Number(port), topic);
else {
  console.error("usage: hyperswarm_peer.ts dht|serve|connect HOST PORT [TOPIC]");
  process.exit(2);
}
