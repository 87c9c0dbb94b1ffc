/**
 * The lab (tests/lab/): real BitTorrent clients from Debian packages download through a router
 * running btblocker live with XDP. For every scenario the download completes without btblocker
 * and does not complete with it, the seeder is banned with the expected detection reasons, XDP
 * drops packets, and everyday traffic (HTTP, HTTPS, DNS, SSH, iperf3) through the same router at
 * the same time keeps working, undetected. Then the look-alikes — Shadowsocks, Tor, obfs4,
 * OpenVPN, WireGuard, Nebula, Yggdrasil, Ethereum devp2p, Hyperswarm — carry data through the
 * same router undetected and unbanned. See tests/lab/README.md.
 *
 * Needs root (skips, saying so, otherwise) and the Debian packages of `make test`.
 * `BTBLOCKER_LAB_SCENARIOS=a,b` runs only those scenarios (`lookalike` for every look-alike,
 * `lookalike_<name>` for one); `BTBLOCKER_LAB_WORKER_POOL=1` runs
 * every scenario with btblocker's worker pool (by default one scenario is also run with the
 * pool when btblocker has `--worker-pool`).
 */

import assert from "node:assert/strict";
import { runCli } from "./helpers/cli.ts";
import { runCommand } from "./lab/proc.ts";
import { LookalikeRunner, LOOKALIKES, lookalikesNamed } from "./lab/lookalike.ts";
import { plan, runScenario, SCENARIOS, scenariosNamed, withLab } from "./lab/scenarios.ts";

const IS_ROOT = (() => {
  try {
    return Deno.uid() === 0;
  } catch {
    return false;
  }
})();

/** Programs the lab runs, and the Debian package of each. */
const TOOLS: [string, string][] = [
  ["/usr/bin/opentracker", "opentracker"],
  ["/usr/bin/transmission-cli", "transmission-cli"],
  ["/usr/bin/aria2c", "aria2"],
  ["/usr/bin/qbittorrent-nox", "qbittorrent-nox"],
  ["/usr/sbin/dnsmasq", "dnsmasq-base"],
  ["/usr/sbin/dropbear", "dropbear-bin"],
  ["/usr/bin/ssh", "openssh-client"],
  ["/usr/bin/iperf3", "iperf3"],
  ["/usr/bin/curl", "curl"],
  ["/usr/bin/openssl", "openssl"],
  ["/usr/sbin/bpftool", "bpftool"],
  ["/usr/bin/tcpdump", "tcpdump"],
  ["/usr/bin/nsenter", "util-linux"],
  ["/usr/sbin/sysctl", "procps"],
  // The look-alikes (tests/lab/lookalike.ts).
  ["/usr/bin/ss-server", "shadowsocks-libev"],
  ["/usr/sbin/tor", "tor"],
  ["/usr/bin/obfs4proxy", "obfs4proxy"],
  ["/usr/sbin/openvpn", "openvpn"],
  ["/usr/bin/wireguard-go", "wireguard-go"],
  ["/usr/bin/wg", "wireguard-tools"],
  ["/usr/bin/nebula", "nebula"],
  ["/usr/sbin/yggdrasil", "yggdrasil"],
  ["/usr/bin/npm", "nodejs npm"],
];

async function missingPackages(): Promise<string[]> {
  const missing = new Set<string>();
  const lt = await runCommand(["/usr/bin/python3", "-c", "import libtorrent"]).catch(() => null);
  if (lt === null || lt.code !== 0) missing.add("python3-libtorrent");
  for (const [path, pkg] of TOOLS) {
    try {
      Deno.statSync(path);
    } catch {
      missing.add(pkg);
    }
  }
  return [...missing];
}

async function hasWorkerPool(): Promise<boolean> {
  const r = await runCli("--help");
  return r.stdout.includes("--worker-pool");
}

if (!IS_ROOT) {
  console.log("lab_test: skipped — the lab needs root (network namespaces, XDP, bpffs)");
}

Deno.test({
  name: "lab: real BitTorrent clients are blocked through the router, everyday traffic is not",
  ignore: !IS_ROOT,
  // Child processes and signal listeners come and go with the lab; it removes them itself.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const missing = await missingPackages();
    assert.deepEqual(
      missing,
      [],
      `install the lab's packages first (make debs-test): ${missing.join(" ")}`,
    );
    const only = Deno.env.get("BTBLOCKER_LAB_SCENARIOS")?.split(",");
    const scenarios = only
      ? scenariosNamed(only.filter((n) => !n.startsWith("lookalike")))
      : SCENARIOS;
    const lookalikes = only ? lookalikesNamed(only) : LOOKALIKES;
    const allWithPool = Deno.env.get("BTBLOCKER_LAB_WORKER_POOL") === "1";
    const runs = plan(scenarios, allWithPool);
    if (!allWithPool && await hasWorkerPool()) {
      runs.push(...plan(scenarios.filter((s) => s.name === "libtorrent_tcp"), true));
    }
    const captureDir = await Deno.makeTempDir({ prefix: "btblocker-lab-test-" });
    const started = performance.now();
    try {
      let id = "";
      await withLab({ runs, say: (line) => console.log(`  ${line}`) }, async (lab, services) => {
        id = lab.net.id;
        for (const [i, run] of runs.entries()) {
          const s = run.scenario;
          await t.step(
            `${s.name}${run.workerPool ? " (worker pool)" : ""}: ${s.title}`,
            async () => {
              const r = await runScenario(lab, run, {
                captureDir,
                services,
                captureEveryday: i === 0,
              });
              // The problems come first: CI shows an error's first line in its digest.
              assert.deepEqual(
                r.problems,
                [],
                `${r.problems.join("; ")}\nbtblocker's last lines:\n${
                  r.btblockerOutput.split("\n").slice(-15).join("\n")
                }`,
              );
            },
          );
        }
        if (lookalikes.length === 0) return;
        const runner = await LookalikeRunner.start(lab, lookalikes, {
          captureDir,
          workerPool: allWithPool,
        });
        let code: number;
        try {
          for (const l of lookalikes) {
            await t.step(`lookalike_${l.name}: ${l.title}`, async () => {
              const r = await runner.run(l);
              assert.deepEqual(
                r.problems,
                [],
                `${r.problems.join("; ")}; what flowed: ${r.flowed}`,
              );
            });
          }
        } finally {
          code = await runner.stop();
        }
        assert.equal(code, 0, "btblocker's exit code after the look-alikes");
      });
      // Nothing of the lab is left: no namespace, no pinned map.
      const namespaces = (await runCommand(["ip", "netns", "list"])).stdout;
      const pins = (await runCommand(["ls", "/sys/fs/bpf"])).stdout;
      assert.ok(!namespaces.includes(`${id}-`), `namespaces left behind:\n${namespaces}`);
      assert.ok(!pins.includes(`${id}-`), `pinned maps left behind:\n${pins}`);
    } finally {
      await Deno.remove(captureDir, { recursive: true });
      console.log(`  lab: ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
  },
});
