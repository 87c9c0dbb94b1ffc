/**
 * A small BitTorrent endpoint for the live tests, run inside a test network namespace with
 * `deno run --allow-net`: real sockets speaking just enough of each protocol for btblocker to
 * see a genuine, answered exchange.
 *
 *     bt_endpoint.ts serve   --proto P --host ADDR --port N
 *     bt_endpoint.ts connect --proto P --host ADDR --port N [--bind ADDR] [--timeout MS]
 *
 * Protocols: `bt` (TCP peer wire: handshake, bitfield, unchoke, interested, have messages),
 * `echo` (TCP, not BitTorrent), `dht` (KRPC ping and get_peers), `utp` (SYN, STATE, DATA carrying
 * a peer wire handshake, STATE), `tracker` (BEP 15 connect and announce), `udp-echo` (UDP, not
 * BitTorrent).
 *
 * `serve` prints `{"ready":true}` once listening, then one JSON line per exchange it answered,
 * and runs until killed. `serve --proto dht` answers every KRPC query it receives, from anyone
 * (the tests also use it as the local host answering spoofed queries). `connect` performs one
 * exchange, prints `{"ok":true,…}` and exits 0, or prints `{"ok":false,"error":…}` and exits 1
 * when the other side does not answer within the timeout (default 1000 ms).
 *
 * @module
 */

import net from "node:net";
import dgram from "node:dgram";
import { Buffer } from "node:buffer";

/** Protocols the endpoint speaks. */
export type Proto = "bt" | "echo" | "dht" | "utp" | "tracker" | "udp-echo";

const PROTOCOL = "BitTorrent protocol";
const INFO_HASH = Buffer.from("0123456789abcdef0123456789abcdef01234567", "hex");
const TRACKER_MAGIC = 0x41727101980n;

/** A peer wire handshake with the given peer id prefix. */
export function handshake(peerId: string): Buffer {
  const id = Buffer.alloc(20, 0x61);
  id.write(peerId.slice(0, 20));
  return Buffer.concat([
    Buffer.from([PROTOCOL.length]),
    Buffer.from(PROTOCOL),
    Buffer.from([0, 0, 0, 0, 0, 0x10, 0, 0x05]), // extension protocol, DHT, fast
    INFO_HASH,
    id,
  ]);
}

/** A peer wire message: length prefix, id, payload. */
function message(id: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(5 + payload.length);
  b.writeUInt32BE(1 + payload.length, 0);
  b[4] = id;
  b.set(payload, 5);
  return b;
}

function have(index: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(index, 0);
  return message(4, p);
}

/** Bencoded KRPC messages (keys sorted, as the spec requires). */
function krpcQuery(tid: Buffer, nodeId: Buffer, method: "ping" | "get_peers"): Buffer {
  const args = method === "ping"
    ? Buffer.concat([Buffer.from("d2:id20:"), nodeId, Buffer.from("e")])
    : Buffer.concat([
      Buffer.from("d2:id20:"),
      nodeId,
      Buffer.from("9:info_hash20:"),
      INFO_HASH,
      Buffer.from("e"),
    ]);
  return Buffer.concat([
    Buffer.from("d1:a"),
    args,
    Buffer.from(`1:q${method.length}:${method}1:t${tid.length}:`),
    tid,
    Buffer.from("1:y1:qe"),
  ]);
}

function krpcResponse(tid: Buffer, nodeId: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from("d1:rd2:id20:"),
    nodeId,
    Buffer.from("5:token8:abcdefghe"),
    Buffer.from(`1:t${tid.length}:`),
    tid,
    Buffer.from("1:y1:re"),
  ]);
}

/** The transaction id of a KRPC query, or null when `msg` is not one. */
function krpcQueryTid(msg: Buffer): Buffer | null {
  const text = msg.toString("latin1");
  if (!text.startsWith("d") || !text.includes("1:y1:q")) return null;
  const m = /1:t(\d+):/.exec(text);
  if (m === null) return null;
  const start = m.index + m[0].length;
  return msg.subarray(start, start + Number(m[1]));
}

/** uTP packet types. */
const ST_DATA = 0, ST_STATE = 2, ST_SYN = 4;

function utpClock(): number {
  return Math.floor(performance.now() * 1000 + 1) >>> 0;
}

function utpPacket(
  type: number,
  conn: number,
  seq: number,
  ack: number,
  payload: Uint8Array = new Uint8Array(0),
): Buffer {
  const b = Buffer.alloc(20 + payload.length);
  b[0] = (type << 4) | 1;
  b[1] = 0;
  b.writeUInt16BE(conn & 0xffff, 2);
  b.writeUInt32BE(utpClock(), 4);
  b.writeUInt32BE(0, 8);
  b.writeUInt32BE(1 << 20, 12);
  b.writeUInt16BE(seq & 0xffff, 16);
  b.writeUInt16BE(ack & 0xffff, 18);
  b.set(payload, 20);
  return b;
}

function trackerConnect(tid: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(TRACKER_MAGIC, 0);
  b.writeUInt32BE(0, 8);
  b.writeUInt32BE(tid, 12);
  return b;
}

