import { assert, assertEquals, assertRejects } from "@std/assert";
import type { Version } from "../clock/mod.ts";
import type { HintLog, StoredRecord } from "../storage/mod.ts";
import { HintStore } from "./hints.ts";

const record = (
  key: string,
  wall: number,
  value: unknown = "v",
): StoredRecord => ({
  key,
  value,
  version: [wall, 0, "n"],
  tombstone: false,
  expiresAtMs: null,
});

/** A hint log in a Map, which fails on demand, as a full disk would. */
class MapLog implements HintLog {
  readonly kept = new Map<string, [string, StoredRecord]>();
  failing = false;
  load(): [string, StoredRecord][] {
    return [...this.kept.values()];
  }
  put(target: string, record: StoredRecord): Promise<void> {
    if (this.failing) return Promise.reject(new Error("disk full"));
    this.kept.set(`${target} ${record.key}`, [target, record]);
    return Promise.resolve();
  }
  remove(target: string, key: string, version: Version): Promise<void> {
    const kept = this.kept.get(`${target} ${key}`);
    if (kept !== undefined && kept[1].version.join() === version.join()) {
      this.kept.delete(`${target} ${key}`);
    }
    return Promise.resolve();
  }
}

Deno.test("HintStore keeps the newest write per key and target", async () => {
  const hints = new HintStore();
  assert(await hints.add("b:1", record("k", 1, "old")));
  assert(await hints.add("b:1", record("k", 2, "new")));
  assert(await hints.add("b:1", record("k", 1, "older")));
  assertEquals(hints.peek("b:1", 10).map((r) => r.value), ["new"]);
  assertEquals(hints.stats().count, 1);
});

Deno.test("HintStore refuses hints beyond its count and byte bounds", async () => {
  const byCount = new HintStore({ countMax: 2 });
  assert(await byCount.add("b:1", record("a", 1)));
  assert(await byCount.add("c:1", record("b", 1)));
  assertEquals(await byCount.add("b:1", record("c", 1)), false);
  assertEquals(byCount.stats().refused, 1);
  const byBytes = new HintStore({ bytesMax: 100 });
  assertEquals(
    await byBytes.add("b:1", record("k", 1, "x".repeat(200))),
    false,
  );
});

Deno.test("delivered() drops handed-over hints but keeps a newer write", async () => {
  const hints = new HintStore();
  await hints.add("b:1", record("a", 1));
  await hints.add("b:1", record("b", 1));
  const batch = hints.peek("b:1", 10);
  await hints.add("b:1", record("b", 2, "newer"));
  await hints.delivered("b:1", batch);
  assertEquals(hints.peek("b:1", 10).map((r) => r.value), ["newer"]);
  assertEquals(hints.stats().count, 1);
  assertEquals(hints.stats().delivered, 1);
  await hints.delivered("b:1", hints.peek("b:1", 10));
  assertEquals(hints.stats(), {
    count: 0,
    bytes: 0,
    targets: {},
    delivered: 2,
    refused: 0,
  });
});

Deno.test("HintStore with a log: held hints survive a restart, delivered ones do not", async () => {
  const log = new MapLog();
  const before = new HintStore({}, log);
  await before.add("b:1", record("a", 1));
  await before.add("b:1", record("b", 1));
  await before.add("c:1", record("a", 3, "for c"));
  await before.add("b:1", record("b", 2, "newer"));
  await before.delivered("b:1", [record("a", 1)]);
  // A new process: the hint store starts from the log.
  const after = new HintStore({}, log);
  assertEquals(after.stats().count, 2);
  assertEquals(after.peek("b:1", 10).map((r) => r.value), ["newer"]);
  assertEquals(after.peek("c:1", 10).map((r) => r.value), ["for c"]);
});

Deno.test("HintStore with a failing log holds nothing it could not keep", async () => {
  const log = new MapLog();
  const hints = new HintStore({}, log);
  await hints.add("b:1", record("k", 1, "kept"));
  log.failing = true;
  await assertRejects(() => hints.add("b:1", record("k", 2, "lost")), Error);
  await assertRejects(() => hints.add("b:1", record("j", 1)), Error);
  assertEquals(hints.peek("b:1", 10).map((r) => r.value), ["kept"]);
  assertEquals(hints.stats().count, 1);
});
