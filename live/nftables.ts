/**
 * The nftables enforcer: the fallback when the XDP program cannot be attached. It keeps the
 * bans in a table of its own, `table inet btblocker`, and drives it with the `nft` tool.
 *
 * ## The table
 * ```text
 * table inet btblocker {
 *   set ban4 { type ipv4_addr; flags timeout; elements = { 198.51.100.7 timeout 3600000ms
 *              expires 3599000ms comment "btblocker reason=3 bannedAt=… expiresAt=…", … } }
 *   set ban6 { type ipv6_addr; flags timeout; … }
 *   set drops { type nf_proto; flags dynamic; counter;          dropped packets/bytes
 *               elements = { ipv4 counter packets 0 bytes 0,    per family, all chains
 *                            ipv6 counter packets 0 bytes 0 } }
 *   chain input   { type filter hook input priority -300; policy accept;
 *                   ip saddr @ban4 add @drops { meta nfproto } drop
 *                   ip daddr @ban4 add @drops { meta nfproto } drop
 *                   ip6 saddr @ban6 add @drops { meta nfproto } drop
 *                   ip6 daddr @ban6 add @drops { meta nfproto } drop }
 *   chain forward { … the same four rules … }
 *   chain output  { … the same four rules … }
 * }
 * ```
 * - Each element carries its own timeout, so the kernel lifts a ban at its `expiresAt` by
 *   itself (`timeout` is the ban's full length, `expires` the time left). The element comment
 *   (supported by nftables 1.0.6 in Debian 12) keeps `reason`, `bannedAt` and the exact
 *   `expiresAt`, so {@linkcode NftablesEnforcer.list} gives back whole bans after a restart.
 *   Elements added by hand without a comment are listed with reason 0 and times derived from
 *   their timeout.
 * - Hooks: `input` (traffic to this host), `forward` (traffic routed through it) and `output`
 *   (traffic this host sends: a BitTorrent client on the firewall itself could otherwise
 *   still talk to a banned peer; the XDP enforcer cannot see egress, nftables can).
 * - The drop counters are the per-element counters of the small `drops` set, which every
 *   drop rule updates, rather than named counter objects or rule counters: nft 1.0.6 reads
 *   `list counters` and `list chain` after fetching every element of every set in the table
 *   (about 0.3 s with 50,000 bans on a small VM), while `list set inet btblocker drops`
 *   fetches that set only (about 10 ms).
 * - Priority -300 (the "raw" slot) on every hook: before iptables-nft's mangle (-150) and
 *   filter (0) tables and the usual `inet filter` chains (0), and on `output` before
 *   conntrack (-200), so a banned packet is dropped and counted before anything else spends
 *   work on it. (A drop is final whatever the order; the priority decides who counts it.)
 *
 * ## Batching
 * Spawning `nft` costs milliseconds (tens on a small VM), so {@linkcode NftablesEnforcer.ban}
 * and {@linkcode NftablesEnforcer.unban} only queue the change (the last change per address
 * wins) and return. A batch starts `batchDelayMs` after the first queued change, and at most
 * one `nft -f -` runs at a time: changes queued while it runs go into the next batch, so the
 * batch size grows with the load. Each batch is one nftables transaction (all or nothing).
 * A ban is written as "add, delete, add with timeout" and an unban as "add, delete", so
 * refreshing a present ban and removing an absent one both succeed (nftables 1.0.6 has no
 * `destroy element`). {@linkcode NftablesEnforcer.flush} resolves when the changes queued
 * before it are applied. A long-lived `nft -i` was measured and rejected: it reads its input
 * through libedit, which takes about 1 ms per short line and gets slower than spawning for
 * lines of more than a few elements, and it has no reliable end-of-command marker.
 *
 * ## Restarts and crashes
 * {@linkcode NftablesEnforcer.open} reads a table left by an earlier run (a crash, or
 * `close(true)`) and replaces it in one transaction by a freshly built table that carries over
 * the old bans (with the time they have left) and the drop counters, so the schema is always
 * the current one and there is never a second table. With `flush: true` the old bans and
 * counters are dropped instead. If someone removes the table while btblocker runs (e.g.
 * `systemctl restart nftables`, whose config starts with `flush ruleset`), the next failed
 * batch notices and rebuilds it from the bans this enforcer installed.
 *
 * Needs root (CAP_NET_ADMIN) and Deno's `--allow-run=nft` (or the programs of the
 * `command` option).
 *
 * @module
 */

