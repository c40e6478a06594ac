/**
 * Collects a run's outcomes: a latency histogram per operation, error
 * counts, and a time line of fixed intervals (throughput and latency
 * percentiles per second) for the chart.
 *
 * Time is passed in by the caller (milliseconds on any monotonic clock), so
 * the recorder does no I/O and a test drives it with made-up times. An
 * interval closes when the first outcome past its end arrives, or at
 * {@linkcode Recorder.finish}; seconds without any outcome show as zeros.
 *
 * @module
 */

import { assert } from "@std/assert";
import { Histogram } from "./histogram.ts";
import type { Op } from "./workload.ts";

/** Interval of the time line when none is given: one second. */
export const INTERVAL_MS_DEFAULT = 1000;
/** Most intervals kept: a day of seconds. Later ones are dropped. */
export const TIMELINE_SAMPLES_MAX = 86_400;
/** Most distinct error kinds kept apart; the rest count as "other". */
export const ERROR_KINDS_MAX = 32;

/** Percentiles the time line keeps per interval. */
const INTERVAL_PERCENTILES = [50, 90, 99] as const;

/** One interval of the time line. */
export interface IntervalSample {
  /** Seconds from the start of the run to the end of this interval. */
  endS: number;
  /** Length of this interval (the last one may be short). */
  durationS: number;
  /** Successful requests completed in it. */
  requests: number;
  /** Keys those requests read or wrote. */
  keys: number;
  /** Failed requests completed in it. */
  errors: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
}

/** Outcomes of one operation. */
export interface OpRecord {
  requests: number;
  keys: number;
  errors: number;
  /** Latencies of the successful requests, in microseconds. */
  latencyUs: Histogram;
}

/** Everything a finished run recorded. */
export interface Recording {
  durationMs: number;
  ops: Map<Op, OpRecord>;
  /** Every operation's latencies together. */
  allUs: Histogram;
  /** Failures by kind, e.g. `"http 503"`, `"connection"`. */
  errorKinds: Record<string, number>;
  timeline: IntervalSample[];
  /** True when the run outlasted {@link TIMELINE_SAMPLES_MAX} intervals. */
  timelineTruncated: boolean;
}

/** What a progress display shows. */
export interface Progress {
  elapsedMs: number;
  requests: number;
  errors: number;
  /** Requests per second over the last complete interval (or so far). */
  requestsPerS: number;
  /** p99 of the last complete interval, 0 before the first. */
  p99Us: number;
}

/** Collects outcomes; see the module doc. */
export class Recorder {
  readonly #startMs: number;
  readonly #intervalMs: number;
  readonly #ops = new Map<Op, OpRecord>();
  readonly #interval = new Histogram();
  readonly #errorKinds: Record<string, number> = {};
  readonly #timeline: IntervalSample[] = [];
  #truncated = false;
  #intervalEndMs: number;
  #intervalRequests = 0;
  #intervalKeys = 0;
  #intervalErrors = 0;
  #requests = 0;
  #errors = 0;
  #finished = false;

  /** Starts recording at `startMs`. */
  constructor(startMs: number, options: { intervalMs?: number } = {}) {
    const intervalMs = options.intervalMs ?? INTERVAL_MS_DEFAULT;
    assert(intervalMs > 0, "intervalMs must be positive");
    this.#startMs = startMs;
    this.#intervalMs = intervalMs;
    this.#intervalEndMs = startMs + intervalMs;
  }

  /** A successful request of `op` on `keys` keys that took `latencyUs`. */
  success(op: Op, keys: number, latencyUs: number, atMs: number): void {
    this.#advance(atMs);
    const record = this.#op(op);
    record.requests++;
    record.keys += keys;
    record.latencyUs.record(latencyUs);
    this.#interval.record(latencyUs);
    this.#intervalRequests++;
    this.#intervalKeys += keys;
    this.#requests++;
  }

  /** A failed request of `op`; `kind` groups it in the report. */
  failure(op: Op, kind: string, atMs: number): void {
    this.#advance(atMs);
    this.#op(op).errors++;
    const known = kind in this.#errorKinds ||
      Object.keys(this.#errorKinds).length < ERROR_KINDS_MAX;
    const key = known ? kind : "other";
    this.#errorKinds[key] = (this.#errorKinds[key] ?? 0) + 1;
    this.#intervalErrors++;
    this.#errors++;
  }

  /** The run so far, as of `atMs`. */
  progress(atMs: number): Progress {
    const elapsedMs = Math.max(0, atMs - this.#startMs);
    const last = this.#timeline.at(-1);
    const requestsPerS = last !== undefined
      ? last.requests / last.durationS
      : elapsedMs > 0
      ? this.#requests / (elapsedMs / 1000)
      : 0;
    return {
      elapsedMs,
      requests: this.#requests,
      errors: this.#errors,
      requestsPerS,
      p99Us: last?.p99Us ?? 0,
    };
  }

  /** Closes the last interval at `endMs` and returns everything. */
  finish(endMs: number): Recording {
    assert(!this.#finished, "Recorder.finish() called twice");
    this.#advance(endMs);
    // The last interval ends with the run: count it only if it has length.
    const partialMs = endMs - (this.#intervalEndMs - this.#intervalMs);
    if (partialMs > 0) this.#close(endMs);
    this.#finished = true;
    const allUs = new Histogram();
    for (const record of this.#ops.values()) allUs.merge(record.latencyUs);
    return {
      durationMs: endMs - this.#startMs,
      ops: this.#ops,
      allUs,
      errorKinds: { ...this.#errorKinds },
      timeline: this.#timeline,
      timelineTruncated: this.#truncated,
    };
  }

  #op(op: Op): OpRecord {
    let record = this.#ops.get(op);
    if (record === undefined) {
      record = { requests: 0, keys: 0, errors: 0, latencyUs: new Histogram() };
      this.#ops.set(op, record);
    }
    return record;
  }

  /** Closes every interval that ended at or before `atMs`. */
  #advance(atMs: number): void {
    assert(!this.#finished, "Recorder used after finish()");
    while (atMs >= this.#intervalEndMs) {
      this.#close(this.#intervalEndMs);
      this.#intervalEndMs += this.#intervalMs;
    }
  }

  #close(endMs: number): void {
    if (this.#timeline.length >= TIMELINE_SAMPLES_MAX) {
      this.#truncated = true;
    } else {
      const [p50, p90, p99] = this.#interval.percentiles(INTERVAL_PERCENTILES);
      const startMs = this.#intervalEndMs - this.#intervalMs;
      this.#timeline.push({
        endS: (endMs - this.#startMs) / 1000,
        durationS: (endMs - startMs) / 1000,
        requests: this.#intervalRequests,
        keys: this.#intervalKeys,
        errors: this.#intervalErrors,
        p50Us: p50!,
        p90Us: p90!,
        p99Us: p99!,
        maxUs: this.#interval.max,
      });
    }
    // A silent interval has nothing to clear: skip the 190 KB fill.
    if (this.#interval.count > 0) this.#interval.reset();
    this.#intervalRequests = 0;
    this.#intervalKeys = 0;
    this.#intervalErrors = 0;
  }
}
