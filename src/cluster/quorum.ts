/**
 * Waiting for a quorum of replicas: call every replica at once, settle as
 * soon as the outcome is certain either way, and let the remaining calls
 * finish in the background.
 *
 * @module
 */

import type { Clock } from "../clock/mod.ts";

/** Where a quorum stands; "pending" until the outcome is certain. */
export type QuorumState = "pending" | "won" | "lost";

/** A settled quorum: the replies and failures seen when it settled. */
export interface QuorumOutcome<T> {
  state: "won" | "lost";
  replies: Map<string, T>;
  failures: Map<string, unknown>;
  /** True when it was lost because the deadline passed. */
  timedOut: boolean;
}

/** A quorum in progress. */
export interface Quorum<T> {
  /** Settles as soon as `need` replies arrived, or that became impossible. */
  outcome: Promise<QuorumOutcome<T>>;
  /** Settles when every call has settled, with every reply; never rejects. */
  all: Promise<Map<string, T>>;
}

/**
 * Calls `call(target)` for every target and waits for `need` replies, until
 * `deadlineMs` on `clock` at the latest.
 */
export function gatherQuorum<T>(
  targets: readonly string[],
  need: number,
  call: (target: string) => Promise<T>,
  clock: Clock,
  deadlineMs: number,
): Quorum<T> {
  const replies = new Map<string, T>();
  const failures = new Map<string, unknown>();
  let state: QuorumState = "pending";
  let settle!: (outcome: QuorumOutcome<T>) => void;
  const outcome = new Promise<QuorumOutcome<T>>((resolve) => settle = resolve);
  const timer = clock.after(deadlineMs, () => decide(true));

  function decide(timedOut = false): void {
    if (state !== "pending") return;
    if (replies.size >= need) state = "won";
    else if (timedOut || targets.length - failures.size < need) state = "lost";
    else return;
    timer.cancel();
    settle({
      state,
      replies: new Map(replies),
      failures: new Map(failures),
      timedOut,
    });
  }

  const all = Promise.all(targets.map(async (target) => {
    try {
      replies.set(target, await call(target));
    } catch (error) {
      failures.set(target, error);
    }
    decide();
  })).then(() => replies);
  decide();
  return { outcome, all };
}
