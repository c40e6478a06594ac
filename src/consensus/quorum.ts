/**
 * Quorum decisions as pure functions of counts (etcd's
 * `quorum/majority.go`): the outcome of a vote, the index a majority has.
 *
 * @module
 */

import type { NodeId } from "./types.ts";

/** A vote's outcome, as soon as it is certain either way. */
export type VoteResult = "pending" | "won" | "lost";

/** The outcome of a vote among `voters`, from the answers in `votes`. */
export function voteResult(
  voters: ReadonlySet<NodeId>,
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  // An empty configuration wins every vote (a group being set up).
  if (voters.size === 0) return "won";
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = majority(voters.size);
  if (granted >= q) return "won";
  if (voters.size - rejected < q) return "lost";
  return "pending";
}

/** The smallest majority of `n`. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The largest index that a majority of `voters` has (by `matched`): what
 * may be committed. 0 for voters with no entry known.
 */
export function committedIndex(
  voters: ReadonlySet<NodeId>,
  matched: (id: NodeId) => number,
): number {
  if (voters.size === 0) return Number.MAX_SAFE_INTEGER;
  const indexes = [...voters].map(matched).sort((a, b) => b - a);
  return indexes[majority(voters.size) - 1]!;
}
