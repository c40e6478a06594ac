/**
 * How long a peer call usually takes, from the calls that answered: a
 * smoothed round trip and its mean deviation, as TCP's retransmission
 * timer keeps them (RFC 6298). A coordinator asks a stand-in to help
 * once a replica is later than that allows (hedging), instead of waiting
 * out a whole peer deadline on a replica that may be cut off.
 *
 * Pure: the caller feeds in what it measured.
 *
 * @module
 */

import { assert } from "@std/assert";

/** Bounds on the hedge delay, and its value before anything was measured. */
export interface HedgeLimits {
  /** Never hedge sooner: a stand-in's hint costs a write and a handoff. */
  minMs: number;
  /** Never wait longer before hedging. */
  maxMs: number;
  /** Before the first measured call. */
  initialMs: number;
}

/** Defaults: loopback and LAN round trips are well under 10 ms. */
export const HEDGE_LIMITS_DEFAULT: HedgeLimits = {
  minMs: 10,
  maxMs: 250,
  initialMs: 50,
};

/** Smoothing gains of RFC 6298. */
const ALPHA = 1 / 8;
const BETA = 1 / 4;
/** Deviations above the smoothed round trip before a call is late. */
const DEVIATIONS = 4;

/** A smoothed estimate of peer latency, and the hedge delay it gives. */
export class LatencyEstimate {
  readonly #limits: HedgeLimits;
  #srttMs: number | undefined;
  #rttVarMs = 0;

  constructor(limits: Partial<HedgeLimits> = {}) {
    this.#limits = { ...HEDGE_LIMITS_DEFAULT, ...limits };
    const { minMs, maxMs, initialMs } = this.#limits;
    assert(
      0 < minMs && minMs <= initialMs && initialMs <= maxMs,
      `hedge limits must satisfy 0 < min <= initial <= max: got ${minMs}, ${initialMs}, ${maxMs}`,
    );
  }

  /** A call answered after `ms`. */
  observe(ms: number): void {
    assert(Number.isFinite(ms) && ms >= 0, `a latency is >= 0: got ${ms}`);
    if (this.#srttMs === undefined) {
      this.#srttMs = ms;
      this.#rttVarMs = ms / 2;
      return;
    }
    this.#rttVarMs = (1 - BETA) * this.#rttVarMs +
      BETA * Math.abs(this.#srttMs - ms);
    this.#srttMs = (1 - ALPHA) * this.#srttMs + ALPHA * ms;
  }

  /** The smoothed round trip, if any call was measured. */
  get smoothedMs(): number | undefined {
    return this.#srttMs;
  }

  /** How long to wait for a replica before a stand-in is asked as well. */
  hedgeDelayMs(): number {
    const { minMs, maxMs, initialMs } = this.#limits;
    if (this.#srttMs === undefined) return initialMs;
    const late = this.#srttMs + DEVIATIONS * this.#rttVarMs;
    return Math.round(Math.min(maxMs, Math.max(minMs, late)));
  }
}
