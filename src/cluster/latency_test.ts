import { assertEquals, assertThrows } from "@std/assert";
import { LatencyEstimate } from "./latency.ts";

Deno.test("LatencyEstimate.hedgeDelayMs() follows the measured round trips", () => {
  const cases: { observed: number[]; want: number }[] = [
    { observed: [], want: 50 }, // nothing measured: the initial delay
    { observed: [2], want: 10 }, // 2 + 4 * 1, raised to the floor
    { observed: [20], want: 60 }, // 20 + 4 * 10
    { observed: [20, 20, 20, 20], want: 37 }, // 20 + 4 * 4.2: it shrinks
    { observed: [400], want: 250 }, // capped
  ];
  for (const { observed, want } of cases) {
    const estimate = new LatencyEstimate();
    for (const ms of observed) estimate.observe(ms);
    assertEquals(estimate.hedgeDelayMs(), want, `after ${observed}`);
  }
});

Deno.test("LatencyEstimate rejects limits out of order and negative latencies", () => {
  assertThrows(() => new LatencyEstimate({ minMs: 100, maxMs: 50 }));
  assertThrows(() => new LatencyEstimate().observe(-1));
});
