import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { DatabaseSync } from "node:sqlite";
import { StorageError } from "../errors.ts";
import { record, storeConformance } from "./conformance.ts";
import { encodeKey } from "./_key_bytes.ts";
import { hashKey } from "../ring/mod.ts";
import { SqliteStore } from "./sqlite.ts";

const root = Deno.makeTempDirSync({ prefix: "kvdb-sqlite-test-" });
Deno.test.afterAll(() => Deno.removeSync(root, { recursive: true }));

let opened = 0;
/** A fresh database path in the test's temporary directory. */
function freshPath(): string {
  return `${root}/db-${++opened}.sqlite`;
}

let last = "";
storeConformance("SqliteStore", {
  open: () => Promise.resolve(SqliteStore.open(last = freshPath())),
  reopen: () => Promise.resolve(SqliteStore.open(last)),
});

storeConformance("SqliteStore sync=full", {
  open: () => Promise.resolve(SqliteStore.open(freshPath(), { sync: "full" })),
});

// Every read from the database, and a cache so small it evicts all the
// time: both must behave exactly as the default.
storeConformance("SqliteStore without a record cache", {
  open: () => Promise.resolve(SqliteStore.open(freshPath(), { cacheBytes: 0 })),
});
storeConformance("SqliteStore with a 1 KiB record cache", {
  open: () =>
    Promise.resolve(SqliteStore.open(freshPath(), { cacheBytes: 1024 })),
});

Deno.test("SqliteStore: the writes of one turn commit in one transaction", async () => {
  const store = SqliteStore.open(freshPath());
  try {
    const writes = [];
    for (let i = 0; i < 100; i++) {
      writes.push(store.apply(record(`k${i}`, i, [1, 0, "a"])));
    }
    await Promise.all(writes);
    const { commits, writes: written, failedCommits } = store.stats;
    assertEquals({ commits, written, failedCommits }, {
      commits: 1,
      written: 100,
      failedCommits: 0,
    });
    await store.apply(record("x", 1, [1, 0, "a"]));
    await store.apply(record("y", 1, [1, 0, "a"]));
    assertEquals(store.stats.commits, 3, "awaited one by one: one each");
  } finally {
    await store.close();
  }
});

Deno.test("SqliteStore: a batch larger than the cap commits in several transactions", async () => {
  const store = SqliteStore.open(freshPath(), { batchRecordsMax: 40 });
  try {
    const writes = [];
    for (let i = 0; i < 100; i++) {
      writes.push(store.apply(record(`k${i}`, i, [1, 0, "a"])));
    }
    await Promise.all(writes);
    assertEquals(store.stats.commits, 3);
    assertEquals(store.count(), 100);
  } finally {
    await store.close();
  }
});

Deno.test("SqliteStore: a write is neither visible nor acknowledged before its commit", async () => {
  const store = SqliteStore.open(freshPath());
  try {
    let acknowledged = false;
    const write = store.apply(record("k", "v", [1, 0, "a"])).then((stored) => {
      acknowledged = stored;
      assertEquals(store.stats.commits, 1, "resolved after the commit");
    });
    assertEquals(store.get("k"), undefined, "reads see committed state");
    assertEquals(store.count(), 0);
    await Promise.resolve();
    assertEquals(acknowledged, false);
    await write;
    assert(acknowledged);
    assertEquals(store.get("k")?.value, "v");
  } finally {
    await store.close();
  }
});

Deno.test("SqliteStore: a full disk rejects the whole batch and keeps none of it", async () => {
  const path = freshPath();
  // The smallest database that holds the schema: any growth fails.
  const store = SqliteStore.open(path, { maxPageCount: 6 });
  try {
    await store.apply(record("small", 1, [1, 0, "a"]));
    const before = store.count();
    const big = "x".repeat(64 * 1024);
    const writes = [
      store.apply(record("small", 2, [2, 0, "a"])),
      store.apply(record("big", big, [1, 0, "a"])),
    ];
    for (const write of writes) {
      const error = await assertRejects(() => write, StorageError);
      assertStringIncludes(error.message, "the disk is full");
    }
    assertEquals(store.stats.failedCommits, 1);
    assertEquals(store.get("small")?.value, 1, "the batch rolled back whole");
    assertEquals(store.get("big"), undefined);
    assertEquals(store.count(), before);
    // The store keeps working for writes that fit.
    assert(await store.apply(record("small", 3, [3, 0, "a"])));
    assertEquals(store.get("small")?.value, 3);
  } finally {
    await store.close();
  }
  const again = SqliteStore.open(path);
  try {
    assertEquals(again.get("small")?.value, 3);
    assertEquals(again.get("big"), undefined);
  } finally {
    await again.close();
  }
});

