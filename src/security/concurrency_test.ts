import { assertEquals, assertThrows } from "@std/assert";
import { ConcurrencyLimiter } from "./concurrency.ts";

Deno.test("ConcurrencyLimiter refuses beyond its limit and frees slots on release", () => {
  const limiter = new ConcurrencyLimiter(2);
  assertEquals(limiter.tryAcquire(), true);
  assertEquals(limiter.tryAcquire(), true);
  assertEquals(limiter.tryAcquire(), false);
  assertEquals(limiter.refused, 1);
  limiter.release();
  assertEquals(limiter.inFlight, 1);
  assertEquals(limiter.tryAcquire(), true);
});

Deno.test("ConcurrencyLimiter refuses a bad limit and a release without a slot", () => {
  assertThrows(() => new ConcurrencyLimiter(0), RangeError);
  assertThrows(() => new ConcurrencyLimiter(1.5), RangeError);
  assertThrows(() => new ConcurrencyLimiter(1).release(), Error);
});
