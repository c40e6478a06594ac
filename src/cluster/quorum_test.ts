import { assertEquals, assertThrows } from "@std/assert";
import { ManualClock } from "../clock/mod.ts";
import { gatherQuorum, jointQuorumState, quorumState } from "./quorum.ts";

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

Deno.test("gatherQuorum() asks its spares once the targets are late or fail, and only then", async () => {
  const settle = () => new Promise((r) => setTimeout(r, 0));
  const cases: {
    name: string;
    answers: Record<string, "ok" | "fail" | "never">;
    want: { asked: string[]; state: string; afterMs: number };
  }[] = [
    {
      name: "the targets win: no spare asked, settled at once",
      answers: { a: "ok", b: "ok" },
      want: { asked: ["a", "b"], state: "won", afterMs: 0 },
    },
    {
      name: "a target is late: the spare after the hedge delay",
      answers: { a: "ok", b: "never", c: "ok" },
      want: { asked: ["a", "b", "c"], state: "won", afterMs: 50 },
    },
    {
      name: "a target fails: the spare at once",
      answers: { a: "ok", b: "fail", c: "ok" },
      want: { asked: ["a", "b", "c"], state: "won", afterMs: 0 },
    },
    {
      name: "the spare fails too: lost",
      answers: { a: "ok", b: "fail", c: "fail" },
      want: { asked: ["a", "b", "c"], state: "lost", afterMs: 0 },
    },
  ];
  for (const { name, answers, want } of cases) {
    const clock = new ManualClock(0);
    const asked: string[] = [];
    const quorum = gatherQuorum(
      ["a", "b"],
      2,
      (t) => {
        asked.push(t);
        const a = answers[t];
        return a === "ok"
          ? Promise.resolve(t)
          : a === "fail"
          ? Promise.reject(new Error(`${t} failed`))
          : new Promise(() => {});
      },
      clock,
      5_000,
      { spares: ["c"], hedgeDelayMs: 50 },
    );
    let outcome: { state: string; at: number } | undefined;
    quorum.outcome.then((o) => outcome = { state: o.state, at: clock.now() });
    for (let t = 0; t <= 100 && outcome === undefined; t += 10) {
      await settle();
      if (outcome === undefined) clock.advance(10);
    }
    assertEquals(
      { asked, state: outcome?.state, afterMs: outcome?.at },
      want,
      name,
    );
  }
});
