/**
 * The lab (tests/lab/): real BitTorrent clients from Debian packages download through a router
 * running btblocker live with XDP. For every scenario the download completes without btblocker
 * and does not complete with it, the seeder is banned with the expected detection reasons, XDP
 * drops packets, and everyday traffic (HTTP, HTTPS, DNS, SSH, iperf3) through the same router at
 * the same time keeps working, undetected. See tests/lab/README.md.
 *
 * Needs root (skips, saying so, otherwise) and the Debian packages of `make test`.
 * `BTBLOCKER_LAB_SCENARIOS=a,b` runs only those scenarios; `BTBLOCKER_LAB_WORKER_POOL=1` runs
 * every scenario with btblocker's worker pool (by default one scenario is also run with the
 * pool when btblocker has `--worker-pool`).
 */

import assert from "node:assert/strict";
import { runCli } from "./helpers/cli.ts";
import { runCommand } from "./lab/proc.ts";
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
    const only = Deno.env.get("BTBLOCKER_LAB_SCENARIOS");
    const scenarios = only ? scenariosNamed(only.split(",")) : SCENARIOS;
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
              assert.deepEqual(r.problems, [], r.btblockerOutput.split("\n").slice(-15).join("\n"));
            },
          );
        }
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
