/**
 * One round of a write with hedging: every replica of the plan is sent
 * the record at once; a replica that is down, fails, or has not answered
 * within the hedge delay (a multiple of recent peer latency, far below
 * the peer deadline) gets a stand-in in parallel, which keeps the record
 * as a hint. A stand-in that is itself late or unreachable gets the next
 * one in parallel too: nothing waits serially on an unreachable node. So
 * a write reaches W as soon as W reachable nodes answer, sloppy quorum
 * included, however many of its replicas a partition cut off.
 *
 * The decision is {@link jointQuorumState} on counts (each group of the
 * plan must reach W); this file is the plumbing of calls and timers.
 *
 * @module
 */

import { assert } from "@std/assert";
import type { Clock } from "../clock/mod.ts";
import type { WriteAck } from "./coordinator.ts";
import {
  jointQuorumState,
  type QuorumOutcome,
  type QuorumState,
} from "./quorum.ts";
import type { WritePlan } from "./write_plan.ts";

/** What a hedged write round needs from its coordinator. */
export interface HedgedWriteOptions {
  plan: WritePlan;
  /** Acknowledgements each group needs (capped at the group's size). */
  need: number;
  /** Only a replica's own acknowledgement counts, never a stand-in's. */
  strict: boolean;
  /** True when the failure detector holds `member` down. */
  isDown: (member: string) => boolean;
  /** Writes the record to a replica. */
  direct: (target: string) => Promise<WriteAck>;
  /** Has `standIn` keep the record as a hint for `target`. */
  hint: (standIn: string, target: string) => Promise<void>;
  /** True for the errors that mean a node could not take the write. */
  isFailure: (error: unknown) => boolean;
  clock: Clock;
  /** Until the round is lost. */
  deadlineMs: number;
  /** How long a replica or stand-in may take before another is asked. */
  hedgeDelayMs: number;
}

/** A round in progress, as {@link gatherQuorum} gives one. */
export interface HedgedWrite {
  /** Settles as soon as every group won, or one cannot. */
  outcome: Promise<QuorumOutcome<WriteAck>>;
  /** Settles once every call has (or the deadline passed). */
  all: Promise<QuorumOutcome<WriteAck>>;
}

interface TargetState {
  ack: WriteAck | undefined;
  hinted: boolean;
  directFailed: boolean;
  error: unknown;
  /** Stand-ins asked for it and not yet settled. */
  standInsActive: number;
  /** No stand-in is left to ask. */
  exhausted: boolean;
  /** The write went to the replica a second time. */
  resent: boolean;
}

/** Runs one hedged write round. */
export function hedgedWrite(o: HedgedWriteOptions): HedgedWrite {
  const { plan, strict } = o;
  assert(plan.groups.length >= 1, "a write has a group of replicas");
  const targets = new Map<string, TargetState>();
  for (const t of plan.targets) {
    targets.set(t, {
      ack: undefined,
      hinted: false,
      directFailed: false,
      error: undefined,
      standInsActive: 0,
      exhausted: false,
      resent: false,
    });
  }
  const standIns = [...plan.standIns];
  let state: QuorumState = "pending";
  let timedOut = false;
  let calls = 0;
  let settle!: (outcome: QuorumOutcome<WriteAck>) => void;
  let finish!: (outcome: QuorumOutcome<WriteAck>) => void;
  const outcome = new Promise<QuorumOutcome<WriteAck>>((r) => settle = r);
  const all = new Promise<QuorumOutcome<WriteAck>>((r) => finish = r);
  const timers: { cancel(): void }[] = [];

  const counted = (s: TargetState) =>
    s.ack !== undefined || (!strict && s.hinted);
  const failed = (s: TargetState) =>
    !counted(s) &&
    (strict
      ? s.directFailed
      : s.directFailed && s.standInsActive === 0 && s.exhausted);
  const snapshot = (final: boolean): QuorumOutcome<WriteAck> => {
    const replies = new Map<string, WriteAck>();
    const failures = new Map<string, unknown>();
    for (const [t, s] of targets) {
      if (s.ack !== undefined) replies.set(t, s.ack);
      else if (s.hinted && !strict) {
        replies.set(t, { hinted: true, newer: undefined });
      } else if (s.directFailed || final) {
        failures.set(
          t,
          s.hinted ? { hinted: true, newer: undefined } : s.error,
        );
      }
    }
    const settled = state === "pending" ? "lost" : state;
    return { state: settled, replies, failures, timedOut };
  };
  const decide = () => {
    if (state === "pending") {
      state = jointQuorumState(plan.groups.map((group) => {
        const members = group.map((t) => targets.get(t)!);
        return {
          targets: group.length,
          need: Math.min(o.need, group.length),
          counted: members.filter(counted).length,
          failed: members.filter(failed).length,
        };
      }));
      if (state !== "pending") settle(snapshot(false));
    }
    if (calls === 0) {
      for (const timer of timers) timer.cancel();
      finish(snapshot(true));
    }
  };
  /** Tracks a call: `decide` runs when it settles. */
  const track = <T>(promise: Promise<T>): Promise<T> => {
    calls++;
    return promise.finally(() => {
      calls--;
      if (!timedOut) decide();
    });
  };
  /** Asks the next stand-in to keep a hint for `target`. */
  const standIn = (target: string) => {
    const s = targets.get(target)!;
    let candidate: string | undefined;
    while ((candidate = standIns.shift()) !== undefined) {
      if (!o.isDown(candidate)) break;
    }
    if (candidate === undefined) {
      s.exhausted = true;
      // No stand-in left for a replica that has not failed, only not
      // answered: the write may have been lost on the way, so it goes to
      // the replica once more (a write is idempotent).
      if (!s.directFailed && !s.resent && state === "pending") {
        s.resent = true;
        void track(
          o.direct(target).then(
            (ack) => void (s.ack ??= ack),
            (error) => {
              if (!o.isFailure(error)) throw error;
            },
          ),
        );
      }
      return;
    }
    s.standInsActive++;
    let hedged = false;
    const hedge = () => {
      if (hedged || counted(s) || state !== "pending") return;
      hedged = true;
      standIn(target);
    };
    timers.push(o.clock.after(o.hedgeDelayMs, hedge));
    void track(
      o.hint(candidate, target).then(
        () => void (s.hinted = true),
        (error) => {
          if (!o.isFailure(error)) throw error;
          s.error ??= error;
          hedge();
        },
      ).finally(() => s.standInsActive--),
    );
  };

  for (const [target, s] of targets) {
    if (o.isDown(target)) {
      s.directFailed = true;
      s.error = "down";
      standIn(target);
      continue;
    }
    let helped = false;
    const help = () => {
      if (helped) return;
      helped = true;
      standIn(target);
    };
    if (!strict) {
      // Late: a stand-in is asked as well, in parallel.
      timers.push(o.clock.after(o.hedgeDelayMs, () => {
        if (s.ack === undefined && state === "pending") help();
      }));
    }
    void track(
      o.direct(target).then(
        (ack) => void (s.ack = ack),
        (error) => {
          if (!o.isFailure(error)) throw error;
          s.directFailed = true;
          s.error = error;
          // Failed: a stand-in keeps a hint, strict or not (durability).
          help();
        },
      ),
    );
  }
  timers.push(o.clock.after(o.deadlineMs, () => {
    timedOut = true;
    if (state === "pending") {
      state = "lost";
      settle(snapshot(false));
    }
    finish(snapshot(true));
  }));
  decide();
  return { outcome, all };
}
