import assert from "node:assert/strict";
import { DhtDetector, KrpcKind, KrpcMessage, parseKrpc } from "./dht.ts";
import { Analyzer, Verdict } from "../analyzer.ts";
import { parseAddress } from "../address.ts";
import { LinkType } from "../decode.ts";
import { Answered } from "../flow_table.ts";
import { Reason } from "../reason.ts";
import {
  bytesOf,
  concat,
  type Conversation,
  converse,
  type Endpoint,
  frame,
  randomBytes,
  type Step,
} from "../../tests/helpers/packets.ts";

// --- message builders -------------------------------------------------------------------------

type Bencodable = number | string | Uint8Array | Bencodable[] | { [key: string]: Bencodable };

/** Canonical bencoding (keys sorted), for building test messages. */
function ben(v: Bencodable): Uint8Array {
  if (typeof v === "number") return concat(`i${v}e`);
  if (typeof v === "string" || v instanceof Uint8Array) return concat(`${v.length}:`, v);
  if (Array.isArray(v)) return concat("l", ...v.map(ben), "e");
  const keys = Object.keys(v).sort();
  return concat("d", ...keys.flatMap((k) => [ben(k), ben(v[k])]), "e");
}

const ID_A = randomBytes(20, 11);
const ID_B = randomBytes(20, 12);
const INFO_HASH = randomBytes(20, 13);

function addressBytes(ip: string): Uint8Array {
  const w = new Uint32Array(4);
  const version = parseAddress(ip, w);
  const out = new Uint8Array(16);
  new DataView(out.buffer).setUint32(0, w[0]);
  new DataView(out.buffer).setUint32(4, w[1]);
  new DataView(out.buffer).setUint32(8, w[2]);
  new DataView(out.buffer).setUint32(12, w[3]);
  return version === 4 ? out.subarray(12) : out;
}

/** Compact peer: address then big-endian port (6 or 18 bytes). */
function peer(ip: string, port: number): Uint8Array {
  return concat(addressBytes(ip), [port >> 8, port & 0xff]);
}

/** Compact node: 20-byte id then compact peer (26 or 38 bytes). */
function node(ip: string, port: number, seed: number): Uint8Array {
  return concat(randomBytes(20, seed), peer(ip, port));
}

function query(t: string, q: string, args: { [key: string]: Bencodable } = {}): Uint8Array {
  return ben({ a: { id: ID_A, ...args }, q, t, v: "UT\x8f\x7a", y: "q" });
}

function response(t: string, values: { [key: string]: Bencodable } = {}): Uint8Array {
  return ben({ r: { id: ID_B, ...values }, t, v: "LT\x01\x02", y: "r" });
}

function error(t: string): Uint8Array {
  return ben({ e: [203, "Protocol Error"], t, y: "e" });
}

function parse(payload: Uint8Array | string, cut = false): KrpcMessage | undefined {
  const b = bytesOf(payload);
  const m = new KrpcMessage();
  return parseKrpc(b, 0, b.length, cut, m) ? m : undefined;
}

function recall(c: Conversation, ip: string, port: number): number {
  const w = new Uint32Array(4);
  const version = parseAddress(ip, w);
  return c.analyzer.memory.recall(w, version, port, 1_700_000_100);
}

/** The `Answered` bits of the flow of the first detection. */
function answered(c: Conversation): number {
  const slot = c.analyzer.flows.id.indexOf(c.detections[0].flow_id);
  return c.analyzer.flows.answered[slot];
}

const client: Endpoint = { ip: "192.168.1.10", port: 59307 };
const node4: Endpoint = { ip: "203.0.113.7", port: 6881 };
const client6: Endpoint = { ip: "2001:db8::10", port: 36360 };
const node6: Endpoint = { ip: "2001:db8:1::7", port: 51413 };

function dht(a: Endpoint, b: Endpoint, steps: Step[], analyzer?: Analyzer): Conversation {
  return converse(17, a, b, steps, {
    detectors: [new DhtDetector(1024)],
    config: { maxFlows: 1024 },
    analyzer,
  });
}

