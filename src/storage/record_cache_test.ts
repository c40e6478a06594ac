import { assertEquals, assertStrictEquals } from "@std/assert";
import type { StoredRecord } from "./record.ts";
import { CACHE_ENTRY_OVERHEAD_BYTES, RecordCache } from "./record_cache.ts";

function rec(key: string, value: unknown = key): StoredRecord {
  return {
    key,
    value,
    version: [1, 0, "n"],
    tombstone: false,
    expiresAtMs: null,
  };
}

/** The size the cache counts for a key and value text of these lengths. */
const size = (keyChars: number, valueChars: number) =>
  2 * (keyChars + valueChars) + CACHE_ENTRY_OVERHEAD_BYTES;

Deno.test("RecordCache returns what was set, replaces it, forgets it", () => {
  const cache = new RecordCache(1 << 20);
  const a = rec("a", { n: 1 });
  cache.set(a, 7);
  assertStrictEquals(cache.get("a"), a);
  const a2 = rec("a", { n: 2 });
  cache.set(a2, 7);
  assertStrictEquals(cache.get("a"), a2);
  assertEquals(
    cache.stats().bytes,
    size(1, 7),
    "a replacement is not counted twice",
  );
  cache.delete("a");
  assertEquals(cache.get("a"), undefined);
  assertEquals(cache.stats(), { hits: 2, misses: 1, entries: 0, bytes: 0 });
});

Deno.test("RecordCache stays within its bytes, evicting the oldest first", () => {
  const cache = new RecordCache(3 * size(2, 10));
  for (let i = 0; i < 10; i++) cache.set(rec(`k${i}`), 10);
  const { entries, bytes } = cache.stats();
  assertEquals(entries, 3);
  assertEquals(bytes, 3 * size(2, 10));
  assertEquals(cache.get("k6"), undefined);
  for (const key of ["k7", "k8", "k9"]) assertEquals(cache.get(key)?.key, key);
});

Deno.test("RecordCache keeps nothing larger than itself, and nothing at size 0", () => {
  const cache = new RecordCache(size(1, 100));
  cache.set(rec("a"), 100);
  cache.set(rec("b"), 101);
  assertEquals(cache.get("b"), undefined);
  assertEquals(cache.get("a")?.key, "a");
  const off = new RecordCache(0);
  off.set(rec("a"), 0);
  assertEquals(off.stats().entries, 0);
});
