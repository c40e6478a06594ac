/**
 * An HDR-style latency histogram: log-bucketed counts with a fixed number of
 * significant decimal digits, in the layout of Gil Tene's HdrHistogram.
 *
 * Why this shape: a load generator records millions of latencies; keeping
 * them all costs memory without end, and a fixed-width histogram either
 * loses the fast end or the tail. Here every value is kept to within
 * 10^-digits of itself (3 digits: 1.000 ms and 1.001 ms are told apart,
 * 1.0004 ms is not), from 1 to {@link HISTOGRAM_VALUE_MAX}, in a fixed
 * ~190 KB, and histograms of the same shape merge by adding counts.
 *
 * Values are non-negative numbers, rounded to the nearest integer (the
 * load generator records microseconds). A value above the histogram's
 * highest trackable value is counted at that value; `max` still reports
 * it exactly.
 *
 * @example Usage
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * const h = new Histogram();
 * for (const us of [120, 130, 5000]) h.record(us);
 * h.percentile(50); // 130
 * ```
 *
 * @module
 */

import { assert } from "@std/assert";

/**
 * Largest value a histogram can hold apart from its neighbours. The index
 * arithmetic works on 32-bit integers (`Math.clz32`); in microseconds this
 * is 71 minutes, far past any request deadline.
 */
export const HISTOGRAM_VALUE_MAX = 2 ** 32 - 1;
/** Significant digits when none are given: HdrHistogram's usual choice. */
export const SIGNIFICANT_DIGITS_DEFAULT = 3;
/** More digits cost 10x memory each; 5 (~20 MB) is HdrHistogram's limit. */
export const SIGNIFICANT_DIGITS_MAX = 5;

/** Options of the {@linkcode Histogram} constructor. */
export interface HistogramOptions {
  /**
   * Significant decimal digits kept, 1 to 5.
   *
   * @default {3}
   */
  significantDigits?: number;
  /**
   * Highest value tracked with full precision, at most
   * {@link HISTOGRAM_VALUE_MAX}; larger values are counted at this value.
   *
   * @default {HISTOGRAM_VALUE_MAX}
   */
  highestTrackableValue?: number;
}

/** One point of a latency-by-percentile curve. */
export interface PercentilePoint {
  /** In [0, 100]. */
  percentile: number;
  value: number;
}

/**
 * How many of `total` values lie at or below `percentile`: at least one, so
 * that percentile 0 is the smallest value. 99.9% of 1000 must be 999, but
 * 0.999 * 1000 is 999.0000000000001 in floating point: a product within
 * rounding error of an integer counts as that integer.
 */
function countAt(percentile: number, total: number): number {
  const exact = (percentile / 100) * total;
  const nearest = Math.round(exact);
  const wanted = Math.abs(exact - nearest) <= 1e-9 * Math.max(1, exact)
    ? nearest
    : Math.ceil(exact);
  return Math.max(1, wanted);
}

/** A log-bucketed histogram of non-negative integers. */
export class Histogram {
  readonly significantDigits: number;
  readonly highestTrackableValue: number;
  readonly #subBucketHalfCountMagnitude: number;
  readonly #subBucketHalfCount: number;
  readonly #subBucketMask: number;
  /** 32 - clz32 base for the bucket index (HdrHistogram's leadingZeroCountBase). */
  readonly #leadingZeroCountBase: number;
  /** Float64: counts stay exact up to 2^53, beyond any run. */
  readonly #counts: Float64Array;
  #total = 0;
  #sum = 0;
  #min = Infinity;
  #max = 0;

