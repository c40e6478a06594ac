/**
 * The simulator's CI budget: a fixed range of seeds under every fault,
 * the regression seeds (each a bug the simulator found, fixed), every
 * mutant of `src/mutants.ts` caught, and a seed that replays the same
 * trace. A failure prints the command that replays it
 * (`deno task sim --seed S ...`); docs/simulation.md says more.
 */

import { assert, assertEquals } from "@std/assert";
import { type Mutant, MUTANTS, mutants } from "../../src/mutants.ts";
import { type ConfigOverrides, drawConfig, type FaultKind } from "./config.ts";
import { World } from "./world.ts";

/** Every fault but the moves (join, leave, remove): see docs/simulation.md. */
const STEADY_FAULTS: FaultKind[] = [
  "split",
  "asymmetric",
  "isolate",
  "bridge",
  "flap",
  "crash",
  "restart",
  "pause",
  "clock_step",
];

/** Bugs the simulator found, with the arguments that showed them. */
export const REGRESSIONS: {
  seed: number;
  steps: number;
  faults?: FaultKind[];
  bug: string;
}[] = [
  {
    seed: 109,
    steps: 40,
    bug: "a member restarted with --join joined again; reads skipped it",
  },
  {
    seed: 20161,
    steps: 30,
    bug: "every node restarted with --join joined again at once",
  },
  {
    seed: 30016,
    steps: 100,
    bug: "a deleted key came back while restarted members joined again",
  },
  {
    seed: 20455,
    steps: 30,
    bug: "a restarted node read from a member still joining (its -C list)",
  },
  {
    seed: 30045,
    steps: 100,
    bug: "a node restarted after a removal placed keys on its old ring",
  },
  {
    seed: 30035,
    steps: 100,
    bug: "a restarted node's first ring missed leaves and a re-join",
  },
  {
    seed: 20435,
    steps: 30,
    bug: "checker: a hint's owner that is no longer a replica hands it on",
  },
  {
    seed: 470,
    steps: 30,
    bug: "harness: a node restarted while its removal was under way",
  },
  {
    seed: 10024,
    steps: 30,
    bug: "harness: a removal counted only once its announcement returned",
  },
  {
    seed: 30004,
    steps: 100,
    bug: "checker: a disk lost while a write was in flight",
  },
  {
    seed: 1055,
    steps: 60,
    bug: "a write during a leave reached W on the old replicas only",
  },
  {
    seed: 1058,
    steps: 60,
    bug: "a join streamed before every coordinator knew of it",
  },
  {
    seed: 141,
    steps: 30,
    faults: STEADY_FAULTS,
    bug: "list_keys answered with more than N - R members silent",
  },
  {
    seed: 1009,
    steps: 60,
    bug: "checker: a holder that crashed before the acknowledgement",
  },
  {
    seed: 1000,
    steps: 60,
    bug: "checker: read repair judged on a stale view of the ring",
  },
  {
    seed: 3735949906,
    steps: 300,
    bug: "a record stored after a clean handoff pass was never handed off",
  },
  {
    seed: 1340039924,
    steps: 300,
    bug:
      "a member back with an empty disk left the read ring to nodes without its data",
  },
  {
    seed: 1916042772,
    steps: 300,
    bug: "a handoff pass that failed left the ring marked clean",
  },
  {
    seed: 4069217488,
    steps: 300,
    bug: "a joiner that waited for a leave lost its only seed with it",
  },
  {
    seed: 2504810653,
    steps: 300,
    bug:
      "a join got no copy of ranges whose sources each thought another first",
  },
  {
    seed: 452747571,
    steps: 300,
    bug:
      "two moves at once: the ring after one named replicas no stream reached",
  },
  {
    seed: 1569169289,
    steps: 300,
    bug: "a leave heard by one member only, which crashed, never ended",
  },
  {
    seed: 3241109952,
    steps: 300,
    bug: "two leaves at once: each began on a view without the other",
  },
  {
    seed: 2344636400,
    steps: 300,
    bug: "hints for a member no longer in the table waited for it forever",
  },
  {
    seed: 315079599,
    steps: 300,
    bug: "a restarted node took a -C address not yet joined for a member",
  },
  {
    seed: 3054734143,
    steps: 300,
    bug: "checker: a hint for a member back with --join, not yet announced",
  },
  {
    seed: 1464387064,
    steps: 300,
    bug: "a leave cut off from every member ended with nobody told",
  },
  {
    seed: 4188756733,
    steps: 300,
    bug: "a leave handed a down new owner's records to a stand-in as hints",
  },
  {
    seed: 372609431,
    steps: 300,
    bug: "a waiting join whose seeds went silent joined beside another move",
  },
  ...[2191505644, 1513993828, 243173216, 2580865345].map((seed) => ({
    seed,
    steps: 300,
    bug: "the same: a read missed a W=N write after joins side by side",
  })),
  {
    seed: 2542902901,
    steps: 300,
    bug: "a --join node no seed answered for 15 s joined again, beside a move",
  },
  {
    seed: 597501035,
    steps: 300,
    bug: "a joiner took only the sender's entry of a table it had asked for",
  },
  {
    seed: 78437024,
    steps: 300,
    bug: "a new node listed as another's start-up seed came in ready, empty",
  },
  {
    seed: 233122800,
    steps: 300,
    bug: "the same: a W=1 write missed by an R=3 read through the empty node",
  },
  {
    seed: 1240723929,
    steps: 300,
    bug: "of three joins at once, one went ready first without the writes " +
      "its ring alone would have had it take",
  },
  {
    seed: 2975040103,
    steps: 300,
    bug: "a removed node restarted with --join came back on the ring: its " +
      "seed had not heard of the removal yet",
  },
  {
    seed: 4228567116,
    steps: 300,
    bug: "a joiner asked a source for the ranges another had missed out of " +
      "ring order, and the source refused the request",
  },
  {
    seed: 1716255785,
    steps: 300,
    bug: "checker: a W=1 write whose one copy went with a disk before its " +
      "answer arrived was taken for acknowledged and kept",
  },
  {
    seed: 547134416,
    steps: 300,
    bug: "a restarted node took a seed's own never-heard seed for a member: " +
      "its ring held a phantom, and its join skipped a range",
  },
  {
    seed: 2542004091,
    steps: 300,
    bug: "checker: a read placed on a stale ring (cut off as a join " +
      "completed) and answered once the ring was current was held to R + W > N",
  },
];

