/**
 * The background purge of expired records. Reads never return an expired
 * record whether or not it was purged (they judge expiry by the clock); the
 * purge only gives the space back. It runs in small batches so that a
 * million keys expiring at once never stall the node, and takes its time
 * and timers from a {@link Clock}, so tests drive it with a `ManualClock`.
 *
 * @module
 */

import { type EventLog, NO_LOG } from "../log.ts";
import type { Clock, Timer } from "../clock/mod.ts";
import { PURGE_BATCH_RECORDS_MAX, PURGE_INTERVAL_MS } from "../limits.ts";
import type { Store } from "./store.ts";

/** Options of {@link startPurger}. */
export interface PurgerOptions {
  /** Pause between passes that found nothing more to do. Default {@link PURGE_INTERVAL_MS}. */
  intervalMs?: number;
  /** Most records per pass. Default {@link PURGE_BATCH_RECORDS_MAX}. */
  batchMax?: number;
  /**
   * How long after its expiry a record is purged; default 0. With several
   * replicas per key, keep expired records for a while (see
   * `EXPIRED_PURGE_GRACE_MS`) so that read repair cannot bring back an older
   * value from a replica that missed the expiring write.
   */
  graceMs?: number;
  /** Where a failed pass is reported (once, until a pass succeeds again). */
  log?: EventLog;
}

/** A running purge loop. */
export interface Purger {
  /** Records purged since it started. */
  readonly purged: number;
  /** Stops the loop and waits for a pass in progress. */
  stop(): Promise<void>;
}

/** Starts purging `store`'s expired records in the background. */
export function startPurger(
  store: Store,
  clock: Clock,
  options: PurgerOptions = {},
): Purger {
  const intervalMs = options.intervalMs ?? PURGE_INTERVAL_MS;
  const batchMax = options.batchMax ?? PURGE_BATCH_RECORDS_MAX;
  const graceMs = options.graceMs ?? 0;
  const log = options.log ?? NO_LOG;
  let purged = 0;
  let stopped = false;
  let failing = false;
  let timer: Timer | null = null;
  let running: Promise<void> = Promise.resolve();

  const pass = async () => {
    timer = null;
    let count = 0;
    try {
      count = await store.purgeExpired(clock.now() - graceMs, batchMax);
      purged += count;
      if (failing) log("purge.recovered", {});
      failing = false;
    } catch (error) {
      // A storage fault (disk full, I/O error) is the operator's to fix;
      // say so once rather than once a second.
      if (!failing) {
        log("purge.failed", { error }, "error");
      }
      failing = true;
    }
    // A full batch means more are due: go again soon, but through the
    // timer, so that requests are served in between.
    if (!stopped) {
      timer = clock.after(count === batchMax ? 0 : intervalMs, () => {
        running = pass();
      });
    }
  };
  timer = clock.after(intervalMs, () => {
    running = pass();
  });

  return {
    get purged() {
      return purged;
    },
    async stop() {
      stopped = true;
      timer?.cancel();
      timer = null;
      await running;
    },
  };
}
