import { assertEquals, assertStringIncludes } from "@std/assert";
import { formatProgress, progressFraction } from "./progress.ts";

const PROGRESS = {
  elapsedMs: 4500,
  requests: 45_000,
  errors: 0,
  requestsPerS: 10_000,
  p99Us: 1234,
};

Deno.test("progressFraction() follows the duration or the request count", () => {
  assertEquals(progressFraction(PROGRESS, { durationMs: 10_000 }), 0.45);
  assertEquals(progressFraction(PROGRESS, { requests: 90_000 }), 0.5);
  assertEquals(progressFraction(PROGRESS, { durationMs: 1000 }), 1);
});

Deno.test("formatProgress() draws a bar for a terminal", () => {
  const line = formatProgress(PROGRESS, { durationMs: 10_000 });
  assertEquals(
    line,
    "[###########.............]   45%  4.5/10.0 s  10,000 req/s  " +
      "p99 1.23ms  0 errors",
  );
});

Deno.test("formatProgress() writes a plain line for a log", () => {
  const line = formatProgress({ ...PROGRESS, p99Us: 0, errors: 3 }, {
    requests: 100_000,
  }, { bar: false });
  assertStringIncludes(line, "bench:   45%  4.5 s, 45,000/100,000 requests");
  assertStringIncludes(line, "p99 -  3 errors");
});
