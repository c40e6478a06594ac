import { assert, assertEquals } from "@std/assert";
import { compareVersions, HybridClock, ManualClock } from "./mod.ts";

Deno.test("HybridClock.now() is strictly increasing when the wall clock stands still", () => {
  const clock = new ManualClock(1000);
  const hlc = new HybridClock(clock, "a");
  const first = hlc.now();
  const second = hlc.now();
  assert(compareVersions(first, second) < 0);
  assertEquals(second, [1000, 1, "a"]);
});

Deno.test("HybridClock.now() restarts the counter when the wall clock moves on", () => {
  const clock = new ManualClock(1000);
  const hlc = new HybridClock(clock, "a");
  hlc.now();
  hlc.now();
  clock.advance(5);
  assertEquals(hlc.now(), [1005, 0, "a"]);
});

Deno.test("HybridClock.observe() keeps later versions after a peer's, even with a slow wall clock", () => {
  const clock = new ManualClock(1000);
  const hlc = new HybridClock(clock, "a");
  const peer = [1500, 7, "b"] as const;
  hlc.observe(peer);
  const next = hlc.now();
  assert(compareVersions(peer, next) < 0);
  assertEquals(next, [1500, 8, "a"]);
});

Deno.test("HybridClock.observe() ignores a version from far in the future", () => {
  const clock = new ManualClock(1000);
  const hlc = new HybridClock(clock, "a");
  hlc.observe([1000 + 3_600_000, 0, "b"]);
  assertEquals(hlc.now(), [1000, 0, "a"]);
});

Deno.test("compareVersions() orders by wall time, then counter, then node id", () => {
  assert(compareVersions([1, 0, "z"], [2, 0, "a"]) < 0);
  assert(compareVersions([2, 1, "a"], [2, 0, "z"]) > 0);
  assert(compareVersions([2, 1, "a"], [2, 1, "b"]) < 0);
  assertEquals(compareVersions([2, 1, "a"], [2, 1, "a"]), 0);
});

Deno.test("ManualClock.advance() fires due timers in deadline order and skips cancelled ones", () => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  clock.after(30, () => fired.push("c"));
  clock.after(10, () => fired.push("a"));
  const cancelled = clock.after(20, () => fired.push("b"));
  cancelled.cancel();
  clock.advance(25);
  assertEquals(fired, ["a"]);
  clock.advance(10);
  assertEquals(fired, ["a", "c"]);
  assertEquals(clock.now(), 35);
});

Deno.test("HybridClock.resume() starts after a stored version even when the wall clock went back", () => {
  const clock = new ManualClock(1000);
  const hlc = new HybridClock(clock, "a");
  hlc.resume([1000 + 3_600_000, 4, "b"]);
  const next = hlc.now();
  assert(compareVersions([1000 + 3_600_000, 4, "b"], next) < 0);
  assertEquals(next, [1000 + 3_600_000, 5, "a"]);
});
