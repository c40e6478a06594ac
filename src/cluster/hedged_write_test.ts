import { assertEquals } from "@std/assert";
import { ManualClock } from "../clock/mod.ts";
import { PeerError } from "../transport/mod.ts";
import type { WriteAck } from "./coordinator.ts";
import { hedgedWrite, type HedgedWriteOptions } from "./hedged_write.ts";
import { isPeerFailure } from "./peer_failure.ts";

/** How each node answers: after `ms`, with an ack, a failure, or never. */
type Behaviour = { ms: number; fails?: boolean } | "never";

const settle = () => new Promise((r) => setTimeout(r, 0));

function round(
  behaviours: Record<string, Behaviour>,
  options: Partial<HedgedWriteOptions> & Pick<HedgedWriteOptions, "plan">,
) {
  const clock = new ManualClock(0);
  const asked: string[] = [];
  const answer = (node: string, what: string): Promise<void> => {
    asked.push(what);
    const b = behaviours[node] ?? { ms: 1 };
    if (b === "never") return new Promise(() => {});
    return new Promise((resolve, reject) =>
      clock.after(
        b.ms,
        () =>
          b.fails
            ? reject(new PeerError(node, "unreachable", { failure: "timeout" }))
            : resolve(),
      )
    );
  };
  const write = hedgedWrite({
    need: 2,
    strict: false,
    isDown: () => false,
    direct: (t) =>
      answer(t, t).then((): WriteAck => ({ hinted: false, newer: undefined })),
    hint: (s, t) => answer(s, `${s} for ${t}`),
    isFailure: isPeerFailure,
    clock,
    deadlineMs: 5_000,
    hedgeDelayMs: 50,
    ...options,
  });
  let state: string | undefined;
  let at: number | undefined;
  write.outcome.then((o) => {
    state = o.state;
    at = clock.now();
  });
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      await settle();
    }
  };
  return { run, asked, outcome: () => ({ state, at }) };
}

const plan = {
  groups: [["a", "b", "c"]],
  targets: ["a", "b", "c"],
  standIns: ["d", "e"],
};

Deno.test("hedgedWrite() asks a stand-in for a replica later than the hedge delay, and wins before any peer deadline", async () => {
  const r = round({ b: "never", c: "never" }, { plan });
  await r.run(200);
  assertEquals(r.asked, ["a", "b", "c", "d for b", "e for c"]);
  assertEquals(r.outcome(), { state: "won", at: 60 });
});

Deno.test("hedgedWrite() asks a down replica's stand-in at once", async () => {
  const r = round({}, { plan, isDown: (m) => m === "a" || m === "b" });
  await r.run(100);
  assertEquals(r.asked, ["d for a", "e for b", "c"]);
  assertEquals(r.outcome(), { state: "won", at: 10 });
});

Deno.test("hedgedWrite() asks the next stand-in when one is late, never waiting on it", async () => {
  const r = round({ b: "never", c: { ms: 1 }, d: "never" }, { plan });
  await r.run(200);
  assertEquals(r.asked, ["a", "b", "c"]);
  assertEquals(r.outcome().state, "won");
  const slow = round({ a: "never", b: "never", d: "never", e: "never" }, {
    plan: { ...plan, standIns: ["d", "e", "f"] },
  });
  await slow.run(300);
  // a and b late at 50: d (for a) and e (for b); d late at 100: f (for a);
  // e late too, with no stand-in left: b gets the write once more. c and f
  // make W.
  assertEquals(slow.asked, [
    "a",
    "b",
    "c",
    "d for a",
    "e for b",
    "f for a",
    "b",
  ]);
  assertEquals(slow.outcome(), { state: "won", at: 110 });
});

Deno.test("hedgedWrite() strict: stand-ins do not count, and a failed replica loses the round", async () => {
  const r = round({ b: { ms: 1, fails: true }, c: { ms: 1, fails: true } }, {
    plan,
    strict: true,
  });
  await r.run(100);
  assertEquals(r.outcome().state, "lost");
});

Deno.test("hedgedWrite() during a move is won only once the replicas after it reach W too", async () => {
  const joint = {
    groups: [["a", "b", "c"], ["a", "c", "d"]],
    targets: ["a", "b", "c", "d"],
    standIns: ["e"],
  };
  const r = round({ a: { ms: 1 }, b: { ms: 1 }, c: "never", d: "never" }, {
    plan: joint,
    strict: true,
  });
  await r.run(300);
  // a and b: W on the current replicas, but only a of a, c, d after.
  assertEquals(r.outcome().state, undefined);
  await r.run(5_000);
  assertEquals(r.outcome().state, "lost");
});
