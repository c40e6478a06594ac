import { assertEquals } from "@std/assert";
import { inRanges } from "./handoff.ts";

Deno.test("inRanges() finds a hash in sorted [from, to) ranges, bounds included and excluded", () => {
  const ranges: [number, number][] = [[0, 10], [20, 30], [
    2 ** 32 - 5,
    2 ** 32,
  ]];
  const table: [number, boolean][] = [
    [0, true],
    [9, true],
    [10, false],
    [19, false],
    [20, true],
    [29, true],
    [30, false],
    [2 ** 32 - 6, false],
    [2 ** 32 - 5, true],
    [2 ** 32 - 1, true],
  ];
  for (const [hash, expected] of table) {
    assertEquals(inRanges(ranges, hash), expected, `${hash}`);
  }
  assertEquals(inRanges([], 5), false);
});