import { formatAddress, parseAddress } from "../dpi/address.ts";
import type { DropCounters, EnforcedBan, Enforcer } from "./enforcer.ts";

/** What to install when `nft` is missing. */
export const NFTABLES_HINT = "install nftables (Debian/Ubuntu: apt install nftables)";

/** The `nft` program could not be run; the message says which package provides it. */
export class NftNotFoundError extends Error {
  /**
   * Creates the error.
   *
   * @param message one line naming the package to install
   */
  constructor(message: string) {
    super(message);
    this.name = "NftNotFoundError";
  }
}

/** `nft` rejected a command; the message is nft's own error, on one line. */
export class NftablesError extends Error {
  /**
   * Creates the error.
   *
   * @param message one line
   */
  constructor(message: string) {
    super(message);
    this.name = "NftablesError";
  }
}

/** A netfilter hook the table's chains attach to. */
export type NftablesHook = "input" | "forward" | "output";

/** Options of {@linkcode NftablesEnforcer.open}. */
export interface NftablesOptions {
  /**
   * The program and arguments that run `nft` (default `["nft"]`). Another network namespace:
   * `["ip", "netns", "exec", "NS", "nft"]` or `["nsenter", "--net=/run/netns/NS", "nft"]`
   * (the tests use the latter: it is cheaper, `ip netns exec` remounts /sys).
   */
  command?: readonly string[];
  /** Table name in the `inet` family (default `btblocker`). */
  table?: string;
  /** Drop the bans and counters of a leftover table instead of adopting them (default false). */
  flush?: boolean;
  /** Hooks to drop on (default input, forward and output). */
  hooks?: readonly NftablesHook[];
  /** Chain priority (default -300, see the module doc). */
  priority?: number;
  /** Wait this long after the first queued change before starting a batch (default 2 ms). */
  batchDelayMs?: number;
  /**
   * Called with every error of a batch (and with a notice when the table had to be rebuilt).
   * Without it, errors that no pending {@linkcode NftablesEnforcer.flush} reports are printed
   * with `console.error`.
   */
  onError?: (error: NftablesError) => void;
}

/** Counters of the batching, for diagnostics and measurements. */
export interface NftablesStats {
  /** `nft` batches run. */
  batches: number;
  /** Changes (bans and unbans) applied by them. */
  changes: number;
  /** Batches that failed. */
  failures: number;
  /** Changes in the last batch. */
  lastBatchChanges: number;
  /** Wall time of the last batch (spawn to exit), milliseconds. */
  lastBatchMs: number;
  /** Times the table was rebuilt because it had vanished. */
  rebuilds: number;
}

const SET = { 4: "ban4", 6: "ban6" } as const;
/** The set whose per-element counters count the drops, keyed by `meta nfproto`. */
const DROPS = "drops";
/** Longest timeout the kernel accepts comfortably (100 years); longer bans get none. */
const MAX_TIMEOUT_MS = 36500 * 86400 * 1000;
/** Changes per batch, to bound one transaction's size. */
const MAX_BATCH = 10000;
/** Size of one `nft` argument list when changes are applied synchronously (`close`). */
const MAX_SYNC_SCRIPT = 64 * 1024;

interface Change {
  seq: number;
  ipVersion: 4 | 6;
  text: string;
  /** The ban to install, or null to remove the address. */
  ban: EnforcedBan | null;
}

