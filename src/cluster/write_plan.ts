/**
 * Where a write goes, as data (riak_core's annotated preference list,
 * `get_apl_ann`): the key's replicas, which count towards W; during a
 * join or leave, the replicas it will have after, which must reach W as
 * well (so that the new owners hold every acknowledged write when the
 * move completes, whatever the transfer missed), and, during two moves at
 * once, the replicas after each alone; and the stand-ins that
 * may keep a hint for a replica that is down or late, in ring order.
 *
 * Pure: the rings and the failure detector's view are handed in.
 *
 * @module
 */

import { assert } from "@std/assert";

/** What a plan needs of a ring. */
export interface PlacementRing {
  readonly members: readonly string[];
  preferenceList(key: string, n: number): string[];
}

/** A write's targets, as {@link writePlan} decides them. */
export interface WritePlan {
  /** Replica groups, each of which must reach W: now, and after a move. */
  groups: string[][];
  /** Every replica of any group, once, the current ones first. */
  targets: string[];
  /** Nodes that may keep a hint, in ring order: not a target, not down. */
  standIns: string[];
}

/**
 * The plan for a write of `key` with `n` replicas. `future` is the ring
 * after the current joins and leaves (the same ring when none); `steps`,
 * while more than one member moves, the rings after each move alone
 * (see Topology): their replicas must reach W as well.
 */
export function writePlan(
  key: string,
  n: number,
  rings: {
    current: PlacementRing;
    future: PlacementRing;
    steps?: readonly PlacementRing[];
  },
  isDown: (member: string) => boolean,
): WritePlan {
  const { current, future, steps = [] } = rings;
  assert(n >= 1, `a write has at least one replica: got n = ${n}`);
  const now = current.preferenceList(key, n);
  const groups = [now];
  const targets = [...now];
  const add = (ring: PlacementRing) => {
    if (ring === current) return;
    const after = ring.preferenceList(key, Math.min(n, ring.members.length));
    // A group within the current replicas adds nothing to wait for; one
    // already planned, nothing twice.
    if (after.every((m) => now.includes(m))) return;
    if (groups.some((g) => sameMembers(g, after))) return;
    groups.push(after);
    for (const m of after) if (!targets.includes(m)) targets.push(m);
  };
  add(future);
  for (const ring of steps) add(ring);
  const standIns = current.preferenceList(key, current.members.length)
    .filter((m) => !targets.includes(m) && !isDown(m));
  return { groups, targets, standIns };
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((m) => b.includes(m));
}
