import { assert, assertEquals } from "@std/assert";
import { ManualClock } from "../clock/mod.ts";
import { hashKey, Ring } from "../ring/mod.ts";
import { MemoryStore, type Store } from "../storage/mod.ts";
import { record } from "../storage/conformance.ts";
import { AE_SETTLE_MS, Digests } from "./digests.ts";

/** Runs the digests' background counting to its end on a manual clock. */
async function settle(clock: ManualClock, done: Promise<void>) {
  let finished = false;
  done.then(() => finished = true);
  for (let i = 0; i < 10_000 && !finished; i++) {
    clock.advance(1);
    await new Promise((r) => setTimeout(r, 0));
  }
  assertEquals(finished, true, "the count finished");
}

/** Digests whose cut is past every version: every change shows at once. */
function everything(digests: Digests): Digests {
  digests.advance(Number.MAX_SAFE_INTEGER);
  return digests;
}

/** Digests of `store`, told of its changes as a node's listener does. */
function following(store: Store, clock: ManualClock): Digests {
  const digests = new Digests(store, clock);
  store.watch((key, before, after) =>
    digests.changed(hashKey(key), before, after)
  );
  return digests;
}
function bucketsOf(digests: Digests) {
  const tree = digests.tree!;
  return tree.buckets(new Uint8Array(tree.size).fill(1));
}

Deno.test("Digests counts a store at start, then follows its changes, and a ring change keeps them right", async () => {
  const clock = new ManualClock();
  const ring = await Ring.build(["a:1", "b:1", "c:1"], { vnodes: 64 });
  const store = new MemoryStore();
  for (let i = 0; i < 2_000; i++) {
    await store.apply(record(`k${i}`, i, [1, 0, "a"]));
  }
  const digests = everything(following(store, clock));
  const counting = digests.follow(ring);
  // Changes while the count runs are not lost.
  await store.apply(record("k1", "new", [2, 0, "a"]));
  await store.apply(record("late", 1, [2, 0, "a"]));
  await settle(clock, counting);
  assertEquals(digests.ready, true);
  await store.remove("k2", [1, 0, "a"]);
  await store.apply(record("k3", null, [3, 0, "a"], { tombstone: true }));

  // A fresh count of the same store agrees with the followed digests.
  const fresh = everything(following(store, clock));
  await settle(clock, fresh.follow(ring));
  assertEquals(bucketsOf(digests), bucketsOf(fresh));

  // The ring grows: leaves change, and the digests still agree with a
  // fresh count for the new ring.
  const bigger = await Ring.build(["a:1", "b:1", "c:1", "d:1"], {
    vnodes: 64,
  });
  await settle(clock, digests.follow(bigger));
  const counted = digests.status().segmentsCounted;
  const again = everything(following(store, clock));
  await settle(clock, again.follow(bigger));
  assertEquals(bucketsOf(digests), bucketsOf(again));
  for (let leaf = 0; leaf < digests.tree!.size; leaf += 13) {
    assertEquals(digests.tree!.leaf(leaf), again.tree!.leaf(leaf));
  }
  // Only the segments the new member's tokens fall in were counted again.
  assertEquals(counted - 65_536 <= 64, true, `${counted} segments counted`);
});

Deno.test("Digests.shared() marks exactly the leaves whose replicas include both members", async () => {
  const clock = new ManualClock();
  const members = ["a:1", "b:1", "c:1", "d:1", "e:1"];
  const ring = await Ring.build(members, { vnodes: 64 });
  const digests = following(new MemoryStore(), clock);
  await settle(clock, digests.follow(ring));
  const tree = digests.tree!;
  const mask = digests.shared("a:1", "c:1", 3);
  let marked = 0;
  for (let leaf = 0; leaf < tree.size; leaf++) {
    const replicas = ring.preferenceListForHash(tree.starts[leaf]!, 3);
    const both = replicas.includes("a:1") && replicas.includes("c:1");
    assertEquals(mask[leaf] === 1, both, `leaf ${leaf}`);
    if (both) marked++;
  }
  // With 5 members and N = 3, a pair shares about 3/10 of the ring.
  assertEquals(marked > tree.size / 10 && marked < tree.size / 2, true);
});

Deno.test("Digests shows a record version only once the cut has passed it", async () => {
  const clock = new ManualClock();
  const ring = await Ring.build(["a:1", "b:1"], { vnodes: 16 });
  const store = new MemoryStore();
  await store.apply(record("old", 1, [100, 0, "a"]));
  await store.apply(record("new", 1, [900, 0, "a"]));
  const digests = following(store, clock);
  assertEquals(digests.advance(500), 500);
  await settle(clock, digests.follow(ring));
  const total = () => bucketsOf(digests).reduce((n, [count]) => n + count, 0);
  assertEquals(total(), 1, "only the version before the cut is counted");
  // A write behind the cut shows at once; one past it waits for the cut.
  await store.apply(record("repaired", 1, [200, 0, "a"]));
  await store.apply(record("later", 1, [1_000, 0, "a"]));
  assertEquals(total(), 2);
  assertEquals(digests.advance(400), 500, "a cut never goes back");
  assertEquals(digests.advance(950), 950);
  assertEquals(total(), 3);
  digests.advance(1_001);
  assertEquals(total(), 4);
  // An overwrite past the cut leaves the old version counted until then.
  await store.apply(record("old", 2, [2_000, 0, "a"]));
  assertEquals(total(), 4);
  digests.advance(3_000);
  assertEquals(total(), 4, "the same keys, one overwritten");
});

Deno.test("Digests moves its own cut as writes come: what waits for it stays bounded without rounds", async () => {
  const clock = new ManualClock(1_000_000);
  const ring = await Ring.build(["a:1", "b:1", "c:1"], { vnodes: 64 });
  const store = new MemoryStore();
  const digests = following(store, clock);
  await settle(clock, digests.follow(ring));
  // Writes at 1,000 per simulated second for 20 s, each stamped now.
  for (let i = 0; i < 20_000; i++) {
    if (i % 1_000 === 0) clock.advance(1_000);
    await store.apply(record(`k${i}`, i, [clock.now(), 0, "a"]));
  }
  const { settling } = digests.status();
  // Only the last settle time's writes (5 s of them) and the changes since
  // the last move wait; no round was run.
  assert(settling <= 6_100, `${settling} changes wait`);
  assert(settling >= 4_000, `${settling} changes wait`);
  assert(digests.cut >= clock.now() - AE_SETTLE_MS - 2_000);
});
