import { assertEquals } from "@std/assert";
import { ManualClock } from "../clock/mod.ts";
import { MemoryStore } from "../storage/mod.ts";
import { UnavailableError } from "../errors.ts";
import { MemoryNetwork } from "../transport/mod.ts";
import {
  ClusterNode,
  type ClusterNodeOptions,
  MEMBERSHIP_TIMING_DEFAULT,
  seededRandom,
} from "./mod.ts";

const OPTIONS = {
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
};

/** A node of `network` named `self`, on a memory store unless given one. */
function start(
  network: MemoryNetwork,
  self: string,
  more: Partial<ClusterNodeOptions> & { seeds: string[]; join: boolean },
): Promise<ClusterNode> {
  return ClusterNode.create({
    self,
    store: new MemoryStore(),
    transport: network.transport(self),
    clock: new ManualClock(1_000_000),
    random: seededRandom(1),
    ...OPTIONS,
    ...more,
  });
}

Deno.test("a --join node that a seed lists only as a start-up seed (incarnation 0) joins, not comes back", async () => {
  const network = new MemoryNetwork();
  // The seed was started with the new node's address in its seed list and
  // has not heard from it: it lists it ready at incarnation 0.
  network.register("s:1", (request) => {
    assertEquals(request.kind, "ping");
    return Promise.resolve({
      kind: "ping",
      members: [["s:1", "alive", 5, "ready"], ["j:1", "alive", 0, "ready"]],
    });
  });
  const node = await start(network, "j:1", { seeds: ["s:1"], join: true });
  assertEquals(node.membership.me.phase, "joining");
});

Deno.test("a --join node its seed lists on the ring, that another member removed, joins", async () => {
  const cases: {
    name: string;
    othersSay: "alive" | "dead" | "left";
    want: "joining" | "ready";
  }[] = [
    {
      name: "nobody removed it: it comes back",
      othersSay: "dead",
      want: "ready",
    },
    {
      name: "removed where the seed has not heard yet",
      othersSay: "left",
      want: "joining",
    },
  ];
  for (const { name, othersSay, want } of cases) {
    const network = new MemoryNetwork();
    // The seed saw the node go down, and has not heard of the removal.
    network.register("s:1", () =>
      Promise.resolve({
        kind: "ping",
        members: [
          ["s:1", "alive", 5, "ready"],
          ["r:1", "alive", 5, "ready"],
          ["j:1", "dead", 7, "ready"],
        ],
      }));
    // Another member removed it (left, at the incarnation it died with).
    network.register("r:1", () =>
      Promise.resolve({
        kind: "ping",
        members: [
          ["s:1", "alive", 5, "ready"],
          ["r:1", "alive", 5, "ready"],
          ["j:1", othersSay, 7, "ready"],
        ],
      }));
    const node = await start(network, "j:1", { seeds: ["s:1"], join: true });
    assertEquals(node.membership.me.phase, want, name);
  }
});

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
  const node = await start(new MemoryNetwork(), "a:1", {
    seeds: ["a:1"],
    join: false,
    store,
    clock,
  });
  await node.coordinator.set("k", "after");
  assertEquals((await node.coordinator.read("k"))?.value, "after");
});

Deno.test("a node that started empty coordinates nothing until it hears from the cluster", async () => {
  for (const held of [false, true]) {
    const store = new MemoryStore();
    if (held) {
      await store.apply({
        key: "k",
        value: "kept",
        version: [1, 0, "a:1"],
        tombstone: false,
        expiresAtMs: null,
      });
    }
    const network = new MemoryNetwork();
    // Its -C list names b, which says nothing yet (cut off).
    const node = await start(network, "a:1", {
      seeds: ["a:1", "b:1"],
      join: false,
      store,
    });
    const name = held ? "with its disk" : "empty";
    const read = node.coordinator.read("k").then(
      () => "served",
      (error) => error instanceof UnavailableError ? error.message : error,
    );
    assertEquals(
      await read,
      held
        ? "served"
        : "this node started with no data and has not heard from the " +
          "cluster yet; retry, or send the request to another member",
      name,
    );
    // b speaks for the cluster (a member's table merged), and answers.
    network.register("b:1", (request) =>
      Promise.resolve(
        request.kind === "read"
          ? { kind: "read", records: request.keys.map(() => null) }
          : { kind: "ping", members: [] },
      ));
    node.membership.merge("b:1", [
      ["a:1", "alive", 1, "ready"],
      ["b:1", "alive", 1, "ready"],
    ]);
    assertEquals(node.membership.heardFromCluster, true, name);
    for (const key of ["k", "x", "y", "z"]) {
      assertEquals(
        await node.coordinator.read(key).then(() => "served"),
        "served",
        `${name}: ${key}`,
      );
    }
  }
});