Deno.test("SqliteStore: reads of a hot key come from the record cache, which follows every commit", async () => {
  const path = freshPath();
  const store = SqliteStore.open(path);
  try {
    await store.apply(record("k", { n: 1 }, [1, 0, "a"]));
    const first = store.get("k");
    assertEquals(first?.value, { n: 1 });
    assertEquals(store.get("k"), first, "the same record, not a new decode");
    assertEquals(store.stats.cache.entries, 1);
    const { hits } = store.stats.cache;
    store.get("k");
    assertEquals(store.stats.cache.hits, hits + 1);
    // A stale write changes nothing; a newer one replaces the entry.
    assertEquals(await store.apply(record("k", "old", [0, 0, "a"])), false);
    assertEquals(store.get("k")?.value, { n: 1 });
    assert(await store.apply(record("k", "new", [2, 0, "a"])));
    assertEquals(store.get("k")?.value, "new");
    assert(await store.remove("k", [2, 0, "a"]));
    assertEquals(store.get("k"), undefined);
    assertEquals(store.stats.cache.entries, 0);
  } finally {
    await store.close();
  }
  // Written by another connection while closed: a reopened store reads
  // the database, not a cache from its last life.
  const db = new DatabaseSync(path);
  db.prepare(
    "INSERT INTO records VALUES (?, '\"outside\"', 9, 0, 'b', 0, NULL, ?)",
  ).run(encodeKey("k"), hashKey("k"));
  db.close();
  const again = SqliteStore.open(path);
  try {
    assertEquals(again.get("k")?.value, "outside");
  } finally {
    await again.close();
  }
});

Deno.test("SqliteStore: the hint log keeps hints across a reopen, and forgets delivered ones", async () => {
  const path = freshPath();
  const store = SqliteStore.open(path);
  const log = store.hintLog;
  try {
    await log.put("b:1", record("k", { v: 1 }, [1, 0, "a"]));
    await log.put("b:1", record("k", { v: 2 }, [2, 0, "a"]));
    await log.put("c:1", record("k", null, [3, 0, "a"], { tombstone: true }));
    await log.put("b:1", record("ttl", "t", [1, 0, "a"], { expiresAtMs: 9 }));
    // A removal names the exact version: an older one leaves the hint.
    await log.remove("b:1", "k", [1, 0, "a"]);
    assertEquals(store.count(), 0, "hints are not records");
    assertEquals(store.get("k"), undefined);
  } finally {
    await store.close();
  }
  const again = SqliteStore.open(path);
  try {
    const sorted = () =>
      again.hintLog.load().sort((x, y) =>
        `${x[0]} ${x[1].key}` < `${y[0]} ${y[1].key}` ? -1 : 1
      );
    assertEquals(sorted(), [
      ["b:1", record("k", { v: 2 }, [2, 0, "a"])],
      ["b:1", record("ttl", "t", [1, 0, "a"], { expiresAtMs: 9 })],
      ["c:1", record("k", null, [3, 0, "a"], { tombstone: true })],
    ]);
    await again.hintLog.remove("b:1", "k", [2, 0, "a"]);
    assertEquals(sorted().map(([t, r]) => `${t} ${r.key}`), [
      "b:1 ttl",
      "c:1 k",
    ]);
  } finally {
    await again.close();
  }
});

Deno.test("SqliteStore: a full disk refuses a hint, which is then not kept", async () => {
  const store = SqliteStore.open(freshPath(), { maxPageCount: 6 });
  try {
    const error = await assertRejects(
      () =>
        store.hintLog.put(
          "b:1",
          record("big", "x".repeat(64 * 1024), [
            1,
            0,
            "a",
          ]),
        ),
      StorageError,
    );
    assertStringIncludes(error.message, "the disk is full");
    assertEquals(store.hintLog.load(), []);
  } finally {
    await store.close();
  }
});