  /**
   * Creates an empty histogram.
   *
   * @throws {RangeError} if an option is out of range.
   */
  constructor(options: HistogramOptions = {}) {
    const digits = options.significantDigits ?? SIGNIFICANT_DIGITS_DEFAULT;
    if (
      !Number.isInteger(digits) || digits < 1 ||
      digits > SIGNIFICANT_DIGITS_MAX
    ) {
      throw new RangeError(
        "Cannot create Histogram as 'significantDigits' must be an integer " +
          `in [1, ${SIGNIFICANT_DIGITS_MAX}]: current value is ${digits}`,
      );
    }
    const highest = options.highestTrackableValue ?? HISTOGRAM_VALUE_MAX;
    if (
      !Number.isInteger(highest) || highest < 2 || highest > HISTOGRAM_VALUE_MAX
    ) {
      throw new RangeError(
        "Cannot create Histogram as 'highestTrackableValue' must be an " +
          `integer in [2, ${HISTOGRAM_VALUE_MAX}]: current value is ${highest}`,
      );
    }
    this.significantDigits = digits;
    this.highestTrackableValue = highest;
    // Values below 2 * 10^digits get unit resolution; each bucket above
    // doubles the range and the step, keeping the relative error.
    const subBucketCountMagnitude = Math.ceil(Math.log2(2 * 10 ** digits));
    this.#subBucketHalfCountMagnitude = subBucketCountMagnitude - 1;
    const subBucketCount = 2 ** subBucketCountMagnitude;
    this.#subBucketHalfCount = subBucketCount / 2;
    this.#subBucketMask = subBucketCount - 1;
    this.#leadingZeroCountBase = 32 - this.#subBucketHalfCountMagnitude - 1;
    let bucketCount = 1;
    for (let untrackable = subBucketCount; untrackable <= highest;) {
      untrackable *= 2;
      bucketCount++;
    }
    this.#counts = new Float64Array(
      (bucketCount + 1) * this.#subBucketHalfCount,
    );
  }

  /** Number of values recorded. */
  get count(): number {
    return this.#total;
  }

  /** Smallest value recorded (exact), or 0 when empty. */
  get min(): number {
    return this.#total === 0 ? 0 : this.#min;
  }

  /** Largest value recorded (exact), or 0 when empty. */
  get max(): number {
    return this.#max;
  }

  /** Mean of the values recorded (exact), or 0 when empty. */
  get mean(): number {
    return this.#total === 0 ? 0 : this.#sum / this.#total;
  }

  /** Bytes of counts held: fixed at construction. */
  get byteLength(): number {
    return this.#counts.byteLength;
  }

  /**
   * Records `value` (rounded to an integer) `count` times.
   *
   * @throws {RangeError} if `value` is negative or not finite, or `count`
   * is not a positive integer.
   */
  record(value: number, count = 1): void {
    if (!(value >= 0) || !Number.isFinite(value)) {
      throw new RangeError(
        "Cannot record value as it must be a finite number >= 0: " +
          `current value is ${value}`,
      );
    }
    if (!Number.isSafeInteger(count) || count < 1) {
      throw new RangeError(
        "Cannot record value as 'count' must be a positive integer: " +
          `current value is ${count}`,
      );
    }
    const v = Math.round(value);
    this.#counts[this.#index(Math.min(v, this.highestTrackableValue))]! +=
      count;
    this.#total += count;
    this.#sum += v * count;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  /**
   * Adds every count of `other` to this histogram.
   *
   * @throws {RangeError} if `other` has another shape (digits or range).
   */
  merge(other: Histogram): void {
    if (
      other.significantDigits !== this.significantDigits ||
      other.highestTrackableValue !== this.highestTrackableValue
    ) {
      throw new RangeError(
        "Cannot merge histograms of different shapes: " +
          `${this.significantDigits} digits up to ${this.highestTrackableValue} ` +
          `and ${other.significantDigits} digits up to ${other.highestTrackableValue}`,
      );
    }
    if (other.#total === 0) return;
    const mine = this.#counts;
    const theirs = other.#counts;
    for (let i = 0; i < theirs.length; i++) mine[i]! += theirs[i]!;
    this.#total += other.#total;
    this.#sum += other.#sum;
    if (other.#min < this.#min) this.#min = other.#min;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  /** Forgets every value recorded. */
  reset(): void {
    this.#counts.fill(0);
    this.#total = 0;
    this.#sum = 0;
    this.#min = Infinity;
    this.#max = 0;
  }

  /**
   * The value at or below which `percentile` percent of the values fall,
   * reported as the highest value its bucket stands for (as HdrHistogram
   * does) and never above `max`. 0 when empty.
   *
   * @throws {RangeError} if `percentile` is not in [0, 100].
   */
  percentile(percentile: number): number {
    return this.percentiles([percentile])[0]!;
  }

  /**
   * {@linkcode Histogram.percentile} for several percentiles in one pass
   * over the counts; results are in the order given.
   */
  percentiles(percentiles: readonly number[]): number[] {
    for (const p of percentiles) {
      if (!(p >= 0 && p <= 100)) {
        throw new RangeError(
          "Cannot compute percentile as it must be in [0, 100]: " +
            `current value is ${p}`,
        );
      }
    }
    if (this.#total === 0) return percentiles.map(() => 0);
    const order = percentiles.map((_, i) => i).sort((a, b) =>
      percentiles[a]! - percentiles[b]!
    );
    const results = new Array<number>(percentiles.length).fill(this.#max);
    let next = 0;
    let cumulative = 0;
    const counts = this.#counts;
    for (let i = 0; i < counts.length && next < order.length; i++) {
      const c = counts[i]!;
      if (c === 0) continue;
      cumulative += c;
      while (next < order.length) {
        const slot = order[next]!;
        if (cumulative < countAt(percentiles[slot]!, this.#total)) break;
        // The last values' bucket holds the max: report it exactly (it
        // may also lie above the trackable range).
        results[slot] = cumulative === this.#total
          ? this.#max
          : Math.min(this.#highestEquivalent(i), this.#max);
        next++;
      }
    }
    return results;
  }

  /**
   * The latency-by-percentile curve HdrHistogram plots: points from 0% to
   * 100%, spaced evenly on a log scale of 1 / (1 - p) so that the tail
   * (99%, 99.9%, 99.99%...) is as visible as the median.
   */
  distribution(stepsPerDecade = 4, decades = 5): PercentilePoint[] {
    assert(stepsPerDecade >= 1 && decades >= 1);
    const ps: number[] = [];
    for (let s = 0; s <= stepsPerDecade * decades; s++) {
      ps.push(100 * (1 - 10 ** (-s / stepsPerDecade)));
    }
    ps.push(100);
    const values = this.percentiles(ps);
    return ps.map((percentile, i) => ({ percentile, value: values[i]! }));
  }

  /** Index in the counts of `value` (an integer <= highestTrackableValue). */
  #index(value: number): number {
    const bucket = this.#leadingZeroCountBase -
      Math.clz32(value | this.#subBucketMask);
    // Division, not `>>`: values above 2^31 must stay positive.
    const subBucket = Math.floor(value / 2 ** bucket);
    return ((bucket + 1) << this.#subBucketHalfCountMagnitude) +
      (subBucket - this.#subBucketHalfCount);
  }

  /** Highest value that lands in the same count as `index`'s values. */
  #highestEquivalent(index: number): number {
    let bucket = (index >> this.#subBucketHalfCountMagnitude) - 1;
    let subBucket = (index & (this.#subBucketHalfCount - 1)) +
      this.#subBucketHalfCount;
    if (bucket < 0) {
      subBucket -= this.#subBucketHalfCount;
      bucket = 0;
    }
    const lowest = subBucket * 2 ** bucket;
    return lowest + 2 ** bucket - 1;
  }
}
