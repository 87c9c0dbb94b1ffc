/**
 * The XDP enforcer: loads the embedded ban filter (bpf/xdp_ban.c) through libbpf, attaches it
 * to interfaces, and keeps the ban maps the kernel consults for every packet.
 *
 * - A ban is one `bpf_map_update_elem` on a key and value buffer prepared once; the kernel
 *   drops packets from and to the address until the ban's expiry (CLOCK_BOOTTIME), even if
 *   userspace never sweeps it.
 * - With `persist`, the maps are pinned under `pinDir` (bpffs is mounted at /sys/fs/bpf when
 *   missing) and reused by the next start, so bans survive a restart or a crash. Pinned maps of
 *   another size (a changed `--max-bans`) are migrated: the live bans are copied into new maps
 *   of the requested size (the longest-lasting first when they do not all fit) and the new
 *   maps replace the old pins atomically.
 * - Attaching replaces a stale btblocker program (same program name, left by a crashed run)
 *   but never a foreign XDP program.
 *
 * Needs only `--allow-ffi` (pins and bpffs are handled through libc), and root, or CAP_BPF,
 * CAP_PERFMON and CAP_NET_ADMIN (plus CAP_SYS_ADMIN when bpffs must be mounted).
 *
 * @example
 * ```ts ignore
 * import { XdpEnforcer } from "./xdp.ts";
 * const xdp = XdpEnforcer.open({ maxBans: 100000, persist: true, flush: false });
 * xdp.attach("eth0", "auto"); // "native" or "generic"
 * xdp.ban({ address, ipVersion: 4, bannedAt, expiresAt, reason });
 * xdp.close(true); // detach, keep the pinned bans for the next run
 * ```
 *
 * @module
 */

import { formatAddress } from "../dpi/address.ts";
import type { DropCounters, EnforcedBan, Enforcer } from "../live/enforcer.ts";
import {
  bootTimeNs,
  BPF_FS_MAGIC,
  BpfError,
  check,
  clearLibbpfMessages,
  closeFd,
  cString,
  describeErrno,
  Errno,
  filesystemType,
  interfaceIndex,
  lastErrno,
  type Libbpf,
  libbpf,
  makeDirectories,
  type MapInfo,
  mapInfo,
  MapType,
  mountBpffs,
  programInfo,
  recentLibbpfMessages,
  removeDirectory,
  removeFile,
  renameFile,
  XdpAttachOpts,
  XdpFlags,
  xdpQuery,
} from "./libbpf.ts";
import { xdpObject } from "./xdp_object.ts";

/** The kernel name of btblocker's XDP program (how a stale one is recognised). */
export const XDP_PROGRAM_NAME = "btblocker_xdp";

/** Default directory of the pinned maps. */
export const DEFAULT_PIN_DIR = "/sys/fs/bpf/btblocker";

/** Default capacity of each ban map (IPv4 and IPv6), `--max-bans`. */
export const DEFAULT_MAX_BANS = 100000;

/** Where bpffs is mounted when it is missing. */
const BPFFS_ROOT = "/sys/fs/bpf";

/** Names of the maps in bpf/xdp_ban.c, which are also their pin file names. */
export const MapName = { BAN_V4: "ban_v4", BAN_V6: "ban_v6", STATS: "stats" } as const;

/** How an XDP program runs: in the driver (`native`) or on socket buffers (`generic`). */
export type XdpMode = "native" | "generic";

/** Options of {@linkcode XdpEnforcer.open}. */
export interface XdpOpenOptions {
  /** Capacity of each ban map (IPv4 and IPv6 separately), `--max-bans`. */
  maxBans: number;
  /** Directory of the pinned maps (default {@linkcode DEFAULT_PIN_DIR}); must be on bpffs. */
  pinDir?: string;
  /** Pin the maps and reuse pinned ones, so bans survive a restart. */
  persist: boolean;
  /** Empty the ban maps and the drop counters at start. */
  flush: boolean;
  /** Receives notices (bpffs mounted, maps migrated, stale program replaced, …). */
  log?: (message: string) => void;
}

/** An interface the program is attached to. */
export interface XdpAttachment {
  /** Interface name at attach time. */
  ifname: string;
  /** Interface index. */
  ifindex: number;
  /** Attach mode. */
  mode: XdpMode;
}

/** A ban could not be installed because its map holds `maxBans` entries already. */
export class BanListFullError extends BpfError {
  /**
   * Creates the error.
   *
   * @param message one line naming the address and the limit
   */
  constructor(message: string) {
    super(message, Errno.E2BIG);
    this.name = "BanListFullError";
  }
}

