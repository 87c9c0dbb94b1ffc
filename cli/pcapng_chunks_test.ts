import assert from "node:assert/strict";
import { MAX_CAPTURE_LENGTH, MIN_CHUNK_BYTES } from "./chunk_file.ts";
import { PcapngChunkReader } from "./pcapng_chunks.ts";
import { NextResult, PcapHandle } from "../ffi/libpcap.ts";
import {
  assertSamePackets,
  inTempDir,
  readInChunks,
  type Reading,
  readRest,
  readWithLibpcap,
  write,
} from "../tests/helpers/chunk_reading.ts";
import { concat } from "../tests/helpers/packets.ts";
import {
  BLOCK,
  block,
  enhancedPacket,
  interfaceDescription,
  resolution,
  sectionHeader,
  simplePacket,
  timeOffset,
} from "../tests/helpers/pcapng_blocks.ts";

const ETHERNET = 1;
const RAW = 101;

/** `count` bytes that differ from packet to packet (`seed`) and along the packet. */
function payload(count: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(count);
  for (let i = 0; i < count; i++) bytes[i] = (i * 29 + seed * 13 + (i >> 8)) & 0xff;
  return bytes;
}

/**
 * Reads `path` as `--read --worker-pool` does: the pcapng chunk reader first, then, where it
 * hands off, libpcap after skipping the packets the reader gave. Also says whether it handed
 * off and after how many packets. The chunks go to a region at `start` of a larger buffer.
 */
function readAsThePool(
  path: string,
  start: number,
): Reading & { handOff: boolean; inChunks: number } {
  const handle = PcapHandle.openOffline(path);
  try {
    const reader = PcapngChunkReader.open(path, handle.snaplen, handle.linkType);
    assert.notEqual(reader, null, `${path}: the pcapng reader refused it`);
    const chunked = readInChunks(reader!, start);
    assert.equal(chunked.error, "", "the pcapng reader leaves errors to libpcap");
    if (!chunked.handOff) return { ...chunked, inChunks: chunked.packets.length };
    for (let i = 0; i < chunked.packets.length; i++) {
      assert.equal(handle.next(), NextResult.PACKET, `libpcap's packet ${i}`);
    }
    const rest = readRest(handle);
    return {
      packets: [...chunked.packets, ...rest.packets],
      error: rest.error,
      handOff: true,
      inChunks: chunked.packets.length,
    };
  } finally {
    handle.close();
  }
}

/**
 * Asserts that the pool's way of reading `path` (into regions at `start`, see
 * {@linkcode readAsThePool}) gives exactly what libpcap gives.
 */
function compareWithLibpcap(path: string, start = 0): {
  libpcap: Reading;
  pool: Reading & { handOff: boolean; inChunks: number };
} {
  const libpcap = readWithLibpcap(path);
  const pool = readAsThePool(path, start);
  assertSamePackets(pool, libpcap);
  assert.equal(pool.error, libpcap.error, "error");
  return { libpcap, pool };
}

/** Packet sizes that straddle chunk ends, with an empty packet and one of the longest length. */
const SIZES = [60_000, 60_000, 1_514, 60_000, 0, 60_000, 60_000, 42, 60_000, 60_000, 60_000];