// --- parseKrpc: positives ---------------------------------------------------------------------

Deno.test("parseKrpc accepts every BEP 5 query and the BEP 44/51 ones", () => {
  const queries = [
    query("aa", "ping"),
    query("ab", "find_node", { target: randomBytes(20, 3) }),
    query("ac", "get_peers", { info_hash: INFO_HASH }),
    query("ad", "announce_peer", {
      implied_port: 1,
      info_hash: INFO_HASH,
      port: 6881,
      token: "12345678",
    }),
    query("ae", "sample_infohashes", { target: randomBytes(20, 4) }),
    query("af", "get", { target: randomBytes(20, 5) }),
    query("ag", "put", { cas: 7, seq: 8, token: "tok", v: "value" }),
    query("ah", "vote", { target: randomBytes(20, 6), vote: 5 }),
  ];
  for (const q of queries) {
    const m = parse(q);
    assert.ok(m, new TextDecoder("latin1").decode(q));
    assert.equal(m.kind, KrpcKind.QUERY);
    assert.equal(m.tLength, 2);
    assert.equal(q[m.body], 0x64); // the `a` dictionary
  }
});

Deno.test("parseKrpc accepts responses with nodes, nodes6, values, samples and errors", () => {
  const withNodes = response("aa", { nodes: concat(node("198.51.100.1", 6881, 1)) });
  const withNodes6 = response("ab", { nodes6: concat(node("2001:db8::1", 6881, 2)) });
  const withValues = response("ac", {
    token: "abcd",
    values: [peer("198.51.100.2", 51413), peer("2001:db8::2", 51413)],
  });
  const withSamples = response("ad", { interval: 60, num: 3, samples: randomBytes(60, 7) });
  for (const r of [withNodes, withNodes6, withValues, withSamples, response("ae")]) {
    const m = parse(r);
    assert.ok(m);
    assert.equal(m.kind, KrpcKind.RESPONSE);
  }
  const withIp = ben({ ip: peer("192.0.2.1", 1000), r: { id: ID_B }, t: "x", y: "r" });
  assert.equal(parse(withIp)?.kind, KrpcKind.RESPONSE);
  const e = parse(error("xyz"));
  assert.equal(e?.kind, KrpcKind.ERROR);
  assert.equal(e?.tLength, 3);
});

Deno.test("parseKrpc reads transaction ids of 1 to 32 bytes", () => {
  assert.equal(parse(query("\x07", "ping"))?.tLength, 1);
  assert.equal(parse(query("12345678", "ping"))?.tLength, 8);
  assert.equal(parse(query("x".repeat(32), "ping"))?.tLength, 32);
  const m = parse(query("q\x00Z", "ping"))!;
  const b = query("q\x00Z", "ping");
  assert.deepEqual([...b.subarray(m.tStart, m.tStart + m.tLength)], [0x71, 0, 0x5a]);
});

