import { assert, assertEquals } from "@std/assert";
import { nextPlacementStep, placeVoters, rankMembers } from "./placement.ts";

const MEMBERS = [
  "10.0.0.1:5878",
  "10.0.0.2:5878",
  "10.0.0.3:5878",
  "10.0.0.4:5878",
  "10.0.0.5:5878",
];

Deno.test("placeVoters() is the same for every node, whatever order it knows the members in", () => {
  const a = placeVoters("orders", MEMBERS, 3);
  const b = placeVoters("orders", [...MEMBERS].reverse(), 3);
  assertEquals(a, b);
  assertEquals(a.length, 3);
  assertEquals(placeVoters("orders", MEMBERS.slice(0, 2), 3).length, 2);
});

Deno.test("rankMembers() spreads the first-ranked member (the preferred leader) over the members", () => {
  const firsts = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const first = rankMembers(`db${i}`, MEMBERS)[0]!;
    firsts.set(first, (firsts.get(first) ?? 0) + 1);
  }
  assertEquals(firsts.size, MEMBERS.length);
  for (const n of firsts.values()) assert(n > 200 / MEMBERS.length / 2, `${n}`);
});

Deno.test("nextPlacementStep() removes a voter that left before it adds its replacement", () => {
  const voters = placeVoters("db", MEMBERS, 3);
  const leaving = voters[1]!;
  const gone = (m: string) => m === leaving;
  const step = nextPlacementStep("db", voters, 3, gone, MEMBERS);
  assertEquals(step, { kind: "remove", member: leaving });
  const after = voters.filter((v) => v !== leaving);
  const add = nextPlacementStep("db", after, 3, gone, MEMBERS);
  assertEquals(add.kind, "add");
  assert(add.kind === "add" && !voters.includes(add.member));
  assertEquals(
    nextPlacementStep(
      "db",
      [...after, (add as { member: string }).member],
      3,
      gone,
      MEMBERS,
    ),
    { kind: "none" },
  );
  // The last voter is never removed, and nothing is added that is not eligible.
  assertEquals(nextPlacementStep("db", [leaving], 3, gone, [leaving]), {
    kind: "none",
  });
});