for (const little of [true, false]) {
  const order = little ? "little-endian" : "big-endian";
  for (
    const [name, exponent, units] of [
      ["microseconds (no if_tsresol)", undefined, 1_700_000_000_123_456n],
      ["microseconds", 6, 1_700_000_000_999_999n],
      ["nanoseconds", 9, 1_700_000_000_999_999_999n],
      ["milliseconds", 3, 1_700_000_000_999n],
      ["seconds", 0, 1_700_000_000n],
      ["tenths of nanoseconds' neighbour, 10^-8", 8, 170_000_000_099_999_999n],
    ] as [string, number | undefined, bigint][]
  ) {
    Deno.test(`PcapngChunkReader: ${order}, ${name}: packets straddling chunk ends read as libpcap reads them`, async () => {
      await inTempDir((dir) => {
        const blocks = [
          sectionHeader(little),
          interfaceDescription(
            little,
            ETHERNET,
            MAX_CAPTURE_LENGTH,
            exponent === undefined ? [] : [resolution(exponent)],
          ),
        ];
        SIZES.forEach((size, i) =>
          blocks.push(
            enhancedPacket(little, 0, units + BigInt(i * 7777), payload(size, i), {
              wire: i === 2 ? 9000 : undefined,
            }),
          )
        );
        blocks.push(
          enhancedPacket(little, 0, units, payload(200_000, 99)),
          enhancedPacket(little, 0, units, payload(64, 100)),
        );
        const path = write(dir, "straddling.pcapng", concat(...blocks));
        const { libpcap, pool } = compareWithLibpcap(path, little ? 0 : 13);
        assert.equal(libpcap.error, "");
        assert.equal(pool.handOff, false);
        assert.equal(libpcap.packets.length, SIZES.length + 2);
        assert.equal(libpcap.packets[2].wire, 9000);
      });
    });
  }
}

Deno.test("PcapngChunkReader: time stamps cut to microseconds at every digit, past 2^53 units too", async () => {
  await inTempDir((dir) => {
    const blocks = [
      sectionHeader(true),
      interfaceDescription(true, ETHERNET, 65535, [resolution(9)]),
      interfaceDescription(true, ETHERNET, 65535, [resolution(7)]),
      interfaceDescription(true, ETHERNET, 65535),
    ];
    const stamps = [
      [0, 0n],
      [0, 999n],
      [0, 1_000n],
      [0, 4_294_967_295_999_999_999n], // the last second a pcap record holds
      [0, (1n << 53n) - 1n],
      [0, 1n << 53n],
      [0, (1n << 53n) + 1n],
      [1, 17_000_000_009_999_999n],
      [1, (1n << 53n) + 12_345n],
      [2, 1_700_000_000_000_001n],
      [2, 4_294_967_295_999_999n],
    ] as [number, bigint][];
    stamps.forEach(([iface, units], i) =>
      blocks.push(enhancedPacket(true, iface, units, payload(60, i)))
    );
    const path = write(dir, "stamps.pcapng", concat(...blocks));
    const { libpcap, pool } = compareWithLibpcap(path);
    assert.equal(pool.handOff, false);
    assert.equal(libpcap.packets.length, stamps.length);
    assert.equal(pool.packets[1].timestamp, 0, "999 ns is 0 µs");
    assert.equal(pool.packets[2].timestamp, 1e-6);
    assert.equal(pool.packets[3].timestamp, 4_294_967_295 + 0.999999);
  });
});

Deno.test("PcapngChunkReader: other blocks are skipped, a chunk of them included, as libpcap skips them", async () => {
  await inTempDir((dir) => {
    const statistics = block(true, BLOCK.interfaceStatistics, new Uint8Array(60_000));
    const blocks = [
      sectionHeader(true),
      block(true, BLOCK.nameResolution, new Uint8Array(16)),
      interfaceDescription(true, ETHERNET, 1514, [{ code: 2, value: payload(5, 1) }]),
      enhancedPacket(true, 0, 1_000_000n, payload(100, 1), {
        options: [{ code: 1, value: payload(7, 2) }],
      }),
      block(true, BLOCK.decryptionSecrets, new Uint8Array(40)),
      block(true, BLOCK.custom, new Uint8Array(12)),
      block(true, 0x40000bad, new Uint8Array(4)),
      block(true, 0x12345678, new Uint8Array(0)),
    ];
    // More than a chunk of blocks without a packet: the reader reads on.
    for (let i = 0; i * statistics.length < 2 * MIN_CHUNK_BYTES; i++) blocks.push(statistics);
    blocks.push(enhancedPacket(true, 0, 2_000_000n, payload(1514, 2)));
    const path = write(dir, "others.pcapng", concat(...blocks));
    const { libpcap, pool } = compareWithLibpcap(path);
    assert.equal(pool.handOff, false);
    assert.equal(libpcap.packets.length, 2);
  });
});

/**
 * Files the reader reads up to a block it leaves to libpcap: name, the blocks after a first
 * interface and two packets, and whether libpcap itself ends on an error there.
 */
