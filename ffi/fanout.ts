/**
 * PACKET_FANOUT: several capture sockets on one interface share its packets, the kernel
 * choosing the socket of each packet by a flow hash. With `PACKET_FANOUT_HASH` the kernel
 * hashes with `__skb_get_hash_symmetric` (net/packet/af_packet.c, `fanout_demux_hash`), a
 * hash of the flow keys with the two endpoints ordered, so both directions of a flow reach the
 * same socket (`fanout_test.ts` checks it on a real TCP stream). IP fragments are hashed by
 * their addresses alone (the kernel reads no ports in a fragment), so a fragmented datagram may
 * reach another socket than the rest of its flow. `PACKET_FANOUT_FLAG_DEFRAG` (reassembly
 * before hashing) is left off: it merges fragments, so the capture would no longer count what
 * the inline path counts, and drops fragment sets that never complete without a trace;
 * measured on the large capture (1 020 first fragments in 478 k packets), detections are the
 * same without it.
 *
 * Group ids are a 16-bit namespace per network namespace, shared by every process: the first
 * socket of a group asks the kernel for an unused id (`PACKET_FANOUT_FLAG_UNIQUEID`) and the
 * others join that id, so several btblockers on one host never share a group.
 *
 * @module
 */

import { lastError, libc } from "./libc.ts";
import type { PcapHandle } from "./libpcap.ts";

/** `SOL_PACKET`. */
const SOL_PACKET = 263;
/** `PACKET_FANOUT` socket option. */
const PACKET_FANOUT = 18;
/** `PACKET_FANOUT_HASH`: the socket of a packet is chosen by its symmetric flow hash. */
const FANOUT_HASH = 0;
/** `PACKET_FANOUT_FLAG_UNIQUEID`: the kernel picks an unused group id. */
const FLAG_UNIQUEID = 0x2000;

/** Joining a fanout group failed; the message names the socket call and the system's reason. */
export class FanoutError extends Error {
  /** @param message what failed and why */
  constructor(message: string) {
    super(message);
    this.name = "FanoutError";
  }
}

/**
 * Joins a live capture's socket to a hash fanout group (after `pcap_activate`).
 *
 * @param handle an activated live capture
 * @param group the id of the group to join, or `null` to create a group with a new id
 * @returns the group id (give it to the handles that join next)
 * @throws {FanoutError} when the kernel refuses (e.g. no fanout support, or `group` belongs to
 *   another interface)
 *
 * @example
 * ```ts ignore
 * import { joinFanout } from "./fanout.ts";
 * const group = joinFanout(first, null);
 * joinFanout(second, group);
 * ```
 */
export function joinFanout(handle: PcapHandle, group: number | null): number {
  const c = libc();
  const fd = handle.fileno;
  const value = new Uint32Array(1);
  value[0] = group === null
    ? (FANOUT_HASH | FLAG_UNIQUEID) << 16
    : (group & 0xffff) | FANOUT_HASH << 16;
  const bytes = new Uint8Array(value.buffer);
  if (c.setsockopt(fd, SOL_PACKET, PACKET_FANOUT, bytes, 4) !== 0) {
    throw new FanoutError(`cannot join a packet fanout group: ${lastError()}`);
  }
  if (group !== null) return group;
  const length = new Uint32Array([4]);
  if (c.getsockopt(fd, SOL_PACKET, PACKET_FANOUT, bytes, new Uint8Array(length.buffer)) !== 0) {
    throw new FanoutError(`cannot read the packet fanout group: ${lastError()}`);
  }
  return value[0] & 0xffff;
}
