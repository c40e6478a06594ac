/**
 * A bound on the requests a node works on at once. Beyond it a request is
 * refused at once (503 with `Retry-After`), never queued: a queue would only
 * turn overload into latency, and memory held by the bodies in flight.
 *
 * @module
 */

/** Counts requests in flight against a limit. */
export class ConcurrencyLimiter {
  readonly limit: number;
  #inFlight = 0;
  #refused = 0;

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(
        `Cannot create ConcurrencyLimiter as 'limit' must be a positive integer: current value is ${limit}`,
      );
    }
    this.limit = limit;
  }

  /** Requests in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Requests refused since the start. */
  get refused(): number {
    return this.#refused;
  }

  /** Takes a slot; false (and counts a refusal) when none is free. */
  tryAcquire(): boolean {
    if (this.#inFlight >= this.limit) {
      this.#refused++;
      return false;
    }
    this.#inFlight++;
    return true;
  }

  /** Gives back a slot taken by {@link tryAcquire}. */
  release(): void {
    if (this.#inFlight <= 0) {
      throw new Error("ConcurrencyLimiter.release() without a slot taken");
    }
    this.#inFlight--;
  }
}
