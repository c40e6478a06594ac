import { assertEquals } from "@std/assert";
import { ReplayCache } from "./replay_cache.ts";

Deno.test("ReplayCache.remember() refuses a nonce seen within the window", () => {
  const cache = new ReplayCache({ windowMs: 30_000 });
  assertEquals(cache.remember("n1", 100_000, 100_000), "fresh");
  assertEquals(cache.remember("n1", 100_000, 120_000), "replayed");
  assertEquals(cache.remember("n2", 100_000, 120_000), "fresh");
  assertEquals(cache.size, 2);
});

Deno.test("ReplayCache forgets nonces once their timestamp is stale", () => {
  const cache = new ReplayCache({ windowMs: 30_000 });
  cache.remember("n1", 100_000, 100_000);
  cache.remember("n2", 129_000, 129_000);
  // 100.999 s + 30 s has passed: nothing stamped in second 100 is accepted.
  assertEquals(cache.remember("n3", 131_000, 131_000), "fresh");
  assertEquals(cache.size, 2, "n1 was dropped");
  assertEquals(cache.remember("n2", 129_000, 131_000), "replayed");
});

Deno.test("ReplayCache refuses new nonces when full instead of forgetting", () => {
  const cache = new ReplayCache({ windowMs: 30_000, capacity: 2 });
  assertEquals(cache.remember("a", 1_000, 1_000), "fresh");
  assertEquals(cache.remember("b", 1_000, 1_000), "fresh");
  assertEquals(cache.remember("c", 1_000, 1_000), "full");
  assertEquals(cache.remember("a", 1_000, 1_000), "replayed");
  assertEquals(cache.remember("c", 40_000, 40_000), "fresh", "room again");
});
