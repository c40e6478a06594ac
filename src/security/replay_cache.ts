/**
 * The nonces of signed peer messages seen recently, so that a message
 * captured on the wire cannot be sent again while its timestamp is still
 * accepted.
 *
 * @module
 */

import { PEER_CLOCK_SKEW_MS_MAX, REPLAY_NONCES_MAX } from "../limits.ts";

/** What {@link ReplayCache.remember} found. */
export type ReplayVerdict = "fresh" | "replayed" | "full";

/** Options of {@link ReplayCache}. */
export interface ReplayCacheOptions {
  /** How far from now a timestamp is accepted. Default {@link PEER_CLOCK_SKEW_MS_MAX}. */
  windowMs?: number;
  /** Most nonces held. Default {@link REPLAY_NONCES_MAX}. */
  capacity?: number;
}

/**
 * Nonces grouped by the second of their message's timestamp: a replay
 * carries the same timestamp (it is signed), so one group is searched, and
 * a whole group is dropped at once when no message of that second can be
 * accepted any more. No timer: expiry happens as messages arrive.
 */
export class ReplayCache {
  readonly #buckets = new Map<number, Set<string>>();
  readonly #windowMs: number;
  readonly #capacity: number;
  #size = 0;
  /** Before this time no bucket can expire: skips the scan on most calls. */
  #nextExpiryMs = Infinity;

  constructor(options: ReplayCacheOptions = {}) {
    this.#windowMs = options.windowMs ?? PEER_CLOCK_SKEW_MS_MAX;
    this.#capacity = options.capacity ?? REPLAY_NONCES_MAX;
  }

  /** Nonces held now. */
  get size(): number {
    return this.#size;
  }

  /**
   * Records `nonce` of a message stamped `timestampMs` (already checked to
   * be within the window of `nowMs`). "replayed" if it was seen before;
   * "full" if the cache cannot hold it, and the message must be refused:
   * forgetting a nonce early would let its message be replayed.
   */
  remember(nonce: string, timestampMs: number, nowMs: number): ReplayVerdict {
    if (nowMs >= this.#nextExpiryMs) this.#expire(nowMs);
    const second = Math.floor(timestampMs / 1000);
    let bucket = this.#buckets.get(second);
    if (bucket?.has(nonce)) return "replayed";
    if (this.#size >= this.#capacity) return "full";
    if (bucket === undefined) {
      bucket = new Set();
      this.#buckets.set(second, bucket);
      this.#nextExpiryMs = Math.min(this.#nextExpiryMs, this.#expiry(second));
    }
    bucket.add(nonce);
    this.#size++;
    return "fresh";
  }

  /** When the last timestamp of `second` stops being accepted. */
  #expiry(second: number): number {
    return second * 1000 + 999 + this.#windowMs + 1;
  }

  #expire(nowMs: number): void {
    this.#nextExpiryMs = Infinity;
    for (const [second, bucket] of this.#buckets) {
      const expiry = this.#expiry(second);
      if (nowMs >= expiry) {
        this.#size -= bucket.size;
        this.#buckets.delete(second);
      } else {
        this.#nextExpiryMs = Math.min(this.#nextExpiryMs, expiry);
      }
    }
  }
}
