/**
 * Runs the KV databases' simulator from the command line:
 *
 *   deno task sim:raft --seeds 1000        # seeds 1..1000
 *   deno task sim:raft --seed 42           # one seed, to replay a failure
 *   deno task sim:raft --seeds 200 --mutant  # follower reads without ReadIndex
 *
 * Prints one line per failing seed and a summary; exits 1 on a failure
 * (0 with --mutant only if the checker caught it).
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { runSeed } from "./world.ts";

const args = parseArgs(Deno.args, {
  string: ["seed", "seeds", "nodes"],
  boolean: ["mutant"],
});
const seeds = args.seed !== undefined
  ? [Number(args.seed)]
  : Array.from({ length: Number(args.seeds ?? 100) }, (_, i) => i + 1);
const started = performance.now();
let failed = 0;
const totals = {
  pauses: 0,
  ops: 0,
  crashes: 0,
  diskLosses: 0,
  partitions: 0,
  snapshots: 0,
  leaders: 0,
};
for (const seed of seeds) {
  const nodes = args.nodes !== undefined
    ? Number(args.nodes)
    : seed % 4 === 0
    ? 5
    : 3;
  const r = await runSeed(seed, { nodes, unsafeFollowerReads: args.mutant });
  for (const k of Object.keys(totals) as (keyof typeof totals)[]) {
    totals[k] += r[k];
  }
  if (r.violation !== undefined) {
    failed++;
    console.log(`seed ${seed} (${nodes} nodes): ${r.violation}`);
  }
}
const s = ((performance.now() - started) / 1000).toFixed(1);
console.log(
  `${seeds.length} runs in ${s} s: ${failed} failed; ${totals.ops} operations, ${totals.crashes} crashes (${totals.diskLosses} with disk loss), ${totals.partitions} partitions, ${totals.pauses} pauses, ${totals.snapshots} snapshots installed, ${totals.leaders} leader terms`,
);
if (args.mutant) Deno.exit(failed > 0 ? 0 : 1);
Deno.exit(failed > 0 ? 1 : 0);