Deno.test("parseKrpc judges a snap-truncated datagram on the well-formed bytes present", () => {
  const r = response("aa", {
    nodes: concat(...[1, 2, 3, 4].map((i) => node(`198.51.100.${i}`, 6881, i))),
  });
  // Cut inside `nodes`: `y` and `t` are not there yet, but `r` holds a complete 20-byte id.
  assert.equal(parse(r.subarray(0, 60), true)?.kind, KrpcKind.RESPONSE);
  assert.equal(parse(r.subarray(0, 60), true)?.tStart, -1);
  const q = query("aa", "get_peers", { info_hash: INFO_HASH });
  assert.equal(parse(q.subarray(0, 32), true)?.kind, KrpcKind.QUERY); // ends right after the id
  assert.equal(parse(q.subarray(0, q.length - 1), true)?.kind, KrpcKind.QUERY); // only `e` missing
  // The same prefixes as whole datagrams are malformed.
  assert.equal(parse(r.subarray(0, 60), false), undefined);
  assert.equal(parse(q.subarray(0, 32), false), undefined);
  // Too little structure yet: the id is incomplete, or no `a`/`r` at all.
  assert.equal(parse(q.subarray(0, 31), true), undefined);
  assert.equal(parse(q.subarray(0, 12), true), undefined);
  assert.equal(parse("d1:eli201e", true), undefined);
  assert.equal(parse("d2:ip6:abcdef", true), undefined);
  // What is present must still be KRPC: a cut query whose `q` is not a method name.
  const bad = ben({ a: { id: ID_A }, q: "Get Peers!", t: "aa", y: "q" });
  assert.equal(parse(bad.subarray(0, bad.length - 8), true), undefined);
  // ...and a cut prefix that turns into something other than bencode is rejected.
  const ping = query("aa", "ping");
  assert.equal(String.fromCharCode(ping[32], ping[33], ping[34], ping[35]), "e1:q");
  assert.equal(parse(ping.subarray(0, 36), true)?.kind, KrpcKind.QUERY);
  assert.equal(parse(concat(ping.subarray(0, 32), "\xff"), true), undefined); // inside `a`
  assert.equal(parse(concat(ping.subarray(0, 33), "\xff"), true), undefined); // a bad key
  assert.equal(parse(concat(ping.subarray(0, 36), "\xff"), true), undefined); // a bad value
  // A prefix holding both `a` and `r` is no KRPC message.
  const both = ben({ a: { id: ID_A }, r: { id: ID_B }, t: "aa", y: "q" });
  assert.equal(parse(both.subarray(0, both.length - 12), true), undefined);
  // Cut inside the `t` or `y` value: judged on what comes before.
  const tAt = ping.length - 20; // the `t` value in "...1:t2:aa1:v4:UT..1:y1:qe"
  assert.equal(String.fromCharCode(...ping.subarray(tAt - 3, tAt)), "1:t");
  const cutInT = parse(ping.subarray(0, tAt + 3), true);
  assert.equal(cutInT?.kind, KrpcKind.QUERY);
  assert.equal(cutInT?.tStart, -1);
  const cutInY = parse(ping.subarray(0, ping.length - 2), true);
  assert.equal(cutInY?.kind, KrpcKind.QUERY);
  assert.equal(cutInY?.tLength, 2);
});

Deno.test("parseKrpc never reads past the end of the bytes present", () => {
  // The window ends inside a key's header; the bytes after it (not captured) say `r`.
  const b = concat(query("aa", "ping").subarray(0, 35), "r", ben({ id: ID_B }));
  const m = new KrpcMessage();
  assert.ok(parseKrpc(b, 0, 35, true, m));
  assert.equal(m.kind, KrpcKind.QUERY);
  // The same holds for a payload in the middle of a larger buffer.
  const ping = query("aa", "ping");
  const framed = concat("\x00\x00\x00\x01", ping, "d1:x");
  assert.ok(parseKrpc(framed, 4, 4 + ping.length, false, m));
  assert.equal(m.tStart, 4 + ping.length - 18); // "aa1:v4:UT..1:y1:qe"
  assert.equal(parseKrpc(framed, 4, framed.length, false, m), false); // trailing bytes
});

// --- parseKrpc: negatives ---------------------------------------------------------------------

