/**
 * A token bucket: at most `rate` events per second on average, `burst` at once. Live mode uses
 * it to bound what a flood of detections can write to the detection log and the log, so an
 * attacker cannot fill the disk faster than a stated rate; what it holds back is counted.
 *
 * @module
 */

/**
 * @example
 * ```ts
 * import { TokenBucket } from "./rate_limit.ts";
 * const limit = new TokenBucket(2, 2);
 * [limit.take(0), limit.take(0), limit.take(0)]; // [true, true, false]
 * limit.take(1); // true: two tokens came back in one second
 * ```
 */
export class TokenBucket {
  /** Events refused since the last {@linkcode drainSuppressed}. */
  suppressed = 0;
  /** Events refused in total. */
  suppressedTotal = 0;
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #last = -Infinity;

  /**
   * @param rate events per second on average
   * @param burst events allowed at once
   */
  constructor(rate: number, burst: number) {
    if (!(rate > 0) || !(burst >= 1)) throw new RangeError(`bad rate ${rate} or burst ${burst}`);
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
  }

  /** Takes one token at time `now` (seconds); false (and counted) when none is left. */
  take(now: number): boolean {
    if (now > this.#last) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#rate);
      this.#last = now;
    }
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    this.suppressed++;
    this.suppressedTotal++;
    return false;
  }

  /** Returns and resets the count of events refused since the last call. */
  drainSuppressed(): number {
    const n = this.suppressed;
    this.suppressed = 0;
    return n;
  }
}