async function run(
  seed: number,
  overrides: ConfigOverrides,
): Promise<string | undefined> {
  const result = await new World(drawConfig(seed, overrides)).run();
  return result.violation;
}

function replay(seed: number, o: ConfigOverrides, mutant?: Mutant): string {
  return [
    `deno task sim --seed ${seed}`,
    ...(o.steps !== undefined ? [`--steps ${o.steps}`] : []),
    ...(o.faults !== undefined ? [`--faults ${o.faults.join(",")}`] : []),
    ...(mutant !== undefined ? [`--mutant ${mutant}`] : []),
  ].join(" ");
}

/** Runs seeds `from`..`from + count - 1`; the failures, with replays. */
async function budget(
  from: number,
  count: number,
  overrides: ConfigOverrides,
): Promise<string[]> {
  const failures: string[] = [];
  for (let seed = from; seed < from + count; seed++) {
    const violation = await run(seed, overrides);
    if (violation !== undefined) {
      failures.push(`${violation}\n  replay: ${replay(seed, overrides)}`);
    }
  }
  return failures;
}

Deno.test("sim: 160 seeds under partitions, loss, crashes, pauses and clock steps lose no acknowledged write", async () => {
  const failures = await budget(1, 160, { steps: 30, faults: STEADY_FAULTS });
  assertEquals(failures, [], failures.join("\n"));
});

Deno.test("sim: 40 seeds with joins, leaves and removals among every other fault", async () => {
  const failures = await budget(10_001, 40, { steps: 30 });
  assertEquals(failures, [], failures.join("\n"));
});

Deno.test("sim: the regression seeds replay green", async () => {
  const failures: string[] = [];
  for (const { seed, steps, faults, bug } of REGRESSIONS) {
    const overrides = { steps, ...(faults !== undefined ? { faults } : {}) };
    const violation = await run(seed, overrides);
    if (violation !== undefined) {
      failures.push(
        `${bug}: ${violation}\n  replay: ${replay(seed, overrides)}`,
      );
    }
  }
  assertEquals(failures, [], failures.join("\n"));
});

Deno.test("sim: every mutant is caught within 20 seeds", async () => {
  const caughtAt: Record<string, number | null> = {};
  try {
    for (const mutant of MUTANTS) {
      mutants.clear();
      mutants.add(mutant);
      caughtAt[mutant] = null;
      for (let seed = 1; seed <= 20; seed++) {
        if (await run(seed, { steps: 30 }) !== undefined) {
          caughtAt[mutant] = seed;
          break;
        }
      }
    }
  } finally {
    mutants.clear();
  }
  const missed = Object.entries(caughtAt).filter(([, s]) => s === null);
  assertEquals(missed, [], `uncaught: ${JSON.stringify(caughtAt)}`);
});

for (
  const [scenario, what] of [
    ["split", "through the majority of a 2|3 split"],
    ["freeze", "around a frozen node"],
  ] as const
) {
  Deno.test(`sim: writes ${what} succeed from the first second`, async () => {
    let writes = 0;
    let acknowledged = 0;
    let firstSecond = 0;
    let firstSecondAcknowledged = 0;
    const failures: string[] = [];
    for (let seed = 1; seed <= 10; seed++) {
      const result = await new World(drawConfig(seed, { scenario })).run();
      if (result.violation !== undefined) {
        failures.push(
          `${result.violation}\n  replay: deno task sim --seed ${seed} --scenario ${scenario}`,
        );
      }
      const s = result.stats.scenario!;
      writes += s.writes;
      acknowledged += s.acknowledged;
      firstSecond += s.firstSecondWrites;
      firstSecondAcknowledged += s.firstSecondAcknowledged;
    }
    assertEquals(failures, [], failures.join("\n"));
    assert(writes > 500, `only ${writes} writes`);
    assert(acknowledged / writes >= 0.99, `${acknowledged} of ${writes}`);
    assert(
      firstSecondAcknowledged / firstSecond >= 0.99,
      `first second: ${firstSecondAcknowledged} of ${firstSecond}`,
    );
  });
}

Deno.test("sim: a seed replays the same trace", async () => {
  const trace = async () => {
    const lines: string[] = [];
    const world = new World(drawConfig(7, { steps: 30 }));
    world.trace = (line) => lines.push(line);
    const result = await world.run();
    return { lines, stats: result.stats };
  };
  const first = await trace();
  const second = await trace();
  assert(first.lines.length > 50, "the trace says what happened");
  assertEquals(second.lines, first.lines);
  assertEquals(second.stats, first.stats);
});