Deno.test("parseKrpc rejects bencoded dictionaries that are not KRPC", () => {
  const notKrpc = [
    ben({ foo: "bar" }),
    ben({ t: "aa", y: "q" }), // no method, no arguments
    ben({ a: { id: ID_A }, q: "ping", t: "aa", y: "x" }), // unknown type
    ben({ a: { id: ID_A }, q: "ping", t: "aa", y: "qq" }),
    ben({ a: { id: ID_A }, q: "ping", t: "aa", y: 1 }),
    ben({ a: { id: ID_A }, q: "ping", y: "q" }), // no transaction id
    ben({ a: { id: ID_A }, q: "ping", t: "", y: "q" }), // empty transaction id
    ben({ a: { id: ID_A }, q: "ping", t: "x".repeat(33), y: "q" }),
    ben({ a: { id: ID_A }, q: "ping", t: 12, y: "q" }), // transaction id not a string
    ben({ a: { id: ID_A }, t: "aa", y: "q" }), // query without a method
    ben({ a: { id: ID_A }, q: "Ping", t: "aa", y: "q" }), // not a method name
    ben({ a: { id: ID_A }, q: "get peers", t: "aa", y: "q" }),
    ben({ a: { id: ID_A }, q: "x".repeat(33), t: "aa", y: "q" }),
    ben({ a: { id: ID_A.subarray(0, 19) }, q: "ping", t: "aa", y: "q" }), // 19-byte id
    ben({ a: { id: concat(ID_A, "x") }, q: "ping", t: "aa", y: "q" }), // 21-byte id
    ben({ a: { nid: ID_A }, q: "ping", t: "aa", y: "q" }),
    ben({ a: [ID_A], q: "ping", t: "aa", y: "q" }), // arguments not a dictionary
    ben({ q: "ping", t: "aa", y: "q" }),
    ben({ r: { id: ID_A }, t: "aa", y: "q" }), // a "query" holding a response
    ben({ a: { id: ID_A }, t: "aa", y: "r" }), // a "response" holding arguments
    ben({ r: { id: 42 }, t: "aa", y: "r" }),
    ben({ r: { ip: ID_A }, t: "aa", y: "r" }),
    ben({ e: [201], t: "aa", y: "e" }), // error without message
    ben({ e: ["201", "x"], t: "aa", y: "e" }),
    ben({ e: [201, "x", 3], t: "aa", y: "e" }),
    ben({ e: "oops", t: "aa", y: "e" }),
    ben({ t: "aa", y: "e" }),
    ben([ID_A, "ping"]), // a list
    ben("d1:ad2:id20:"), // a string
  ];
  for (const b of notKrpc) assert.equal(parse(b), undefined, new TextDecoder("latin1").decode(b));
});

Deno.test("parseKrpc rejects unsorted or repeated keys, trailing bytes and bad bencode", () => {
  const id = new TextDecoder("latin1").decode(ID_A);
  const good = `d1:ad2:id20:${id}e1:q4:ping1:t2:aa1:y1:qe`;
  assert.ok(parse(good));
  assert.equal(parse(`d1:t2:aa1:ad2:id20:${id}e1:q4:ping1:y1:qe`), undefined); // unsorted
  assert.equal(parse(`d1:ad2:id20:${id}e1:q4:ping1:t2:aa1:t2:bb1:y1:qe`), undefined); // repeated
  assert.equal(parse(good + "\x00"), undefined); // trailing garbage
  assert.equal(parse(good + good), undefined);
  assert.equal(parse(good + "\x00", true), undefined); // even in a cut datagram
  assert.equal(parse(good.replace("4:ping", "04:ping")), undefined); // leading zero
  assert.equal(parse(good.replace("1:t2:aa", "1:t2:a")), undefined); // length overruns
  assert.equal(parse(good.slice(0, -1)), undefined); // missing the final `e`
  assert.equal(parse(`d1:ai1ed2:id20:${id}e1:q4:ping1:t2:aa1:y1:qe`), undefined); // int key
});

Deno.test("parseKrpc rejects 'd'-prefixed payloads of other applications", () => {
  const others = [
    "dldata.load_skins_idx_ok,env=production,circuit=production", // Gaijin telemetry
    concat("dD5&", randomBytes(8, 2), "/r/Bus17Cmd"), // Dropbox LAN sync
    concat("d", randomBytes(27, 3)), // Gnutella/DNS ids starting with 'd'
    "dDYcTc4PAABPcGVuYnRzAHVtRG9sb3JTaXRBbWUA",
    "d1:a", // a short fragment
    "de", // an empty dictionary
    "d",
    "",
    "GET / HTTP/1.1\r\n\r\n",
    'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n\r\n',
  ];
  for (const o of others) {
    assert.equal(parse(o), undefined);
    assert.equal(parse(o, true), undefined);
  }
  for (let seed = 1; seed < 200; seed++) {
    const b = randomBytes(120, seed);
    b[0] = 0x64;
    assert.equal(parse(b), undefined);
    assert.equal(parse(b, true), undefined);
  }
});

