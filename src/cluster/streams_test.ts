import { assert, assertEquals } from "@std/assert";
import { Ring } from "../ring/mod.ts";
import { inRanges, ringRanges, ringSpans } from "./streams.ts";

Deno.test("ringRanges() holds exactly the hashes whose preference lists are wanted", async () => {
  const old = await Ring.build(["a:1", "b:1", "c:1"], { vnodes: 64 });
  const next = await Ring.build(["a:1", "b:1", "c:1", "d:1"], { vnodes: 64 });
  // d's ranges on the new ring of which a is the first holder on the old.
  const wanted = (hash: number) =>
    next.preferenceListForHash(hash, 2).includes("d:1") &&
    old.preferenceListForHash(hash, 2)[0] === "a:1";
  const ranges = ringRanges([next, old], wanted);
  // Sorted, disjoint, merged, within the ring.
  for (let i = 0; i < ranges.length; i++) {
    const [from, to] = ranges[i]!;
    assert(0 <= from && from < to && to <= 2 ** 32, `${from}, ${to}`);
    if (i > 0) assert(ranges[i - 1]![1] < from, "disjoint and merged");
  }
  // Every hash, the tokens and their neighbours included, is in a range
  // exactly when it is wanted.
  const probes = [0, 1, 2 ** 32 - 1];
  for (const token of [...next.tokenPositions(), ...old.tokenPositions()]) {
    probes.push(
      token,
      Math.max(0, token - 1),
      Math.min(2 ** 32 - 1, token + 1),
    );
  }
  let seed = 7;
  for (let i = 0; i < 5_000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    probes.push(Math.floor(seed / 2 ** 31 * 2 ** 32));
  }
  for (const hash of probes) {
    assertEquals(inRanges(ranges, hash), wanted(hash), `hash ${hash}`);
  }
});

Deno.test("ringRanges() covers the whole ring when every hash is wanted, and none when none is", async () => {
  const ring = await Ring.build(["a:1", "b:1"], { vnodes: 16 });
  assertEquals(ringRanges([ring], () => true), [[0, 2 ** 32]]);
  assertEquals(ringRanges([ring], () => false), []);
});

Deno.test("ringSpans() labels every span by its last hash and merges equal neighbours", async () => {
  const ring = await Ring.build(["a:1", "b:1", "c:1"], { vnodes: 16 });
  const first = (hash: number) => ring.preferenceListForHash(hash, 1)[0]!;
  const spans = ringSpans([ring], first);
  // Sorted, disjoint, covering the whole ring, neighbours labelled apart
  // (but for the first and last, which the ring's wrap joins).
  assertEquals(spans[0]![0], 0);
  assertEquals(spans.at(-1)![1], 2 ** 32);
  for (let i = 1; i < spans.length; i++) {
    assertEquals(spans[i - 1]![1], spans[i]![0]);
    assert(spans[i - 1]![2] !== spans[i]![2], `${i}`);
  }
  // Each span's hashes all have its label as their first replica.
  for (const [from, to, label] of spans) {
    for (const hash of [from, Math.floor((from + to) / 2), to - 1]) {
      assertEquals(first(hash), label, `${hash} in [${from}, ${to})`);
    }
  }
  // Spans without a label are left out.
  const onlyA = ringSpans([ring], (h) => first(h) === "a:1" ? "a" : undefined);
  assert(onlyA.every(([f, t]) => first(f) === "a:1" && first(t - 1) === "a:1"));
});

Deno.test("inRanges() finds a hash in ascending ranges, ends excluded", () => {
  const ranges: [number, number][] = [[0, 5], [10, 20], [20, 21], [
    40,
    2 ** 32,
  ]];
  const inside = [0, 4, 10, 19, 20, 40, 2 ** 32 - 1];
  const outside = [5, 9, 21, 39];
  for (const h of inside) assertEquals(inRanges(ranges, h), true, `${h}`);
  for (const h of outside) assertEquals(inRanges(ranges, h), false, `${h}`);
  assertEquals(inRanges([], 0), false);
  // Against a scan of every range.
  for (let h = 0; h < 2 ** 32; h += 7_919_017) {
    assertEquals(
      inRanges(ranges, h),
      ranges.some(([from, to]) => from <= h && h < to),
      `${h}`,
    );
  }
});
