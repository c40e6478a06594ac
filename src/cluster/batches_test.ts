import { assertEquals } from "@std/assert";
import { batches } from "./batches.ts";

Deno.test("batches() bounds every batch by count and bytes, and sends a big item alone", () => {
  const sizes = [3, 3, 3, 10, 1, 1, 1, 1, 1];
  assertEquals([...batches(sizes, (n) => n, 6, 3)], [
    [3, 3],
    [3],
    [10],
    [1, 1, 1],
    [1, 1],
  ]);
  assertEquals([...batches([], (n: number) => n, 6, 3)], []);
});
