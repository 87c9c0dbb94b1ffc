/**
 * An Ethereum devp2p peer for the look-alike lab, on ethereumjs's implementation: discovery v4
 * (DPT, UDP) and RLPx (TCP, ECIES handshake, then the `eth` subprotocol) on one port. A Node
 * program, like hyperswarm_peer.mjs: the lab installs the packages (`NPM_TOOLS` in
 * lookalike.ts, exact versions) with npm next to a copy of this file.
 *
 *     node devp2p_peer.mjs serve HOST PORT
 *     node devp2p_peer.mjs connect HOST PORT SERVER_ID PEERS
 *
 * `serve` prints `listening <node id>` and answers every peer: after the `eth` status exchange
 * it sends 16 `Transactions` messages of 8 KiB of random bytes. `connect` starts PEERS peers,
 * each with its own key, that find the server through discovery (ping/pong on UDP) and connect
 * to it over RLPx, each sending 16 such messages too; it prints `received N bytes from PEERS
 * peers` and exits 0 once every peer got the server's messages (1 after 30 s).
 *
 * @module
 */

import process from "node:process";
import { DPT, ETH, EthMessageCodes, RLPx } from "@ethereumjs/devp2p";
import { Common, Mainnet } from "@ethereumjs/common";
import { bytesToHex, hexToBytes } from "@ethereumjs/util";

/** Messages each side sends once the `eth` handshake is done, and their size. */
const MESSAGES = 16;
const MESSAGE_SIZE = 8192;

const common = new Common({ chain: Mainnet });

/** Ethereum mainnet's genesis block hash (both sides announce the same chain). */
const MAINNET_GENESIS = hexToBytes(
  "0xd4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3",
);

function key() {
  return crypto.getRandomValues(new Uint8Array(32));
}

/** Starts a node (discovery and RLPx) on `host:port`; resolves with it once both listen. */
async function node(host, port) {
  const privateKey = key();
  const dpt = new DPT(privateKey, {
    endpoint: { address: host, udpPort: port, tcpPort: port },
    shouldFindNeighbours: false,
    shouldGetDnsPeers: false,
    refreshInterval: 1000,
  });
  const rlpx = new RLPx(privateKey, {
    dpt,
    maxPeers: 25,
    capabilities: [ETH.eth68],
    common,
    listenPort: port,
  });
  dpt.events.on("error", () => {});
  rlpx.events.on("error", () => {});
  rlpx.events.on("peer:error", () => {});
  const listening = new Promise((resolve) => rlpx.events.once("listening", resolve));
  dpt.bind(port, host);
  rlpx.listen(port, host);
  await listening;
  return { dpt, rlpx };
}

/** Bytes in a decoded RLP item (bytes, or a list of items). */
function byteLength(x) {
  return x instanceof Uint8Array ? x.length : x.reduce((n, y) => n + byteLength(y), 0);
}

/** Runs the `eth` handshake with `peer`, then sends the messages; `onData` gets what arrives. */
function talk(peer, onData) {
  const eth = peer.getProtocols().find((p) => p instanceof ETH);
  if (eth === undefined) return;
  eth.events.on("message", (_code, payload) => onData(byteLength(payload)));
  eth.events.once("status", () => {
    for (let i = 0; i < MESSAGES; i++) {
      eth.sendMessage(EthMessageCodes.TX, [crypto.getRandomValues(new Uint8Array(MESSAGE_SIZE))]);
    }
  });
  eth.sendStatus({
    td: new Uint8Array([1]),
    bestHash: hexToBytes(`0x${"00".repeat(32)}`),
    genesisHash: MAINNET_GENESIS,
  });
}

async function serve(host, port) {
  const { rlpx } = await node(host, port);
  rlpx.events.on("peer:added", (peer) => talk(peer, () => {}));
  console.log(`listening ${bytesToHex(rlpx.id)}`);
}

async function connect(host, port, serverId, peers) {
  const server = {
    id: hexToBytes(serverId),
    address: host,
    udpPort: port,
    tcpPort: port,
  };
  const received = new Array(peers).fill(0);
  const nodes = [];
  for (let i = 0; i < peers; i++) {
    // Each peer on its own ephemeral UDP and TCP port, like a node behind a router.
    const n = await node("0.0.0.0", 0);
    n.rlpx.events.on("peer:added", (peer) => talk(peer, (b) => received[i] += b));
    await n.dpt.bootstrap(server);
    nodes.push(n);
  }
  const want = MESSAGES * MESSAGE_SIZE;
  const deadline = Date.now() + 30000;
  while (received.some((b) => b < want) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const total = received.reduce((a, b) => a + b, 0);
  console.log(`received ${total} bytes from ${received.filter((b) => b >= want).length} peers`);
  for (const n of nodes) {
    n.rlpx.destroy();
    n.dpt.destroy();
  }
  process.exit(received.every((b) => b >= want) ? 0 : 1);
}

const [command, host, port, ...rest] = process.argv.slice(2);
if (command === "serve") await serve(host, Number(port));
else if (command === "connect") await connect(host, Number(port), rest[0], Number(rest[1]));
else {
  console.error("usage: devp2p_peer.mjs serve HOST PORT | connect HOST PORT SERVER_ID PEERS");
  process.exit(2);
}
