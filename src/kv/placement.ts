/**
 * Where a KV database's voters live: rendezvous hashing (highest random
 * weight) of the database's name with each member. Every node computes
 * the same ranking from the same members without talking to anyone, a
 * database's voters spread evenly over the members, and a member that
 * goes changes only the placements it was part of.
 *
 * @module
 */

import { murmur3 } from "../ring/hash.ts";

/** Members ranked for `db`, best first. */
export function rankMembers(db: string, members: Iterable<string>): string[] {
  const unique = [...new Set(members)];
  const score = new Map(unique.map((m) => [m, murmur3(`${db}\n${m}`, 0x6b76)]));
  return unique.sort((a, b) =>
    score.get(b)! - score.get(a)! || (a < b ? -1 : a > b ? 1 : 0)
  );
}

/** The `count` members that hold `db` (fewer if there are fewer members). */
export function placeVoters(
  db: string,
  members: Iterable<string>,
  count: number,
): string[] {
  return rankMembers(db, members).slice(0, count).sort();
}

/** What a group's leader should change next, if anything. */
export type PlacementStep =
  | { kind: "remove"; member: string }
  | { kind: "add"; member: string }
  | { kind: "none" };

/**
 * One single-server step from `voters` towards the placement: a voter
 * that is gone (left or removed) goes first, so that the quorum is
 * computed without it before a replacement has to catch up; then a
 * missing voter is added, the best ranked of the eligible members.
 * Members merely down are not replaced: they may come back, and Raft
 * works on with a majority.
 */
export function nextPlacementStep(
  db: string,
  voters: readonly string[],
  target: number,
  gone: (member: string) => boolean,
  eligible: readonly string[],
): PlacementStep {
  const goneVoter = voters.find(gone);
  // Never remove the last voter: the group would be lost.
  if (goneVoter !== undefined && voters.length > 1) {
    return { kind: "remove", member: goneVoter };
  }
  if (voters.length < target) {
    const candidate = rankMembers(db, eligible).find((m) =>
      !voters.includes(m) && !gone(m)
    );
    if (candidate !== undefined) return { kind: "add", member: candidate };
  }
  return { kind: "none" };
}
