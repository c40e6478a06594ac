/**
 * The simulator's one scheduler: simulated time and every event of a run
 * (timers, message deliveries, faults, client operations) in one heap
 * ordered by (time, order of scheduling). After each event the promise
 * continuations it caused run to completion before the next event, so the
 * core sees the same interleaving on every run of a seed.
 *
 * The core's few truly asynchronous calls (ring building digests with Web
 * Crypto, on a thread pool) go through {@link Scheduler.external}: the
 * scheduler waits for them before it moves on, and hands their results
 * back as events, in the order they were asked for, whatever order the
 * thread pool finished them in.
 *
 * @module
 */

import { assert } from "@std/assert";
import { setImmediate } from "node:timers";

/** A cancellable event. */
export interface Cancellable {
  cancel(): void;
}

interface Event {
  at: number;
  seq: number;
  fn: (() => void) | null;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

interface External {
  outcome: Outcome | undefined;
  /** Settles when the outside promise has, having noted its outcome. */
  done: Promise<void>;
  deliver: (outcome: Outcome) => void;
}

/** Simulated time and the events that fall due in it. */
export class Scheduler {
  /** Simulated ms since the run began. */
  now = 0;
  /** Events run so far. */
  steps = 0;
  #heap: Event[] = [];
  #seq = 0;
  #external: External[] = [];

  /** Runs `fn` after `ms` simulated ms (0: after the events already due now). */
  after(ms: number, fn: () => void): Cancellable {
    assert(Number.isFinite(ms), `a delay must be finite: got ${ms}`);
    const event: Event = {
      at: this.now + Math.max(0, Math.ceil(ms)),
      seq: this.#seq++,
      fn,
    };
    this.#push(event);
    return { cancel: () => event.fn = null };
  }

  /**
   * Wraps a promise the core awaits that settles outside simulated time:
   * its outcome is handed back as an event, in the order asked for.
   */
  external<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: External = {
        outcome: undefined,
        // Only noted here: the thread pool's order must not show.
        done: promise.then(
          (value) => void (entry.outcome = { ok: true, value }),
          (error) => void (entry.outcome = { ok: false, error }),
        ),
        deliver: (o) => o.ok ? resolve(o.value as T) : reject(o.error),
      };
      this.#external.push(entry);
    });
  }

  /** How many events are waiting. */
  get pending(): number {
    return this.#heap.length;
  }

  /**
   * Runs the next event due at or before `until`, then lets what it caused
   * run; false when no event is due by then.
   */
  async step(until: number): Promise<boolean> {
    await this.#settleExternal();
    for (;;) {
      const next = this.#heap[0];
      if (next === undefined || next.at > until) return false;
      this.#pop();
      if (next.fn === null) continue;
      this.now = next.at;
      this.steps++;
      next.fn();
      // Every continuation this event caused runs before the next event.
      await new Promise((resolve) => setImmediate(resolve));
      return true;
    }
  }

  /**
   * Waits for the outside promises asked for so far, then hands their
   * outcomes back as events in the order they were asked for.
   */
  async #settleExternal(): Promise<void> {
    while (this.#external.length > 0) {
      const batch = this.#external;
      this.#external = [];
      await Promise.all(batch.map((entry) => entry.done));
      for (const entry of batch) {
        this.after(0, () => entry.deliver(entry.outcome!));
      }
    }
  }

  #less(a: Event, b: Event): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(event: Event): void {
    const h = this.#heap;
    h.push(event);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
