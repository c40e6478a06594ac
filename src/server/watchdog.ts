/**
 * Deadlines for body reads with one shared timer. A timer per request
 * would cost a few microseconds on every request of the hot path; here a
 * request costs a set insertion, and one interval sweeps the set while it
 * is not empty.
 *
 * @module
 */

interface Watch {
  startedAtMs: number;
  expire: () => void;
}

/** Gives up on work that takes longer than a deadline. */
export class Watchdog {
  readonly deadlineMs: number;
  readonly #pending = new Set<Watch>();
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** `now` is a monotonic clock in ms; default `performance.now`. */
  constructor(deadlineMs: number, now: () => number = () => performance.now()) {
    this.deadlineMs = deadlineMs;
    this.#now = now;
  }

  /**
   * Settles as `work` does, unless the deadline passes first: then
   * `onExpiry` runs (to cancel the work) and the result rejects with what
   * `error` returns. The deadline is enforced to within a quarter of it.
   */
  guard<T>(
    work: Promise<T>,
    onExpiry: () => void,
    error: () => Error,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const watch: Watch = {
        startedAtMs: this.#now(),
        expire: () => {
          onExpiry();
          reject(error());
        },
      };
      this.#pending.add(watch);
      this.#arm();
      work.then(
        (value) => {
          this.#pending.delete(watch);
          resolve(value);
        },
        (reason) => {
          this.#pending.delete(watch);
          reject(reason);
        },
      );
    });
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    const period = Math.max(5, Math.min(1_000, this.deadlineMs / 4));
    const timer = setInterval(() => this.#sweep(), period);
    // A pending read must not keep the process alive on its own.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #sweep(): void {
    const now = this.#now();
    for (const watch of this.#pending) {
      if (now - watch.startedAtMs >= this.deadlineMs) {
        this.#pending.delete(watch);
        watch.expire();
      }
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
