import { assertEquals, assertThrows } from "@std/assert";
import { jointQuorumState, quorumState } from "./quorum.ts";

Deno.test("quorumState() decides as soon as the counts make the outcome certain", () => {
  const table: [number, number, number, number, string][] = [
    // targets, need, counted, failed, state
    [3, 2, 0, 0, "pending"],
    [3, 2, 1, 0, "pending"],
    [3, 2, 2, 0, "won"],
    [3, 2, 1, 1, "pending"],
    [3, 2, 0, 2, "lost"],
    [3, 2, 1, 2, "lost"],
    [3, 3, 2, 1, "lost"],
    [3, 3, 3, 0, "won"],
    [1, 1, 0, 0, "pending"],
    [1, 1, 0, 1, "lost"],
    [5, 3, 3, 2, "won"],
  ];
  for (const [targets, need, counted, failed, state] of table) {
    assertEquals(
      quorumState({ targets, need, counted, failed }),
      state,
      `${counted} counted and ${failed} failed of ${targets}, need ${need}`,
    );
  }
});

Deno.test("quorumState() asserts its counts are possible", () => {
  assertThrows(() =>
    quorumState({ targets: 2, need: 1, counted: 2, failed: 1 })
  );
  assertThrows(() =>
    quorumState({ targets: 2, need: 0, counted: 0, failed: 0 })
  );
});

Deno.test("jointQuorumState() is won when every group is, lost when one is", () => {
  const won = { targets: 3, need: 2, counted: 2, failed: 0 };
  const pending = { targets: 3, need: 2, counted: 1, failed: 1 };
  const lost = { targets: 3, need: 2, counted: 1, failed: 2 };
  const table: [typeof won[], string][] = [
    [[won], "won"],
    [[won, won], "won"],
    [[won, pending], "pending"],
    [[pending, won], "pending"],
    [[won, lost], "lost"],
    [[lost, pending], "lost"],
  ];
  for (const [groups, state] of table) {
    assertEquals(jointQuorumState(groups), state, JSON.stringify(groups));
  }
  assertThrows(() => jointQuorumState([]));
});
