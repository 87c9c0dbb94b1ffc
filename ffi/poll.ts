/**
 * Waiting for capture handles to become readable: libc `poll(2)` called as a non-blocking
 * FFI call (it runs on a helper thread and returns a promise), once per idle period, never
 * per packet.
 *
 * @module
 */

import { type Libc, libc } from "./libc.ts";

const POLLIN = 0x001;

/**
 * A reusable set of file descriptors to wait on.
 *
 * @example
 * ```ts ignore
 * const fds = new PollSet([pcapFd]);
 * await fds.wait(100); // resolves when readable or after 100 ms
 * ```
 */
export class PollSet {
  readonly #fds: Uint8Array;
  readonly #count: number;
  readonly #libc: Libc;

  /** @param fds file descriptors (negative ones are ignored by poll) */
  constructor(fds: readonly number[]) {
    this.#libc = libc();
    this.#count = fds.length;
    // struct pollfd { int fd; short events; short revents; }
    this.#fds = new Uint8Array(8 * Math.max(fds.length, 1));
    const view = new DataView(this.#fds.buffer);
    fds.forEach((fd, i) => {
      view.setInt32(i * 8, fd, true);
      view.setInt16(i * 8 + 4, POLLIN, true);
    });
  }

  /**
   * Waits until one descriptor is readable or `timeoutMs` passes.
   * @returns the number of ready descriptors (0 on timeout, -1 on error)
   */
  wait(timeoutMs: number): Promise<number> {
    return this.#libc.poll(this.#fds, this.#count, timeoutMs);
  }
}
