import { assert, assertEquals, assertRejects } from "@std/assert";
import { HybridClock, ManualClock } from "../clock/mod.ts";
import { UnavailableError } from "../errors.ts";
import { Ring } from "../ring/mod.ts";
import { MemoryStore, type StoredRecord } from "../storage/mod.ts";
import { MemoryNetwork } from "../transport/mod.ts";
import {
  type AtomicOp,
  Coordinator,
  KeySerializer,
  OwnerUnreachableError,
  Topology,
} from "./mod.ts";

const ADDRESSES = ["n1:1", "n2:1", "n3:1"];

/** Adds args[0] to the number stored under key args[1] ("k" by default). */
const add: AtomicOp = (records, args) => {
  const [record] = records as (StoredRecord | undefined)[];
  const next = Number(record?.value ?? 0) + Number(args[0]);
  return {
    writes: [{
      key: record?.key ?? args[1] ?? "k",
      value: next,
      expiresAtMs: null,
    }],
    reply: next,
  };
};

async function cluster(inFlightMax = 1_000) {
  const clock = new ManualClock();
  const network = new MemoryNetwork();
  const ring = await Ring.build(ADDRESSES, { vnodes: 64 });
  const down = new Set<string>();
  const nodes = new Map<string, KeySerializer>();
  for (const address of ADDRESSES) {
    const transport = network.transport(address);
    const coordinator = new Coordinator({
      self: address,
      topology: new Topology((m) => Ring.build(m, { vnodes: 64 }), ring),
      store: new MemoryStore(),
      transport,
      clock,
      hlc: new HybridClock(clock, address),
      replicationFactor: 3,
    });
    const serializer = new KeySerializer({
      self: address,
      coordinator,
      transport,
      clock,
      isDown: (a) => down.has(a),
      ops: new Map([["add", add]]),
      forwardDeadlineMs: 1_000,
      inFlightMax,
    });
    network.register(
      address,
      (request) =>
        request.kind === "atomic"
          ? serializer.handlePeer(request)
          : coordinator.handlePeer(request),
    );
    nodes.set(address, serializer);
  }
  return { network, nodes, down };
}

Deno.test("KeySerializer: concurrent read-modify-writes through three nodes lose nothing", async () => {
  const { nodes } = await cluster();
  const all = [...nodes.values()];
  const runs = [];
  for (let i = 0; i < 300; i++) runs.push(all[i % 3]!.run("add", ["k"], ["1"]));
  const replies = await Promise.all(runs);
  assertEquals(Math.max(...replies as number[]), 300);
  assertEquals(new Set(replies).size, 300, "every reply is a distinct count");
});

Deno.test("KeySerializer: every node agrees on a key's serialising node, the first live replica", async () => {
  const { nodes, down } = await cluster();
  const owners = [...nodes.values()].map((s) => s.owner("some-key"));
  assertEquals(new Set(owners).size, 1);
  down.add(owners[0]!);
  const next = ADDRESSES.filter((a) => a !== owners[0]).map((a) =>
    nodes.get(a)!.owner("some-key")
  );
  assertEquals(new Set(next).size, 1, "the others agree on the next one");
  assert(next[0] !== owners[0]);
});

Deno.test("KeySerializer: an unreachable owner is reported, and the command is not run elsewhere", async () => {
  const { nodes, network } = await cluster();
  const s1 = nodes.get("n1:1")!;
  // A key n1 does not serialise.
  let key = "a";
  for (let i = 0; s1.owner(key) === "n1:1"; i++) key = `a${i}`;
  const owner = s1.owner(key);
  network.down(owner);
  await assertRejects(
    () => s1.run("add", [key], ["1"]),
    OwnerUnreachableError,
    "may or may not have been applied",
  );
  assertEquals(s1.stats().forwardFailed, 1);
  assertEquals(s1.stats().runLocal, 0);
});

Deno.test("KeySerializer: refuses work beyond its bound, with a clear error", async () => {
  const { nodes } = await cluster(1);
  const s = nodes.get("n1:1")!;
  let key = "b";
  for (let i = 0; s.owner(key) !== "n1:1"; i++) key = `b${i}`;
  const first = s.run("add", [key], ["1"]);
  await assertRejects(
    () => s.run("add", [key], ["1"]),
    UnavailableError,
    "too many atomic commands waiting",
  );
  assertEquals(await first, 1);
  assertEquals(s.stats().refusedBusy, 1);
});

Deno.test("KeySerializer: a forwarded command sent twice (a transport retry) runs once", async () => {
  const { nodes } = await cluster();
  const s = nodes.get("n1:1")!;
  let key = "c";
  for (let i = 0; s.owner(key) !== "n1:1"; i++) key = `c${i}`;
  const request = {
    kind: "atomic" as const,
    id: "n2:1/1/7",
    op: "add",
    keys: [key],
    args: ["1", key],
  };
  const [a, b] = await Promise.all([
    s.handlePeer(request),
    s.handlePeer(request),
  ]);
  const c = await s.handlePeer(request);
  assertEquals([a, b, c].map((r) => r.kind === "atomic" ? r.reply : null), [
    1,
    1,
    1,
  ]);
  assertEquals(await s.run("add", [key], ["1", key]), 2);
});
