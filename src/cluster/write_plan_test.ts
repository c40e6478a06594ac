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
  ];
  for (const { name, future, down, want } of cases) {
    const plan = writePlan(
      "k",
      3,
      { current: abcde, future },
      (m) => down.includes(m),
    );
    assertEquals(plan, want, name);
  }
});