// struct ban_value (bpf/xdp_ban.c), 32 bytes.
const VALUE_SIZE = 32;
const VALUE_EXPIRES_NS = 0;
const VALUE_BANNED_AT = 8;
const VALUE_EXPIRES_AT = 16;
const VALUE_REASON = 24;
const STATS_ENTRIES = 4;
const TWO_POW_32 = 4294967296;
const BPF_ANY = 0n;
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

interface MapSpec {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
}

const MAP_SPECS: readonly MapSpec[] = [
  { name: MapName.BAN_V4, type: MapType.HASH, keySize: 4, valueSize: VALUE_SIZE },
  { name: MapName.BAN_V6, type: MapType.HASH, keySize: 16, valueSize: VALUE_SIZE },
  { name: MapName.STATS, type: MapType.PERCPU_ARRAY, keySize: 4, valueSize: 8 },
];

/** What happened to a pinned map at open. */
type PinPlan =
  | { kind: "none" }
  | { kind: "reuse"; fd: number }
  | { kind: "migrate"; fd: number; info: MapInfo }
  | { kind: "discard"; info: MapInfo };

/**
 * Enforces bans with the XDP program (`name` is `xdp`). See the module documentation.
 */
export class XdpEnforcer implements Enforcer {
  /** `xdp`. */
  readonly name = "xdp";
  /** Capacity of each ban map. */
  readonly maxBans: number;
  /** Directory of the pinned maps (meaningful with `persist`). */
  readonly pinDir: string;
  /** Whether the maps are pinned. */
  readonly persist: boolean;
  /** What open did beyond the plain load (mount, migration, discarded maps, flush). */
  readonly notes: readonly string[];

  readonly #lib: Libbpf;
  #object: Deno.PointerValue;
  readonly #progFd: number;
  readonly #progId: number;
  readonly #v4Fd: number;
  readonly #v6Fd: number;
  readonly #statsFd: number;
  readonly #cpus: number;
  readonly #log: (message: string) => void;
  readonly #attachments = new Map<string, XdpAttachment>();
  readonly #attachOpts = new XdpAttachOpts();
  #closed = false;
  #restored = 0;

  // Buffers of the hot path, prepared once.
  readonly #key4 = new Uint8Array(4);
  readonly #key4View = new DataView(this.#key4.buffer);
  readonly #key6 = new Uint8Array(16);
  readonly #key6View = new DataView(this.#key6.buffer);
  readonly #value = new Uint8Array(VALUE_SIZE);
  readonly #valueView = new DataView(this.#value.buffer);
  readonly #statsKey = new Uint8Array(4);
  readonly #statsValue: Uint8Array;
  readonly #statsWords: Uint32Array;

  private constructor(
    fields: {
      lib: Libbpf;
      object: Deno.PointerValue;
      progFd: number;
      v4Fd: number;
      v6Fd: number;
      statsFd: number;
      maxBans: number;
      pinDir: string;
      persist: boolean;
      notes: string[];
      log: (message: string) => void;
    },
  ) {
    this.#lib = fields.lib;
    this.#object = fields.object;
    this.#progFd = fields.progFd;
    this.#progId = programInfo(fields.progFd).id;
    this.#v4Fd = fields.v4Fd;
    this.#v6Fd = fields.v6Fd;
    this.#statsFd = fields.statsFd;
    this.maxBans = fields.maxBans;
    this.pinDir = fields.pinDir;
    this.persist = fields.persist;
    this.notes = fields.notes;
    this.#log = fields.log;
    this.#cpus = check(fields.lib.libbpf_num_possible_cpus(), "count possible CPUs");
    this.#statsValue = new Uint8Array(8 * this.#cpus);
    this.#statsWords = new Uint32Array(this.#statsValue.buffer);
  }

