import { assertEquals } from "@std/assert";
import { type PlacementRing, writePlan } from "./write_plan.ts";

/** A ring that places every key on its members in the order given. */
function ring(...members: string[]): PlacementRing {
  return {
    members,
    preferenceList: (_key, n) => members.slice(0, n),
  };
}

Deno.test("writePlan() lists replicas, future replicas and stand-ins", () => {
  const abcde = ring("a", "b", "c", "d", "e");
  const cases: {
    name: string;
    future: PlacementRing;
    steps?: PlacementRing[];
    down: string[];
    want: { groups: string[][]; targets: string[]; standIns: string[] };
  }[] = [
    {
      name: "steady: the replicas, then the rest of the ring",
      future: abcde,
      down: [],
      want: {
        groups: [["a", "b", "c"]],
        targets: ["a", "b", "c"],
        standIns: ["d", "e"],
      },
    },
    {
      name: "a down node is no stand-in",
      future: abcde,
      down: ["b", "d"],
      want: {
        groups: [["a", "b", "c"]],
        targets: ["a", "b", "c"],
        standIns: ["e"],
      },
    },
    {
      name: "b leaving: d takes its place and must reach W too",
      future: ring("a", "c", "d", "e"),
      down: [],
      want: {
        groups: [["a", "b", "c"], ["a", "c", "d"]],
        targets: ["a", "b", "c", "d"],
        standIns: ["e"],
      },
    },
    {
      name: "a move that leaves the key's replicas alone adds no group",
      future: ring("a", "b", "c", "e"),
      down: [],
      want: {
        groups: [["a", "b", "c"]],
        targets: ["a", "b", "c"],
        standIns: ["d", "e"],
      },
    },
    {
      name: "x and y joining at once: x's ring alone must reach W as well",
      // x and y in front of a: after both, the replicas are y, x, a; after
      // x's join alone, x, a, b; after y's alone, y, a, b.
      future: ring("y", "x", "a", "b", "c", "d", "e"),
      steps: [
        ring("x", "a", "b", "c", "d", "e"),
        ring("y", "a", "b", "c", "d", "e"),
      ],
      down: [],
      want: {
        groups: [
          ["a", "b", "c"],
          ["y", "x", "a"],
          ["x", "a", "b"],
          ["y", "a", "b"],
        ],
        targets: ["a", "b", "c", "y", "x"],
        standIns: ["d", "e"],
      },
    },
    {
      name: "a step ring with the same replicas as another adds no group",
      future: ring("x", "a", "b", "c", "d", "e"),
      steps: [ring("x", "a", "b", "c", "d", "e"), abcde],
      down: [],
      want: {
        groups: [["a", "b", "c"], ["x", "a", "b"]],
        targets: ["a", "b", "c", "x"],
        standIns: ["d", "e"],
      },
    },
  ];
  for (const { name, future, steps, down, want } of cases) {
    const plan = writePlan(
      "k",
      3,
      { current: abcde, future, ...(steps ? { steps } : {}) },
      (m) => down.includes(m),
    );
    assertEquals(plan, want, name);
  }
});
