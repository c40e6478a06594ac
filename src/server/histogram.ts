/**
 * Latency histograms in Prometheus' shape (cumulative buckets, a sum and a
 * count), and a one-minute window of the same buckets for `kvdb status`'s
 * ops/s and p99. Observing is a bucket search over a dozen bounds: cheap
 * enough for every request.
 *
 * @module
 */

/**
 * Bucket bounds, in seconds: 0.25 ms to 10 s, about 2.5x apart, as
 * Prometheus' client libraries choose for request latencies.
 */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

function bucketOf(bounds: readonly number[], seconds: number): number {
  let i = 0;
  while (i < bounds.length && seconds > bounds[i]!) i++;
  return i;
}

/** One histogram: a count per bucket (the last is +Inf), a sum, a count. */
export class Histogram {
  readonly bounds: readonly number[];
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[] = LATENCY_BUCKETS_SECONDS) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    this.counts[bucketOf(this.bounds, seconds)]!++;
    this.sum += seconds;
    this.count++;
  }

  /** Exposition lines; `labels` is `name="value",...` or "". */
  lines(metric: string, labels: string): string[] {
    const out: string[] = [];
    const sep = labels === "" ? "" : ",";
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += this.counts[i]!;
      out.push(`${metric}_bucket{${labels}${sep}le="${bound}"} ${cumulative}`);
    });
    out.push(`${metric}_bucket{${labels}${sep}le="+Inf"} ${this.count}`);
    const braces = labels === "" ? "" : `{${labels}}`;
    out.push(`${metric}_sum${braces} ${this.sum}`);
    out.push(`${metric}_count${braces} ${this.count}`);
    return out;
  }
}

/**
 * The `q` quantile of bucket counts (not cumulative), interpolated inside
 * its bucket as Prometheus' `histogram_quantile` does; `null` when empty.
 */
export function quantile(
  q: number,
  bounds: readonly number[],
  counts: ArrayLike<number>,
): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i]!;
    if (below + n >= rank && n > 0) {
      // Past the last bound there is no upper edge: answer the last bound.
      if (i >= bounds.length) return bounds[bounds.length - 1]!;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      const upper = bounds[i]!;
      return lower + (upper - lower) * ((rank - below) / n);
    }
    below += n;
  }
  return bounds[bounds.length - 1]!;
}

/** What a window holds: requests per second and the p99 latency. */
export interface WindowSummary {
  /** Seconds the summary covers (less than the window just after start). */
  seconds: number;
  /** Requests per second over those seconds. */
  opsPerSecond: number;
  /** The 99th percentile latency in milliseconds; null without requests. */
  p99Ms: number | null;
}

/**
 * The last `seconds` of observations, one slot of bucket counts per
 * second, for "ops/s and p99 over the last minute".
 */
export class RecentWindow {
  readonly #slots: Float64Array[];
  readonly #slotSecond: Float64Array;
  readonly #bounds: readonly number[];
  readonly #startedAtMs: number;

  constructor(
    startedAtMs: number,
    readonly seconds = 60,
    bounds: readonly number[] = LATENCY_BUCKETS_SECONDS,
  ) {
    this.#bounds = bounds;
    this.#startedAtMs = startedAtMs;
    this.#slots = Array.from(
      { length: seconds },
      () => new Float64Array(bounds.length + 1),
    );
    this.#slotSecond = new Float64Array(seconds).fill(-1);
  }

  observe(nowMs: number, seconds: number): void {
    const second = Math.floor(nowMs / 1000);
    const i = second % this.seconds;
    const slot = this.#slots[i]!;
    if (this.#slotSecond[i] !== second) {
      slot.fill(0);
      this.#slotSecond[i] = second;
    }
    slot[bucketOf(this.#bounds, seconds)]!++;
  }

  summary(nowMs: number): WindowSummary {
    const now = Math.floor(nowMs / 1000);
    const merged = new Float64Array(this.#bounds.length + 1);
    let count = 0;
    this.#slots.forEach((slot, i) => {
      const second = this.#slotSecond[i]!;
      if (second < 0 || now - second >= this.seconds) return;
      for (let b = 0; b < slot.length; b++) {
        merged[b]! += slot[b]!;
        count += slot[b]!;
      }
    });
    const covered = Math.min(
      this.seconds,
      Math.max(1, (nowMs - this.#startedAtMs) / 1000),
    );
    const p99 = quantile(0.99, this.#bounds, merged);
    return {
      seconds: Math.round(covered),
      opsPerSecond: count / covered,
      p99Ms: p99 === null ? null : p99 * 1000,
    };
  }
}
