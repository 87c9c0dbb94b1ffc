/**
 * Checking up front that the process may capture packets and load XDP programs, so a missing
 * privilege is named with its fix instead of surfacing as an obscure failure later.
 *
 * @module
 */

import { readKernelFile } from "../ffi/procfs.ts";

/** Linux capabilities btblocker needs, by bit number. */
export const Capability = {
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_SYS_ADMIN: 21,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
} as const;

/**
 * The effective capability set of this process, from /proc/self/status (null if unknown). The
 * file is read through libc: Deno's file APIs refuse /proc without `--allow-all`.
 */
export function effectiveCapabilities(status?: string): bigint | null {
  let text = status;
  if (text === undefined) {
    try {
      text = readKernelFile("/proc/self/status");
    } catch {
      return null;
    }
  }
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(text);
  return m === null ? null : BigInt(`0x${m[1]}`);
}

/**
 * Names the capabilities missing for live mode with the given enforcer, or returns an empty
 * list. Capture needs CAP_NET_RAW and CAP_NET_ADMIN; XDP also CAP_BPF and CAP_PERFMON (or
 * CAP_SYS_ADMIN); nftables CAP_NET_ADMIN.
 *
 * @example
 * ```ts
 * import { missingCapabilities } from "./privileges.ts";
 * missingCapabilities("xdp", 0n); // ["CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_BPF", "CAP_PERFMON"]
 * ```
 */
export function missingCapabilities(
  enforcer: "auto" | "xdp" | "nftables" | "none",
  effective: bigint | null = effectiveCapabilities(),
): string[] {
  if (effective === null) return [];
  const has = (bit: number) => (effective >> BigInt(bit) & 1n) === 1n;
  const missing: string[] = [];
  if (!has(Capability.CAP_NET_RAW)) missing.push("CAP_NET_RAW");
  if (!has(Capability.CAP_NET_ADMIN)) missing.push("CAP_NET_ADMIN");
  if (enforcer === "xdp" || enforcer === "auto") {
    const admin = has(Capability.CAP_SYS_ADMIN);
    if (!admin && !has(Capability.CAP_BPF)) missing.push("CAP_BPF");
    if (!admin && !has(Capability.CAP_PERFMON)) missing.push("CAP_PERFMON");
  }
  return missing;
}

/** The one-line fix for missing capabilities. */
export function privilegeHint(missing: string[]): string {
  return `live mode needs root or the capabilities ${missing.join(", ")}: run it with sudo, ` +
    `or grant them (setcap cap_net_raw,cap_net_admin,cap_bpf,cap_perfmon+ep ./btblocker, or ` +
    `AmbientCapabilities= in its systemd unit)`;
}
