/**
 * Time as the core sees it. The core never reads the system clock or arms a
 * timer itself: it is handed a {@link Clock}, so that tests can run a
 * cluster on simulated time.
 *
 * @module
 */

/** A cancellable timer handle. */
export interface Timer {
  cancel(): void;
}

/** Wall time and timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` once after `delayMs`; the returned timer cancels it. */
  after(delayMs: number, fn: () => void): Timer;
}

/** The system clock and the runtime's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  after(delayMs, fn) {
    const id = setTimeout(fn, delayMs);
    return { cancel: () => clearTimeout(id) };
  },
};

/**
 * A clock that only moves when told to: for tests and simulations.
 * `advance(ms)` fires due timers in order of their deadline.
 */
export class ManualClock implements Clock {
  #now: number;
  #timers: { at: number; seq: number; fn: () => void }[] = [];
  #seq = 0;

  constructor(startMs = 1_700_000_000_000) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  after(delayMs: number, fn: () => void): Timer {
    const timer = {
      at: this.#now + Math.max(0, delayMs),
      seq: this.#seq++,
      fn,
    };
    this.#timers.push(timer);
    return {
      cancel: () => {
        this.#timers = this.#timers.filter((t) => t !== timer);
      },
    };
  }

  /** Moves time forward by `ms`, firing every timer that falls due. */
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      const due = this.#timers
        .filter((t) => t.at <= until)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = due.at;
      due.fn();
    }
    this.#now = until;
  }
}

/**
 * Runs `task` every `intervalMs` on `clock`, never two at once: the next
 * run is scheduled when the previous one settles. Errors go to `onError`.
 */
export function repeat(
  clock: Clock,
  intervalMs: number,
  task: () => Promise<unknown>,
  onError: (error: unknown) => void = () => {},
): Timer {
  let timer: Timer | undefined;
  let stopped = false;
  const run = () => {
    timer = clock.after(intervalMs, () => {
      task().catch(onError).finally(() => {
        if (!stopped) run();
      });
    });
  };
  run();
  return {
    cancel() {
      stopped = true;
      timer?.cancel();
    },
  };
}

/**
 * A clock whose timers share one interval, at a coarse resolution: arming
 * and cancelling a timer is a Set insertion and deletion instead of a
 * runtime timer each. Every quorum arms a deadline and almost always
 * cancels it, so on the request path this saves a runtime timer per
 * request. Timers fire up to `resolutionMs` late, never early.
 */
export class TimerWheel implements Clock {
  readonly #resolutionMs: number;
  readonly #buckets = new Map<number, Set<() => void>>();
  #interval: ReturnType<typeof setInterval> | undefined;
  #size = 0;

  constructor(resolutionMs = 10) {
    this.#resolutionMs = resolutionMs;
  }

  now(): number {
    return Date.now();
  }

  after(delayMs: number, fn: () => void): Timer {
    const slot = Math.ceil(
      (Date.now() + Math.max(0, delayMs)) /
        this.#resolutionMs,
    );
    let bucket = this.#buckets.get(slot);
    if (bucket === undefined) {
      bucket = new Set();
      this.#buckets.set(slot, bucket);
    }
    // A wrapper, so that the same function can be armed twice.
    const entry = () => fn();
    bucket.add(entry);
    this.#size++;
    this.#arm();
    const owner = bucket;
    return {
      cancel: () => {
        if (owner.delete(entry) && --this.#size === 0) this.#disarm();
      },
    };
  }

  #arm(): void {
    if (this.#interval !== undefined) return;
    this.#interval = setInterval(() => this.#tick(), this.#resolutionMs);
  }

  #tick(): void {
    const due = Math.floor(Date.now() / this.#resolutionMs);
    for (const [slot, bucket] of this.#buckets) {
      if (slot > due) continue;
      this.#buckets.delete(slot);
      for (const fn of bucket) {
        this.#size--;
        fn();
      }
      // Fired timers leave the set, so a late cancel() changes nothing.
      bucket.clear();
    }
    if (this.#size === 0) this.#disarm();
  }

  /** No timer is pending: stop the interval, forget the empty buckets. */
  #disarm(): void {
    clearInterval(this.#interval);
    this.#interval = undefined;
    this.#buckets.clear();
  }
}
