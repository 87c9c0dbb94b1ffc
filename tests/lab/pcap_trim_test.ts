import assert from "node:assert/strict";
import { frame, randomBytes } from "../helpers/packets.ts";
import { pcapBytes, testDirectory } from "../helpers/pcap_writer.ts";
import { flowKey, readPcap, trimCapture } from "./pcap_trim.ts";

const a = { ip: "10.88.1.2", port: 40000 };
const b = { ip: "10.88.2.2", port: 30303 };
const c = { ip: "fd88:1::2", port: 40001 };
const d = { ip: "fd88:2::2", port: 9650 };

Deno.test("flowKey: both directions of a flow share a key, other flows do not", () => {
  const there = frame({ l4: 6, src: a, dst: b, payload: "x" });
  const back = frame({ l4: 6, src: b, dst: a, payload: "y" });
  assert.equal(flowKey(there), flowKey(back));
  assert.notEqual(flowKey(there), flowKey(frame({ l4: 17, src: a, dst: b, payload: "x" })));
  assert.notEqual(flowKey(there), flowKey(frame({ l4: 6, src: { ...a, port: 1 }, dst: b })));
  const v6 = frame({ l4: 6, src: c, dst: d, payload: "x" });
  assert.equal(flowKey(v6), flowKey(frame({ l4: 6, src: d, dst: c })));
  assert.notEqual(flowKey(v6), flowKey(there));
  assert.equal(flowKey(new Uint8Array(10)), "");
});

Deno.test("trimCapture: long packets whole up to the limit per flow, then cut; short ones kept", async () => {
  const dir = testDirectory();
  const big = (src: typeof a, dst: typeof a, seed: number) =>
    frame({ l4: 6, src, dst, payload: randomBytes(400, seed) });
  const frames = [
    big(a, b, 1), // flow 1, long packet 1
    frame({ l4: 6, src: b, dst: a }), // flow 1, a bare ACK: short, never counted
    big(b, a, 2), // flow 1, long packet 2
    big(a, b, 3), // flow 1, long packet 3: beyond the limit of 2
    big(c, d, 4), // flow 2, long packet 1
    big(c, d, 5), // beyond maxPackets
  ];
  const src = `${dir}/raw.pcap`;
  await Deno.writeFile(src, pcapBytes(1, frames.map((data, i) => ({ data, time: 1000 + i }))));
  const n = await trimCapture(src, `${dir}/trimmed.pcap`, {
    wholePerFlow: 2,
    snap: 96,
    maxPackets: 5,
  });
  assert.equal(n, 5);
  const { linkType, records } = readPcap(await Deno.readFile(`${dir}/trimmed.pcap`));
  assert.equal(linkType, 1);
  assert.deepEqual(records.map((r) => r.data.length), [
    frames[0].length,
    frames[1].length,
    frames[2].length,
    96,
    frames[4].length,
  ]);
  assert.deepEqual(records.map((r) => r.wireLength), frames.slice(0, 5).map((f) => f.length));
  assert.deepEqual(records[3].data, frames[3].subarray(0, 96));
  assert.deepEqual(records.map((r) => r.time), [1000, 1001, 1002, 1003, 1004]);
});

Deno.test("trimCapture: a whole packet stops at an Ethernet frame (veth shows unsplit segments)", async () => {
  const dir = testDirectory();
  const jumbo = frame({ l4: 6, src: a, dst: b, payload: randomBytes(9000, 7) });
  const src = `${dir}/jumbo.pcap`;
  await Deno.writeFile(src, pcapBytes(1, [{ data: jumbo, time: 1 }]));
  await trimCapture(src, `${dir}/jumbo_trimmed.pcap`, {
    wholePerFlow: 8,
    snap: 96,
    maxPackets: 10,
  });
  const [r] = readPcap(await Deno.readFile(`${dir}/jumbo_trimmed.pcap`)).records;
  assert.equal(r.data.length, 1514);
  assert.equal(r.wireLength, jumbo.length);
});

Deno.test("readPcap: refuses what is not a little-endian microsecond pcap file", () => {
  assert.throws(() => readPcap(new Uint8Array(24)), /not a little-endian microsecond pcap/);
});