const HAND_OFFS: [string, (little: boolean) => Uint8Array[], boolean][] = [
  ["a simple packet block", (l) => [simplePacket(l, payload(80, 5))], false],
  [
    "a second section",
    (l) => [sectionHeader(l), interfaceDescription(l, ETHERNET, 65535, [resolution(9)])],
    false,
  ],
  ["an interface with a time offset", (l) => [
    interfaceDescription(l, ETHERNET, 65535, [timeOffset(l, 3600n)]),
    enhancedPacket(l, 1, 5n, payload(70, 6)),
  ], false],
  ["an interface in binary fractions", (l) => [
    interfaceDescription(l, ETHERNET, 65535, [resolution(20, true)]),
    enhancedPacket(l, 1, 5n << 20n, payload(70, 6)),
  ], false],
  ["an interface in picoseconds", (l) => [
    interfaceDescription(l, ETHERNET, 65535, [resolution(12)]),
    enhancedPacket(l, 1, 1_700_000_000_000_000_000n, payload(70, 6)),
  ], false],
  ["an interface of another link type", (l) => [interfaceDescription(l, RAW, 65535)], true],
  [
    "an interface of another snapshot length",
    (l) => [interfaceDescription(l, ETHERNET, 1500)],
    true,
  ],
  ["two if_tsresol options", (l) => [
    interfaceDescription(l, ETHERNET, 65535, [resolution(9), resolution(9)]),
  ], true],
  ["a time stamp past what a pcap record holds (2106)", (l) => [
    enhancedPacket(l, 0, 4_294_967_296_000_000_000n, payload(70, 6)),
  ], false],
  ["a packet of an unknown interface", (l) => [enhancedPacket(l, 3, 0n, payload(70, 7))], true],
  ["a packet longer than the snapshot length", (l) => [
    enhancedPacket(l, 0, 0n, payload(65536, 7)),
  ], true],
  ["a packet longer than its block", (l) => [
    enhancedPacket(l, 0, 0n, payload(70, 7), { caplen: 200 }),
  ], true],
  ["a block whose trailer disagrees", (l) => [
    block(l, BLOCK.enhancedPacket, new Uint8Array(40), 44),
  ], true],
  ["a block shorter than a header and trailer", (l) => {
    const b = block(l, BLOCK.custom, new Uint8Array(0));
    new DataView(b.buffer).setUint32(4, 8, l);
    return [b];
  }, true],
  ["a block larger than a chunk", (l) => [
    enhancedPacket(l, 0, 0n, payload(60_000, 8), {
      options: [{ code: 1, value: new Uint8Array(MIN_CHUNK_BYTES) }],
    }),
  ], false],
];

for (const little of [true, false]) {
  for (const [name, after, fails] of HAND_OFFS) {
    Deno.test(`PcapngChunkReader: ${little ? "little" : "big"}-endian, ${name}: libpcap reads on from there, as it alone would`, async () => {
      await inTempDir((dir) => {
        const path = write(
          dir,
          "handoff.pcapng",
          concat(...[
            sectionHeader(little),
            interfaceDescription(little, ETHERNET, 65535, [resolution(9)]),
            enhancedPacket(little, 0, 1_700_000_000_000_000_001n, payload(100, 1)),
            enhancedPacket(little, 0, 1_700_000_000_000_000_002n, payload(200, 2)),
            ...after(little),
            enhancedPacket(little, 0, 1_700_000_000_000_000_003n, payload(300, 3)),
          ]),
        );
        const { libpcap, pool } = compareWithLibpcap(path);
        assert.equal(pool.handOff, true, "handed off");
        assert.equal(pool.inChunks, 2, "packets read in chunks");
        assert.equal(libpcap.error !== "", fails, `libpcap's error: "${libpcap.error}"`);
      });
    });
  }
}

