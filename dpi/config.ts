/**
 * Configuration of the detection engine, with defaults and validation.
 *
 * @module
 */

/** Settings of the detection engine. All durations are in seconds. */
export interface EngineConfig {
  /** Maximum number of flows tracked at once; the least recently seen is evicted beyond it. */
  maxFlows: number;
  /** A flow silent for this long is forgotten. */
  flowIdleTimeout: number;
  /** Payload packets (both directions) inspected per flow before giving up. */
  inspectBudget: number;
  /** Maximum number of endpoints remembered as BitTorrent. */
  maxEndpoints: number;
  /** How long a BitTorrent endpoint is remembered. */
  endpointTtl: number;
  /**
   * Ports usually not BitTorrent. Flows touching them are judged only by unambiguous
   * signatures (peer wire handshake, tracker requests, KRPC, UDP tracker magic): the heuristic
   * detectors (MSE, uTP, remembered endpoints) are skipped, and endpoints on them are never
   * remembered, so a forged peer list cannot taint a web, DNS, SSH or XMPP server.
   */
  notBitTorrentPorts: readonly number[];
  /** Also report SOCKS5 proxy connections themselves (SOCKS5 UDP is always unwrapped). */
  detectSocks: boolean;
  /**
   * Id of the first flow; later flows get `firstFlowId + k × flowIdStride`. Several analyzers
   * that share one id space (the worker pool's) each take their own residue, so ids stay
   * unique across them.
   */
  firstFlowId: number;
  /** Step between consecutive flow ids of this analyzer (see {@linkcode firstFlowId}). */
  flowIdStride: number;
}

/**
 * The defaults: 131072 flows, 180 s idle, 16 payload packets, 65536 endpoints for 1 h; flow
 * ids 1, 2, 3, …
 */
export const DEFAULT_ENGINE_CONFIG: Readonly<EngineConfig> = Object.freeze({
  maxFlows: 131072,
  flowIdleTimeout: 180,
  inspectBudget: 16,
  maxEndpoints: 65536,
  endpointTtl: 3600,
  notBitTorrentPorts: Object.freeze([22, 53, 80, 443, 853, 5222]),
  detectSocks: false,
  firstFlowId: 1,
  flowIdStride: 1,
});

/**
 * Completes a partial configuration with the defaults and validates it.
 *
 * @throws {RangeError} with a message naming the bad setting
 *
 * @example
 * ```ts
 * import { engineConfig } from "../mod.ts";
 * const config = engineConfig({ maxFlows: 4096 });
 * config.inspectBudget; // 16
 * ```
 */
export function engineConfig(partial: Partial<EngineConfig> = {}): EngineConfig {
  const c = { ...DEFAULT_ENGINE_CONFIG, ...partial };
  positiveInteger("maxFlows", c.maxFlows, 1 << 24);
  positive("flowIdleTimeout", c.flowIdleTimeout);
  positiveInteger("inspectBudget", c.inspectBudget, 1000);
  positiveInteger("maxEndpoints", c.maxEndpoints, 1 << 24);
  positive("endpointTtl", c.endpointTtl);
  positiveInteger("firstFlowId", c.firstFlowId, Number.MAX_SAFE_INTEGER);
  positiveInteger("flowIdStride", c.flowIdStride, 1 << 20);
  for (const port of c.notBitTorrentPorts) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`notBitTorrentPorts: ${port} is not a port number (1-65535)`);
    }
  }
  return c;
}

function positiveInteger(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be an integer from 1 to ${max}, got ${value}`);
  }
}

function positive(name: string, value: number): void {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a positive number of seconds, got ${value}`);
  }
}
