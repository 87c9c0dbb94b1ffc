/**
 * Reading kernel pseudo-files (`/proc`, `/sys`) through libc. Deno's file APIs refuse every path
 * under `/proc`, `/sys` and `/dev` unless the program runs with `--allow-all` (`NotCapable:
 * Requires all access to "/proc/self/status"`), which btblocker does not ask for; FFI, which
 * live mode needs anyway, reads them.
 *
 * @module
 */

import { libc } from "./libc.ts";

const O_RDONLY_CLOEXEC = 0o2000000;
/** `_SC_CLK_TCK` of glibc's `<bits/confname.h>`. */
const SC_CLK_TCK = 2;
const CHUNK = 65536;

/**
 * Reads a whole (small) kernel pseudo-file as text, e.g. `/proc/self/status` or
 * `/proc/net/dev` (the latter describes the calling thread's network namespace).
 *
 * @param path absolute path
 * @param maxBytes read at most this much
 * @throws {Error} one line naming the path when it cannot be opened or read
 * @throws {Deno.errors.NotCapable} without `--allow-ffi`
 *
 * @example
 * ```ts ignore
 * import { readKernelFile } from "./procfs.ts";
 * readKernelFile("/proc/self/status").includes("CapEff:"); // true
 * ```
 */
export function readKernelFile(path: string, maxBytes = 1 << 20): string {
  const lib = libc();
  const name = new TextEncoder().encode(`${path}\0`);
  const fd = lib.open(name, O_RDONLY_CLOEXEC);
  if (fd < 0) throw new Error(`cannot open ${path}`);
  try {
    const chunks: Uint8Array[] = [];
    let total = 0;
    while (total < maxBytes) {
      const chunk = new Uint8Array(Math.min(CHUNK, maxBytes - total));
      const n = Number(lib.read(fd, chunk, BigInt(chunk.length)));
      if (n < 0) throw new Error(`cannot read ${path}`);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
    }
    const all = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      all.set(c, off);
      off += c.length;
    }
    return new TextDecoder().decode(all);
  } finally {
    lib.close(fd);
  }
}

/**
 * Names of the network interfaces of the calling thread's network namespace, sorted (from
 * `/proc/net/dev`).
 *
 * @throws {Error} when `/proc/net/dev` cannot be read
 */
export function networkInterfaceNames(): string[] {
  const names: string[] = [];
  for (const line of readKernelFile("/proc/net/dev").split("\n")) {
    const m = /^\s*([^\s:]+):/.exec(line);
    if (m !== null) names.push(m[1]);
  }
  return names.sort();
}

/**
 * When process `pid` started, in Unix seconds (to the clock tick), or null when there is no such
 * process. Reads the start time in ticks since boot from `/proc/PID/stat` (field 22, after the
 * command name in parentheses, which may itself hold spaces and parentheses) and the boot time
 * from `/proc/stat`.
 *
 * @example
 * ```ts ignore
 * import { processStartTime } from "./procfs.ts";
 * processStartTime(Deno.pid)! <= Date.now() / 1000; // true
 * ```
 */
export function processStartTime(pid: number): number | null {
  let stat: string;
  try {
    stat = readKernelFile(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Field 3 (state) is fields[0]; field 22 (starttime) is fields[19].
  const ticks = Number(fields[19]);
  const bootTime = Number(/^btime (\d+)$/m.exec(readKernelFile("/proc/stat"))?.[1]);
  const ticksPerSecond = Number(libc().sysconf(SC_CLK_TCK));
  if (!Number.isFinite(ticks) || !Number.isFinite(bootTime) || !(ticksPerSecond > 0)) {
    throw new Error(`cannot read the start time of process ${pid}`);
  }
  return bootTime + ticks / ticksPerSecond;
}
