import { assertEquals, assertRejects } from "@std/assert";
import { Watchdog } from "./watchdog.ts";

Deno.test("Watchdog.guard() passes results through before the deadline", async () => {
  const watchdog = new Watchdog(1_000);
  const value = await watchdog.guard(
    Promise.resolve(7),
    () => {},
    () => new Error("late"),
  );
  assertEquals(value, 7);
  await assertRejects(
    () =>
      watchdog.guard(
        Promise.reject(new TypeError("boom")),
        () => {},
        () => new Error("late"),
      ),
    TypeError,
    "boom",
  );
});

Deno.test("Watchdog.guard() gives up on work past the deadline and cancels it", async () => {
  const watchdog = new Watchdog(40);
  let cancelled = false;
  const never = new Promise<number>(() => {});
  // The watchdog's timer does not keep the process alive (a server does).
  const keepAlive = setTimeout(() => {}, 5_000);
  try {
    await assertRejects(
      () =>
        watchdog.guard(never, () => cancelled = true, () => new Error("late")),
      Error,
      "late",
    );
  } finally {
    clearTimeout(keepAlive);
  }
  assertEquals(cancelled, true);
});