  /**
   * Loads the embedded XDP object with ban maps of `maxBans` entries; with `persist`, reuses
   * or creates the pinned maps under `pinDir`.
   *
   * @throws {LibraryNotFoundError} when libbpf is not installed
   * @throws {BpfError} when the program cannot be loaded or the pins cannot be used (one line,
   *   e.g. `load the XDP program: Operation not permitted (run as root …)`)
   */
  static open(options: XdpOpenOptions): XdpEnforcer {
    const maxBans = options.maxBans;
    if (!Number.isInteger(maxBans) || maxBans < 1 || maxBans > 0x7fffffff) {
      throw new RangeError(`max bans must be an integer from 1 to 2147483647, not ${maxBans}`);
    }
    const lib = libbpf();
    const pinDir = (options.pinDir ?? DEFAULT_PIN_DIR).replace(/\/+$/, "");
    const notes: string[] = [];
    const log = options.log ?? (() => {});
    const note = (message: string) => {
      notes.push(message);
      log(message);
    };
    const plans = new Map<string, PinPlan>();
    const closeOldFds = () => {
      for (const plan of plans.values()) {
        if (plan.kind === "reuse" || plan.kind === "migrate") closeFd(plan.fd);
      }
    };

    clearLibbpfMessages();
    const bytes = xdpObject();
    const objectName = cString("btblocker");
    const openOpts = new Uint8Array(80); // struct bpf_object_open_opts: sz, object_name, …
    const openView = new DataView(openOpts.buffer);
    openView.setBigUint64(0, 80n, true);
    openView.setBigUint64(
      8,
      BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(objectName))),
      true,
    );
    const object = lib.bpf_object__open_mem(bytes, BigInt(bytes.length), openOpts);
    if (object === null) {
      const errno = lastErrno() || Errno.EINVAL;
      throw new BpfError(`open the embedded XDP object: ${describeErrno(errno)}`, errno);
    }
    try {
      const maps = new Map<string, Deno.PointerValue>();
      for (const spec of MAP_SPECS) {
        const map = lib.bpf_object__find_map_by_name(object, cString(spec.name));
        if (map === null) {
          throw new BpfError(`the embedded XDP object has no map ${spec.name}`, Errno.ENOENT);
        }
        maps.set(spec.name, map);
      }
      for (const name of [MapName.BAN_V4, MapName.BAN_V6]) {
        check(lib.bpf_map__set_max_entries(maps.get(name)!, maxBans), `size map ${name}`);
      }
      const program = lib.bpf_object__find_program_by_name(object, cString(XDP_PROGRAM_NAME));
      if (program === null) {
        throw new BpfError(`the embedded XDP object has no ${XDP_PROGRAM_NAME}`, Errno.ENOENT);
      }

      if (options.persist) {
        prepareBpffs(pinDir, note);
        for (const spec of MAP_SPECS) {
          const wanted = spec.name === MapName.STATS ? STATS_ENTRIES : maxBans;
          const plan = planPin(lib, `${pinDir}/${spec.name}`, spec, wanted);
          plans.set(spec.name, plan);
          if (plan.kind === "reuse") {
            check(
              lib.bpf_map__reuse_fd(maps.get(spec.name)!, plan.fd),
              `reuse pinned ${spec.name}`,
            );
          } else if (plan.kind === "discard") {
            note(
              `pinned map ${pinDir}/${spec.name} has another layout (type ${plan.info.type}, ` +
                `key ${plan.info.keySize} B, value ${plan.info.valueSize} B): replaced, its ` +
                `entries are lost`,
            );
          }
        }
      }

      const loaded = lib.bpf_object__load(object);
      if (loaded < 0) throw loadError(-loaded);

      const fd = (name: string) =>
        check(lib.bpf_map__fd(maps.get(name)!), `file descriptor of map ${name}`);
      const enforcer = new XdpEnforcer({
        lib,
        object,
        progFd: check(lib.bpf_program__fd(program), "file descriptor of the XDP program"),
        v4Fd: fd(MapName.BAN_V4),
        v6Fd: fd(MapName.BAN_V6),
        statsFd: fd(MapName.STATS),
        maxBans,
        pinDir,
        persist: options.persist,
        notes,
        log,
      });

      if (options.persist) {
        for (const spec of MAP_SPECS) {
          const plan = plans.get(spec.name)!;
          if (plan.kind === "reuse") continue;
          const path = `${pinDir}/${spec.name}`;
          const staging = `${path}_new`; // bpffs refuses names with dots
          removeFile(staging);
          check(lib.bpf_obj_pin(fd(spec.name), cString(staging)), `pin map at ${staging}`);
          if (plan.kind === "migrate") {
            const { copied, dropped } = enforcer.#migrate(spec, plan.fd);
            const now = mapInfo(fd(spec.name));
            const changes = [];
            if (plan.info.maxEntries !== now.maxEntries) {
              changes.push(`capacity ${plan.info.maxEntries} -> ${now.maxEntries}`);
            }
            if (plan.info.flags !== now.flags) {
              changes.push(`flags ${plan.info.flags} -> ${now.flags}`);
            }
            note(
              `rebuilt pinned map ${path} (${changes.join(", ")}): moved ${copied} entries` +
                (dropped > 0 ? `, dropped the ${dropped} bans ending soonest` : ""),
            );
          }
          renameFile(staging, path);
        }
      }
      closeOldFds();

      if (options.flush) {
        const removed = enforcer.flush();
        if (options.persist) note(`flushed ${removed} pinned bans`);
      }
      const swept = enforcer.sweepExpired();
      enforcer.#restored = options.persist ? enforcer.list().length : 0;
      if (swept > 0) note(`removed ${swept} expired bans found at start`);
      return enforcer;
    } catch (e) {
      closeOldFds();
      lib.bpf_object__close(object);
      throw e;
    }
  }

  /**
   * Capacity of the ban maps pinned under `pinDir` (what `--max-bans` was when they were
   * made), or `null` when there are none: `btblocker bans` opens them at that size so the
   * running instance's maps are reused, never rebuilt.
   */
  static pinnedCapacity(pinDir: string = DEFAULT_PIN_DIR): number | null {
    const lib = libbpf();
    const fd = lib.bpf_obj_get(cString(`${pinDir.replace(/\/+$/, "")}/${MapName.BAN_V4}`));
    if (fd === -Errno.ENOENT || fd === -Errno.ENOTDIR) return null;
    check(fd, `open pinned map ${pinDir}/${MapName.BAN_V4}`);
    try {
      return mapInfo(fd).maxEntries;
    } finally {
      closeFd(fd);
    }
  }

  /** Live bans found in the pinned maps at open (0 without `persist` or with `flush`). */
  get restored(): number {
    return this.#restored;
  }

  /** The kernel id of the loaded program. */
  get programId(): number {
    return this.#progId;
  }

  /** The program's file descriptor (for `BPF_PROG_TEST_RUN` and diagnostics). */
  get programFd(): number {
    return this.#progFd;
  }

  /** File descriptors of the maps (for diagnostics and tests). */
  get mapFds(): { banV4: number; banV6: number; stats: number } {
    return { banV4: this.#v4Fd, banV6: this.#v6Fd, stats: this.#statsFd };
  }

  /** The interfaces the program is attached to. */
  get attachments(): XdpAttachment[] {
    return [...this.#attachments.values()].map((a) => ({ ...a }));
  }

  /**
   * Attaches the program to an interface of the calling thread's network namespace. `auto`
   * tries native, then generic. A stale btblocker program on the interface (left by a crashed
   * run) is replaced; any other XDP program is left alone and makes this throw.
   *
   * @returns the mode in use
   * @throws {BpfError} e.g. `attach XDP to eth0 (native): Operation not supported`
   */
  attach(ifname: string, mode: "auto" | XdpMode = "auto"): XdpMode {
    this.#open();
    const lib = this.#lib;
    const ifindex = interfaceIndex(ifname);
    const modes: XdpMode[] = mode === "auto" ? ["native", "generic"] : [mode];
    const query = xdpQuery(ifindex);
    let ours: XdpMode | null = null;
    let stale: { fd: number; id: number; mode: XdpMode } | null = null;
    try {
      const existing = [
        { id: query.drvProgId, where: "native" },
        { id: query.skbProgId, where: "generic" },
        { id: query.hwProgId, where: "offloaded" },
      ] as const;
      for (const { id, where } of existing) {
        if (id === 0) continue;
        if (id === this.#progId && where !== "offloaded") {
          ours = where;
          continue;
        }
        const fd = lib.bpf_prog_get_fd_by_id(id);
        if (fd === -Errno.ENOENT) continue; // gone since the query
        check(fd, `open XDP program ${id} on ${ifname}`);
        const info = programInfo(fd);
        if (info.name !== XDP_PROGRAM_NAME || where === "offloaded" || stale !== null) {
          closeFd(fd);
          throw new BpfError(
            `attach XDP to ${ifname}: the interface already has XDP program "${info.name}" ` +
              `(id ${id}, ${where}); btblocker does not replace other programs: remove it ` +
              `first (ip link set dev ${ifname} xdp off)`,
            Errno.EEXIST,
          );
        }
        stale = { fd, id, mode: where };
      }
      if (ours !== null) {
        if (modes.includes(ours)) {
          this.#attachments.set(ifname, { ifname, ifindex, mode: ours });
          return ours;
        }
        this.#attachments.delete(ifname);
        this.#detachIndex(ifindex, ifname, ours);
      }

      const failures: string[] = [];
      let lastErrno = 0;
      for (const m of modes) {
        let flags = modeFlag(m);
        let opts: Uint8Array | null = null;
        if (stale !== null && stale.mode !== m) {
          // Native and generic programs cannot coexist: remove the stale one first.
          this.#detachStale(ifindex, ifname, stale.mode, stale.fd);
          this.#log(`removed stale btblocker XDP program ${stale.id} from ${ifname}`);
          closeFd(stale.fd);
          stale = null;
        }
        if (stale !== null) {
          flags |= XdpFlags.REPLACE;
          opts = this.#attachOpts.withOldProgFd(stale.fd);
        } else {
          flags |= XdpFlags.UPDATE_IF_NOEXIST;
        }
        const r = lib.bpf_xdp_attach(ifindex, this.#progFd, flags, opts);
        if (r === 0) {
          if (stale !== null) {
            this.#log(`replaced stale btblocker XDP program ${stale.id} on ${ifname} (${m})`);
          }
          this.#attachments.set(ifname, { ifname, ifindex, mode: m });
          return m;
        }
        lastErrno = -r;
        failures.push(`${m}: ${describeErrno(-r)}`);
      }
      throw new BpfError(
        modes.length === 1
          ? `attach XDP to ${ifname} (${modes[0]}): ${describeErrno(lastErrno)}`
          : `attach XDP to ${ifname}: ${failures.join("; ")}`,
        lastErrno,
      );
    } finally {
      if (stale !== null) closeFd(stale.fd);
    }
  }

  /**
   * Detaches the program from an interface (only if it is still ours there). Returns false
   * when it was not attached to it.
   *
   * @throws {BpfError} when another program has replaced ours (that program is left alone)
   */
  detach(ifname: string): boolean {
    const a = this.#attachments.get(ifname);
    if (a === undefined) return false;
    this.#attachments.delete(ifname);
    this.#detachIndex(a.ifindex, ifname, a.mode);
    return true;
  }

  /**
   * Installs or refreshes a ban: one `bpf_map_update_elem`, nothing allocated. `expiresAt`
   * Infinity (or 0) means no expiry; otherwise the kernel stops dropping at that time.
   *
   * @throws {BanListFullError} when the family's map already holds `maxBans` other bans
   */
  ban(ban: EnforcedBan): void {
    const fd = this.#setKey(ban.address, ban.ipVersion);
    const v = this.#valueView;
    const expiresAt = ban.expiresAt;
    if (expiresAt !== expiresAt) throw new RangeError("ban expiry is NaN");
    if (expiresAt === Infinity || expiresAt === 0) {
      setU64(v, VALUE_EXPIRES_NS, 0);
      setU64(v, VALUE_EXPIRES_AT, 0);
    } else {
      const remainingNs = (expiresAt - Date.now() / 1000) * 1e9;
      setU64(v, VALUE_EXPIRES_NS, Math.max(1, Math.round(bootTimeNs() + remainingNs)));
      setU64(v, VALUE_EXPIRES_AT, Math.max(1, Math.ceil(expiresAt)));
    }
    setU64(v, VALUE_BANNED_AT, Math.max(0, Math.floor(ban.bannedAt)));
    v.setUint32(VALUE_REASON, ban.reason >>> 0, LITTLE_ENDIAN);
    const key = ban.ipVersion === 4 ? this.#key4 : this.#key6;
    const r = this.#lib.bpf_map_update_elem(fd, key, this.#value, BPF_ANY);
    if (r < 0) this.#banFailed(-r, ban);
  }

  /** Removes a ban (no error when absent). */
  unban(address: Uint32Array, ipVersion: number): void {
    const fd = this.#setKey(address, ipVersion);
    const r = this.#lib.bpf_map_delete_elem(fd, ipVersion === 4 ? this.#key4 : this.#key6);
    if (r < 0 && r !== -Errno.ENOENT) {
      check(r, `unban ${formatAddress(address, ipVersion)}`);
    }
  }

  /**
   * The bans in the maps whose expiry has not passed. `bannedAt` and `expiresAt` are whole
   * seconds (the maps keep whole unix seconds); a ban without expiry has `expiresAt` Infinity.
   */
  list(): EnforcedBan[] {
    this.#open();
    const now = bootTimeNs();
    const out: EnforcedBan[] = [];
    for (const ipVersion of [4, 6]) {
      this.#scan(ipVersion, (key, value) => {
        const view = new DataView(value.buffer);
        const expiresNs = getU64(view, VALUE_EXPIRES_NS);
        if (expiresNs !== 0 && now >= expiresNs) return;
        const address = new Uint32Array(4);
        const kv = new DataView(key.buffer);
        if (ipVersion === 4) {
          address[2] = 0xffff;
          address[3] = kv.getUint32(0, false);
        } else {
          for (let i = 0; i < 4; i++) address[i] = kv.getUint32(4 * i, false);
        }
        out.push({
          address,
          ipVersion,
          bannedAt: getU64(view, VALUE_BANNED_AT),
          expiresAt: expiresNs === 0 ? Infinity : getU64(view, VALUE_EXPIRES_AT),
          reason: view.getUint32(VALUE_REASON, LITTLE_ENDIAN),
        });
      });
    }
    return out;
  }

  /** Number of entries in each ban map, expired ones included. */
  size(): { ipv4: number; ipv6: number } {
    this.#open();
    let ipv4 = 0;
    let ipv6 = 0;
    this.#scan(4, () => ipv4++);
    this.#scan(6, () => ipv6++);
    return { ipv4, ipv6 };
  }

  /**
   * Deletes the entries whose expiry has passed (the kernel already ignores them); returns
   * how many.
   */
  sweepExpired(): number {
    this.#open();
    const now = bootTimeNs();
    let count = 0;
    for (const ipVersion of [4, 6]) {
      const expired: Uint8Array[] = [];
      this.#scan(ipVersion, (key, value) => {
        const expiresNs = getU64(new DataView(value.buffer), VALUE_EXPIRES_NS);
        if (expiresNs !== 0 && now >= expiresNs) expired.push(key.slice());
      });
      const fd = ipVersion === 4 ? this.#v4Fd : this.#v6Fd;
      for (const key of expired) if (this.#lib.bpf_map_delete_elem(fd, key) === 0) count++;
    }
    return count;
  }

  /** Empties both ban maps and zeroes the drop counters; returns how many bans were removed. */
  flush(): number {
    this.#open();
    let count = 0;
    for (const ipVersion of [4, 6]) {
      const keys: Uint8Array[] = [];
      this.#scan(ipVersion, (key) => keys.push(key.slice()));
      const fd = ipVersion === 4 ? this.#v4Fd : this.#v6Fd;
      for (const key of keys) if (this.#lib.bpf_map_delete_elem(fd, key) === 0) count++;
    }
    const zero = new Uint8Array(this.#statsValue.length);
    const key = new Uint8Array(4);
    for (let i = 0; i < STATS_ENTRIES; i++) {
      new DataView(key.buffer).setUint32(0, i, LITTLE_ENDIAN);
      check(this.#lib.bpf_map_update_elem(this.#statsFd, key, zero, BPF_ANY), "zero counters");
    }
    return count;
  }

  /** Packets and bytes dropped, summed over all CPUs. */
  counters(): DropCounters {
    this.#open();
    return {
      ipv4Packets: this.#counter(0),
      ipv4Bytes: this.#counter(1),
      ipv6Packets: this.#counter(2),
      ipv6Bytes: this.#counter(3),
    };
  }

  /**
   * Detaches from every interface and releases the program and maps. With `keepBans` and
   * `persist`, the pinned maps stay for the next run; otherwise the pins are removed.
   * Idempotent.
   *
   * @throws {BpfError} after releasing everything, when a detach failed
   */
  close(keepBans: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    const errors: BpfError[] = [];
    for (const ifname of [...this.#attachments.keys()]) {
      try {
        this.detach(ifname);
      } catch (e) {
        if (e instanceof BpfError) errors.push(e);
        else throw e;
      }
    }
    this.#lib.bpf_object__close(this.#object);
    this.#object = null;
    if (this.persist && !keepBans) {
      for (const spec of MAP_SPECS) removeFile(`${this.pinDir}/${spec.name}`);
      removeDirectory(this.pinDir);
    }
    if (errors.length > 0) {
      throw new BpfError(errors.map((e) => e.message).join("; "), errors[0].errno);
    }
  }

  #open(): void {
    if (this.#closed) throw new BpfError("the XDP enforcer is closed", Errno.EBADF);
  }

  /** Writes the key of `address` into the prepared buffer; returns the map's fd. */
  #setKey(address: Uint32Array, ipVersion: number): number {
    if (this.#closed) this.#open();
    if (ipVersion === 4) {
      this.#key4View.setUint32(0, address[3], false);
      return this.#v4Fd;
    }
    if (ipVersion !== 6) throw new RangeError(`IP version must be 4 or 6, not ${ipVersion}`);
    const k = this.#key6View;
    k.setUint32(0, address[0], false);
    k.setUint32(4, address[1], false);
    k.setUint32(8, address[2], false);
    k.setUint32(12, address[3], false);
    return this.#v6Fd;
  }

  #banFailed(errno: number, ban: EnforcedBan): never {
    const text = formatAddress(ban.address, ban.ipVersion);
    if (errno === Errno.E2BIG) {
      throw new BanListFullError(
        `ban ${text}: the IPv${ban.ipVersion} ban map is full (${this.maxBans} bans, ` +
          `--max-bans)`,
      );
    }
    throw new BpfError(`ban ${text}: ${describeErrno(errno)}`, errno);
  }

  #counter(index: number): number {
    new DataView(this.#statsKey.buffer).setUint32(0, index, LITTLE_ENDIAN);
    check(
      this.#lib.bpf_map_lookup_elem(this.#statsFd, this.#statsKey, this.#statsValue),
      "read drop counters",
    );
    const w = this.#statsWords;
    let sum = 0;
    for (let i = 0; i < w.length; i += 2) {
      sum += LITTLE_ENDIAN ? w[i] + w[i + 1] * TWO_POW_32 : w[i + 1] + w[i] * TWO_POW_32;
    }
    return sum;
  }

  /** Calls `visit` with a copy-free view of each key and value of a ban map. */
  #scan(ipVersion: number, visit: (key: Uint8Array, value: Uint8Array) => void): void {
    scanMap(
      this.#lib,
      ipVersion === 4 ? this.#v4Fd : this.#v6Fd,
      ipVersion === 4 ? 4 : 16,
      VALUE_SIZE,
      visit,
    );
  }

  /** Copies the live entries of an old pinned map into the new map of `spec`. */
  #migrate(spec: MapSpec, oldFd: number): { copied: number; dropped: number } {
    const lib = this.#lib;
    if (spec.name === MapName.STATS) {
      const value = new Uint8Array(this.#statsValue.length);
      const key = new Uint8Array(4);
      for (let i = 0; i < STATS_ENTRIES; i++) {
        new DataView(key.buffer).setUint32(0, i, LITTLE_ENDIAN);
        if (lib.bpf_map_lookup_elem(oldFd, key, value) !== 0) continue;
        check(lib.bpf_map_update_elem(this.#statsFd, key, value, BPF_ANY), "copy counters");
      }
      return { copied: STATS_ENTRIES, dropped: 0 };
    }
    const now = bootTimeNs();
    const entries: { key: Uint8Array; value: Uint8Array; expiresNs: number }[] = [];
    scanMap(lib, oldFd, spec.keySize, VALUE_SIZE, (key, value) => {
      const expiresNs = getU64(new DataView(value.buffer), VALUE_EXPIRES_NS);
      if (expiresNs !== 0 && now >= expiresNs) return;
      entries.push({ key: key.slice(), value: value.slice(), expiresNs });
    });
    // Keep the bans that last longest when they do not all fit (no expiry first).
    entries.sort((a, b) =>
      (b.expiresNs === 0 ? Infinity : b.expiresNs) - (a.expiresNs === 0 ? Infinity : a.expiresNs)
    );
    const newFd = spec.name === MapName.BAN_V4 ? this.#v4Fd : this.#v6Fd;
    let copied = 0;
    for (const e of entries.slice(0, this.maxBans)) {
      check(lib.bpf_map_update_elem(newFd, e.key, e.value, BPF_ANY), `migrate ${spec.name}`);
      copied++;
    }
    return { copied, dropped: entries.length - copied };
  }

  #detachIndex(ifindex: number, ifname: string, mode: XdpMode): void {
    const r = this.#lib.bpf_xdp_detach(
      ifindex,
      modeFlag(mode) | XdpFlags.REPLACE,
      this.#attachOpts.withOldProgFd(this.#progFd),
    );
    if (r === 0 || r === -Errno.ENODEV) return;
    if (r === -Errno.EEXIST) {
      throw new BpfError(
        `detach XDP from ${ifname}: another program has replaced btblocker's there; ` +
          `it is left in place`,
        Errno.EEXIST,
      );
    }
    check(r, `detach XDP from ${ifname} (${mode})`);
  }

  #detachStale(ifindex: number, ifname: string, mode: XdpMode, fd: number): void {
    check(
      this.#lib.bpf_xdp_detach(
        ifindex,
        modeFlag(mode) | XdpFlags.REPLACE,
        this.#attachOpts.withOldProgFd(fd),
      ),
      `remove stale btblocker XDP program from ${ifname} (${mode})`,
    );
  }
}

