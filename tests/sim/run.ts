/**
 * Runs the simulator of the Dynamo keyspace:
 *
 *   deno task sim                     # 100 random seeds
 *   deno task sim --runs 500          # 500 random seeds
 *   deno task sim --seed 42           # one seed: replays a failure exactly
 *   deno task sim --steps 2000 --nodes 7
 *
 * Prints each failing seed with the command that replays it, and ends
 * with "N passed, N failed"; exits 1 when a run failed.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { drawConfig, FAULT_KINDS, type FaultKind } from "./config.ts";
import { World } from "./world.ts";

const args = parseArgs(Deno.args, {
  string: ["seed", "runs", "steps", "nodes", "from", "faults"],
  boolean: ["verbose", "trace"],
});
const faults = (args.faults as string | undefined)?.split(",").filter((f) =>
  f !== ""
);
for (const f of faults ?? []) {
  if (!FAULT_KINDS.includes(f as FaultKind)) {
    console.error(`unknown fault '${f}': one of ${FAULT_KINDS.join(", ")}`);
    Deno.exit(2);
  }
}
const overrides = {
  ...(faults !== undefined ? { faults: faults as FaultKind[] } : {}),
  ...(args.steps !== undefined ? { steps: Number(args.steps) } : {}),
  ...(args.nodes !== undefined ? { nodes: Number(args.nodes) } : {}),
};
const seeds = args.seed !== undefined ? [Number(args.seed)] : Array.from(
  { length: Number(args.runs ?? 100) },
  (_, i) =>
    args.from !== undefined
      ? Number(args.from) + i
      : crypto.getRandomValues(new Uint32Array(1))[0]!,
);
const started = performance.now();
let passed = 0;
let failed = 0;
for (const seed of seeds) {
  const config = drawConfig(seed, overrides);
  const world = new World(config);
  if (args.trace) {
    console.log(`=== seed ${seed}`);
    world.trace = (line) => console.log(line);
  }
  const result = await world.run();
  if (result.violation === undefined) {
    passed++;
    if (args.verbose) {
      console.log(`seed ${seed}: ok ${JSON.stringify(result.stats)}`);
    }
  } else {
    failed++;
    const flags = [
      `--seed ${seed}`,
      ...(args.steps !== undefined ? [`--steps ${args.steps}`] : []),
      ...(args.nodes !== undefined ? [`--nodes ${args.nodes}`] : []),
      ...(args.faults !== undefined ? [`--faults ${args.faults}`] : []),
    ].join(" ");
    console.log(`seed ${seed}: ${result.violation}`);
    console.log(`  replay: deno task sim ${flags}`);
  }
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `${seeds.length} runs in ${seconds.toFixed(1)} s (${
    (seeds.length / seconds).toFixed(2)
  } runs/s)`,
);
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(failed > 0 ? 1 : 0);