Deno.test("PcapngChunkReader: a file cut inside a block is handed off, and libpcap says it is truncated", async () => {
  await inTempDir((dir) => {
    const whole = concat(...[
      sectionHeader(true),
      interfaceDescription(true, ETHERNET, 65535),
      enhancedPacket(true, 0, 1n, payload(100, 1)),
      enhancedPacket(true, 0, 2n, payload(200, 2)),
    ]);
    for (const cut of [4, 20, 100]) {
      const path = write(dir, `cut${cut}.pcapng`, whole.subarray(0, whole.length - cut));
      const { libpcap, pool } = compareWithLibpcap(path);
      assert.equal(pool.handOff, true);
      assert.equal(pool.inChunks, 1);
      assert.match(libpcap.error, /truncated/);
    }
  });
});

Deno.test("PcapngChunkReader: open returns null for what is not pcapng", async () => {
  await inTempDir((dir) => {
    const pcap = new Uint8Array(24);
    new DataView(pcap.buffer).setUint32(0, 0xa1b2c3d4, true);
    for (
      const [name, bytes] of [
        ["classic pcap", pcap],
        [
          "a section header with a bad byte-order magic",
          (() => {
            const b = sectionHeader(true);
            b[8] = 0;
            return b;
          })(),
        ],
        ["shorter than a section header", sectionHeader(true).subarray(0, 10)],
      ] as [string, Uint8Array][]
    ) {
      assert.equal(PcapngChunkReader.open(write(dir, "x", bytes), 65535, ETHERNET), null, name);
    }
    assert.equal(PcapngChunkReader.open(dir, 65535, ETHERNET), null, "a directory");
    assert.equal(PcapngChunkReader.open(`${dir}/missing`, 65535, ETHERNET), null, "no file");
  });
});

Deno.test("PcapngChunkReader: fill refuses a region smaller than MIN_CHUNK_BYTES, or too few record offsets for it", async () => {
  await inTempDir((dir) => {
    const path = write(
      dir,
      "one.pcapng",
      concat(...[sectionHeader(true), interfaceDescription(true, ETHERNET, 65535)]),
    );
    const reader = PcapngChunkReader.open(path, 65535, ETHERNET)!;
    try {
      const chunk = new Uint8Array(MIN_CHUNK_BYTES);
      assert.throws(() => reader.fill(chunk, 1, MIN_CHUNK_BYTES), RangeError);
      assert.throws(() => reader.fill(chunk, 0, MIN_CHUNK_BYTES, new Uint32Array(10)), RangeError);
      assert.equal(reader.fill(chunk, 0, MIN_CHUNK_BYTES), 0, "no packets");
      assert.equal(reader.handOff, false);
    } finally {
      reader.close();
    }
  });
});

const corpus = new URL("../../shared/corpus/pcap/", import.meta.url).pathname;
const corpusFiles = (() => {
  try {
    // What starts with a section header (one ".pcapng" of the corpus is a classic pcap file).
    return [...Deno.readDirSync(corpus)].map((e) => e.name).filter((name) => {
      const head = new Uint8Array(4);
      const file = Deno.openSync(corpus + name);
      try {
        return file.readSync(head) === 4 && new DataView(head.buffer).getUint32(0) === 0x0a0d0d0a;
      } finally {
        file.close();
      }
    }).sort();
  } catch {
    return [];
  }
})();

Deno.test({
  name: "PcapngChunkReader: every pcapng capture of the corpus reads as libpcap reads it",
  ignore: corpusFiles.length === 0,
  fn() {
    let handedOff = 0;
    let packets = 0;
    for (const name of corpusFiles) {
      let libpcapOpens = true;
      try {
        PcapHandle.openOffline(corpus + name).close();
      } catch {
        libpcapOpens = false; // a corrupt capture: libpcap refuses it, and so does --read
      }
      if (!libpcapOpens) continue;
      const { libpcap, pool } = compareWithLibpcap(corpus + name);
      if (pool.handOff) handedOff++;
      packets += libpcap.packets.length;
    }
    console.log(
      `${corpusFiles.length} pcapng captures, ${packets} packets; ${handedOff} handed to libpcap part-way`,
    );
    assert.ok(packets > 1000, `${packets} packets`);
  },
});
if (corpusFiles.length === 0) {
  console.log(`skipped the corpus test: no pcapng captures in ${corpus} (../shared is absent)`);
}
