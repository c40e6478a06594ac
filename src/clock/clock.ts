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
 * A clock whose timers share one runtime timer, at a coarse resolution:
 * arming and cancelling a timer is a Set insertion and deletion instead of
 * a runtime timer each. Every quorum arms a deadline and almost always
 * cancels it, so on the request path this saves a runtime timer per
 * request. Timers fire up to `resolutionMs` late, never early.
 *
 * The runtime timer is set for the earliest slot that holds a timer, and
 * moved only when an earlier one is armed: an idle node wakes when a timer
 * is due, not every `resolutionMs` (a fixed interval cost an idle node
 * about 1% of a core in wake-ups). A slot emptied by cancels is dropped;
 * the runtime timer set for it finds nothing and moves on to the next.
 */
export class TimerWheel implements Clock {
  readonly #resolutionMs: number;
  readonly #buckets = new Map<number, Set<() => void>>();
  #timeout: ReturnType<typeof setTimeout> | undefined;
  /** The slot the runtime timer is set for; Infinity when none is. */
  #armedSlot = Infinity;
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
    if (slot < this.#armedSlot) this.#armAt(slot);
    const owner = bucket;
    return {
      cancel: () => {
        if (!owner.delete(entry)) return;
        this.#size--;
        if (owner.size === 0 && this.#buckets.get(slot) === owner) {
          this.#buckets.delete(slot);
        }
        if (this.#size === 0) this.#disarm();
      },
    };
  }

  /** Sets the runtime timer for `slot`'s start (moving it if set). */
  #armAt(slot: number): void {
    if (this.#timeout !== undefined) clearTimeout(this.#timeout);
    this.#armedSlot = slot;
    this.#timeout = setTimeout(
      () => this.#fire(),
      Math.max(0, slot * this.#resolutionMs - Date.now()),
    );
  }

  #fire(): void {
    this.#timeout = undefined;
    this.#armedSlot = Infinity;
    const due = Math.floor(Date.now() / this.#resolutionMs);
    // The due buckets first: a timer a callback arms waits for a later turn.
    const fired: Set<() => void>[] = [];
    for (const [slot, bucket] of this.#buckets) {
      if (slot > due) continue;
      this.#buckets.delete(slot);
      fired.push(bucket);
    }
    for (const bucket of fired) {
      for (const fn of bucket) {
        this.#size--;
        fn();
      }
      // Fired timers leave the set, so a late cancel() changes nothing.
      bucket.clear();
    }
    let next = Infinity;
    for (const slot of this.#buckets.keys()) next = Math.min(next, slot);
    if (next < this.#armedSlot) this.#armAt(next);
  }

  /** No timer is pending: clear the runtime timer. */
  #disarm(): void {
    if (this.#timeout !== undefined) clearTimeout(this.#timeout);
    this.#timeout = undefined;
    this.#armedSlot = Infinity;
    this.#buckets.clear();
  }
}
