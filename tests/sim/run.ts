/**
 * Runs the simulator of the Dynamo keyspace:
 *
 *   deno task sim                     # 100 random seeds
 *   deno task sim --runs 500          # 500 random seeds
 *   deno task sim --seed 42           # one seed: replays a failure exactly
 *   deno task sim --steps 2000 --nodes 7
 *   deno task sim --mutant drop_hints --runs 50   # a deliberate bug
 *   deno task sim --scenario split --runs 20      # availability figures
 *
 * Prints each failing seed with the command that replays it, and ends
 * with "N passed, N failed"; exits 1 when a run failed. With `--mutant`
 * (a name of `src/mutants.ts`, or `all`) failures are what is wanted: it
 * says which runs caught each mutant, and exits 1 if one went uncaught.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import {
  drawConfig,
  FAULT_KINDS,
  type FaultKind,
  type Scenario,
} from "./config.ts";
import type { ScenarioStats } from "./world.ts";
import { type Mutant, MUTANTS, mutants } from "../../src/mutants.ts";
import { World } from "./world.ts";

const args = parseArgs(Deno.args, {
  string: [
    "seed",
    "runs",
    "steps",
    "nodes",
    "from",
    "faults",
    "mutant",
    "scenario",
  ],
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
const scenario = args.scenario as Scenario | undefined;
if (scenario !== undefined && scenario !== "split" && scenario !== "freeze") {
  console.error(`unknown scenario '${scenario}': split or freeze`);
  Deno.exit(2);
}
const overrides = {
  ...(scenario !== undefined ? { scenario } : {}),
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
const flags = (seed: number, mutant?: string) =>
  [
    `--seed ${seed}`,
    ...(args.steps !== undefined ? [`--steps ${args.steps}`] : []),
    ...(args.nodes !== undefined ? [`--nodes ${args.nodes}`] : []),
    ...(args.faults !== undefined ? [`--faults ${args.faults}`] : []),
    ...(mutant !== undefined ? [`--mutant ${mutant}`] : []),
    ...(scenario !== undefined ? [`--scenario ${scenario}`] : []),
  ].join(" ");

/** Runs every seed; resolves with the seeds that failed. */
async function runAll(mutant?: string): Promise<number[]> {
  const failures: number[] = [];
  for (const seed of seeds) {
    const world = new World(drawConfig(seed, overrides));
    if (args.trace) {
      console.log(`=== seed ${seed}`);
      world.trace = (line) => console.log(line);
    }
    const result = await world.run();
    runs++;
    if (result.stats.scenario !== undefined) {
      scenarios.push(result.stats.scenario);
    }
    if (result.violation === undefined) {
      if (args.verbose) {
        console.log(`seed ${seed}: ok ${JSON.stringify(result.stats)}`);
      }
      continue;
    }
    failures.push(seed);
    console.log(`seed ${seed}: ${result.violation}`);
    console.log(`  replay: deno task sim ${flags(seed, mutant)}`);
  }
  return failures;
}

const started = performance.now();
let runs = 0;
const scenarios: ScenarioStats[] = [];
/** The availability figures over every run of a scenario. */
const reportScenario = () => {
  const sum = (f: (s: ScenarioStats) => number) =>
    scenarios.reduce((t, s) => t + f(s), 0);
  const ms = scenarios.flatMap((s) => s.latenciesMs).sort((a, b) => a - b);
  const at = (q: number) =>
    ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
  const pct = (a: number, b: number) => `${(100 * a / b).toFixed(2)} %`;
  console.log(
    `${scenario}: ${sum((s) => s.acknowledged)} of ${
      sum((s) => s.writes)
    } writes acknowledged (${
      pct(sum((s) => s.acknowledged), sum((s) => s.writes))
    }); first second ${sum((s) => s.firstSecondAcknowledged)} of ${
      sum((s) => s.firstSecondWrites)
    } (${
      pct(
        sum((s) => s.firstSecondAcknowledged),
        sum((s) => s.firstSecondWrites),
      )
    }); simulated latency p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${
      ms.at(-1)
    } ms`,
  );
};
const report = () => {
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${runs} runs in ${seconds.toFixed(1)} s (${
      (runs / seconds).toFixed(2)
    } runs/s)`,
  );
};
if (args.mutant !== undefined) {
  const names = args.mutant === "all" ? MUTANTS : [args.mutant as Mutant];
  let missed = 0;
  for (const name of names) {
    if (!MUTANTS.includes(name)) {
      console.error(`unknown mutant '${name}': one of ${MUTANTS.join(", ")}`);
      Deno.exit(2);
    }
    mutants.clear();
    mutants.add(name);
    const caught = await runAll(name);
    if (caught.length === 0) missed++;
    console.log(
      `mutant ${name}: caught by ${caught.length} of ${seeds.length} runs`,
    );
  }
  mutants.clear();
  report();
  Deno.exit(missed > 0 ? 1 : 0);
}
const failed = (await runAll()).length;
if (scenario !== undefined) reportScenario();
report();
console.log(`${seeds.length - failed} passed, ${failed} failed`);
Deno.exit(failed > 0 ? 1 : 0);
