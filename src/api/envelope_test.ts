import { assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import { BadRequestError } from "../errors.ts";
import { checkDepth, checkTextDepth, decodeCall } from "./envelope.ts";

/** Whether `check` accepts `x`. */
function accepts(check: () => void): boolean {
  try {
    check();
    return true;
  } catch (error) {
    if (error instanceof BadRequestError) return false;
    throw error;
  }
}

Deno.test("checkTextDepth() agrees with checkDepth() on any JSON value", () => {
  fc.assert(
    fc.property(
      fc.jsonValue({ maxDepth: 8 }),
      fc.integer({ min: 1, max: 8 }),
      (value, max) => {
        assertEquals(
          accepts(() => checkTextDepth(JSON.stringify(value), max)),
          accepts(() => checkDepth(value, max)),
        );
      },
    ),
    { numRuns: 2_000 },
  );
});

Deno.test("checkTextDepth() ignores brackets inside strings, escapes included", () => {
  checkTextDepth(JSON.stringify(["[[[[[", '\\"[[[[', "\\\\", "{{{{"]), 2);
  checkTextDepth('["\\\\\\"[[[["]', 1);
  assertThrows(
    () => checkTextDepth('["\\\\", [[]]]', 2),
    BadRequestError,
    "deeper than 2",
  );
});

Deno.test("decodeCall() refuses 8 MiB of nesting quickly", () => {
  const text = `{"function":"set","args":["k",${"[".repeat(8 << 20)}`;
  const started = performance.now();
  assertThrows(() => decodeCall(text), BadRequestError, "deeper than 64");
  // The parser would take seconds; the scan stops at level 65.
  assertEquals(performance.now() - started < 500, true);
});