/** Turns a current database into what schema `version` (1 or 2) wrote. */
function downgrade(path: string, version: 1 | 2): void {
  const db = new DatabaseSync(path);
  db.exec(
    "DROP INDEX records_hash; ALTER TABLE records DROP COLUMN hash;" +
      (version === 1 ? " DROP TABLE hints;" : "") +
      ` PRAGMA user_version = ${version};`,
  );
  db.close();
}

for (const version of [1, 2] as const) {
  Deno.test(`SqliteStore: a version ${version} database is upgraded on open`, async () => {
    const path = freshPath();
    const first = SqliteStore.open(path);
    await first.apply(record("kept", 1, [1, 0, "a"]));
    await first.close();
    downgrade(path, version);
    const store = SqliteStore.open(path);
    try {
      assertEquals(store.get("kept")?.value, 1);
      // The hash column is filled for the records already there.
      const hash = hashKey("kept");
      assertEquals(store.summaries(hash, hash + 1).map((r) => r.key), [
        "kept",
      ]);
      await store.hintLog.put("b:1", record("h", 2, [2, 0, "a"]));
      assertEquals(store.hintLog.load().length, 1);
    } finally {
      await store.close();
    }
    const check = new DatabaseSync(path);
    try {
      assertEquals(check.prepare("PRAGMA user_version").get()?.user_version, 3);
    } finally {
      check.close();
    }
  });
}

Deno.test("SqliteStore: a second open of the same database is refused while the first holds it", async () => {
  const path = freshPath();
  const store = SqliteStore.open(path);
  try {
    const error = assertThrows(() => SqliteStore.open(path), StorageError);
    assertStringIncludes(error.message, "locked by another process");
  } finally {
    await store.close();
  }
  // Released at close.
  await SqliteStore.open(path).close();
});

Deno.test("SqliteStore: a file that is not a database is refused with a clear error", () => {
  const path = freshPath();
  Deno.writeTextFileSync(path, "this is not a database\n".repeat(500));
  const error = assertThrows(() => SqliteStore.open(path), StorageError);
  assertStringIncludes(error.message, "corrupt or not a database");
});

Deno.test("SqliteStore: a SQLite database that KVDB did not create is refused", () => {
  const path = freshPath();
  const db = new DatabaseSync(path);
  db.exec("CREATE TABLE other (x)");
  db.close();
  const error = assertThrows(() => SqliteStore.open(path), StorageError);
  assertStringIncludes(error.message, "KVDB did not create");
});

Deno.test("SqliteStore: a path under a regular file cannot be opened", () => {
  const file = freshPath();
  Deno.writeTextFileSync(file, "");
  const error = assertThrows(
    () => SqliteStore.open(`${file}/db.sqlite`),
    StorageError,
  );
  assertInstanceOf(error, StorageError);
  assertStringIncludes(error.message, "cannot be opened");
});

Deno.test("SqliteStore: remove() is ordered with the writes of its turn", async () => {
  const store = SqliteStore.open(freshPath());
  try {
    await store.apply(record("k", 1, [1, 0, "a"]));
    const [removed, applied] = await Promise.all([
      store.remove("k", [1, 0, "a"]),
      store.apply(record("k", 2, [2, 0, "a"])),
    ]);
    assertEquals([removed, applied], [true, true]);
    assertEquals(store.get("k")?.value, 2);
    assertEquals(store.count(), 1);
    assertEquals(store.stats.commits, 2);
  } finally {
    await store.close();
  }
});

Deno.test("SqliteStore: scans and purges use the indexes, never a full table scan", () => {
  const path = freshPath();
  SqliteStore.open(path).close();
  const db = new DatabaseSync(path);
  try {
    const plan = (sql: string) =>
      db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all().map((row) =>
        String(row.detail)
      ).join("; ");
    const scan = plan(
      "SELECT key FROM records WHERE key > ? AND key < ? ORDER BY key LIMIT ?",
    );
    assertStringIncludes(scan, "SEARCH records USING PRIMARY KEY");
    assert(!scan.includes("TEMP B-TREE"), scan);
    assertStringIncludes(
      plan(
        "SELECT key FROM records WHERE expires_at <= ? ORDER BY expires_at LIMIT ?",
      ),
      "INDEX records_expiry",
    );
    assertStringIncludes(
      plan(
        "SELECT key FROM records WHERE tombstone = 1 AND wall < ? ORDER BY wall LIMIT ?",
      ),
      "INDEX records_tombstones",
    );
  } finally {
    db.close();
  }
});