// --- detector in the analyzer -----------------------------------------------------------------

Deno.test("DHT query decides the flow; the response answering it marks the responder", () => {
  const c = dht(client, node4, [
    { from: "a", payload: query("pX", "ping") },
    { from: "b", payload: response("pX") },
  ]);
  assert.equal(c.detections.length, 1);
  assert.equal(c.detections[0].reason, "dht_krpc");
  assert.equal(c.detections[0].flow_packet, 1);
  assert.equal(answered(c), Answered.RESPONDER);
});

Deno.test("DHT queries both ways, each answered, establish the flow", () => {
  const c = dht(client, node4, [
    { from: "a", payload: query("a1", "get_peers", { info_hash: INFO_HASH }) },
    { from: "b", payload: query("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09", "find_node") },
    { from: "b", payload: response("a1", { token: "tok", values: [peer("198.51.100.9", 7000)] }) },
    { from: "a", payload: error("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09") },
  ]);
  assert.equal(c.detections.length, 1);
  assert.equal(answered(c), Answered.INITIATOR | Answered.RESPONDER);
  const slot = c.analyzer.flows.id.indexOf(c.detections[0].flow_id);
  assert.ok(c.analyzer.flows.isEstablished(slot));
});

Deno.test("a response whose transaction id was never queried is detected but proves nothing", () => {
  const spoofed = dht(client, node4, [
    { from: "b", payload: response("zz", { nodes: node("198.51.100.3", 6881, 3) }) },
  ]);
  assert.equal(spoofed.detections.length, 1);
  assert.equal(spoofed.detections[0].flow_packet, 1);
  assert.equal(spoofed.detections[0].evidence.src_answered, false);
  assert.equal(answered(spoofed), 0);
  const wrongId = dht(client, node4, [
    { from: "a", payload: query("aa", "ping") },
    { from: "b", payload: response("ab") },
    { from: "b", payload: response("a") },
    { from: "b", payload: response("aaa") },
    { from: "b", payload: error("ba") },
  ]);
  assert.equal(answered(wrongId), 0);
});

Deno.test("a query and a response in the same direction do not count as an answer", () => {
  const c = dht(client, node4, [
    { from: "a", payload: query("aa", "ping") },
    { from: "a", payload: response("aa") },
    { from: "a", payload: error("aa") },
  ]);
  assert.equal(c.detections.length, 1);
  assert.equal(answered(c), 0);
});

Deno.test("only the last four queries of a direction are remembered", () => {
  const steps: Step[] = [];
  for (let i = 0; i < 5; i++) steps.push({ from: "a", payload: query(`q${i}`, "ping") });
  const old = dht(client, node4, [...steps, { from: "b", payload: response("q0") }]);
  assert.equal(answered(old), 0);
  const recent = dht(client, node4, [...steps, { from: "b", payload: response("q1") }]);
  assert.equal(answered(recent), Answered.RESPONDER);
});

Deno.test("transaction ids longer than 8 bytes are told apart by all their bytes", () => {
  const t = "0123456789abcdefXY";
  const c = dht(client, node4, [
    { from: "a", payload: query(t, "ping") },
    { from: "b", payload: response("0123456789abcdefXZ") }, // differs in the last byte
    { from: "b", payload: response("0123456789abcdeYXf") }, // same bytes, other order
    { from: "b", payload: response("01234567") }, // its first 8 bytes
  ]);
  assert.equal(answered(c), 0);
  const ok = dht(client, node4, [
    { from: "a", payload: query(t, "ping") },
    { from: "b", payload: response(t) },
  ]);
  assert.equal(answered(ok), Answered.RESPONDER);
});