function trackerAnnounce(connectionId: bigint, tid: number, port: number): Buffer {
  const b = Buffer.alloc(98);
  b.writeBigUInt64BE(connectionId, 0);
  b.writeUInt32BE(1, 8);
  b.writeUInt32BE(tid, 12);
  INFO_HASH.copy(b, 16);
  b.write("-TR3000-abcdefghijkl", 36, "latin1");
  b.writeBigUInt64BE(0n, 56); // downloaded
  b.writeBigUInt64BE(1000000n, 64); // left
  b.writeBigUInt64BE(0n, 72); // uploaded
  b.writeUInt32BE(2, 80); // event started
  b.writeUInt32BE(0, 84); // ip
  b.writeUInt32BE(0x12345678, 88); // key
  b.writeInt32BE(-1, 92); // num_want
  b.writeUInt16BE(port, 96);
  return b;
}

/** The answer a UDP server gives to `msg`, or null when it has none. */
function udpAnswer(proto: Proto, msg: Buffer, state: Map<number, number>): Buffer[] {
  if (proto === "udp-echo") return [msg];
  if (proto === "dht") {
    const tid = krpcQueryTid(msg);
    return tid === null ? [] : [krpcResponse(tid, Buffer.alloc(20, 0x42))];
  }
  if (proto === "tracker") {
    if (msg.length >= 16 && msg.readBigUInt64BE(0) === TRACKER_MAGIC && msg.readUInt32BE(8) === 0) {
      const r = Buffer.alloc(16);
      r.writeUInt32BE(0, 0);
      r.writeUInt32BE(msg.readUInt32BE(12), 4);
      r.writeBigUInt64BE(0x1122334455667788n, 8);
      return [r];
    }
    if (msg.length >= 98 && msg.readUInt32BE(8) === 1) {
      const r = Buffer.alloc(20 + 6);
      r.writeUInt32BE(1, 0);
      r.writeUInt32BE(msg.readUInt32BE(12), 4);
      r.writeUInt32BE(1800, 8); // interval
      r.writeUInt32BE(1, 12); // leechers
      r.writeUInt32BE(1, 16); // seeders
      r.set([192, 0, 2, 77, 0x1a, 0xe1], 20);
      return [r];
    }
    return [];
  }
  if (proto === "utp") {
    if (msg.length < 20 || (msg[0] & 0x0f) !== 1) return [];
    const type = msg[0] >> 4;
    const conn = msg.readUInt16BE(2);
    const seq = msg.readUInt16BE(16);
    if (type === ST_SYN) {
      const mine = 1000 + (conn % 1000);
      state.set(conn + 1, mine);
      return [utpPacket(ST_STATE, conn, mine, seq)];
    }
    if (type === ST_DATA) {
      const mine = state.get(conn) ?? 1000;
      return [utpPacket(ST_STATE, conn - 1, mine, seq)];
    }
  }
  return [];
}

/** Options shared by the commands. */
interface Options {
  proto: Proto;
  host: string;
  port: number;
  bind?: string;
  timeout: number;
}

/** How far `connect` got: `connect`, `handshake` (sent), `greeted` (answered), `messages`. */
let stage = "connect";

function print(value: unknown): void {
  console.log(JSON.stringify(value));
}

