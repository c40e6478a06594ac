/**
 * The KV databases under simulation: many seeds of partitions, crashes
 * (with and without disk loss of a minority), delayed, reordered, lost
 * and duplicated messages and skewed clocks, each history checked for
 * linearizability and every step for Raft's safety properties. A failure
 * prints its seed: `deno task sim:raft --seed N` replays it.
 */

import { assert, assertEquals } from "@std/assert";
import { runSeed } from "./world.ts";

/** Seeds per CI run; `deno task sim:raft --seeds 1000` runs more. */
const SEEDS = 60;

Deno.test("sim: linearizable and safe on every seed, 3 and 5 nodes, under every fault", async () => {
  const failures: string[] = [];
  let snapshots = 0;
  let diskLosses = 0;
  let crashes = 0;
  let ops = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = await runSeed(seed, { nodes: seed % 4 === 0 ? 5 : 3 });
    if (r.violation !== undefined) {
      failures.push(`seed ${seed}: ${r.violation}`);
    }
    snapshots += r.snapshots;
    diskLosses += r.diskLosses;
    crashes += r.crashes;
    ops += r.ops;
  }
  assertEquals(failures, []);
  // The faults did happen: the runs are not vacuous.
  assert(
    crashes > SEEDS && diskLosses > 0 && snapshots > 0 && ops > SEEDS * 20,
  );
});

Deno.test("sim: the checker catches follower reads served without ReadIndex", async () => {
  let caught = 0;
  const seeds = 10;
  for (let seed = 1; seed <= seeds; seed++) {
    const r = await runSeed(seed, { unsafeFollowerReads: true });
    if (r.violation?.includes("not linearizable")) caught++;
  }
  assert(
    caught >= seeds / 2,
    `the mutant was caught in ${caught} of ${seeds} runs`,
  );
});