interface Waiter {
  target: number;
  error: NftablesError | null;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Leftover {
  bans: EnforcedBan[];
  counters: DropCounters;
}

/**
 * Enforces bans with an nftables table (see the module doc for the table, hooks and batching).
 *
 * @example
 * ```ts ignore
 * const enforcer = await NftablesEnforcer.open();
 * enforcer.ban({ address, ipVersion: 4, bannedAt: now, expiresAt: now + 3600, reason: 3 });
 * await enforcer.flush(); // applied
 * enforcer.close(true); // keep the bans for the next run
 * ```
 */
export class NftablesEnforcer implements Enforcer {
  /** Always `nftables`. */
  readonly name = "nftables";
  readonly #command: readonly string[];
  readonly #table: string;
  readonly #hooks: readonly NftablesHook[];
  readonly #priority: number;
  readonly #delay: number;
  readonly #onError: ((error: NftablesError) => void) | undefined;
  /** Every ban installed and not removed: what a rebuild restores. */
  readonly #bans = new Map<string, EnforcedBan>();
  /** Changes not yet handed to nft, oldest first, the last one per address. */
  readonly #queue = new Map<string, Change>();
  #seq = 0;
  #inFlight: Change[] | null = null;
  #child: Deno.ChildProcess | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #waiters: Waiter[] = [];
  #closed = false;
  #adopted = 0;
  readonly #stats: NftablesStats = {
    batches: 0,
    changes: 0,
    failures: 0,
    lastBatchChanges: 0,
    lastBatchMs: 0,
    rebuilds: 0,
  };