Deno.test("a slot reused by a new flow forgets the old flow's queries", () => {
  const analyzer = new Analyzer({ maxFlows: 1 }, [new DhtDetector(1)]);
  // The old flow: its responder queried with "aa"...
  converse(17, client, node4, [
    { from: "a", payload: randomBytes(20, 8) },
    { from: "b", payload: query("aa", "ping") },
  ], { analyzer });
  // ...the new flow in the same slot starts with a response echoing it.
  const other: Endpoint = { ip: "198.51.100.77", port: 6881 };
  const c = converse(17, other, client, [{ from: "a", payload: response("aa") }], {
    analyzer,
    startTime: 1_700_000_010,
  });
  assert.equal(c.detections.length, 1);
  assert.equal(answered(c), 0);
});

Deno.test("DHT over IPv6: nodes6 and 18-byte values are learned", () => {
  const c = dht(client6, node6, [
    { from: "a", payload: query("v6", "get_peers", { info_hash: INFO_HASH, want: ["n6"] }) },
    {
      from: "b",
      payload: response("v6", {
        nodes6: concat(node("2001:db8:2::1", 6881, 1), node("2001:db8:2::2", 6882, 2)),
        token: "tok",
        values: [peer("2001:db8:3::1", 51413)],
      }),
    },
  ]);
  assert.equal(c.detections.length, 1);
  assert.equal(c.detections[0].src_ip, "2001:db8::10");
  assert.equal(answered(c), Answered.RESPONDER);
  assert.equal(recall(c, "2001:db8:2::1", 6881), Reason.DHT_PEER);
  assert.equal(recall(c, "2001:db8:2::2", 6882), Reason.DHT_PEER);
  assert.equal(recall(c, "2001:db8:3::1", 51413), Reason.DHT_PEER);
});

Deno.test("responses of a decided DHT flow teach values and nodes to the endpoint memory", () => {
  const c = dht(client, node4, [
    { from: "a", payload: query("g1", "get_peers", { info_hash: INFO_HASH }) },
    {
      from: "b",
      payload: response("g1", {
        nodes: concat(node("198.51.100.1", 6881, 1), node("198.51.100.2", 16881, 2)),
        token: "tok",
        values: [peer("198.51.100.3", 51413), peer("2001:db8::3", 51414), "short"],
      }),
    },
  ]);
  assert.equal(recall(c, "198.51.100.1", 6881), Reason.DHT_PEER);
  assert.equal(recall(c, "198.51.100.2", 16881), Reason.DHT_PEER);
  assert.equal(recall(c, "198.51.100.3", 51413), Reason.DHT_PEER);
  assert.equal(recall(c, "2001:db8::3", 51414), Reason.DHT_PEER);
  assert.equal(recall(c, "198.51.100.4", 6881), 0);
  // The flow's own endpoints are remembered by the analyzer at the decision, as known peers.
  assert.equal(recall(c, node4.ip, node4.port), Reason.KNOWN_PEER);
});

Deno.test("a response answering no query is detected but teaches no endpoints", () => {
  const c = dht(client, node4, [
    { from: "b", payload: response("zz", { nodes: node("198.51.100.5", 6881, 5) }) },
  ]);
  assert.equal(c.detections.length, 1);
  assert.equal(answered(c), 0);
  assert.equal(recall(c, "198.51.100.5", 6881), 0, "a forged response cannot plant endpoints");
});

Deno.test("node lists whose length is not a whole number of entries are not learned", () => {
  const c = dht(client, node4, [
    {
      from: "b",
      payload: response("zz", { nodes: concat(node("198.51.100.6", 6881, 6), "x") }),
    },
  ]);
  assert.equal(c.detections.length, 1);
  assert.equal(recall(c, "198.51.100.6", 6881), 0);
});

