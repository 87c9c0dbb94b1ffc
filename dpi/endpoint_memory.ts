/**
 * Memory of endpoints (address and port) recently seen doing BitTorrent or announced by a
 * swarm (tracker peer lists, DHT responses, PEX), so that a later flow to one of them is
 * recognised at once, even when it is fully encrypted. Bounded (least recently used entries
 * make room) and expiring.
 *
 * @module
 */

import { isUnicastHost } from "./address.ts";
import { SlotTable } from "./slot_table.ts";

/**
 * Bounded, expiring memory from `address:port` to the reason it was learned.
 *
 * @example
 * ```ts
 * import { EndpointMemory, Reason } from "../mod.ts";
 * const memory = new EndpointMemory(1024, 3600, new Uint8Array(65536));
 * const peer = Uint32Array.of(0, 0, 0xffff, 0xc6336401); // 198.51.100.1
 * memory.remember(peer, 4, 51413, Reason.TRACKER_PEER, 0);
 * memory.recall(peer, 4, 51413, 10); // Reason.TRACKER_PEER
 * ```
 */
export class EndpointMemory {
  /** Seconds an endpoint is remembered after it was last learned. */
  readonly ttl: number;
  /** Endpoints learned (including refreshes). */
  learned = 0;
  /** Entries dropped to make room while still valid. */
  evicted = 0;

  readonly #slots: SlotTable;
  readonly #expiresAt: Float64Array;
  readonly #reason: Uint8Array;
  readonly #ignoredPorts: Uint8Array;
  readonly #scratch = new Uint32Array(4);

  /**
   * @param capacity maximum number of endpoints
   * @param ttl seconds an endpoint stays remembered
   * @param ignoredPorts 65536 flags: ports never remembered nor recalled (services that are
   *   usually not BitTorrent, so a forged peer list cannot taint them)
   */
  constructor(capacity: number, ttl: number, ignoredPorts: Uint8Array) {
    this.ttl = ttl;
    this.#slots = new SlotTable(5, capacity);
    this.#expiresAt = new Float64Array(capacity);
    this.#reason = new Uint8Array(capacity);
    this.#ignoredPorts = ignoredPorts;
  }

  /** Number of endpoints held (expired ones included until they are looked up or evicted). */
  get size(): number {
    return this.#slots.size;
  }

  /**
   * Remembers an endpoint with the reason it was learned; refreshes its expiry when known
   * (a reason learned from payload is never replaced by one learned from a peer list).
   */
  remember(
    address: Uint32Array,
    ipVersion: number,
    port: number,
    reason: number,
    now: number,
  ): void {
    if (port === 0 || this.#ignoredPorts[port] === 1 || !isUnicastHost(address, ipVersion)) return;
    const slots = this.#slots;
    fill(slots.key, address, ipVersion, port);
    let slot = slots.find();
    if (slot < 0) {
      slot = slots.insert();
      if (slots.lastEvicted >= 0 && this.#expiresAt[slots.lastEvicted] > now) this.evicted++;
      this.#reason[slot] = reason;
    } else {
      slots.touch(slot);
      if (reason < this.#reason[slot]) this.#reason[slot] = reason;
    }
    this.#expiresAt[slot] = now + this.ttl;
    this.learned++;
  }

  /** Remembers a compact IPv4 peer (4 address bytes, 2 port bytes) read from `buf` at `off`. */
  rememberCompactV4(buf: Uint8Array, off: number, reason: number, now: number): void {
    const a = this.#scratch;
    a[0] = 0;
    a[1] = 0;
    a[2] = 0xffff;
    a[3] = ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
    this.remember(a, 4, (buf[off + 4] << 8) | buf[off + 5], reason, now);
  }

  /** Remembers a compact IPv6 peer (16 address bytes, 2 port bytes) read from `buf` at `off`. */
  rememberCompactV6(buf: Uint8Array, off: number, reason: number, now: number): void {
    const a = this.#scratch;
    for (let i = 0; i < 4; i++) {
      const o = off + 4 * i;
      a[i] = ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
    }
    this.remember(a, 6, (buf[off + 16] << 8) | buf[off + 17], reason, now);
  }

  /** The reason an endpoint was learned, or 0 when it is unknown or expired. */
  recall(address: Uint32Array, ipVersion: number, port: number, now: number): number {
    if (this.#ignoredPorts[port] === 1) return 0;
    const slots = this.#slots;
    fill(slots.key, address, ipVersion, port);
    const slot = slots.find();
    if (slot < 0) return 0;
    if (this.#expiresAt[slot] <= now) {
      slots.remove(slot);
      return 0;
    }
    return this.#reason[slot];
  }
}

function fill(key: Uint32Array, address: Uint32Array, ipVersion: number, port: number): void {
  key[0] = address[0];
  key[1] = address[1];
  key[2] = address[2];
  key[3] = address[3];
  key[4] = (ipVersion << 16) | port;
}