  private constructor(options: NftablesOptions) {
    this.#command = options.command ?? ["nft"];
    if (this.#command.length === 0) throw new TypeError("nftables: empty command");
    this.#table = options.table ?? "btblocker";
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(this.#table)) {
      throw new TypeError(`nftables: bad table name ${JSON.stringify(this.#table)}`);
    }
    this.#hooks = options.hooks ?? ["input", "forward", "output"];
    const hooks = ["input", "forward", "output"];
    if (this.#hooks.length === 0 || this.#hooks.some((h) => !hooks.includes(h))) {
      throw new TypeError(`nftables: hooks must be some of ${hooks.join(", ")}`);
    }
    this.#priority = options.priority ?? -300;
    if (!Number.isInteger(this.#priority)) throw new TypeError("nftables: priority not integer");
    this.#delay = options.batchDelayMs ?? 2;
    this.#onError = options.onError;
  }

  /**
   * Creates (or adopts, see the module doc) the table and returns the enforcer.
   *
   * @throws {NftNotFoundError} when `nft` cannot be run
   * @throws {NftablesError} when nft refuses (e.g. not root: "Operation not permitted")
   * @throws {Deno.errors.NotCapable} without `--allow-run` for the command
   */
  static async open(options: NftablesOptions = {}): Promise<NftablesEnforcer> {
    const enforcer = new NftablesEnforcer(options);
    await enforcer.#start(options.flush ?? false);
    return enforcer;
  }

  /** The table, as nft names it: `inet btblocker`. */
  get table(): string {
    return `inet ${this.#table}`;
  }

  /** How many bans were adopted from a leftover table at start. */
  get adopted(): number {
    return this.#adopted;
  }

  /** Changes queued or being applied. */
  get pending(): number {
    return this.#queue.size + (this.#inFlight?.length ?? 0);
  }

  /** Counters of the batching. */
  get stats(): NftablesStats {
    return { ...this.#stats };
  }

  /**
   * Queues a ban (or a refresh of one: its timeout is reset to `expiresAt`) and returns at
   * once; {@linkcode flush} waits until it is applied. A ban whose `expiresAt` has passed
   * when the batch is built removes the address; a non-finite or more than 100 years away
   * `expiresAt` gives an element without timeout.
   *
   * @throws {TypeError} for a bad ban (ipVersion not 4 or 6, non-numeric times)
   * @throws {Error} after {@linkcode close}
   */
  ban(ban: EnforcedBan): void {
    const ipVersion = checkVersion(ban.ipVersion);
    if (!Number.isFinite(ban.bannedAt) || Number.isNaN(ban.expiresAt)) {
      throw new TypeError("nftables: ban times must be numbers");
    }
    const copy: EnforcedBan = {
      address: ban.address.slice(0, 4),
      ipVersion,
      bannedAt: ban.bannedAt,
      expiresAt: ban.expiresAt,
      reason: ban.reason | 0,
    };
    const text = formatAddress(copy.address, ipVersion);
    this.#enqueue({ seq: 0, ipVersion, text, ban: copy });
    this.#bans.set(`${ipVersion} ${text}`, copy);
  }

  /** Queues the removal of a ban (no error when absent) and returns at once. */
  unban(address: Uint32Array, ipVersion: number): void {
    const version = checkVersion(ipVersion);
    const text = formatAddress(address, version);
    this.#enqueue({ seq: 0, ipVersion: version, text, ban: null });
    this.#bans.delete(`${version} ${text}`);
  }

  /**
   * Resolves when every change queued before the call is applied; rejects with nft's error
   * when a batch holding one of them failed. Starts a waiting batch at once.
   */
  flush(): Promise<void> {
    if (this.#queue.size === 0 && this.#inFlight === null) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiters.push({ target: this.#seq, error: null, resolve, reject });
      if (this.#timer !== undefined && this.#inFlight === null) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#runBatch();
      }
    });
  }

  /**
   * The bans in the table, read back from the kernel (`nft -j list table`); changes still
   * queued are not in it (await {@linkcode flush} first). Runs `nft` synchronously.
   *
   * @throws {NftablesError} when nft fails (a missing table gives an empty list)
   */
  list(): EnforcedBan[] {
    const out = this.#runSync(["-j", "list", "table", "inet", this.#table]);
    if (out.code !== 0) {
      if (isMissing(out.stderr)) return [];
      throw new NftablesError(`nft: ${nftMessage(out.stderr, out.code)}`);
    }
    return parseTable(out.stdout, this.#table, Date.now() / 1000).bans;
  }

  /**
   * Packets and bytes dropped by the table's rules since the table was created (adopted
   * tables keep counting; a table rebuilt after it vanished starts from zero). Runs `nft`
   * synchronously (`nft -j list set inet btblocker drops`, cheap whatever the number of
   * bans); zeros when the table is gone.
   */
  counters(): DropCounters {
    const out = this.#runSync(["-j", "list", "set", "inet", this.#table, DROPS]);
    if (out.code !== 0) {
      if (isMissing(out.stderr)) return zeroCounters();
      throw new NftablesError(`nft: ${nftMessage(out.stderr, out.code)}`);
    }
    return parseTable(out.stdout, this.#table, Date.now() / 1000).counters;
  }

  /**
   * Stops the batching and, unless `keepBans`, deletes the table (its bans stop at once).
   * With `keepBans` the changes still queued are applied first (synchronously) and the table
   * stays, enforcing, for the next {@linkcode open} to adopt. A batch still running is killed
   * and its changes applied again; await {@linkcode flush} before closing to avoid the small
   * window in which it could still commit after them. Pending flushes resolve.
   *
   * @throws {NftablesError} when nft fails
   */
  close(keepBans: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const changes = [...(this.#inFlight ?? []), ...this.#queue.values()];
    this.#queue.clear();
    try {
      this.#child?.kill("SIGKILL");
    } catch {
      // already exited
    }
    let error: NftablesError | null = null;
    try {
      if (keepBans) {
        this.#applySync(changes);
      } else {
        const out = this.#runSync(["delete", "table", "inet", this.#table]);
        if (out.code !== 0 && !isMissing(out.stderr)) {
          throw new NftablesError(`nft: ${nftMessage(out.stderr, out.code)}`);
        }
      }
    } catch (e) {
      error = e instanceof NftablesError ? e : new NftablesError(String(e));
      throw e;
    } finally {
      for (const w of this.#waiters.splice(0)) error ? w.reject(error) : w.resolve();
    }
  }

  async #start(flush: boolean): Promise<void> {
    const out = await this.#run(["-j", "list", "table", "inet", this.#table]);
    let leftover: Leftover | null = null;
    if (out.code === 0) {
      leftover = parseTable(out.stdout, this.#table, Date.now() / 1000);
    } else if (!isMissing(out.stderr)) {
      throw new NftablesError(`nft: ${nftMessage(out.stderr, out.code)}`);
    }
    let counters = zeroCounters();
    if (leftover !== null && !flush) {
      for (const ban of leftover.bans) {
        this.#bans.set(`${ban.ipVersion} ${formatAddress(ban.address, ban.ipVersion)}`, ban);
      }
      this.#adopted = this.#bans.size;
      counters = leftover.counters;
    }
    await this.#apply(this.#tableScript(counters));
  }

  /** The whole table, replacing any table of the same name, holding `#bans`. */
  #tableScript(counters: DropCounters): string {
    const now = Date.now() / 1000;
    const t = this.#table;
    const elements: Record<4 | 6, string[]> = { 4: [], 6: [] };
    for (const [key, ban] of this.#bans) {
      const element = elementText(ban, formatAddress(ban.address, ban.ipVersion), now);
      if (element === null) this.#bans.delete(key); // expired
      else elements[ban.ipVersion as 4 | 6].push(element);
    }
    const lines = [
      `table inet ${t}`,
      `delete table inet ${t}`,
      `table inet ${t} {`,
      `  set ${DROPS} {`,
      `    type nf_proto`,
      `    flags dynamic`,
      `    counter`,
      `    elements = { ipv4 counter packets ${counters.ipv4Packets} bytes ${counters.ipv4Bytes}, ` +
      `ipv6 counter packets ${counters.ipv6Packets} bytes ${counters.ipv6Bytes} }`,
      `  }`,
    ];
    for (const v of [4, 6] as const) {
      lines.push(`  set ${SET[v]} {`, `    type ipv${v}_addr`, `    flags timeout`);
      if (elements[v].length > 0) lines.push(`    elements = { ${elements[v].join(", ")} }`);
      lines.push(`  }`);
    }
    for (const hook of this.#hooks) {
      lines.push(
        `  chain ${hook} {`,
        `    type filter hook ${hook} priority ${this.#priority}; policy accept;`,
      );
      for (const v of [4, 6] as const) {
        const proto = v === 4 ? "ip" : "ip6";
        for (const dir of ["saddr", "daddr"]) {
          lines.push(`    ${proto} ${dir} @${SET[v]} add @${DROPS} { meta nfproto } drop`);
        }
      }
      lines.push(`  }`);
    }
    lines.push(`}`, ``);
    return lines.join("\n");
  }

  #enqueue(change: Change): void {
    if (this.#closed) throw new Error("nftables: enforcer closed");
    const key = `${change.ipVersion} ${change.text}`;
    this.#queue.delete(key);
    change.seq = ++this.#seq;
    this.#queue.set(key, change);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#inFlight !== null || this.#queue.size === 0) return;
    if (this.#closed) return;
    // Someone awaits flush(): no reason to wait for more changes.
    const delay = this.#waiters.length > 0 ? 0 : this.#delay;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#runBatch();
    }, delay);
  }

  /** Applies up to MAX_BATCH queued changes; never rejects. */
  async #runBatch(): Promise<void> {
    if (this.#closed || this.#inFlight !== null || this.#queue.size === 0) return;
    const batch: Change[] = [];
    for (const [key, change] of this.#queue) {
      this.#queue.delete(key);
      batch.push(change);
      if (batch.length >= MAX_BATCH) break;
    }
    this.#inFlight = batch;
    const started = performance.now();
    let error: NftablesError | null = null;
    try {
      await this.#apply(batchScript(this.#table, batch, Date.now() / 1000));
    } catch (e) {
      error = toNftablesError(e);
    }
    if (error !== null && !this.#closed) {
      try {
        if (await this.#rebuildIfGone()) error = null;
      } catch (e) {
        error = toNftablesError(e);
      }
    }
    this.#inFlight = null;
    if (this.#closed) return;
    this.#stats.batches++;
    this.#stats.changes += batch.length;
    this.#stats.lastBatchChanges = batch.length;
    this.#stats.lastBatchMs = performance.now() - started;
    if (error !== null) this.#stats.failures++;
    this.#settle(error, batch[0].seq);
    this.#schedule();
  }

  /** When the table has vanished, rebuilds it from `#bans`; returns whether it did. */
  async #rebuildIfGone(): Promise<boolean> {
    const out = await this.#run(["-t", "list", "table", "inet", this.#table]);
    if (out.code === 0 || !isMissing(out.stderr) || this.#closed) return false;
    await this.#apply(this.#tableScript(zeroCounters()));
    this.#stats.rebuilds++;
    this.#report(
      new NftablesError(
        `nft: table inet ${this.#table} had vanished (ruleset flushed?); rebuilt it with ` +
          `${this.#bans.size} bans`,
      ),
      false,
    );
    return true;
  }

  /** Settles the waiters whose changes are all applied; hands `error` to those it concerns. */
  #settle(error: NftablesError | null, firstSeq: number): void {
    let delivered = false;
    if (error !== null) {
      for (const w of this.#waiters) {
        if (w.target >= firstSeq) {
          w.error ??= error;
          delivered = true;
        }
      }
      this.#report(error, delivered);
    }
    const firstPending = this.#queue.size > 0 ? this.#queue.values().next().value!.seq : Infinity;
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      if (w.target >= firstPending) still.push(w);
      else if (w.error !== null) w.reject(w.error);
      else w.resolve();
    }
    this.#waiters = still;
  }

  #report(error: NftablesError, delivered: boolean): void {
    if (this.#onError === undefined) {
      if (!delivered) console.error(error.message);
      return;
    }
    try {
      this.#onError(error);
    } catch (e) {
      console.error(`nftables: onError threw: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Runs `nft -f -` with `script` on standard input; throws on failure. */
  async #apply(script: string): Promise<void> {
    const out = await this.#run(["-f", "-"], script);
    if (out.code !== 0) throw new NftablesError(`nft: ${nftMessage(out.stderr, out.code)}`);
  }

  async #run(
    args: string[],
    input?: string,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(this.#command[0], {
        args: [...this.#command.slice(1), ...args],
        stdin: input === undefined ? "null" : "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      throw spawnError(e, this.#command);
    }
    this.#child = child;
    try {
      const write = async () => {
        if (input === undefined) return;
        const writer = child.stdin.getWriter();
        try {
          await writer.write(new TextEncoder().encode(input));
        } finally {
          await writer.close().catch(() => {});
        }
      };
      const [, out] = await Promise.all([write().catch(() => {}), child.output()]);
      return result(out, this.#command);
    } finally {
      if (this.#child === child) this.#child = null;
    }
  }

  #runSync(args: string[]): { code: number; stdout: string; stderr: string } {
    let out: Deno.CommandOutput;
    try {
      out = new Deno.Command(this.#command[0], {
        args: [...this.#command.slice(1), ...args],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).outputSync();
    } catch (e) {
      throw spawnError(e, this.#command);
    }
    return result(out, this.#command);
  }

  /** Applies changes through argument lists (no piped stdin in sync mode), in chunks. */
  #applySync(changes: Change[]): void {
    const now = Date.now() / 1000;
    let script = "";
    const run = () => {
      if (script === "") return;
      const out = this.#runSync([script]);
      script = "";
      if (out.code !== 0) throw new NftablesError(`nft: ${nftMessage(out.stderr, out.code)}`);
    };
    for (const change of changes) {
      const commands = batchScript(this.#table, [change], now).trimEnd().split("\n").join("; ");
      if (script.length + commands.length > MAX_SYNC_SCRIPT) run();
      script += script === "" ? commands : `; ${commands}`;
    }
    run();
  }
}

function checkVersion(ipVersion: number): 4 | 6 {
  if (ipVersion !== 4 && ipVersion !== 6) {
    throw new TypeError(`nftables: ipVersion must be 4 or 6, not ${ipVersion}`);
  }
  return ipVersion;
}

function zeroCounters(): DropCounters {
  return { ipv4Packets: 0, ipv4Bytes: 0, ipv6Packets: 0, ipv6Bytes: 0 };
}

/** Formats a number of seconds for the comment: at most 3 decimals, `inf` when infinite. */
function seconds(value: number): string {
  return Number.isFinite(value) ? String(Math.round(value * 1000) / 1000) : "inf";
}

/** The element as nft writes it (address, timeout, expires, comment), or null when expired. */
function elementText(ban: EnforcedBan, text: string, now: number): string | null {
  const comment = `comment "btblocker reason=${ban.reason} bannedAt=${seconds(ban.bannedAt)} ` +
    `expiresAt=${seconds(ban.expiresAt)}"`;
  const remainingMs = Math.ceil((ban.expiresAt - now) * 1000);
  if (remainingMs <= 0) return null;
  if (remainingMs > MAX_TIMEOUT_MS) return `${text} ${comment}`; // Infinity included
  const lengthMs = Math.min(MAX_TIMEOUT_MS, Math.round((ban.expiresAt - ban.bannedAt) * 1000));
  return `${text} timeout ${Math.max(remainingMs, lengthMs)}ms expires ${remainingMs}ms ${comment}`;
}

/**
 * One transaction for the changes: every touched address is added bare and deleted (so the
 * delete never fails), then the bans are added with their timeouts.
 */
function batchScript(table: string, changes: Change[], now: number): string {
  let script = "";
  for (const v of [4, 6] as const) {
    const touched: string[] = [];
    const added: string[] = [];
    for (const c of changes) {
      if (c.ipVersion !== v) continue;
      touched.push(c.text);
      const element = c.ban === null ? null : elementText(c.ban, c.text, now);
      if (element !== null) added.push(element);
    }
    if (touched.length === 0) continue;
    const set = `inet ${table} ${SET[v]}`;
    const list = touched.join(", ");
    script += `add element ${set} { ${list} }\ndelete element ${set} { ${list} }\n`;
    if (added.length > 0) script += `add element ${set} { ${added.join(", ")} }\n`;
  }
  return script;
}

interface NftElem {
  val?: unknown;
  timeout?: number;
  expires?: number;
  comment?: string;
  counter?: { packets?: number; bytes?: number };
}

/** Reads the bans and counters out of `nft -j list table` (or `list set … drops`) output. */
function parseTable(json: string, table: string, now: number): Leftover {
  const bans: EnforcedBan[] = [];
  const counters = zeroCounters();
  let doc: { nftables?: Record<string, Record<string, unknown>>[] };
  try {
    doc = JSON.parse(json);
  } catch {
    throw new NftablesError("nft: unreadable JSON output");
  }
  for (const item of doc.nftables ?? []) {
    const set = item.set as { name?: string; table?: string; elem?: unknown[] } | undefined;
    if (set === undefined || set.table !== table) continue;
    if (set.name === DROPS) {
      for (const raw of set.elem ?? []) {
        const elem = (raw as { elem?: NftElem }).elem;
        const c = elem?.counter;
        if (elem?.val === "ipv4") {
          counters.ipv4Packets = c?.packets ?? 0;
          counters.ipv4Bytes = c?.bytes ?? 0;
        } else if (elem?.val === "ipv6") {
          counters.ipv6Packets = c?.packets ?? 0;
          counters.ipv6Bytes = c?.bytes ?? 0;
        }
      }
      continue;
    }
    const v = set.name === SET[4] ? 4 : set.name === SET[6] ? 6 : 0;
    if (v === 0) continue;
    for (const raw of set.elem ?? []) {
      const elem: NftElem = typeof raw === "string"
        ? { val: raw }
        : ((raw as { elem?: NftElem }).elem ?? {});
      if (typeof elem.val !== "string") continue;
      const address = new Uint32Array(4);
      if (parseAddress(elem.val, address) !== v) continue;
      bans.push(banFromElement(address, v, elem, now));
    }
  }
  return { bans, counters };
}

function banFromElement(address: Uint32Array, ipVersion: 4 | 6, e: NftElem, now: number) {
  const field = (name: string): number | undefined => {
    const m = e.comment?.match(new RegExp(`(?:^| )${name}=(\\S+)`));
    if (m === null || m === undefined) return undefined;
    const n = m[1] === "inf" ? Infinity : Number(m[1]);
    return Number.isNaN(n) ? undefined : n;
  };
  // nft -j gives whole seconds; the comment keeps the exact times.
  const expires = e.expires ?? e.timeout;
  const expiresAt = field("expiresAt") ?? (expires === undefined ? Infinity : now + expires);
  const bannedAt = field("bannedAt") ??
    (e.timeout === undefined ? now : now - (e.timeout - (e.expires ?? e.timeout)));
  return { address, ipVersion, bannedAt, expiresAt, reason: field("reason") ?? 0 };
}

function isMissing(stderr: string): boolean {
  return /Error: (?:Could not process rule: )?No such file or directory/.test(stderr);
}

/**
 * nft's first error on one line: `Could not process rule: No such file or directory:
 * "10.0.0.1"` (the part of the command nft underlined), plus how many more errors followed.
 */
export function nftMessage(stderr: string, code: number): string {
  const lines = stderr.split("\n");
  const errors: number[] = [];
  lines.forEach((line, i) => {
    if (/(?:^|: )Error: /.test(line)) errors.push(i);
  });
  if (errors.length === 0) {
    const first = lines.find((l) => l.trim() !== "");
    return first?.trim() ?? `exited with code ${code}`;
  }
  const i = errors[0];
  // e.g. "Operation not permitted (you must be root)" before "netlink: Error: …"
  const before = lines.slice(0, i).map((l) => l.trim()).filter((l) => l !== "");
  let message = [...before, lines[i].replace(/^.*?Error: /, "").trim()].join(": ");
  const command = lines[i + 1];
  const carets = lines[i + 2];
  if (command !== undefined && carets !== undefined && /^\s*\^/.test(carets)) {
    const from = carets.indexOf("^");
    const to = carets.lastIndexOf("^") + 1;
    const part = command.slice(from, to);
    message += `: "${part.length > 80 ? part.slice(0, 77) + "..." : part}"`;
  }
  if (errors.length > 1) message += ` (and ${errors.length - 1} more errors)`;
  return message;
}

function result(
  out: Deno.CommandOutput,
  command: readonly string[],
): { code: number; stdout: string; stderr: string } {
  const stderr = new TextDecoder().decode(out.stderr);
  // `ip netns exec NS nft` / `nsenter … nft` report a missing nft this way.
  if (out.code !== 0 && /(exec of "?\S*nft"? failed|failed to execute \S*nft)/i.test(stderr)) {
    throw new NftNotFoundError(`cannot run ${command.at(-1)}: ${NFTABLES_HINT}`);
  }
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr };
}

function spawnError(e: unknown, command: readonly string[]): Error {
  if (e instanceof Deno.errors.NotFound) {
    return new NftNotFoundError(
      /nft$/.test(command[0])
        ? `cannot run ${command[0]}: ${NFTABLES_HINT}`
        : `cannot run ${command[0]}: not found`,
    );
  }
  return e instanceof Error ? e : new Error(String(e));
}

function toNftablesError(e: unknown): NftablesError {
  if (e instanceof NftablesError) return e;
  const message = e instanceof Error ? e.message.split("\n")[0] : String(e);
  return new NftablesError(`nft: ${message}`);
}