Deno.test("uTP packets sharing the DHT port neither hide nor disturb the DHT flow", () => {
  const utpSyn = concat([0x41, 0x01, 0x12, 0x34], randomBytes(16, 9));
  const utpState = concat([0x21, 0x01, 0x12, 0x34], randomBytes(16, 10));
  const c = dht(client, node4, [
    { from: "a", payload: utpSyn },
    { from: "b", payload: utpState },
    { from: "a", payload: query("u1", "get_peers", { info_hash: INFO_HASH }) },
    { from: "b", payload: utpState },
    { from: "b", payload: response("u1", { values: [peer("198.51.100.8", 6881)] }) },
    { from: "a", payload: utpSyn },
  ]);
  assert.equal(c.detections.length, 1);
  assert.equal(c.detections[0].flow_packet, 3);
  assert.equal(answered(c), Answered.RESPONDER);
  assert.equal(recall(c, "198.51.100.8", 6881), Reason.DHT_PEER);
});

Deno.test("a snap-truncated response is parsed safely but, its transaction id cut off, teaches nothing", () => {
  const nodes = concat(...[1, 2, 3, 4].map((i) => node(`198.51.100.${20 + i}`, 6881, i)));
  const payload = response("tr", { nodes });
  const nodesAt = 12 + 20 + 11; // "d1:rd2:id20:" + id + "5:nodes104:"
  const f = frame({ l4: 17, src: node4, dst: client, payload });
  const headers = f.length - payload.length;
  const analyzer = new Analyzer({ maxFlows: 1024 }, [new DhtDetector(1024)]);
  const q = frame({
    l4: 17,
    src: client,
    dst: node4,
    payload: query("tr", "find_node", { target: INFO_HASH }),
  });
  assert.equal(
    analyzer.analyze(LinkType.ETHERNET, q, 0, q.length, q.length, 1_700_000_000),
    Verdict.DETECTION,
  );
  // Keep two whole node entries and half of the third.
  const captured = headers + nodesAt + 2 * 26 + 13;
  const v = analyzer.analyze(LinkType.ETHERNET, f, 0, captured, f.length, 1_700_000_000);
  assert.equal(v, Verdict.EVIDENCE, "decided by the query; now payload went both ways");
  assert.equal(analyzer.detection.bidirectional, true);
  const c = { analyzer, detections: [], confirmations: [] };
  // "t" follows "r" in the sorted dictionary: cut inside "r", the answer cannot be matched.
  assert.equal(analyzer.flows.answered[analyzer.flows.slots.newest], 0);
  assert.equal(recall(c, "198.51.100.21", 6881), 0);
  assert.equal(recall(c, "198.51.100.23", 6881), 0);
});

Deno.test("a datagram that really ends mid-message is not DHT", () => {
  const payload = response("tr", { nodes: node("198.51.100.30", 6881, 1) }).subarray(0, 60);
  const c = dht(node4, client, [{ from: "a", payload }]);
  assert.equal(c.detections.length, 0);
});

Deno.test("KRPC is recognised on a port usually not BitTorrent", () => {
  const c = dht({ ip: "192.168.1.10", port: 40000 }, { ip: "203.0.113.9", port: 53 }, [
    { from: "a", payload: query("dn", "ping") },
  ]);
  assert.equal(c.detections.length, 1);
});

Deno.test("other UDP applications are not flagged", () => {
  const steps: Step[] = [
    { from: "a", payload: "dldata.load_skins_idx_ok,env=production,circuit=production" },
    { from: "b", payload: concat("dD5&", randomBytes(8, 2), "/r/Bus17Cmd") },
    { from: "a", payload: ben({ cmd: "sync", id: ID_A, t: "aa", y: "q" }) },
    { from: "b", payload: ben({ a: { id: ID_A }, q: "ping", t: "aa", y: "z" }) },
    { from: "a", payload: randomBytes(200, 5) },
    { from: "b", payload: concat("d1:ad2:id20:", ID_A, "e1:q4:ping1:t2:aa1:y1:qe", "junk") },
  ];
  assert.equal(dht(client, node4, steps).detections.length, 0);
});
