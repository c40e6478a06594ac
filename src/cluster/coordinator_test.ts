import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { HybridClock, ManualClock } from "../clock/mod.ts";
import { UnavailableError } from "../errors.ts";
import { httpStatus } from "../server/status.ts";
import { Ring } from "../ring/mod.ts";
import { MemoryStore } from "../storage/mod.ts";
import { MemoryNetwork, type PeerTransport } from "../transport/mod.ts";
import { Coordinator, mergeKeyPages, Topology } from "./mod.ts";

const ADDRESSES = ["n1:1", "n2:1", "n3:1"];

interface SimNode {
  address: string;
  store: MemoryStore;
  coordinator: Coordinator;
}

/** Three nodes in one process over an in-memory network. */
async function cluster(
  options: { n?: number; r?: number; w?: number; transport?: PeerTransport } =
    {},
) {
  const clock = new ManualClock();
  const network = new MemoryNetwork();
  const ring = await Ring.build(ADDRESSES, { vnodes: 64 });
  const nodes = new Map<string, SimNode>();
  for (const address of ADDRESSES) {
    const store = new MemoryStore();
    const coordinator = new Coordinator({
      self: address,
      topology: new Topology((m) => Ring.build(m, { vnodes: 64 }), ring),
      store,
      transport: options.transport ?? network.transport(address),
      clock,
      hlc: new HybridClock(clock, address),
      replicationFactor: options.n ?? 3,
      ...(options.r ? { readQuorum: options.r } : {}),
      ...(options.w ? { writeQuorum: options.w } : {}),
    });
    network.register(address, (request) => coordinator.handlePeer(request));
    nodes.set(address, { address, store, coordinator });
  }
  const node = (address: string) => nodes.get(address)!;
  return { clock, network, nodes, node, ring };
}

