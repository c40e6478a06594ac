import { assertEquals, assertNotEquals } from "@std/assert";
import { Ring } from "../ring/mod.ts";
import type { Member } from "./membership.ts";
import { stepMembers, Topology } from "./topology.ts";

function member(
  address: string,
  phase: Member["phase"] = "ready",
  state: Member["state"] = "alive",
): Member {
  return { address, state, phase, incarnation: 1 };
}

Deno.test("stepMembers() gives each mover its ring alone, once two move", () => {
  const cases: {
    name: string;
    members: Member[];
    want: [string, string[]][];
  }[] = [
    {
      name: "nobody moves",
      members: [member("a"), member("b")],
      want: [],
    },
    {
      name: "one join: the write ring is its ring alone",
      members: [member("a"), member("b"), member("x", "joining")],
      want: [],
    },
    {
      name: "two joins: each beside the read ring",
      members: [
        member("a"),
        member("b"),
        member("x", "joining"),
        member("y", "joining", "dead"),
      ],
      want: [["x", ["a", "b", "x"]], ["y", ["a", "b", "y"]]],
    },
    {
      name: "a join and a leave",
      members: [
        member("a"),
        member("b", "leaving"),
        member("x", "joining"),
      ],
      want: [["b", ["a"]], ["x", ["a", "b", "x"]]],
    },
    {
      name: "a member that left is no mover",
      members: [
        member("a"),
        member("b", "leaving", "left"),
        member("x", "joining"),
      ],
      want: [],
    },
  ];
  for (const { name, members, want } of cases) {
    assertEquals([...stepMembers(members)], want, name);
  }
});

Deno.test("Topology keeps a step ring per mover while two move", async () => {
  const build = (members: readonly string[]) =>
    Ring.build(members, { vnodes: 8 });
  const topology = await Topology.create(build, [member("a"), member("b")]);
  assertEquals(topology.stepRings, []);
  assertEquals(topology.ringsAfter("a"), [topology.writeRing]);

  await topology.update([member("a"), member("b"), member("x", "joining")]);
  assertEquals(topology.stepRings, []);
  assertEquals(topology.ringsAfter("x"), [topology.writeRing]);

  const version = topology.version;
  await topology.update([
    member("a"),
    member("b"),
    member("x", "joining"),
    member("y", "joining"),
  ]);
  assertNotEquals(topology.version, version);
  assertEquals(topology.writeRing.members.toSorted(), ["a", "b", "x", "y"]);
  assertEquals(
    topology.stepRings.map((r) => r.members.toSorted()),
    [["a", "b", "x"], ["a", "b", "y"]],
  );
  const [write, alone] = topology.ringsAfter("y");
  assertEquals(write, topology.writeRing);
  assertEquals(alone!.members.toSorted(), ["a", "b", "y"]);
});
