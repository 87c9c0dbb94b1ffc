import assert from "node:assert/strict";
import { parseCommandLine } from "../cli/args.ts";
import { LinkType } from "../dpi/decode.ts";
import { runCli } from "./helpers/cli.ts";
import { concat, frame, peerWireHandshake } from "./helpers/packets.ts";
import { pcapBytes, pcapngBytes, testDirectory, writePcap } from "./helpers/pcap_writer.ts";

function assertOneLineError(stderr: string, pattern: RegExp) {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line expected, got:\n${stderr}`);
  assert.match(lines[0], /^btblocker: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(stderr, /\bat\s+\S+:\d+:\d+/, "no stack trace");
}

const peerA = { ip: "10.1.1.2", port: 51000 };
const peerB = { ip: "198.51.100.20", port: 6881 };
const handshake = peerWireHandshake(new Uint8Array(20).fill(7), "-TR3000-abcdefghijkl");

Deno.test("--help lists every option and exits 0", async () => {
  const r = await runCli("--help");
  assert.equal(r.code, 0);
  for (
    const flag of [
      "--read",
      "--format",
      "--max-flows",
      "--flow-timeout",
      "--inspect-packets",
      "--not-bt-ports",
      "--detect-socks",
      "--version",
    ]
  ) {
    assert.ok(r.stdout.includes(flag), flag);
  }
});

Deno.test("--version prints the version", async () => {
  const r = await runCli("--version");
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^btblocker \d+\.\d+\.\d+/);
});

Deno.test("usage errors: one line, exit status 2", async () => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /unknown option --bogus/],
    [[], /nothing to do/],
    [["--read"], /--read needs a value/],
    [["--read", "x.pcap", "--format", "xml"], /--format must be text or jsonl/],
    [["--read", "x.pcap", "--max-flows", "0"], /--max-flows must be a whole number/],
    [["--read", "x.pcap", "--flow-timeout", "soon"], /--flow-timeout must be a duration/],
    [["--read", "x.pcap", "--not-bt-ports", "80,99999"], /--not-bt-ports/],
    [["stray"], /unexpected argument "stray"/],
    [["--interfaces", "btb-none0", "--report-rate", "0"], /--report-rate must be a whole number/],
  ];
  for (const [args, pattern] of cases) {
    const r = await runCli(...args);
    assert.equal(r.code, 2, args.join(" "));
    assertOneLineError(r.stderr, pattern);
  }
});

Deno.test("--report-rate sets the live report rate", () => {
  const live = (...args: string[]) =>
    parseCommandLine(["--interfaces", "eth0", ...args], () => undefined).live;
  assert.equal(live("--report-rate", "5").reportRate, 5);
  assert.equal(live().reportRate, 20);
});

Deno.test("runtime errors: missing, unreadable-format and unsupported captures exit 1", async () => {
  let r = await runCli("--read", "/nonexistent/capture.pcap");
  assert.equal(r.code, 1);
  assertOneLineError(r.stderr, /cannot read .*No such file/);
  const dir = testDirectory();
  await Deno.writeTextFile(`${dir}/notes.txt`, "this is not a capture file at all\n");
  r = await runCli("--read", `${dir}/notes.txt`);
  assert.equal(r.code, 1);
  assertOneLineError(r.stderr, /cannot read/);
  const odd = await writePcap(147, [{ data: new Uint8Array(20), time: 1 }]);
  r = await runCli("--read", odd);
  assert.equal(r.code, 1);
  assertOneLineError(r.stderr, /unsupported link type .*147/);
});

for (const [format, bytes] of [["pcap", pcapBytes], ["pcapng", pcapngBytes]] as const) {
  for (
    const pool of [[], ["--worker-pool", "--workers", "1"], ["--worker-pool", "--workers", "2"]]
  ) {
    Deno.test(`a ${format} capture cut off mid-packet${pool.length ? ` (pool of ${pool[2]})` : ""}: every detection before the cut, a warning, exit 3`, async () => {
      // Two flows detected, then a third packet cut off mid-frame.
      const other = { ip: "10.1.1.3", port: 51001 };
      const whole = bytes(LinkType.ETHERNET, [
        { data: frame({ l4: 6, src: peerA, dst: peerB, payload: handshake }), time: 1 },
        { data: frame({ l4: 6, src: other, dst: peerB, payload: handshake }), time: 2 },
        { data: frame({ l4: 6, src: peerB, dst: peerA, payload: handshake }), time: 3 },
      ]);
      const dir = testDirectory();
      const path = `${dir}/cut-${pool.length ? pool[2] : 0}.${format}`;
      await Deno.writeFile(path, whole.subarray(0, whole.length - 40));
      const r = await runCli("--read", path, "--format", "jsonl", ...pool);
      assert.equal(r.code, 3, r.stderr);
      assertOneLineError(r.stderr, /warning: .* is cut off: 2 packets read before the cut/);
      assert.match(r.stderr, /truncated/);
      const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
      const sources = lines.filter((l) => l.event_type !== "stats").map((l) => l.src_ip).sort();
      assert.deepEqual(sources, ["10.1.1.2", "10.1.1.3"]);
      assert.equal(lines.at(-1).event_type, "stats");
      assert.equal(lines.at(-1).packets, 2);
    });
  }
}

Deno.test("a capture cut off in a record header is cut off too; a corrupt record exits 1", async () => {
  const f = frame({ l4: 6, src: peerA, dst: peerB, payload: handshake });
  const whole = pcapBytes(LinkType.ETHERNET, [{ data: f, time: 1 }, { data: f, time: 2 }]);
  const dir = testDirectory();
  await Deno.writeFile(`${dir}/header-cut.pcap`, whole.subarray(0, 24 + 16 + f.length + 8));
  let r = await runCli("--read", `${dir}/header-cut.pcap`);
  assert.equal(r.code, 3);
  assertOneLineError(r.stderr, /cut off: 1 packets read before the cut/);
  // A record claiming more bytes than the snap length allows is corrupt, not cut off.
  const corrupt = whole.slice();
  new DataView(corrupt.buffer).setUint32(24 + 16 + f.length + 8, 0x7fffffff, true);
  await Deno.writeFile(`${dir}/corrupt.pcap`, corrupt);
  for (const pool of [[], ["--worker-pool"], ["--worker-pool", "--workers", "2"]]) {
    r = await runCli("--read", `${dir}/corrupt.pcap`, ...pool);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /corrupt after 1 packets/);
  }
});

Deno.test("PPI captures (DLT 192) of 802.11 and Ethernet frames are decoded", async () => {
  const eth = frame({ l4: 6, src: peerA, dst: peerB, payload: handshake });
  const ppi = (dlt: number) => [0, 0, 8, 0, dlt, 0, 0, 0];
  // An 802.11 data frame to the access point: header, LLC/SNAP, then the frame's IP packet.
  const wlan = [0x08, 0x01, 0, 0, ...new Array(18).fill(0x22), 0x10, 0x00, 0xaa, 0xaa, 3, 0, 0, 0];
  const path = await writePcap(LinkType.PPI, [
    { data: concat(ppi(105), wlan, eth.subarray(12)), time: 1 },
    { data: concat(ppi(1), frame({ l4: 6, src: peerB, dst: peerA, payload: handshake })), time: 2 },
  ]);
  const r = await runCli("--read", path, "--format", "jsonl");
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines[0].src_ip, peerA.ip);
  assert.equal(lines.at(-1).link_type, "PPI");
  assert.equal(lines.at(-1).decoded, 2);
});

Deno.test("jsonl: detection events then a stats line; malformed packets are counted, not fatal", async () => {
  const good = frame({ l4: 6, src: peerA, dst: peerB, payload: handshake });
  const broken = good.slice(0, 30); // IPv4 header cut short
  const path = await writePcap(LinkType.ETHERNET, [
    { data: broken, time: 1 },
    { data: good, time: 2 },
    { data: broken, time: 3 },
  ]);
  const r = await runCli("--read", path, "--format", "jsonl");
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(events.length, 2);
  const [d, s] = events;
  assert.equal(d.event_type, "detection");
  assert.equal(d.proto, "TCP");
  assert.equal(d.src_ip, "10.1.1.2");
  assert.equal(d.src_port, 51000);
  assert.equal(d.dest_ip, "198.51.100.20");
  assert.equal(d.dest_port, 6881);
  assert.equal(d.reason, "bt_handshake");
  assert.equal(d.flow_packet, 1);
  assert.equal(d.timestamp, "1970-01-01T00:00:02.000Z");
  assert.equal(s.event_type, "stats");
  assert.equal(s.packets, 3);
  assert.equal(s.malformed, 2);
  assert.equal(s.bittorrent_flows, 1);
  assert.deepEqual(s.detections, { bt_handshake: 1 });
});

Deno.test("text output is aligned and ends with a summary", async () => {
  const path = await writePcap(LinkType.ETHERNET, [
    { data: frame({ l4: 6, src: peerA, dst: peerB, payload: handshake }), time: 2 },
  ]);
  const r = await runCli("--read", path);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  assert.match(lines[0], /^TIME\s+PROTO\s+SOURCE\s+DESTINATION\s+REASON\s+CONFIDENCE\s+PACKET$/);
  assert.match(
    lines[1],
    /^1970-01-01T00:00:02.000Z\s+TCP\s+10\.1\.1\.2:51000\s+198\.51\.100\.20:6881\s+bt_handshake\s+signature\s+1$/,
  );
  assert.equal(lines[0].indexOf("SOURCE"), lines[1].indexOf("10.1.1.2"));
  assert.equal(lines[0].indexOf("CONFIDENCE"), lines[1].indexOf("signature"));
  assert.ok(r.stdout.includes("Summary of"));
  assert.match(r.stdout, /BitTorrent\s+1 flows: bt_handshake 1/);
});

Deno.test("--progress reports on stderr while reading", async () => {
  const f = frame({ l4: 17, src: peerA, dst: peerB, payload: "x" });
  const records = Array.from({ length: 70000 }, (_, i) => ({ data: f, time: i / 1000 }));
  const path = await writePcap(LinkType.ETHERNET, records);
  const r = await runCli("--read", path, "--progress", "--format", "jsonl");
  assert.equal(r.code, 0);
  assert.match(r.stderr, /\d+%\s+65536 packets/);
  const off = await runCli("--read", path, "--no-progress", "--format", "jsonl");
  assert.equal(off.stderr, "");
});

Deno.test("MSE: a heuristic detection, then its confirmation, inline and with the worker pool", async () => {
  const fixture = new URL("./fixtures/lab_transmission_encrypted.pcap", import.meta.url).pathname;
  for (const pool of [[], ["--worker-pool"]]) {
    const r = await runCli("--read", fixture, "--format", "jsonl", ...pool);
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const flow = events.filter((e) => e.reason === "mse");
    assert.deepEqual(
      flow.map((e) => [e.event_type, e.confidence, e.flow_packet]),
      [["detection", "heuristic", 8], ["confirmation", "structural", 64]],
      pool.join(" "),
    );
    assert.equal(flow[0].flow_id, flow[1].flow_id);
  }
  const text = await runCli("--read", fixture);
  assert.match(text.stdout, /\smse\s+heuristic\s+8\n/);
  assert.match(text.stdout, /\smse confirmed\s+structural\s+64\n/);
});
