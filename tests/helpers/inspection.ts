/**
 * A standalone inspection context, for driving one detector directly without an analyzer (the
 * detector benchmarks).
 *
 * @example
 * ```ts
 * import { standaloneInspection } from "./inspection.ts";
 * const x = standaloneInspection();
 * x.packet.dstPort = 6771;
 * console.log(x.config.maxFlows); // 1024
 * ```
 *
 * @module
 */

import { engineConfig } from "../../dpi/config.ts";
import { Inspection } from "../../dpi/detector.ts";
import { EndpointMemory } from "../../dpi/endpoint_memory.ts";
import { FlowTable } from "../../dpi/flow_table.ts";
import { Packet } from "../../dpi/packet.ts";

/**
 * An {@linkcode Inspection} with its own packet, flow table and endpoint memory, under the
 * default engine settings with `maxFlows` flows (no port is marked sensitive).
 */
export function standaloneInspection(maxFlows = 1024): Inspection {
  const config = engineConfig({ maxFlows });
  return new Inspection(
    new Packet(),
    new FlowTable(config.maxFlows, config.flowIdleTimeout),
    new EndpointMemory(config.maxEndpoints, config.endpointTtl, new Uint8Array(65536)),
    config,
  );
}
