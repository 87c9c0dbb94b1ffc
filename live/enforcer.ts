/**
 * The contract between the ban manager and what enforces bans in the kernel (the XDP program,
 * an nftables table, or nothing in monitor-only mode).
 *
 * @module
 */

/** One ban as an enforcer stores it (and restores it after a restart). */
export interface EnforcedBan {
  /** Banned address, four big-endian words (IPv4-mapped for IPv4). */
  address: Uint32Array;
  /** 4 or 6. */
  ipVersion: number;
  /** Unix time (seconds) the ban was installed. */
  bannedAt: number;
  /** Unix time (seconds) the ban ends. */
  expiresAt: number;
  /** `Reason` code of the detection behind the ban. */
  reason: number;
}

/** Packets and bytes an enforcer dropped, per address family. */
export interface DropCounters {
  /** IPv4 packets dropped. */
  ipv4Packets: number;
  /** IPv4 bytes dropped. */
  ipv4Bytes: number;
  /** IPv6 packets dropped. */
  ipv6Packets: number;
  /** IPv6 bytes dropped. */
  ipv6Bytes: number;
}

/**
 * Enforces bans: drops every packet whose source or destination is a banned address, until
 * the ban expires (an enforcer honours `expiresAt` by itself; the ban manager's sweep removes
 * expired entries too).
 */
export interface Enforcer {
  /** `xdp`, `nftables` or `none`. */
  readonly name: string;
  /** Installs or refreshes a ban. */
  ban(ban: EnforcedBan): void;
  /** Removes a ban (no error when absent). */
  unban(address: Uint32Array, ipVersion: number): void;
  /** The bans currently installed (after a restart: those that survived it). */
  list(): EnforcedBan[];
  /** Drop counters since the enforcer's state was created. */
  counters(): DropCounters;
  /**
   * Stops enforcing: detaches from interfaces and releases resources. With `keepBans` the
   * persistent ban state (pinned maps) stays for the next run; otherwise it is removed.
   */
  close(keepBans: boolean): void;
}

/**
 * The `none` enforcer: keeps the ban list in memory and enforces nothing (for
 * `--enforcer none` and monitor-only runs, where bans are reported but no packet is dropped).
 */
export class NoEnforcer implements Enforcer {
  readonly name = "none";
  readonly #bans = new Map<string, EnforcedBan>();

  ban(ban: EnforcedBan): void {
    this.#bans.set(key(ban.address, ban.ipVersion), { ...ban, address: ban.address.slice() });
  }

  unban(address: Uint32Array, ipVersion: number): void {
    this.#bans.delete(key(address, ipVersion));
  }

  list(): EnforcedBan[] {
    return [...this.#bans.values()];
  }

  counters(): DropCounters {
    return { ipv4Packets: 0, ipv4Bytes: 0, ipv6Packets: 0, ipv6Bytes: 0 };
  }

  close(): void {
    this.#bans.clear();
  }
}

function key(address: Uint32Array, ipVersion: number): string {
  return `${ipVersion}:${address.join(".")}`;
}
