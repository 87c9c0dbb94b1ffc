/**
 * The flows of the labelled corpus and of our fixtures whose detection by the worker pool may
 * differ from the inline path's, and why: the pool's workers share one endpoint memory, but each
 * reads the capture at its own pace (`tests/helpers/detection_diff.ts`). Used by
 * `tests/pool_corpus_test.ts` and `tests/pool_cli_test.ts`.
 *
 * @module
 */

import type { OrderDependent } from "./detection_diff.ts";

const HOME = "192.168.0.102";
const MEMORY = ["known_peer", "tracker_peer", "dht_peer", "pex_peer"];
const BY_OWN_DHT_PORT = `its packet 1 comes from our DHT port (${HOME}:36360), which the ` +
  "first decided DHT flow teaches as known_peer; when the worker that learns the peer itself " +
  "is behind, the pool falls back to that, or, when even that flow's worker is behind, " +
  "a later packet is recognised or a detector decides";

/** Payload packets of a flow inspected by default: the last chance for the memory. */
const BUDGET = 16;

/**
 * The outcomes of a flow decided from the endpoint memory at packet `first` inline: recognised
 * from memory (for any endpoint reason) at a packet from `first` to `last`, or `detector` (what
 * decides the flow with nothing remembered: `reason@packet`, or `none`).
 */
function fromMemory(first: number, last: number, detector: string): string[] {
  const out = [detector];
  for (let packet = first; packet <= last; packet++) {
    for (const reason of MEMORY) out.push(`${reason}@${packet}`);
  }
  return out;
}

/**
 * Flows whose detection depends on the order in which workers reach the shared endpoint
 * memory, by capture (of the labelled corpus and of our fixtures), with the outcomes the pool
 * may have instead and why. In every case the inline path recognises the flow from an endpoint
 * that another flow taught earlier in capture time. Reading a file, a worker can be seconds of
 * capture time ahead of another (each takes whole slabs), and the memory answers only with what
 * was learned by the capture time it is asked for, never with what a worker further ahead
 * learned later; so when the teaching flow's worker is behind, the pool knows less at that
 * moment: the flow is decided from another remembered endpoint, at a later packet, by the
 * detector that decides it with nothing remembered (measured by running the capture with
 * recall disabled), or not at all.
 */
export const ORDER_DEPENDENT: Record<string, readonly OrderDependent[]> = {
  "small_torrent_mse.pcap": [
    ...[["177.133.160.140:55234", "utp@3"], ["130.225.247.125:48557", "dht_krpc@2"]].map((
      [peer, detector],
    ) => ({
      flow: `UDP ${peer} ${HOME}:36360`,
      inline: "tracker_peer@1",
      pool: fromMemory(1, Number(detector.split("@")[1]), detector),
      why: `${peer} is first taught by the HTTP tracker's response (07:48:48.019), later by a ` +
        `DHT response (48.375); ${BY_OWN_DHT_PORT} (${detector})`,
    })),
    {
      flow: `UDP ${HOME}:36360 2.110.8.85:6881`,
      inline: "tracker_peer@1",
      pool: fromMemory(1, 2, "dht_krpc@2"),
      why: `2.110.8.85:6881 is taught only by the HTTP tracker's response; ${BY_OWN_DHT_PORT} ` +
        "(dht_krpc@2)",
    },
    ...[
      ["108.61.13.46:35997", "dht_krpc@2"],
      ["154.72.161.7:3095", "dht_krpc@2"],
      ["103.10.197.187:51413", "none"],
      ["190.88.147.206:51413", "utp@3"],
    ].map(([peer, detector]) => ({
      flow: `UDP ${peer} ${HOME}:36360`,
      inline: "dht_peer@1",
      pool: fromMemory(1, detector === "none" ? BUDGET : Number(detector.split("@")[1]), detector),
      why: `${peer} is taught by a DHT response in another flow; ${BY_OWN_DHT_PORT} ` +
        `(${detector})`,
    })),
    {
      flow: `TCP 190.88.147.206:51413 ${HOME}:54958`,
      inline: "known_peer@4",
      pool: fromMemory(4, BUDGET + 3, "none"),
      why: "the peer is seen doing BitTorrent (handshake) in flow :54944 at 48.913, 4 s " +
        "earlier; when that flow's worker is behind, only its DHT announcement (48.399) or " +
        "nothing is known yet, at this or a later packet, and the encrypted flow has nothing " +
        "else to go by",
    },
  ],
  "lab_libtorrent_udp_tracker.pcap": [
    {
      flow: "UDP 10.88.1.2:6881 10.88.2.2:6881",
      inline: "tracker_peer@1",
      pool: fromMemory(1, 3, "utp@3"),
      why: "10.88.2.2:6881 is taught by the UDP tracker's announce response (12:42:31.66442, " +
        "another flow), and our own 10.88.1.2:6881 as known_peer by the announce (31.663671, " +
        "which decides the tracker flow); the uTP flow starts a millisecond later, so " +
        "depending on how far the tracker flow's worker got, its packet 1, 2 or 3 is " +
        "recognised from either endpoint, or the uTP detector decides it at packet 3",
    },
  ],
};