function modeFlag(mode: XdpMode): number {
  return mode === "native" ? XdpFlags.DRV_MODE : XdpFlags.SKB_MODE;
}

function setU64(view: DataView, offset: number, value: number): void {
  const hi = Math.floor(value / TWO_POW_32);
  const lo = value - hi * TWO_POW_32;
  view.setUint32(offset + (LITTLE_ENDIAN ? 0 : 4), lo, LITTLE_ENDIAN);
  view.setUint32(offset + (LITTLE_ENDIAN ? 4 : 0), hi, LITTLE_ENDIAN);
}

function getU64(view: DataView, offset: number): number {
  const lo = view.getUint32(offset + (LITTLE_ENDIAN ? 0 : 4), LITTLE_ENDIAN);
  const hi = view.getUint32(offset + (LITTLE_ENDIAN ? 4 : 0), LITTLE_ENDIAN);
  return lo + hi * TWO_POW_32;
}

/** Iterates a hash map with `bpf_map_get_next_key` and `bpf_map_lookup_elem`. */
function scanMap(
  lib: Libbpf,
  fd: number,
  keySize: number,
  valueSize: number,
  visit: (key: Uint8Array, value: Uint8Array) => void,
): void {
  let current = new Uint8Array(keySize);
  let next = new Uint8Array(keySize);
  const value = new Uint8Array(valueSize);
  let first = true;
  for (;;) {
    const r = lib.bpf_map_get_next_key(fd, first ? null : current, next);
    if (r === -Errno.ENOENT) return;
    check(r, "iterate BPF map");
    first = false;
    if (lib.bpf_map_lookup_elem(fd, next, value) === 0) visit(next, value);
    [current, next] = [next, current];
  }
}

