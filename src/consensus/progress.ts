/**
 * What a leader knows of each follower's log (etcd's `tracker.Progress`):
 * how far it matches, what to send next, and the flow control of appends
 * (probe one at a time; replicate pipelined up to a window; wait while a
 * snapshot is in flight).
 *
 * @module
 */

import { assert } from "./types.ts";

/** How the leader sends to a follower. */
export type ProgressState = "probe" | "replicate" | "snapshot";

/** A bounded window of appends in flight, by their last index. */
export class Inflights {
  readonly #size: number;
  #queue: number[] = [];

  constructor(size: number) {
    assert(size > 0, "an inflight window holds at least one append");
    this.#size = size;
  }

  add(index: number): void {
    assert(!this.full(), "no append is added to a full window");
    this.#queue.push(index);
  }

  /** Frees every append up to `index` (acknowledged). */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.#queue.length && this.#queue[n]! <= index) n++;
    if (n > 0) this.#queue = this.#queue.slice(n);
  }

  full(): boolean {
    return this.#queue.length >= this.#size;
  }

  count(): number {
    return this.#queue.length;
  }

  reset(): void {
    this.#queue = [];
  }
}

/** One follower's progress, as the leader tracks it. */
export class Progress {
  match: number;
  next: number;
  state: ProgressState = "probe";
  /** The snapshot index in flight, in state "snapshot". */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** In state "probe": an append is out; wait for its answer or a heartbeat. */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(
    match: number,
    next: number,
    inflightsMax: number,
    isLearner: boolean,
  ) {
    this.match = match;
    this.next = next;
    this.inflights = new Inflights(inflightsMax);
    this.isLearner = isLearner;
  }

  #reset(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, probe from just past it.
    if (this.state === "snapshot") {
      const pending = this.pendingSnapshot;
      this.#reset("probe");
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.#reset("probe");
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.#reset("replicate");
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.#reset("snapshot");
    this.pendingSnapshot = snapshotIndex;
  }

  /** An acknowledgement up to `n`; true if it moved `match`. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A rejected append at `rejected`; `matchHint` is where the follower
   * thinks the logs may agree. True if `next` moved back (resend).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      // A stale rejection: the follower has since matched further.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe, only the rejection of the last probe counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** Whether sending appends must wait. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.msgAppFlowPaused;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }

  /** Records an append of `entries` entries ending at `lastIndex`. */
  sentEntries(entries: number, lastIndex: number): void {
    if (this.state === "replicate") {
      if (entries > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === "probe") {
      this.msgAppFlowPaused = true;
    }
  }
}
