/**
 * The conformance suite every {@link Store} engine runs: one set of tests
 * written at the edges (prefix neighbours, tombstones, empty ranges, unicode,
 * keys named like Object.prototype members).
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import type { Version } from "../clock/mod.ts";
import { hashKey } from "../ring/mod.ts";
import type { StoredRecord } from "./record.ts";
import type { Store } from "./store.ts";

/** How the suite gets an engine. */
export interface EngineFactory {
  /** A new, empty store. */
  open(): Promise<Store>;
  /** Reopens the store that `open` returned last, after it was closed; absent for engines that forget. */
  reopen?: () => Promise<Store>;
}

/** A live record for tests, with `extra` fields overridden. */
export function record(
  key: string,
  value: unknown,
  version: Version,
  extra: Partial<StoredRecord> = {},
): StoredRecord {
  return {
    key,
    value,
    version,
    tombstone: false,
    expiresAtMs: null,
    ...extra,
  };
}

/** Registers the conformance tests for one engine under `name`. */
export function storeConformance(name: string, factory: EngineFactory): void {
  const test = (title: string, fn: (store: Store) => Promise<void>) =>
    Deno.test(`${name}: ${title}`, async () => {
      const store = await factory.open();
      try {
        await fn(store);
      } finally {
        await store.close();
      }
    });

  test("get() returns undefined for a key never written", (store) => {
    assertEquals(store.get("missing"), undefined);
    assertEquals(store.count(), 0);
    return Promise.resolve();
  });

  test("apply() keeps the newer version and refuses an older one", async (store) => {
    assert(await store.apply(record("k", "v2", [20, 0, "a"])));
    assertEquals(await store.apply(record("k", "v1", [10, 0, "a"])), false);
    assertEquals(store.get("k")?.value, "v2");
    assert(await store.apply(record("k", "v3", [20, 1, "a"])));
    assertEquals(store.get("k")?.value, "v3");
    assertEquals(store.count(), 1);
  });

  test("summaries() and hashScan() return a hash range in (hash, key) order, tombstones included", async (store) => {
    const keys = Array.from({ length: 200 }, (_, i) => `key:${i}`);
    for (const key of keys) {
      await store.apply(record(key, { v: key }, [1, 0, "a"]));
    }
    await store.apply(record("key:7", null, [2, 0, "a"], { tombstone: true }));
    const byHash = keys.map((key) => [hashKey(key), key] as const)
      .sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1));
    // A range that holds about half of the keys.
    const from = 2 ** 30;
    const to = 3 * 2 ** 30;
    const inside = byHash.filter(([h]) => h >= from && h < to);
    const summaries = store.summaries(from, to);
    assertEquals(summaries.map((s) => s.key), inside.map(([, k]) => k));
    assertEquals(summaries.map((s) => s.hash), inside.map(([h]) => h));
    assertEquals(
      store.hashScan(from, to).map((r) => r.key),
      inside.map(([, k]) => k),
    );
    const one = summaries.find((s) => s.key !== "key:7")!;
    assertEquals(one.version, [1, 0, "a"]);
    assertEquals(one.tombstone, false);
    assertEquals(one.bytes, JSON.stringify({ v: one.key }).length);
    // Paged with a cursor, every record once.
    const paged: string[] = [];
    let after: [number, string] | undefined;
    for (;;) {
      const page = store.summaries(0, 2 ** 32, { limit: 17, after });
      paged.push(...page.map((p) => p.key));
      if (page.length < 17) break;
      after = [page.at(-1)!.hash, page.at(-1)!.key];
    }
    assertEquals(paged, byHash.map(([, k]) => k));
    const all = store.summaries(0, 2 ** 32);
    assertEquals(all.find((s) => s.key === "key:7")?.tombstone, true);
    assertEquals(store.summaries(5, 5), []);
  });

  test("watch() is told of every stored change, after it is durable", async (store) => {
    const seen: [string, Version | undefined, Version | undefined][] = [];
    store.watch((key, before, after) => seen.push([key, before, after]));
    await store.apply(record("k", 1, [1, 0, "a"]));
    await store.apply(record("k", 2, [2, 0, "a"]));
    assertEquals(await store.apply(record("k", 0, [1, 5, "a"])), false);
    await store.remove("k", [2, 0, "a"]);
    await store.apply(record("e", 1, [3, 0, "a"], { expiresAtMs: 10 }));
    await store.purgeExpired(10, 10);
    await store.apply(record("t", null, [4, 0, "a"], { tombstone: true }));
    await store.purgeTombstones(5, 10);
    assertEquals(seen, [
      ["k", undefined, [1, 0, "a"]],
      ["k", [1, 0, "a"], [2, 0, "a"]],
      ["k", [2, 0, "a"], undefined],
      ["e", undefined, [3, 0, "a"]],
      ["e", [3, 0, "a"], undefined],
      ["t", undefined, [4, 0, "a"]],
      ["t", [4, 0, "a"], undefined],
    ]);
  });

  test("applyMany() applies a batch as apply() would, each with its result", async (store) => {
    await store.apply(record("b", "newer", [9, 0, "a"]));
    const results = await store.applyMany([
      record("a", 1, [1, 0, "a"]),
      record("b", "older", [2, 0, "a"]),
      record("c", 3, [1, 0, "a"]),
      record("a", 2, [3, 0, "a"]),
    ]);
    assertEquals(results, [true, false, true, true]);
    assertEquals(store.get("a")?.value, 2);
    assertEquals(store.get("b")?.value, "newer");
    assertEquals(store.count(), 3);
    assertEquals(await store.applyMany([]), []);
  });

  test("apply() of the same version twice stores it once", async (store) => {
    assert(await store.apply(record("k", 1, [5, 0, "a"])));
    assertEquals(await store.apply(record("k", 1, [5, 0, "a"])), false);
  });

  test("equal wall time and counter are ordered by node id", async (store) => {
    await store.apply(record("k", "from-b", [5, 0, "b"]));
    await store.apply(record("k", "from-a", [5, 0, "a"]));
    assertEquals(store.get("k")?.value, "from-b");
  });

  test("remove() forgets a record only at the exact version", async (store) => {
    await store.apply(record("k", "v1", [1, 0, "a"]));
    assertEquals(await store.remove("k", [0, 9, "a"]), false);
    assertEquals(store.get("k")?.value, "v1");
    assertEquals(await store.remove("k", [1, 0, "a"]), true);
    assertEquals(store.get("k"), undefined);
    assertEquals(store.count(), 0);
    assertEquals(store.scan(), []);
    assertEquals(await store.remove("k", [1, 0, "a"]), false);
    assert(await store.apply(record("k", "again", [1, 0, "a"])));
    assertEquals(store.get("k")?.value, "again");
  });

  test("records() visits every record once, tombstones included", async (store) => {
    const keys = Array.from({ length: 2500 }, (_, i) => `r${i}`);
    for (const key of keys) await store.apply(record(key, 1, [1, 0, "a"]));
    await store.apply(record("r7", null, [2, 0, "a"], { tombstone: true }));
    const seen = [...store.records()].map((r) => r.key).sort();
    assertEquals(seen, [...keys].sort());
    assertEquals(
      [...store.records()].find((r) => r.key === "r7")?.tombstone,
      true,
    );
  });

  test("newestVersion() is the newest version stored, tombstones included", async (store) => {
    assertEquals(store.newestVersion(), undefined);
    await store.apply(record("a", 1, [5, 2, "n1"]));
    await store.apply(record("b", 1, [5, 9, "n0"]));
    await store.apply(record("c", 1, [4, 99, "n9"]));
    assertEquals(store.newestVersion(), [5, 9, "n0"]);
    await store.apply(record("c", null, [7, 0, "n2"], { tombstone: true }));
    assertEquals(store.newestVersion(), [7, 0, "n2"]);
  });

  test("a tombstone is stored, counted and scanned like any record", async (store) => {
    await store.apply(record("k", "v", [1, 0, "a"]));
    await store.apply(record("k", null, [2, 0, "a"], { tombstone: true }));
    const got = store.get("k");
    assertEquals(got?.tombstone, true);
    assertEquals(got?.value, null);
    assertEquals(store.scan().map((r) => r.key), ["k"]);
    assertEquals(
      await store.apply(record("k", "old", [1, 5, "a"])),
      false,
      "a write older than the tombstone must not resurrect the key",
    );
  });

  test("values keep their JSON shape and expiry", async (store) => {
    const value = { a: [1, 2, { b: null }], s: "x", n: 1.5, t: true };
    await store.apply(record("j", value, [1, 0, "a"], { expiresAtMs: 99 }));
    assertEquals(store.get("j")?.value, value);
    assertEquals(store.get("j")?.expiresAtMs, 99);
    assertEquals(store.get("j")?.version, [1, 0, "a"]);
  });

  test("scan() orders keys and honours prefix, after and limit", async (store) => {
    for (const key of ["b", "a", "ab", "abc", "b\u0000", "ac", "c"]) {
      await store.apply(record(key, key, [1, 0, "a"]));
    }
    assertEquals(store.scan().map((r) => r.key), [
      "a",
      "ab",
      "abc",
      "ac",
      "b",
      "b\u0000",
      "c",
    ]);
    assertEquals(store.scan({ prefix: "ab" }).map((r) => r.key), [
      "ab",
      "abc",
    ]);
    assertEquals(
      store.scan({ prefix: "a", after: "ab" }).map((r) => r.key),
      ["abc", "ac"],
    );
    assertEquals(store.scan({ after: "b", limit: 1 }).map((r) => r.key), [
      "b\u0000",
    ]);
    assertEquals(store.scan({ prefix: "b" }).map((r) => r.key), [
      "b",
      "b\u0000",
    ]);
  });

  test("a key that merely extends another as a prefix is its own key", async (store) => {
    await store.apply(record("user", 1, [1, 0, "a"]));
    await store.apply(record("user1", 2, [1, 0, "a"]));
    assertEquals(store.get("user")?.value, 1);
    assertEquals(store.get("user1")?.value, 2);
    assertEquals(store.get("use"), undefined);
    assertEquals(store.scan({ prefix: "user1" }).map((r) => r.key), [
      "user1",
    ]);
  });

  test("empty ranges scan to nothing", async (store) => {
    assertEquals(store.scan(), []);
    await store.apply(record("m", 1, [1, 0, "a"]));
    assertEquals(store.scan({ prefix: "z" }), []);
    assertEquals(store.scan({ after: "m" }), []);
    assertEquals(store.scan({ prefix: "a", after: "zz" }), []);
    assertEquals(store.scan({ limit: 0 }), []);
  });

  test("unicode keys are stored and ordered by UTF-16 code units", async (store) => {
    const keys = ["é", "e", "日本", "😀", "\uffff", "z"];
    for (const key of keys) await store.apply(record(key, key, [1, 0, "a"]));
    for (const key of keys) assertEquals(store.get(key)?.value, key);
    assertEquals(store.scan().map((r) => r.key), [...keys].sort());
  });

  test("keys named like Object.prototype members are plain keys", async (store) => {
    for (
      const key of ["__proto__", "constructor", "toString", "hasOwnProperty"]
    ) {
      assertEquals(store.get(key), undefined);
      await store.apply(record(key, key.length, [1, 0, "a"]));
      assertEquals(store.get(key)?.value, key.length);
    }
    assertEquals(store.count(), 4);
    assertEquals(({} as Record<string, unknown>).polluted, undefined);
  });

  test("surrogate pairs sort before U+E000..U+FFFF, as JavaScript sorts", async (store) => {
    // UTF-8 byte order would put the pair (U+1F600) after U+E000 and U+FFFF.
    const keys = ["\uffff", "\ue000", "😀", "\ud800", "\udfff", "", "a"];
    for (const key of keys) await store.apply(record(key, key, [1, 0, "a"]));
    for (const key of keys) assertEquals(store.get(key)?.value, key);
    assertEquals(store.scan().map((r) => r.key), [...keys].sort());
    assertEquals(store.scan({ after: "😀" }).map((r) => r.key), [
      "\udfff",
      "\ue000",
      "\uffff",
    ]);
  });

  test("scan() of a prefix ending in U+FFFF stops at the prefix's end", async (store) => {
    for (const key of ["a", "a\uffff", "a\uffff\uffff", "a\uffffz", "b"]) {
      await store.apply(record(key, key, [1, 0, "a"]));
    }
    assertEquals(store.scan({ prefix: "a\uffff" }).map((r) => r.key), [
      "a\uffff",
      "a\uffffz",
      "a\uffff\uffff",
    ]);
    assertEquals(
      store.scan({ prefix: "a\uffff", after: "a\uffff", limit: 1 }).map((r) =>
        r.key
      ),
      ["a\uffffz"],
    );
    assertEquals(store.scan({ prefix: "\uffff" }), []);
  });

  test("scan() pages through a range with after and limit, each key once", async (store) => {
    const keys: string[] = [];
    for (let i = 0; i < 250; i++) keys.push(`k${i}`);
    await Promise.all(keys.map((k) => store.apply(record(k, k, [1, 0, "a"]))));
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = store.scan({ prefix: "k", limit: 40, after });
      seen.push(...page.map((r) => r.key));
      if (page.length < 40) break;
      after = page.at(-1)!.key;
    }
    assertEquals(seen, [...keys].sort());
  });

  test("writes to one key in one turn resolve as if applied in turn", async (store) => {
    const results = await Promise.all([
      store.apply(record("k", "v2", [2, 0, "a"])),
      store.apply(record("k", "v1", [1, 0, "a"])),
      store.apply(record("k", "v3", [3, 0, "a"])),
      store.apply(record("j", "v1", [1, 0, "a"])),
    ]);
    assertEquals(results, [true, false, true, true]);
    assertEquals(store.get("k")?.value, "v3");
    assertEquals(store.count(), 2);
  });

  test("purgeExpired() deletes records expired at the given time, up to a limit", async (store) => {
    await store.apply(record("a", 1, [1, 0, "n"], { expiresAtMs: 100 }));
    await store.apply(record("b", 2, [1, 0, "n"], { expiresAtMs: 200 }));
    await store.apply(record("c", 3, [1, 0, "n"], { expiresAtMs: 300 }));
    await store.apply(record("d", 4, [1, 0, "n"]));
    await store.apply(record("t", null, [1, 0, "n"], { tombstone: true }));
    assertEquals(await store.purgeExpired(99, 10), 0);
    assertEquals(await store.purgeExpired(200, 0), 0);
    assertEquals(await store.purgeExpired(200, 1), 1, "the limit holds");
    assertEquals(await store.purgeExpired(200, 10), 1);
    assertEquals(store.get("a"), undefined);
    assertEquals(store.get("b"), undefined);
    assertEquals(store.get("c")?.value, 3);
    assertEquals(store.count(), 3);
    assertEquals(store.scan().map((r) => r.key), ["c", "d", "t"]);
    // A rewrite without expiry is no longer a candidate.
    await store.apply(record("c", 30, [2, 0, "n"]));
    assertEquals(await store.purgeExpired(10_000, 10), 0);
    assertEquals(store.get("c")?.value, 30);
  });

  test("purgeTombstones() deletes only tombstones older than the threshold", async (store) => {
    await store.apply(record("old", null, [10, 0, "n"], { tombstone: true }));
    await store.apply(record("new", null, [50, 0, "n"], { tombstone: true }));
    await store.apply(record("live", 1, [10, 0, "n"]));
    assertEquals(await store.purgeTombstones(10, 10), 0, "strictly older");
    assertEquals(await store.purgeTombstones(11, 10), 1);
    assertEquals(store.get("old"), undefined);
    assertEquals(store.get("new")?.tombstone, true);
    assertEquals(store.get("live")?.value, 1);
    assertEquals(store.count(), 2);
    // A key written again after its purge starts afresh.
    assert(await store.apply(record("old", "back", [5, 0, "n"])));
    assertEquals(store.get("old")?.value, "back");
  });

  if (factory.reopen) {
    const reopen = factory.reopen;
    Deno.test(`${name}: reopen after close keeps records, versions and tombstones`, async () => {
      const store = await factory.open();
      await store.apply(
        record("a", { x: 1 }, [3, 2, "n1"], { expiresAtMs: 7 }),
      );
      await store.apply(record("t", null, [4, 0, "n2"], { tombstone: true }));
      await store.close();
      const again = await reopen();
      try {
        assertEquals(
          again.get("a"),
          record("a", { x: 1 }, [3, 2, "n1"], { expiresAtMs: 7 }),
        );
        assertEquals(again.get("t")?.tombstone, true);
        assertEquals(again.count(), 2);
        assertEquals(
          await again.apply(record("a", "older", [3, 1, "n1"])),
          false,
          "the version survives: an older write still loses",
        );
        assert(await again.apply(record("a", "newer", [3, 3, "n1"])));
        assertEquals(again.get("a")?.value, "newer");
      } finally {
        await again.close();
      }
    });

    Deno.test(`${name}: close() keeps writes that were not awaited yet`, async () => {
      const store = await factory.open();
      const pending = [
        store.apply(record("x", 1, [1, 0, "a"])),
        store.apply(record("y", 2, [1, 0, "a"])),
      ];
      await store.close();
      assertEquals(await Promise.all(pending), [true, true]);
      const again = await reopen();
      try {
        assertEquals(again.scan().map((r) => [r.key, r.value]), [
          ["x", 1],
          ["y", 2],
        ]);
      } finally {
        await again.close();
      }
    });

    Deno.test(`${name}: reopen after a purge keeps the count right`, async () => {
      const store = await factory.open();
      await store.apply(record("e", 1, [1, 0, "a"], { expiresAtMs: 5 }));
      await store.apply(record("f", 1, [1, 0, "a"]));
      assertEquals(await store.purgeExpired(5, 10), 1);
      await store.close();
      const again = await reopen();
      try {
        assertEquals(again.count(), 1);
        assertEquals(again.get("e"), undefined);
      } finally {
        await again.close();
      }
    });
  }
}