/** Mounts bpffs at /sys/fs/bpf when needed and creates `pinDir` on it. */
function prepareBpffs(pinDir: string, note: (message: string) => void): void {
  if (filesystemType(pinDir) === BPF_FS_MAGIC) return;
  if (
    (pinDir === BPFFS_ROOT || pinDir.startsWith(`${BPFFS_ROOT}/`)) &&
    filesystemType(BPFFS_ROOT) !== BPF_FS_MAGIC
  ) {
    mountBpffs(BPFFS_ROOT);
    note(`mounted a bpf filesystem at ${BPFFS_ROOT}`);
  }
  makeDirectories(pinDir);
  if (filesystemType(pinDir) !== BPF_FS_MAGIC) {
    throw new BpfError(
      `pin directory ${pinDir} is not on a bpf filesystem (mount -t bpf bpf <dir>, or use a ` +
        `directory under ${BPFFS_ROOT})`,
      Errno.EINVAL,
    );
  }
}

/** Decides what to do with the map pinned at `path`, opening it when it is usable. */
function planPin(lib: Libbpf, path: string, spec: MapSpec, maxEntries: number): PinPlan {
  const fd = lib.bpf_obj_get(cString(path));
  if (fd === -Errno.ENOENT) return { kind: "none" };
  check(fd, `open pinned map ${path}`);
  let info: MapInfo;
  try {
    info = mapInfo(fd);
  } catch {
    // Not a map (another kind of BPF object pinned under our name).
    closeFd(fd);
    const info = { type: -1, id: 0, keySize: 0, valueSize: 0, maxEntries: 0, flags: 0, name: "" };
    return { kind: "discard", info };
  }
  if (
    info.type !== spec.type || info.keySize !== spec.keySize || info.valueSize !== spec.valueSize
  ) {
    closeFd(fd);
    return { kind: "discard", info };
  }
  const wantFlags = spec.type === MapType.HASH ? 1 : 0; // BPF_F_NO_PREALLOC on the ban maps
  if (info.maxEntries === maxEntries && info.flags === wantFlags) return { kind: "reuse", fd };
  return { kind: "migrate", fd, info };
}

function loadError(errno: number): BpfError {
  const messages = recentLibbpfMessages();
  let hint = "";
  if (errno === Errno.EPERM) {
    hint = " (run as root, or with CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN)";
  } else if (errno === Errno.EACCES) {
    hint = " (the verifier refused it: run as root, or with CAP_BPF, CAP_PERFMON and " +
      "CAP_NET_ADMIN; setLibbpfLogger shows the verifier log)";
  } else if (messages.length > 0) {
    hint = ` (libbpf: ${messages[messages.length - 1].replace(/^libbpf: /, "")})`;
  }
  return new BpfError(`load the XDP program: ${describeErrno(errno)}${hint}`, errno);
}