async function serve(o: Options): Promise<void> {
  if (o.proto === "bt" || o.proto === "echo") {
    const server = net.createServer((socket) => {
      socket.on("error", () => {});
      if (o.proto === "echo") {
        socket.on("data", (d: Buffer) => socket.write(d));
        return;
      }
      let received = Buffer.alloc(0);
      let greeted = false;
      socket.on("data", (d: Buffer) => {
        received = Buffer.concat([received, d]);
        if (!greeted && received.length >= 68) {
          greeted = true;
          received = received.subarray(68);
          socket.write(
            Buffer.concat([
              handshake("-qB4500-server000000"),
              message(5, new Uint8Array([0xff, 0xf0])),
              message(1),
            ]),
          );
          print({ answered: socket.remoteAddress });
        }
        // Answer every `have` with a `have` of our own.
        while (greeted && received.length >= 4) {
          const length = received.readUInt32BE(0);
          if (received.length < 4 + length) break;
          if (length === 5 && received[4] === 4) socket.write(have(received.readUInt32BE(5) + 100));
          received = received.subarray(4 + length);
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port: o.port, host: o.host }, resolve);
    });
  } else {
    const socket = o.host.includes(":")
      ? dgram.createSocket({ type: "udp6", ipv6Only: true })
      : dgram.createSocket("udp4");
    socket.on("error", (e: Error) => {
      console.error(`udp server: ${e.message}`);
      Deno.exit(1);
    });
    const state = new Map<number, number>();
    socket.on("message", (msg: Buffer, rinfo: dgram.RemoteInfo) => {
      const answers = udpAnswer(o.proto, msg, state);
      for (const a of answers) socket.send(a, rinfo.port, rinfo.address);
      if (answers.length > 0) print({ answered: rinfo.address });
    });
    await new Promise<void>((resolve) => socket.bind(o.port, o.host, resolve));
  }
  print({ ready: true });
  setInterval(() => {}, 1 << 30); // run until killed
}

/** Reads exactly what `want` says from a TCP socket, or fails at the deadline. */
class Reader {
  #buf = Buffer.alloc(0);
  #wake: (() => void) | null = null;
  #closed = false;

  constructor(socket: net.Socket) {
    socket.on("data", (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#wake?.();
    });
    socket.on("close", () => {
      this.#closed = true;
      this.#wake?.();
    });
  }

  async read(n: number): Promise<Buffer> {
    while (this.#buf.length < n) {
      if (this.#closed) throw new Error("connection closed");
      await new Promise<void>((r) => this.#wake = r);
      this.#wake = null;
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }
}

async function connectTcp(o: Options): Promise<Record<string, unknown>> {
  const socket = net.connect({
    host: o.host,
    port: o.port,
    ...(o.bind !== undefined ? { localAddress: o.bind } : {}),
  });
  try {
    const reader = new Reader(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    stage = "connected";
    if (o.proto === "echo") {
      socket.write("hello, not BitTorrent\n");
      await reader.read(22);
      return { ok: true, local: socket.localAddress };
    }
    socket.write(handshake("-TR3000-client000000"));
    stage = "handshake";
    const reply = await reader.read(68);
    if (reply[0] !== 19 || reply.subarray(1, 20).toString() !== PROTOCOL) {
      throw new Error("not a handshake");
    }
    stage = "greeted";
    await reader.read(6 + 5); // bitfield, unchoke
    stage = "messages";
    socket.write(Buffer.concat([message(2), have(1), have(2), have(3)]));
    for (let i = 0; i < 3; i++) await reader.read(9);
    return { ok: true, local: socket.localAddress };
  } finally {
    socket.destroy();
  }
}

async function connectUdp(o: Options): Promise<Record<string, unknown>> {
  const socket = dgram.createSocket(o.host.includes(":") ? "udp6" : "udp4");
  const inbox: Buffer[] = [];
  let wake: (() => void) | null = null;
  socket.on("message", (msg: Buffer) => {
    inbox.push(msg);
    wake?.();
  });
  await new Promise<void>((resolve) => socket.bind(0, o.bind, resolve));
  const send = (b: Buffer) =>
    new Promise<void>((resolve, reject) =>
      socket.send(b, o.port, o.host, (e: Error | null) => e ? reject(e) : resolve())
    );
  const receive = async (): Promise<Buffer> => {
    while (inbox.length === 0) {
      await new Promise<void>((r) => wake = r);
      wake = null;
    }
    return inbox.shift()!;
  };
  try {
    if (o.proto === "udp-echo") {
      await send(Buffer.from("hello, not BitTorrent"));
      await receive();
    } else if (o.proto === "dht") {
      const id = Buffer.alloc(20, 0x43);
      await send(krpcQuery(Buffer.from("aa"), id, "ping"));
      await receive();
      await send(krpcQuery(Buffer.from("ab"), id, "get_peers"));
      await receive();
    } else if (o.proto === "tracker") {
      await send(trackerConnect(0x0badf00d));
      const r = await receive();
      await send(trackerAnnounce(r.readBigUInt64BE(8), 0x0badf00e, 6881));
      await receive();
    } else if (o.proto === "utp") {
      const conn = 0x2000 + Math.floor(Math.random() * 0x1000);
      await send(utpPacket(ST_SYN, conn, 500, 0));
      const state = await receive();
      const theirs = state.readUInt16BE(16);
      await send(utpPacket(ST_DATA, conn + 1, 501, theirs - 1, handshake("-UT3600-client000000")));
      await receive();
    }
    return { ok: true };
  } finally {
    socket.close();
  }
}

function parse(args: string[]): { command: string; options: Options } {
  const command = args[0];
  const get = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i < 0 ? undefined : args[i + 1];
  };
  const proto = (get("proto") ?? "bt") as Proto;
  if (!["bt", "echo", "dht", "utp", "tracker", "udp-echo"].includes(proto)) {
    throw new Error(`unknown protocol ${proto}`);
  }
  return {
    command,
    options: {
      proto,
      host: get("host") ?? "0.0.0.0",
      port: Number(get("port") ?? 6881),
      bind: get("bind"),
      timeout: Number(get("timeout") ?? 1000),
    },
  };
}

if (import.meta.main) {
  const { command, options } = parse(Deno.args);
  if (command === "serve") {
    await serve(options);
  } else if (command === "connect") {
    const tcp = options.proto === "bt" || options.proto === "echo";
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("timeout")), options.timeout);
    });
    try {
      const result = await Promise.race([tcp ? connectTcp(options) : connectUdp(options), timeout]);
      print(result);
      Deno.exit(0);
    } catch (e) {
      print({ ok: false, stage, error: e instanceof Error ? e.message : String(e) });
      Deno.exit(1);
    } finally {
      clearTimeout(timer);
    }
  } else {
    console.error("usage: bt_endpoint.ts serve|connect --proto P --host ADDR --port N");
    Deno.exit(2);
  }
}
