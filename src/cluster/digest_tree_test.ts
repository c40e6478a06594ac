import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { hashKey, Ring } from "../ring/mod.ts";
import { DigestTree, leafStarts, SEGMENT_BITS } from "./digest_tree.ts";

const ring = await Ring.build(["a:1", "b:1", "c:1"], { vnodes: 64 });

Deno.test("leafStarts() cuts every segment and every ring range, and each leaf lies in one range", () => {
  const tokens = ring.tokenPositions();
  const starts = leafStarts(tokens);
  assertEquals(starts[0], 0);
  assert(starts.length >= 2 ** SEGMENT_BITS + tokens.length - 2);
  const tree = new DigestTree(starts);
  for (let leaf = 0; leaf < tree.size; leaf += 97) {
    const [from, to] = tree.rangeOf(leaf);
    assertEquals(tree.leafOf(from), leaf);
    assertEquals(tree.leafOf(to - 1), leaf);
    // The first and last hash of the leaf have the same replicas.
    assertEquals(
      ring.preferenceListForHash(from, 3),
      ring.preferenceListForHash(to - 1, 3),
    );
  }
});

Deno.test("DigestTree digests depend on the records, not the order of their changes", () => {
  const starts = leafStarts(ring.tokenPositions());
  const a = new DigestTree(starts);
  const b = new DigestTree(starts);
  const keys = Array.from({ length: 500 }, (_, i) => `k${i}`);
  for (const key of keys) a.change(key, undefined, [1, 0, "n"]);
  for (const key of [...keys].reverse()) {
    b.change(key, undefined, [0, 0, "n"]);
    b.change(key, [0, 0, "n"], [1, 0, "n"]);
  }
  const all = new Uint8Array(a.size).fill(1);
  assertEquals(a.buckets(all), b.buckets(all));
  // One newer version changes exactly one leaf.
  b.change("k7", [1, 0, "n"], [2, 0, "n"]);
  const theirs = b.buckets(all);
  const differing = a.buckets(all).filter((d, i) =>
    d[0] !== theirs[i]![0] || d[1] !== theirs[i]![1]
  );
  assertEquals(differing.length, 1);
  const leaf = a.leafOf(hashKey("k7"));
  assertEquals(a.leaf(leaf)[0], b.leaf(leaf)[0]);
  assertNotEquals(a.leaf(leaf)[1], b.leaf(leaf)[1]);
  // Removing every record empties the tree.
  for (const key of keys) a.change(key, [1, 0, "n"], undefined);
  assert(a.buckets(all).every(([count, sum]) => count === 0 && sum === 0));
});

Deno.test("DigestTree.leaves() lists only the masked leaves of the asked buckets", () => {
  const tree = new DigestTree(leafStarts(ring.tokenPositions()));
  tree.change("x", undefined, [1, 0, "n"]);
  const leaf = tree.leafOf(hashKey("x"));
  const bucket = DigestTree.bucketOf(tree.rangeOf(leaf)[0]);
  const mask = new Uint8Array(tree.size);
  assertEquals(tree.leaves(mask, [bucket]), []);
  mask[leaf] = 1;
  const listed = tree.leaves(mask, [bucket]);
  assertEquals(listed.length, 1);
  assertEquals(listed[0]![0], leaf);
  assertEquals(listed[0]![1], 1);
  assertEquals(tree.leaves(mask, [(bucket + 1) % 256]), []);
});

Deno.test("DigestTree.changedSegments() names the segments whose cuts moved", async () => {
  const bigger = await Ring.build(["a:1", "b:1", "c:1", "d:1"], { vnodes: 64 });
  const before = leafStarts(ring.tokenPositions());
  const after = leafStarts(bigger.tokenPositions());
  const changed = DigestTree.changedSegments(before, after);
  // d's 64 tokens fall in at most 64 segments; nothing else moves.
  assert(changed.length > 0 && changed.length <= 64, `${changed.length}`);
  for (const token of bigger.tokenPositions()) {
    if (!ring.tokenPositions().includes(token) && (token + 1) % 65536 !== 0) {
      assert(changed.includes((token + 1) >>> 16));
    }
  }
  assertEquals(DigestTree.changedSegments(before, before), []);
});
