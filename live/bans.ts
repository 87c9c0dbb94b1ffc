/**
 * The ban manager: turns detections into bans under the ban policy (which endpoint, evidence
 * before a ban, allowlists, duration, a bounded table), keeps the ban list, sweeps expired
 * bans, and pushes every change to an {@linkcode Enforcer}.
 *
 * ## Evidence before a ban
 * An off-path attacker can send packets with any source address but never sees the answers,
 * so an endpoint is banned only when the flow shows that it *answered* the other side:
 * - TCP: payload in both directions, and the endpoint acknowledged bytes the other side sent
 *   (sequence numbers it could only know by receiving them);
 * - UDP: the endpoint sent a protocol-level answer to the other side's request (a DHT response
 *   echoing the transaction id of a query, a uTP packet acknowledging the other side's
 *   sequence number, a tracker response echoing its transaction id).
 * Detections that do not (yet) meet the rule are logged with action `insufficient_evidence`;
 * the ban follows when the evidence arrives.
 *
 * ## Heuristics ban only when corroborated
 * A detection of `heuristic` confidence (MSE recognised by flight sizes and randomness alone,
 * which any protocol with a random-looking handshake can match: Ethereum's RLPx, obfs4,
 * Shadowsocks…) bans an endpoint only when something else ties it to BitTorrent:
 * - the analyzer's endpoint memory knew an endpoint of the flow (`Detection.corroborated`: a
 *   tracker, DHT or PEX peer list named it, or it was seen in a flow of structural or signature
 *   confidence); or
 * - the endpoint itself showed signature-level BitTorrent (a cleartext handshake, KRPC, a tracker
 *   request…) in an earlier detection that met the evidence rule (so a forged packet cannot
 *   vouch for it): the manager keeps a bounded record of such hosts for the ban duration. Only the endpoint to be banned counts, never the other side: a protected host
 *   that runs a BitTorrent client and an Ethereum node must not get its Ethereum peers banned.
 * Otherwise the action is `suspected`: logged and counted, never banned. When the flow's
 * structure later confirms the detection (`Verdict.CONFIRMED`), it is judged again at its new
 * confidence and the ban follows.
 *
 * @module
 */

import { formatAddress, isUnicastHost } from "../dpi/address.ts";
import type { Detection } from "../dpi/detection.ts";
import { Confidence, confidenceName, reasonName } from "../dpi/reason.ts";
import type { EnforcedBan, Enforcer } from "./enforcer.ts";
import type { NetworkList } from "./networks.ts";

/** Which endpoint of a BitTorrent flow is banned. */
export type BanScope = "peer" | "src" | "both";

/** What happened to a detection. */
export type BanAction =
  | "banned"
  | "already_banned"
  | "monitor"
  | "insufficient_evidence"
  | "suspected"
  | "allowlisted";

/** The ban policy. */
export interface BanPolicy {
  /** Networks on this side of the firewall; the peer is the endpoint outside them. */
  localNetworks: NetworkList;
  /** Ranges never banned. */
  allow: NetworkList;
  /** The host's own addresses (never banned, and local). */
  hostAddresses: NetworkList;
  /** `peer` (default): the endpoint outside the local networks; `src`: the deciding packet's
   * source; `both`: both endpoints. */
  scope: BanScope;
  /** Detect and log, never ban. */
  monitorOnly: boolean;
  /** Ban length in seconds. */
  duration: number;
  /** Maximum number of bans held; beyond it the oldest ban is evicted. */
  maxBans: number;
}

/** One ban held by the manager. */
export interface BanRecord extends EnforcedBan {
  /** Address text. */
  readonly text: string;
  /** What proved the address took part (or how the ban came about). */
  readonly evidence: string;
}

/** The outcome of {@linkcode BanManager.judge}. */
export interface Judgement {
  /** The strongest action taken for the detection. */
  action: BanAction;
  /** Addresses banned (or that would be, in monitor mode, or already were). */
  addresses: string[];
  /** Expiry (unix seconds) of the ban(s) installed, when any. */
  expiresAt?: number;
}

const ACTION_RANK: Record<BanAction, number> = {
  allowlisted: 0,
  insufficient_evidence: 1,
  suspected: 2,
  monitor: 3,
  already_banned: 4,
  banned: 5,
};

/** Hosts remembered as having shown signature-level BitTorrent, at most. */
export const SIGNATURE_HOSTS_MAX = 65536;

