import { assertEquals } from "@std/assert";
import { ManualClock } from "../clock/mod.ts";
import { MemoryStore } from "../storage/mod.ts";
import { MemoryNetwork } from "../transport/mod.ts";
import { ClusterNode, MEMBERSHIP_TIMING_DEFAULT, seededRandom } from "./mod.ts";

Deno.test("a node whose wall clock went back while it was down still writes newer versions than it holds", async () => {
  const clock = new ManualClock(1_000_000);
  const store = new MemoryStore();
  // Written before the restart, when the clock read an hour later.
  await store.apply({
    key: "k",
    value: "before",
    version: [1_000_000 + 3_600_000, 3, "a:1"],
    tombstone: false,
    expiresAtMs: null,
  });
  const node = await ClusterNode.create({
    self: "a:1",
    seeds: ["a:1"],
    join: false,
    store,
    transport: new MemoryNetwork().transport("a:1"),
    clock,
    random: seededRandom(1),
    vnodes: 8,
    replicationFactor: 1,
    requestDeadlineMs: 1_000,
    peerDeadlineMs: 1_000,
    timing: {
      ...MEMBERSHIP_TIMING_DEFAULT,
      antiEntropyIntervalMs: 1_000,
      hintIntervalMs: 1_000,
      handOffIntervalMs: 1_000,
    },
    hintCountMax: 10,
    hintBytesMax: 1_000,
    tombstoneGraceMs: 1_000,
  });
  await node.coordinator.set("k", "after");
  assertEquals((await node.coordinator.read("k"))?.value, "after");
});
