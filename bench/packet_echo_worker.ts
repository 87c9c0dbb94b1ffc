/**
 * Benchmark helper for `workers/channel_bench.ts`: the one-`postMessage`-per-packet channel
 * the worker pool replaces. Each message carries one packet in its own transferred buffer; the
 * worker reads its length and transfers the buffer back.
 *
 * @module
 */

interface Scope {
  onmessage: ((event: MessageEvent<ArrayBuffer>) => void) | null;
  postMessage(message: ArrayBuffer, transfer: Transferable[]): void;
}

const scope = globalThis as unknown as Scope;
let bytes = 0;
scope.onmessage = (event) => {
  const buffer = event.data;
  bytes += new Uint8Array(buffer).length;
  scope.postMessage(buffer, [buffer]);
};