/** Counters of the ban manager. */
export interface BanStats {
  /** Bans currently held. */
  active: number;
  /** Bans installed since start, by detection or by hand (restored ones not included). */
  total: number;
  /** Bans removed because they expired. */
  expired: number;
  /** Bans evicted to stay within `maxBans`. */
  evicted: number;
  /** Bans removed by hand. */
  removed: number;
  /**
   * Judgements of a heuristic detection that had the evidence for a ban but no corroboration
   * (action `suspected`: logged, never banned).
   */
  suspected: number;
}

/**
 * Keeps the ban list and applies the policy.
 *
 * @example
 * ```ts ignore
 * const bans = new BanManager(enforcer, policy);
 * const j = bans.judge(analyzer.detection); // { action: "banned", addresses: ["198.51.100.7"], … }
 * ```
 */
export class BanManager {
  readonly #enforcer: Enforcer;
  readonly #policy: BanPolicy;
  readonly #now: () => number;
  /** Insertion order = installation order: the first entry is the oldest ban. */
  readonly #bans = new Map<string, BanRecord>();
  /**
   * Hosts that showed signature-level BitTorrent, by address text, with the time the record
   * expires; insertion order is refresh order, so the first entry is the stalest.
   */
  readonly #signatureHosts = new Map<string, number>();
  readonly #stats: BanStats = {
    active: 0,
    total: 0,
    expired: 0,
    evicted: 0,
    removed: 0,
    suspected: 0,
  };

  /**
   * @param enforcer where bans are enforced
   * @param policy the ban policy
   * @param now clock in unix seconds (tests pass their own)
   */
  constructor(enforcer: Enforcer, policy: BanPolicy, now: () => number = () => Date.now() / 1000) {
    this.#enforcer = enforcer;
    this.#policy = policy;
    this.#now = now;
  }

  /** The enforcer in use. */
  get enforcer(): Enforcer {
    return this.#enforcer;
  }

  /** Counters. */
  get stats(): BanStats {
    return { ...this.#stats, active: this.#bans.size };
  }

  /** The bans held, oldest first. */
  list(): BanRecord[] {
    return [...this.#bans.values()];
  }

  /** Adopts the bans the enforcer kept from an earlier run; returns how many are still valid. */
  restore(): number {
    return this.#adopt();
  }

  /**
   * Replaces the ban list with what the enforcer holds now (after `btblocker bans` changed it
   * from outside); returns how many bans are held.
   */
  resync(): number {
    this.#bans.clear();
    return this.#adopt();
  }

  #adopt(): number {
    const now = this.#now();
    let count = 0;
    for (const ban of this.#enforcer.list().sort((a, b) => a.bannedAt - b.bannedAt)) {
      if (ban.expiresAt <= now) {
        this.#enforcer.unban(ban.address, ban.ipVersion);
        continue;
      }
      const text = formatAddress(ban.address, ban.ipVersion);
      this.#bans.set(text, {
        ...ban,
        address: ban.address.slice(),
        text,
        evidence: ban.reason === 0 ? "added by hand" : "kept from an earlier run",
      });
      count++;
    }
    return count;
  }

  /**
   * Decides what to do about a detection (or about new evidence on a detected flow) and
   * installs the resulting bans.
   */
  judge(d: Detection): Judgement {
    const p = this.#policy;
    const targets: { words: Uint32Array; answered: boolean }[] = [];
    const srcLocal = this.#isLocal(d.src, d.ipVersion);
    const dstLocal = this.#isLocal(d.dst, d.ipVersion);
    const srcAnswered = d.fromResponder ? d.responderAnswered : d.initiatorAnswered;
    const dstAnswered = d.fromResponder ? d.initiatorAnswered : d.responderAnswered;
    if (p.scope === "src" || p.scope === "both" || !srcLocal) {
      targets.push({ words: d.src, answered: srcAnswered });
    }
    if (p.scope === "both" || (p.scope === "peer" && !dstLocal)) {
      targets.push({ words: d.dst, answered: dstAnswered });
    }
    let best: Judgement = { action: "allowlisted", addresses: [] };
    for (const t of targets) {
      const j = this.#judgeEndpoint(t.words, d, t.answered);
      if (ACTION_RANK[j.action] > ACTION_RANK[best.action]) best = { ...j, addresses: [] };
      if (j.action === best.action) best.addresses.push(...j.addresses);
    }
    if (best.action === "suspected") this.#stats.suspected++;
    return best;
  }

  /** Whether the host `text` showed signature-level BitTorrent in a detection not yet expired. */
  #showedSignature(text: string): boolean {
    const expiresAt = this.#signatureHosts.get(text);
    if (expiresAt === undefined) return false;
    if (expiresAt > this.#now()) return true;
    this.#signatureHosts.delete(text);
    return false;
  }

  /** Records that the host `text` showed signature-level BitTorrent (with evidence). */
  #rememberSignatureHost(text: string): void {
    const hosts = this.#signatureHosts;
    hosts.delete(text);
    if (hosts.size >= SIGNATURE_HOSTS_MAX) hosts.delete(hosts.keys().next().value as string);
    hosts.set(text, this.#now() + this.#policy.duration);
  }

  /** Bans an address by hand (e.g. `btblocker bans add`). */
  add(words: Uint32Array, ipVersion: number, duration: number, reason = 0): BanRecord {
    const now = this.#now();
    return this.#install(words, ipVersion, now, now + duration, reason, "added by hand");
  }

  /** Removes a ban by address text; returns whether it existed. */
  remove(text: string): boolean {
    const ban = this.#bans.get(text);
    if (ban === undefined) return false;
    this.#bans.delete(text);
    this.#enforcer.unban(ban.address, ban.ipVersion);
    this.#stats.removed++;
    return true;
  }

  /** Removes expired bans; returns how many. */
  sweep(): number {
    const now = this.#now();
    let count = 0;
    for (const [text, ban] of this.#bans) {
      if (ban.expiresAt > now) continue;
      this.#bans.delete(text);
      this.#enforcer.unban(ban.address, ban.ipVersion);
      count++;
    }
    this.#stats.expired += count;
    return count;
  }

  #isLocal(words: Uint32Array, ipVersion: number): boolean {
    return this.#policy.localNetworks.contains(words, ipVersion) ||
      this.#policy.hostAddresses.contains(words, ipVersion);
  }

  #judgeEndpoint(words: Uint32Array, d: Detection, answered: boolean): Judgement {
    const p = this.#policy;
    const text = formatAddress(words, d.ipVersion);
    if (
      !isUnicastHost(words, d.ipVersion) || p.allow.contains(words, d.ipVersion) ||
      p.hostAddresses.contains(words, d.ipVersion)
    ) {
      return { action: "allowlisted", addresses: [text] };
    }
    const evidence = answered && (d.l4 !== 6 || d.bidirectional);
    if (!evidence) return { action: "insufficient_evidence", addresses: [text] };
    if (d.confidence === Confidence.SIGNATURE) this.#rememberSignatureHost(text);
    const heuristic = d.confidence <= Confidence.HEURISTIC;
    if (heuristic && !d.corroborated && !this.#showedSignature(text)) {
      return { action: "suspected", addresses: [text] };
    }
    const existing = this.#bans.get(text);
    const now = this.#now();
    if (existing !== undefined && existing.expiresAt > now) {
      return { action: "already_banned", addresses: [text], expiresAt: existing.expiresAt };
    }
    if (p.monitorOnly) return { action: "monitor", addresses: [text] };
    const answer = d.l4 === 6
      ? "TCP: payload both ways; it acknowledged the other side's data"
      : "UDP: it answered the other side's request";
    const proof = !heuristic ? answer : `${answer}; ${reasonName(d.reason)} (` +
      `${confidenceName(d.confidence)}) corroborated: ` +
      (d.corroborated
        ? "an endpoint was known from a peer list or an earlier BitTorrent flow"
        : "the host showed cleartext BitTorrent");
    const ban = this.#install(words, d.ipVersion, now, now + p.duration, d.reason, proof);
    return { action: "banned", addresses: [text], expiresAt: ban.expiresAt };
  }

  #install(
    words: Uint32Array,
    ipVersion: number,
    bannedAt: number,
    expiresAt: number,
    reason: number,
    evidence: string,
  ): BanRecord {
    const text = formatAddress(words, ipVersion);
    this.#bans.delete(text);
    while (this.#bans.size >= this.#policy.maxBans) {
      const oldest = this.#bans.values().next().value as BanRecord;
      this.#bans.delete(oldest.text);
      this.#enforcer.unban(oldest.address, oldest.ipVersion);
      this.#stats.evicted++;
    }
    const ban: BanRecord = {
      address: words.slice(),
      ipVersion,
      bannedAt,
      expiresAt,
      reason,
      text,
      evidence,
    };
    this.#bans.set(text, ban);
    this.#enforcer.ban(ban);
    this.#stats.total++;
    return ban;
  }
}
