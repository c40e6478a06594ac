import { assertEquals } from "@std/assert";
import { ManualClock } from "../clock/mod.ts";
import { MemoryStore } from "./memory.ts";
import { startPurger } from "./purger.ts";
import { isLive, type StoredRecord } from "./record.ts";
import type { Store } from "./store.ts";

function expiring(key: string, expiresAtMs: number | null): StoredRecord {
  return {
    key,
    value: key,
    version: [1, 0, "a"],
    tombstone: false,
    expiresAtMs,
  };
}

/** Lets the purge's awaited store calls settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

Deno.test("isLive() is exact: a record is dead from its expiry millisecond on", () => {
  const record = expiring("k", 1_000);
  assertEquals(isLive(record, 999), true);
  assertEquals(isLive(record, 1_000), false);
  assertEquals(isLive(record, 1_001), false);
  assertEquals(isLive(expiring("k", null), Number.MAX_SAFE_INTEGER), true);
});

Deno.test("startPurger() purges expired records in the background, in batches", async () => {
  const clock = new ManualClock(0);
  const store = new MemoryStore();
  for (let i = 0; i < 25; i++) await store.apply(expiring(`e${i}`, 500));
  await store.apply(expiring("later", 5_000));
  await store.apply(expiring("never", null));
  const purger = startPurger(store, clock, { intervalMs: 1_000, batchMax: 10 });
  try {
    clock.advance(999);
    await settle();
    assertEquals(store.count(), 27, "nothing before the first pass");
    clock.advance(1);
    await settle();
    assertEquals(store.count(), 17, "one batch per pass");
    clock.advance(0);
    await settle();
    clock.advance(0);
    await settle();
    assertEquals(store.count(), 2, "full batches are followed at once");
    assertEquals(purger.purged, 25);
    // Each pass arms the next timer once its store call settled.
    clock.advance(2_000);
    await settle();
    assertEquals(store.count(), 2, "'later' is not due yet");
    clock.advance(3_000);
    await settle();
    clock.advance(1_000);
    await settle();
    assertEquals(store.scan().map((r) => r.key), ["never"]);
  } finally {
    await purger.stop();
    await store.close();
  }
});

Deno.test("startPurger() keeps expired records for the grace period", async () => {
  const clock = new ManualClock(0);
  const store = new MemoryStore();
  await store.apply(expiring("k", 100));
  const purger = startPurger(store, clock, { intervalMs: 100, graceMs: 1_000 });
  try {
    clock.advance(1_000);
    await settle();
    assertEquals(store.count(), 1);
    clock.advance(200);
    await settle();
    assertEquals(store.count(), 0);
  } finally {
    await purger.stop();
  }
});

Deno.test("startPurger() reports a failing store once and keeps going", async () => {
  const clock = new ManualClock(0);
  let fail = true;
  let calls = 0;
  const store = {
    purgeExpired: () => {
      calls++;
      return fail
        ? Promise.reject(new Error("disk I/O error"))
        : Promise.resolve(0);
    },
  } as unknown as Store;
  const lines: string[] = [];
  const purger = startPurger(store, clock, {
    intervalMs: 10,
    log: (event, fields) =>
      lines.push(
        `${event} ${(fields?.error as Error | undefined)?.message ?? ""}`,
      ),
  });
  try {
    for (let i = 0; i < 5; i++) {
      clock.advance(10);
      await settle();
    }
    fail = false;
    clock.advance(10);
    await settle();
    assertEquals(calls, 6);
    assertEquals(lines, [
      "purge.failed disk I/O error",
      "purge.recovered ",
    ]);
  } finally {
    await purger.stop();
  }
  clock.advance(1_000);
  await settle();
  assertEquals(calls, 6, "stopped");
});
