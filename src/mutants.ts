/**
 * Deliberate bugs, switched on only by the simulator (`deno task sim
 * --mutant NAME`) to show that its checkers catch them: FoundationDB's
 * BUGGIFY in spirit. Nothing outside `tests/sim` adds to {@link mutants};
 * with the set empty each check is one failed `Set.has`.
 *
 * @module
 */

/** The bugs that can be switched on. */
export type Mutant =
  /** A read does not bring stale replicas up to date. */
  | "skip_read_repair"
  /** A stand-in acknowledges a hint and forgets it. */
  | "drop_hints"
  /** The memory engine stores a record older than the one it holds. */
  | "accept_older"
  /**
   * Reads and the memory engine take a tombstone for no record at all, so
   * an older value wins over a delete.
   */
  | "ignore_tombstone";

/** Every mutant, for the runner's `--mutant all`. */
export const MUTANTS: readonly Mutant[] = [
  "skip_read_repair",
  "drop_hints",
  "accept_older",
  "ignore_tombstone",
];

/** The mutants switched on (empty outside the simulator). */
export const mutants: Set<Mutant> = new Set();
