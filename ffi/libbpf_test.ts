/**
 * Tests of the libbpf and libc bindings. Loading programs needs root; those tests are skipped
 * otherwise.
 */

import assert from "node:assert/strict";
import {
  bootTimeNs,
  BPF_FS_MAGIC,
  BpfError,
  check,
  clearLibbpfMessages,
  closeFd,
  describeErrno,
  filesystemType,
  interfaceIndex,
  libbpf,
  LIBBPF_INSTALL_HINT,
  LIBBPF_NAMES,
  libbpfVersion,
  LibraryNotFoundError,
  mapInfo,
  MapType,
  recentLibbpfMessages,
  setLibbpfLogger,
  testRun,
  withNetworkNamespace,
  xdpQuery,
} from "./libbpf.ts";
import { openLibrary } from "./library.ts";
import { XdpEnforcer } from "./xdp.ts";
import { IS_ROOT } from "./xdp_testnet.ts";

if (!IS_ROOT) console.warn("ffi/libbpf_test.ts: some tests skipped, they need root (BPF)");

Deno.test("libbpf: a missing library gives one line naming the package", () => {
  assert.throws(
    () => openLibrary(["libbpf-missing.so.1", "libbpf-missing.so"], {}, LIBBPF_INSTALL_HINT),
    (e: unknown) =>
      e instanceof LibraryNotFoundError &&
      e.message ===
        "cannot load libbpf-missing: install libbpf (Debian/Ubuntu: apt install libbpf1; " +
          "Fedora: dnf install libbpf)",
  );
  assert.deepEqual(LIBBPF_NAMES, ["libbpf.so.1", "libbpf.so"]);
});

Deno.test("libbpf: version 1.x loads", () => {
  assert.match(libbpfVersion(), /^1\.\d+$/);
  assert.ok(libbpf().libbpf_num_possible_cpus() >= 1);
});

Deno.test("libbpf: negative errno becomes one clear line", () => {
  assert.equal(describeErrno(95), "Operation not supported");
  assert.equal(check(3, "anything"), 3);
  assert.throws(
    () => check(-95, "attach XDP to eth0 (native)"),
    (e: unknown) =>
      e instanceof BpfError && e.errno === 95 &&
      e.message === "attach XDP to eth0 (native): Operation not supported",
  );
  // libbpf's own codes (4000 and up) are described by libbpf_strerror.
  assert.equal(describeErrno(4003), "Endian mismatch");
});

Deno.test("libbpf: CLOCK_BOOTTIME agrees with the system uptime", () => {
  const uptime = Deno.osUptime();
  const boot = bootTimeNs() / 1e9;
  assert.ok(Math.abs(boot - uptime) < 2, `${boot} vs ${uptime}`);
  const a = bootTimeNs();
  const b = bootTimeNs();
  assert.ok(b >= a && Number.isInteger(a));
});

Deno.test("libbpf: interface lookup", () => {
  assert.equal(interfaceIndex("lo"), 1);
  assert.throws(
    () => interfaceIndex("nosuch0"),
    (e: unknown) => e instanceof BpfError && e.message === "interface nosuch0: No such device",
  );
});

Deno.test("libbpf: libbpf's messages go to the logger and the recent buffer", () => {
  const lines: string[] = [];
  setLibbpfLogger((level, line) => lines.push(`${level} ${line}`));
  try {
    clearLibbpfMessages();
    const garbage = new TextEncoder().encode("not an ELF object");
    const object = libbpf().bpf_object__open_mem(garbage, BigInt(garbage.length), null);
    assert.equal(object, null);
    assert.ok(lines.length > 0 && lines.every((l) => l.startsWith("warn libbpf: ")), lines.join());
    assert.deepEqual(recentLibbpfMessages(), lines.map((l) => l.slice(5)));
  } finally {
    setLibbpfLogger(null);
  }
});

Deno.test({
  name: "libbpf: map and program info, XDP query, test run (root)",
  ignore: !IS_ROOT,
  fn() {
    const xdp = XdpEnforcer.open({ maxBans: 123, persist: false, flush: false });
    try {
      const fds = xdp.mapFds;
      const v4 = mapInfo(fds.banV4);
      assert.deepEqual(
        { ...v4, id: 0 },
        {
          type: MapType.HASH,
          id: 0,
          keySize: 4,
          valueSize: 32,
          maxEntries: 123,
          flags: 1,
          name: "ban_v4",
        },
      );
      assert.equal(mapInfo(fds.banV6).keySize, 16);
      assert.deepEqual(
        { ...mapInfo(fds.stats), id: 0 },
        {
          type: MapType.PERCPU_ARRAY,
          id: 0,
          keySize: 4,
          valueSize: 8,
          maxEntries: 4,
          flags: 0,
          name: "stats",
        },
      );
      assert.deepEqual(xdpQuery(1), {
        attachMode: 0,
        progId: 0,
        drvProgId: 0,
        hwProgId: 0,
        skbProgId: 0,
      });
      assert.equal(testRun(xdp.programFd, new Uint8Array(60)).retval, 2); // XDP_PASS
      assert.equal(filesystemType("/proc"), 0x9fa0);
      assert.equal(filesystemType("/nonexistent/path"), -2);
      assert.equal(BPF_FS_MAGIC, 0xcafe4a11);
    } finally {
      xdp.close(false);
    }
  },
});

Deno.test({
  name: "libbpf: withNetworkNamespace runs FFI calls in another namespace and comes back (root)",
  ignore: !IS_ROOT,
  async fn() {
    const ns = `btb-${Deno.pid}-nstest`;
    const ip = (...args: string[]) => new Deno.Command("ip", { args }).output();
    assert.ok((await ip("netns", "add", ns)).success);
    try {
      assert.ok((await ip("-n", ns, "link", "add", "only-here0", "type", "veth")).success);
      assert.throws(() => interfaceIndex("only-here0"), BpfError);
      const index = withNetworkNamespace(`/run/netns/${ns}`, () => interfaceIndex("only-here0"));
      assert.ok(index > 1);
      assert.throws(() => interfaceIndex("only-here0"), BpfError, "back home");
      assert.throws(
        () => withNetworkNamespace(`/run/netns/${ns}-missing`, () => 0),
        (e: unknown) => e instanceof BpfError && /No such file or directory/.test(e.message),
      );
    } finally {
      await ip("netns", "del", ns);
    }
    closeFd(-1); // ignored
  },
});
