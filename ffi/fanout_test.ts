/**
 * Tests of PACKET_FANOUT and batch reading against the kernel: two capture sockets in one hash
 * fanout group on a veth of a test network, real TCP streams through it. Needs root; skipped
 * otherwise.
 */

import assert from "node:assert/strict";
import { joinFanout } from "./fanout.ts";
import { PcapHandle } from "./libpcap.ts";
import { PcapBatch } from "./pcap_batch.ts";
import { IS_ROOT, Net, TestNet } from "./xdp_testnet.ts";

const ignore = !IS_ROOT;
if (ignore) console.warn("ffi/fanout_test.ts: skipped, needs root (network namespaces)");

const SOCKETS = 2;
const STREAMS = 24;
const PORT = 7913;

/** A TCP server on the router that reads each connection to its end and answers. */
const SERVER = `
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("${Net.routerLeft}", ${PORT})); s.listen(64); print("ready", flush=True)
for _ in range(${STREAMS}):
    c, _ = s.accept()
    while c.recv(65536): pass
    c.sendall(b"done" * 500); c.close()
`;
/** Clients: each stream sends 20 KB in pieces, then reads the answer. */
const CLIENT = `
import socket
for i in range(${STREAMS}):
    c = socket.create_connection(("${Net.routerLeft}", ${PORT}))
    for _ in range(20): c.sendall(bytes(1000))
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536): pass
    c.close()
`;

function open(): PcapHandle {
  const h = PcapHandle.openLive("r0", {
    snaplen: 128,
    promiscuous: false,
    immediate: true,
    bufferSize: 2 << 20,
    timeoutMs: 10,
  });
  h.setFilter(`tcp port ${PORT}`);
  h.setNonBlocking(true);
  return h;
}

/** The unordered endpoint pair of an Ethernet/IPv4/TCP frame, and its direction. */
function flowOf(b: Uint8Array, at: number): { key: string; toServer: boolean } {
  const ip = at + 14;
  const l4 = ip + (b[ip] & 15) * 4;
  const src = `${b.subarray(ip + 12, ip + 16).join(".")}:${(b[l4] << 8) | b[l4 + 1]}`;
  const dst = `${b.subarray(ip + 16, ip + 20).join(".")}:${(b[l4 + 2] << 8) | b[l4 + 3]}`;
  return { key: src < dst ? `${src}-${dst}` : `${dst}-${src}`, toServer: dst.endsWith(`:${PORT}`) };
}

Deno.test({
  name:
    "fanout: both directions of every TCP stream reach one socket of the group, read in batches",
  ignore,
  async fn() {
    const net = await TestNet.create();
    const handles: PcapHandle[] = [];
    const server = new Deno.Command("ip", {
      args: ["netns", "exec", net.router, "python3", "-c", SERVER],
      stdout: "piped",
    }).spawn();
    try {
      net.within(net.router, () => {
        let group: number | null = null;
        for (let i = 0; i < SOCKETS; i++) {
          const h = open();
          handles.push(h);
          group = joinFanout(h, group);
        }
      });
      const reader = server.stdout.getReader();
      await reader.read(); // "ready"
      reader.releaseLock();
      const client = await new Deno.Command("ip", {
        args: ["netns", "exec", net.client, "python3", "-c", CLIENT],
      }).output();
      assert.ok(client.success, "the TCP clients ran");
      await server.status;

      const batch = new PcapBatch(handles[0], 256 * 1024);
      const socketsOfFlow = new Map<string, Set<number>>();
      const directions = new Map<string, Set<boolean>>();
      let packets = 0;
      for (const [i, h] of handles.entries()) {
        for (let r = batch.dispatch(h, batch.maxPackets); r > 0; r = batch.dispatch(h, 1000)) {
          const v = new DataView(batch.bytes.buffer);
          let at = 0;
          for (let k = 0; k < r; k++) {
            const caplen = v.getUint32(at + 8, true);
            const { key, toServer } = flowOf(batch.bytes, at + 16);
            if (!socketsOfFlow.has(key)) socketsOfFlow.set(key, new Set());
            if (!directions.has(key)) directions.set(key, new Set());
            socketsOfFlow.get(key)!.add(i);
            directions.get(key)!.add(toServer);
            at += 16 + caplen;
          }
          assert.equal(at, batch.length, "the batch is whole records");
          packets += r;
        }
      }
      batch.close();
      assert.equal(socketsOfFlow.size, STREAMS, `${STREAMS} streams seen (${packets} packets)`);
      for (const [key, sockets] of socketsOfFlow) {
        assert.equal(sockets.size, 1, `${key} reached one socket, not ${[...sockets]}`);
        assert.equal(directions.get(key)!.size, 2, `${key} seen in both directions`);
      }
      const used = new Set([...socketsOfFlow.values()].map((s) => [...s][0]));
      assert.equal(used.size, SOCKETS, "the group spread the streams over every socket");
    } finally {
      for (const h of handles) h.close();
      try {
        server.kill();
      } catch { /* already ended */ }
      await server.status;
      await net.remove();
    }
  },
});

Deno.test({
  name: "fanout: a group id of another interface is refused with the kernel's reason",
  ignore,
  async fn() {
    const net = await TestNet.create();
    const handles: PcapHandle[] = [];
    try {
      net.within(net.router, () => {
        const a = open();
        handles.push(a);
        const group = joinFanout(a, null);
        const b = PcapHandle.openLive("r1", {
          snaplen: 128,
          promiscuous: false,
          immediate: true,
          bufferSize: 2 << 20,
          timeoutMs: 10,
        });
        handles.push(b);
        assert.throws(() => joinFanout(b, group), /cannot join a packet fanout group: \w/);
      });
    } finally {
      for (const h of handles) h.close();
      await net.remove();
    }
  },
});