/** Lets background work (read repair) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("set() reaches all N replicas and get() reads it from any node", async () => {
  const { node } = await cluster();
  await node("n1:1").coordinator.set("a", { x: 1 });
  await settle();
  for (const address of ADDRESSES) {
    assertEquals(node(address).store.get("a")?.value, { x: 1 });
    assertEquals((await node(address).coordinator.read("a"))?.value, { x: 1 });
  }
});

Deno.test("defaults are N capped at the cluster size and majority quorums", async () => {
  const { node } = await cluster({ n: 5 });
  assertEquals(node("n1:1").coordinator.settings, {
    replicationFactor: 3,
    readQuorum: 2,
    writeQuorum: 2,
  });
});

Deno.test("the newest version wins, whichever node coordinated it", async () => {
  const { node, clock } = await cluster();
  await node("n1:1").coordinator.set("k", "first");
  clock.advance(1);
  await node("n2:1").coordinator.set("k", "second");
  assertEquals((await node("n3:1").coordinator.read("k"))?.value, "second");
});

Deno.test("with one of three nodes down, writes succeed and every acknowledged write stays readable", async () => {
  const { node, network } = await cluster();
  network.down("n3:1");
  for (let i = 0; i < 50; i++) {
    await node(i % 2 ? "n1:1" : "n2:1").coordinator.set(`k${i}`, i);
  }
  for (let i = 0; i < 50; i++) {
    assertEquals((await node("n1:1").coordinator.read(`k${i}`))?.value, i);
  }
});

Deno.test("with two of three nodes down, a write fails with 503 naming the acknowledgements", async () => {
  const { node, network } = await cluster();
  network.down("n2:1");
  network.down("n3:1");
  const error = await assertRejects(
    () => node("n1:1").coordinator.set("k", 1),
    UnavailableError,
  );
  assertEquals(error.code, "unavailable");
  assertEquals(httpStatus(error.code), 503);
  assertStringIncludes(
    error.message,
    "write quorum not met: 1 of 2 acknowledgements",
  );
  await assertRejects(
    () => node("n1:1").coordinator.read("k"),
    UnavailableError,
    "read quorum not met: 1 of 2 replies",
  );
});

Deno.test("consistency 'one' reads and writes with a single replica up; 'all' needs every replica", async () => {
  const { node, network } = await cluster();
  await node("n1:1").coordinator.set("k", 1);
  network.down("n2:1");
  network.down("n3:1");
  await node("n1:1").coordinator.set("k", 2, { consistency: "one" });
  assertEquals(
    (await node("n1:1").coordinator.read("k", { consistency: "one" }))?.value,
    2,
  );
  network.up("n2:1");
  await assertRejects(
    () => node("n1:1").coordinator.set("k", 3, { consistency: "all" }),
    UnavailableError,
    "of 3 acknowledgements",
  );
});

Deno.test("pop() returns the prior value and leaves a tombstone that hides the key", async () => {
  const { node } = await cluster();
  await node("n1:1").coordinator.set("k", "v");
  const prior = await node("n2:1").coordinator.pop("k");
  assertEquals(prior?.value, "v");
  assertEquals(await node("n3:1").coordinator.read("k"), undefined);
  assertEquals(await node("n3:1").coordinator.pop("k"), undefined);
  assertEquals(node("n1:1").store.get("k")?.tombstone, true);
  assertEquals(
    (await node("n1:1").coordinator.listKeys({ limit: 10 })).keys,
    [],
  );
});

Deno.test("a read repairs a replica that missed a write", async () => {
  const { node, network } = await cluster();
  network.down("n3:1");
  await node("n1:1").coordinator.set("k", "v");
  network.up("n3:1");
  assertEquals(node("n3:1").store.get("k"), undefined);
  assertEquals((await node("n1:1").coordinator.read("k"))?.value, "v");
  await settle();
  assertEquals(node("n3:1").store.get("k")?.value, "v");
});

Deno.test("an expired key reads as absent", async () => {
  const { node, clock } = await cluster();
  await node("n1:1").coordinator.set("k", "v", { ttlSeconds: 1 });
  assertEquals((await node("n2:1").coordinator.read("k"))?.value, "v");
  clock.advance(1000);
  assertEquals(await node("n2:1").coordinator.read("k"), undefined);
});

Deno.test("a replica that never answers loses the quorum at the deadline", async () => {
  const never: PeerTransport = { call: () => new Promise(() => {}) };
  const { node, clock } = await cluster({ transport: never });
  const write = node("n1:1").coordinator.set("k", 1);
  let settled = false;
  write.catch(() => {}).finally(() => settled = true);
  await settle();
  assertEquals(settled, false);
  clock.advance(5000);
  await assertRejects(() => write, UnavailableError, "before the deadline");
});

Deno.test("listKeys() pages through every key exactly once, in order", async () => {
  const { node, network } = await cluster({ n: 2, r: 1 });
  const keys = Array.from(
    { length: 120 },
    (_, i) => `key:${String(i).padStart(3, "0")}`,
  );
  for (const key of keys) await node("n1:1").coordinator.set(key, key);
  await node("n1:1").coordinator.pop("key:007");
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await node("n2:1").coordinator.listKeys({ limit: 7, cursor });
    assert(page.keys.length <= 7);
    seen.push(...page.keys);
    if (page.cursor === null) break;
    cursor = page.cursor;
  }
  assertEquals(seen, keys.filter((k) => k !== "key:007"));
  network.down("n3:1");
  assertEquals(
    (await node("n1:1").coordinator.allKeys()).length,
    119,
    "one member down of three with N=2, R=1: every key still has R replicas",
  );
  network.down("n2:1");
  await assertRejects(
    () => node("n1:1").coordinator.allKeys(),
    UnavailableError,
    "list_keys incomplete: 2 of 3 members did not answer",
  );
});

Deno.test("listKeys() refuses when a key may have fewer than R replicas answering", async () => {
  // N=2, R=2, W=2: a key written to n2 and n3 only is missed with n2 down
  // unless the listing waits for R of every key's replicas.
  const { node, network } = await cluster({ n: 2 });
  await node("n1:1").coordinator.set("k", 1);
  network.down("n2:1");
  await assertRejects(
    () => node("n1:1").coordinator.allKeys(),
    UnavailableError,
    "list_keys incomplete: 1 of 3 members did not answer",
  );
});

Deno.test("listKeys() with a prefix returns only keys that start with it", async () => {
  const { node } = await cluster();
  for (const key of ["user", "user1", "user2", "usex", "a"]) {
    await node("n1:1").coordinator.set(key, 1);
  }
  assertEquals(
    (await node("n2:1").coordinator.listKeys({ prefix: "user", limit: 100 }))
      .keys,
    ["user", "user1", "user2"],
  );
});

Deno.test("mergeKeyPages() stops at the shortest full page so no key is skipped", () => {
  const v = [1, 0, "a"] as const;
  const page = mergeKeyPages(
    [
      {
        kind: "scan",
        entries: [["a", v, false, null], ["c", v, false, null]],
        complete: false,
      },
      {
        kind: "scan",
        entries: [["b", v, false, null], ["d", v, false, null]],
        complete: true,
      },
    ],
    10,
    0,
  );
  assertEquals(page, { keys: ["a", "b", "c"], cursor: "c" });
});

Deno.test("a write stamped older than a replica's version is stamped again and wins", async () => {
  const { node, clock } = await cluster();
  await node("n2:1").coordinator.set("k", "warm-up");
  // v1 was stamped by a node whose clock runs 300 ms ahead, and every
  // replica holds it; n2's next write starts from an older wall time.
  const v1 = {
    key: "k",
    value: "v1",
    version: [clock.now() + 300, 0, "n1:1"] as const,
    tombstone: false,
    expiresAtMs: null,
  };
  for (const address of ADDRESSES) await node(address).store.apply(v1);
  clock.advance(5);
  await node("n2:1").coordinator.set("k", "v2");
  for (const address of ADDRESSES) {
    assertEquals(node(address).store.get("k")?.value, "v2", address);
  }
  assertEquals((await node("n3:1").coordinator.read("k"))?.value, "v2");
});

Deno.test("setMany() writes a batch to every replica, one message each, and every key reads back", async () => {
  const { node } = await cluster();
  const entries = Array.from({ length: 200 }, (_, i) => [`b${i}`, i] as const);
  assertEquals(await node("n1:1").coordinator.setMany(entries), 0);
  for (const address of ADDRESSES) {
    assertEquals(node(address).store.count(), 200, address);
  }
  for (const [key, value] of entries) {
    assertEquals((await node("n3:1").coordinator.read(key))?.value, value);
  }
});

Deno.test("setMany() with a replica down still meets W, and counts what missed it", async () => {
  const { node, network } = await cluster();
  network.down("n3:1");
  const entries = Array.from({ length: 50 }, (_, i) => [`d${i}`, i] as const);
  assertEquals(await node("n1:1").coordinator.setMany(entries), 0);
  assertEquals(node("n2:1").store.count(), 50);
  network.down("n2:1");
  assertEquals(
    await node("n1:1").coordinator.setMany(entries),
    50,
    "one replica of three cannot make W = 2",
  );
});

Deno.test("setMany() stamps again a key a replica holds newer", async () => {
  const { node, clock } = await cluster();
  const ahead = {
    key: "x",
    value: "from the future",
    version: [clock.now() + 300, 0, "n9:1"] as const,
    tombstone: false,
    expiresAtMs: null,
  };
  for (const address of ADDRESSES) await node(address).store.apply(ahead);
  assertEquals(await node("n1:1").coordinator.setMany([["x", "now"]]), 0);
  for (const address of ADDRESSES) {
    assertEquals(node(address).store.get("x")?.value, "now", address);
  }
});
