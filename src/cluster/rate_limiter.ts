/**
 * A token bucket on bytes, for the streams a node sends when the ring
 * changes (join pages, leave and handoff pushes): every stream of the node
 * takes from one bucket, so that together they never send more than the
 * configured rate (`--stream-mb-per-s`, as Cassandra's
 * `stream_throughput_outbound`), and client requests keep their latency.
 *
 * Pure: the caller passes the time and does the waiting.
 *
 * @module
 */

import { assert } from "@std/assert";

/** Options of a {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** Bytes per second, sustained: a positive number. */
  bytesPerSecond: number;
  /**
   * Bytes that may go at once after a quiet spell (the bucket's size).
   * Default: an eighth of a second's worth.
   */
  burstBytes?: number;
}

/**
 * Bytes sent up to any time `t` (from the first `reserve`) never exceed
 * `burstBytes + bytesPerSecond * t`: a sender reserves what it is about to
 * send and waits the time it is told before sending it. A reservation
 * larger than the bucket is allowed (one message may be bigger than the
 * burst); it is paid for by a longer wait.
 */
export class RateLimiter {
  readonly bytesPerSecond: number;
  readonly burstBytes: number;
  /** Bytes that may go now; negative: owed by reservations still waiting. */
  #tokens: number;
  #atMs: number | null = null;

  constructor(options: RateLimiterOptions) {
    const { bytesPerSecond } = options;
    assert(
      Number.isFinite(bytesPerSecond) && bytesPerSecond > 0,
      "a positive rate",
    );
    this.bytesPerSecond = bytesPerSecond;
    this.burstBytes = options.burstBytes ?? bytesPerSecond / 8;
    assert(this.burstBytes > 0, "a positive burst");
    this.#tokens = this.burstBytes;
  }

  /**
   * Reserves `bytes` at `nowMs` and returns how many ms to wait before
   * sending them (0: now). Reservations are served in the order they are
   * made: a later one waits for the earlier ones' debt too.
   */
  reserve(bytes: number, nowMs: number): number {
    assert(Number.isFinite(bytes) && bytes >= 0, "a byte count");
    this.#refill(nowMs);
    this.#tokens -= bytes;
    return this.#tokens >= 0
      ? 0
      : Math.ceil(-this.#tokens / this.bytesPerSecond * 1000);
  }

  #refill(nowMs: number): void {
    if (this.#atMs !== null && nowMs > this.#atMs) {
      this.#tokens = Math.min(
        this.burstBytes,
        this.#tokens + (nowMs - this.#atMs) / 1000 * this.bytesPerSecond,
      );
    }
    if (this.#atMs === null || nowMs > this.#atMs) this.#atMs = nowMs;
  }
}
