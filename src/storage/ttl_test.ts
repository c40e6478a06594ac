/**
 * TTL exactness at the function level: a coordinator on a `ManualClock`
 * over each engine. A key is readable up to the millisecond before its
 * expiry and never from its expiry on, whether or not it has been purged,
 * and a durable engine keeps the expiry across a reopen.
 */

import { assertEquals } from "@std/assert";
import { HybridClock, ManualClock } from "../clock/mod.ts";
import { Coordinator, Topology } from "../cluster/mod.ts";
import { Ring } from "../ring/mod.ts";
import { MemoryNetwork } from "../transport/mod.ts";
import { MemoryStore } from "./memory.ts";
import { SqliteStore } from "./sqlite.ts";
import type { Store } from "./store.ts";

const SELF = "n1:1";
const root = Deno.makeTempDirSync({ prefix: "kvdb-ttl-test-" });
Deno.test.afterAll(() => Deno.removeSync(root, { recursive: true }));
let files = 0;

async function coordinatorOver(store: Store, clock: ManualClock) {
  const ring = await Ring.build([SELF], { vnodes: 8 });
  return new Coordinator({
    self: SELF,
    topology: new Topology((m) => Ring.build(m, { vnodes: 8 }), ring),
    store,
    transport: new MemoryNetwork().transport(SELF),
    clock,
    hlc: new HybridClock(clock, SELF),
    replicationFactor: 1,
  });
}

/** Everything a client could see of `key` through the coordinator. */
async function visible(coordinator: Coordinator, key: string) {
  return {
    read: (await coordinator.read(key))?.value,
    local: coordinator.readLocal(key)?.value,
    listed: (await coordinator.listKeys({ limit: 10 })).keys.includes(key),
    listedLocal: coordinator.listLocalKeys({ limit: 10 }).keys.includes(key),
  };
}

const SEEN = { read: "v", local: "v", listed: true, listedLocal: true };
const GONE = {
  read: undefined,
  local: undefined,
  listed: false,
  listedLocal: false,
};

for (
  const [name, open] of [
    ["memory", () => new MemoryStore()],
    ["sqlite", () => SqliteStore.open(`${root}/${++files}.sqlite`)],
  ] as const
) {
  Deno.test(`ttl (${name}): a key is readable until its expiry and never after, before any purge`, async () => {
    const clock = new ManualClock(1_000_000);
    const store: Store = open();
    try {
      const coordinator = await coordinatorOver(store, clock);
      await coordinator.set("k", "v", { ttlSeconds: 2 });
      assertEquals(store.get("k")?.expiresAtMs, 1_002_000);
      clock.advance(1_999);
      assertEquals(await visible(coordinator, "k"), SEEN);
      clock.advance(1);
      assertEquals(await visible(coordinator, "k"), GONE);
      assertEquals(store.count(), 1, "still stored: reads alone hide it");
      assertEquals(await store.purgeExpired(clock.now(), 10), 1);
      assertEquals(await visible(coordinator, "k"), GONE);
    } finally {
      await store.close();
    }
  });
}

Deno.test("ttl (sqlite): an expiry survives a reopen and still falls due on time", async () => {
  const path = `${root}/${++files}.sqlite`;
  const clock = new ManualClock(5_000_000);
  const first = SqliteStore.open(path);
  await (await coordinatorOver(first, clock)).set("k", "v", {
    ttlSeconds: 1.5,
  });
  await first.close();
  const again = SqliteStore.open(path);
  try {
    const coordinator = await coordinatorOver(again, clock);
    clock.advance(1_499);
    assertEquals(await visible(coordinator, "k"), SEEN);
    clock.advance(1);
    assertEquals(await visible(coordinator, "k"), GONE);
  } finally {
    await again.close();
  }
});
