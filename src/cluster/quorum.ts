/**
 * Waiting for a quorum of replicas: call every replica at once, settle as
 * soon as the outcome is certain either way, and let the remaining calls
 * finish in the background.
 *
 * The decision itself is {@link quorumState}, a pure function of counts
 * (etcd raft's `quorum.VoteResult`); {@link gatherQuorum} is the plumbing
 * of promises and a deadline around it.
 *
 * @module
 */

import { assert } from "@std/assert";
import type { Clock } from "../clock/mod.ts";

/** Where a quorum stands; "pending" until the outcome is certain. */
export type QuorumState = "pending" | "won" | "lost";

/** The counts a quorum is decided on. */
export interface QuorumCounts {
  /** Calls made. */
  targets: number;
  /** Replies needed. */
  need: number;
  /** Calls that counted: a reply that meets the quorum's terms. */
  counted: number;
  /** Calls that settled without counting: failures and replies that do not count. */
  failed: number;
}

/**
 * The outcome the counts decide: won once `need` counted, lost as soon as
 * the calls not yet settled cannot make up the difference, else pending.
 */
export function quorumState(c: QuorumCounts): QuorumState {
  assert(
    c.need >= 1 && c.counted >= 0 && c.failed >= 0 &&
      c.counted + c.failed <= c.targets,
    `bad quorum counts ${JSON.stringify(c)}`,
  );
  if (c.counted >= c.need) return "won";
  if (c.targets - c.failed < c.need) return "lost";
  return "pending";
}

/**
 * The outcome of a quorum that must be met in every one of several
 * groups (a write during a join or leave: the replicas now, and the
 * replicas after): won once every group is, lost as soon as one is.
 */
export function jointQuorumState(groups: readonly QuorumCounts[]): QuorumState {
  assert(groups.length >= 1, "a joint quorum has at least one group");
  const states = groups.map(quorumState);
  if (states.includes("lost")) return "lost";
  return states.every((s) => s === "won") ? "won" : "pending";
}

/** A settled quorum: the replies and failures seen when it settled. */
export interface QuorumOutcome<T> {
  state: "won" | "lost";
  /** Replies that counted. */
  replies: Map<string, T>;
  /** Calls that failed, or replied with something that does not count. */
  failures: Map<string, unknown>;
  /** True when it was lost because the deadline passed. */
  timedOut: boolean;
}

/** A quorum in progress. */
export interface Quorum<T> {
  /** Settles as soon as `need` replies counted, or that became impossible. */
  outcome: Promise<QuorumOutcome<T>>;
  /**
   * Settles when every call has settled (or the deadline passed), with
   * every reply that counted and every failure; never rejects.
   */
  all: Promise<QuorumOutcome<T>>;
}

/** Options of {@link gatherQuorum}. */
export interface GatherOptions<T> {
  /** Whether a reply counts towards the quorum; default: every reply does. */
  counts?: (reply: T) => boolean;
  /**
   * Targets held back (believed down): called too once the quorum is
   * still pending after `hedgeDelayMs`, or at once when the others can no
   * longer win it alone. Default none.
   */
  spares?: readonly string[];
  /** How long the first targets have before the spares are called. */
  hedgeDelayMs?: number;
}

/**
 * Calls `call(target)` for every target and waits for `need` replies that
 * count, until `deadlineMs` on `clock` at the latest.
 */
export function gatherQuorum<T>(
  targets: readonly string[],
  need: number,
  call: (target: string) => Promise<T>,
  clock: Clock,
  deadlineMs: number,
  options: GatherOptions<T> = {},
): Quorum<T> {
  const counts = options.counts ?? (() => true);
  const spares = [...options.spares ?? []];
  const replies = new Map<string, T>();
  const failures = new Map<string, unknown>();
  let state: QuorumState = "pending";
  let timedOut = false;
  let settle!: (outcome: QuorumOutcome<T>) => void;
  let finish!: (outcome: QuorumOutcome<T>) => void;
  const outcome = new Promise<QuorumOutcome<T>>((resolve) => settle = resolve);
  const all = new Promise<QuorumOutcome<T>>((resolve) => finish = resolve);
  let pending = targets.length;
  const total = targets.length + spares.length;
  const snapshot = (s: "won" | "lost"): QuorumOutcome<T> => ({
    state: s,
    replies: new Map(replies),
    failures: new Map(failures),
    timedOut,
  });
  // Once every call has settled (or the deadline passed), nothing changes
  // the maps any more: `all` gets them as they are, without a copy.
  const final = (s: "won" | "lost"): QuorumOutcome<T> => ({
    state: s,
    replies,
    failures,
    timedOut,
  });
  const timer = clock.after(deadlineMs, () => {
    timedOut = true;
    if (state === "pending") {
      state = "lost";
      settle(snapshot("lost"));
    }
    finish(final(state));
  });

  function decide(): void {
    if (state === "pending") {
      // The targets asked so far cannot win it alone: ask the spares now.
      const asked = total - spares.length;
      if (spares.length > 0 && asked - failures.size < need) askSpares();
      state = quorumState({
        targets: total,
        need,
        counted: replies.size,
        failed: failures.size,
      });
      if (state !== "pending") settle(snapshot(state));
    }
    // Every call asked has settled, and no spare will be: nothing changes.
    if (pending === 0 && (spares.length === 0 || state !== "pending")) {
      timer.cancel();
      hedge?.cancel();
      finish(final(state === "pending" ? "lost" : state));
    }
  }

  function ask(target: string): void {
    call(target).then(
      (reply) => {
        if (timedOut) return;
        if (counts(reply)) replies.set(target, reply);
        else failures.set(target, reply);
      },
      (error) => {
        if (!timedOut) failures.set(target, error);
      },
    ).finally(() => {
      pending--;
      if (!timedOut) decide();
    });
  }

  function askSpares(): void {
    const now = spares.splice(0);
    pending += now.length;
    for (const target of now) ask(target);
  }

  // Still pending after the hedge delay: the spares are asked too.
  const hedge = spares.length > 0
    ? clock.after(options.hedgeDelayMs ?? 0, () => {
      if (state === "pending" && !timedOut && spares.length > 0) {
        askSpares();
        decide();
      }
    })
    : undefined;

  for (const target of targets) ask(target);
  decide();
  return { outcome, all };
}
