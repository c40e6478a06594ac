import { assert, assertEquals } from "@std/assert";
import { ManualClock } from "../clock/mod.ts";
import { PeerError, type PeerTransport } from "../transport/mod.ts";
import { Membership } from "./membership.ts";
import { seededRandom } from "./random.ts";

const silent: PeerTransport = {
  call: () => Promise.reject(new PeerError("x:1", "unreachable")),
};

function membership(self = "a:1", seeds = ["a:1", "b:1", "c:1"]) {
  return new Membership({
    self,
    seeds,
    phase: "ready",
    incarnation: 10,
    transport: silent,
    clock: new ManualClock(0),
    random: seededRandom(1),
  });
}

Deno.test("merge() prefers a higher incarnation, then the graver state", () => {
  const m = membership();
  m.merge("b:1", [["c:1", "suspect", 0, "ready"]]);
  assertEquals(m.get("c:1")?.state, "suspect");
  m.merge("b:1", [["c:1", "alive", 0, "ready"]]);
  assertEquals(
    m.get("c:1")?.state,
    "suspect",
    "same incarnation: suspect wins",
  );
  m.merge("b:1", [["c:1", "alive", 1, "ready"]]);
  assertEquals(m.get("c:1")?.state, "alive", "a refutation wins");
  m.merge("b:1", [["c:1", "dead", 1, "ready"]]);
  assertEquals(m.get("c:1")?.state, "dead");
});

Deno.test("a node refutes suspicion about itself with a higher incarnation", () => {
  const m = membership();
  m.merge("b:1", [["a:1", "suspect", 10, "ready"]]);
  assertEquals(m.me.state, "alive");
  assertEquals(m.me.incarnation, 11);
  m.merge("b:1", [["a:1", "dead", 3, "ready"]]);
  assertEquals(m.me.incarnation, 11, "an old rumour needs no refutation");
});

Deno.test("gossip from a node outside the cluster is refused", () => {
  const m = membership();
  assertEquals(m.merge("x:9", [["y:9", "alive", 1, "ready"]]), false);
  assertEquals(m.get("y:9"), undefined);
  assertEquals(m.handlePing("x:9", [["c:1", "dead", 99, "ready"]]), null);
  assertEquals(m.get("c:1")?.state, "alive");
});

Deno.test("a joining node may introduce itself, and only itself", () => {
  const m = membership();
  assert(
    m.merge("d:1", [["d:1", "alive", 5, "joining"], [
      "c:1",
      "dead",
      9,
      "ready",
    ]]),
  );
  assertEquals(m.get("d:1")?.phase, "joining");
  assertEquals(m.get("c:1")?.state, "alive");
});

Deno.test("an unanswered probe makes a member suspect, then dead after the timeout", async () => {
  const clock = new ManualClock(0);
  const m = new Membership({
    self: "a:1",
    seeds: ["b:1"],
    phase: "ready",
    incarnation: 1,
    transport: silent,
    clock,
    random: seededRandom(1),
    timing: { suspicionTimeoutMs: 1000 },
  });
  await m.probeOnce();
  assertEquals(m.get("b:1")?.state, "suspect");
  clock.advance(999);
  await m.probeOnce();
  assertEquals(m.get("b:1")?.state, "suspect");
  clock.advance(1);
  await m.probeOnce();
  assertEquals(m.get("b:1")?.state, "dead");
});

Deno.test("remove() takes a dead member out for good, and only a dead one", async () => {
  const clock = new ManualClock(0);
  const called: string[] = [];
  const m = new Membership({
    self: "a:1",
    seeds: ["b:1", "c:1"],
    phase: "ready",
    incarnation: 1,
    transport: {
      call: (target) => {
        called.push(target);
        return Promise.reject(new PeerError("x:1", "unreachable"));
      },
    },
    clock,
    random: seededRandom(1),
  });
  assertEquals(await m.remove("a:1"), "self");
  assertEquals(await m.remove("z:9"), "unknown");
  assertEquals(await m.remove("b:1"), "alive");
  m.merge("c:1", [["b:1", "suspect", 0, "ready"]]);
  assertEquals(await m.remove("b:1"), "suspect");
  m.merge("c:1", [["b:1", "dead", 0, "ready"]]);
  called.length = 0;
  assertEquals(await m.remove("b:1"), null);
  assertEquals(m.get("b:1")?.state, "left");
  assertEquals(called, ["c:1"], "announced to the others, not to b:1");
  assertEquals(await m.remove("b:1"), "left");
});

Deno.test("a removal outranks 'dead' in gossip; a restart with a higher incarnation brings the member back", async () => {
  const a = membership("a:1");
  const c = membership("c:1");
  for (const m of [a, c]) {
    m.merge("b:1", [
      ["a:1", "alive", 10, "ready"],
      ["b:1", "dead", 7, "ready"],
      ["c:1", "alive", 10, "ready"],
    ]);
  }
  assertEquals(await a.remove("b:1"), null);
  c.merge("a:1", a.entries());
  assertEquals(c.get("b:1")?.state, "left", "the removal spreads");
  c.merge("a:1", [["b:1", "dead", 7, "ready"]]);
  assertEquals(c.get("b:1")?.state, "left", "an old 'dead' does not undo it");
  c.merge("b:1", [["b:1", "alive", 8, "ready"]]);
  assertEquals(c.get("b:1")?.state, "alive", "the member returned");
});

Deno.test("a member heard from while its probe failed is busy, not suspect; one silent since is suspected", async () => {
  const clock = new ManualClock(1_000);
  let heardAtMs: number | undefined;
  const m = new Membership({
    self: "a:1",
    seeds: ["b:1", "c:1"],
    phase: "ready",
    incarnation: 1,
    transport: silent,
    clock,
    random: seededRandom(1),
    heardAtMs: () => heardAtMs,
  });
  // Every probe fails, but an answer to some other call came meanwhile.
  heardAtMs = clock.now();
  for (let i = 0; i < 4; i++) await m.probeOnce();
  assertEquals(m.get("b:1")?.state, "alive");
  assertEquals(m.get("c:1")?.state, "alive");
  // Heard from before the probe began, not since: suspected as before.
  clock.advance(10);
  heardAtMs = clock.now() - 1;
  for (let i = 0; i < 4; i++) await m.probeOnce();
  assertEquals(m.get("b:1")?.state, "suspect");
  assertEquals(m.get("c:1")?.state, "suspect");
});

Deno.test("a seed no seed table lists is dropped at start, and not learnt from another node's seeds", () => {
  // Restarted with a seed list naming d:1, a node that has not joined.
  const m = membership("a:1", ["b:1", "c:1", "d:1"]);
  assertEquals(m.get("d:1")?.incarnation, 0, "taken for a member at start");
  m.adoptSeedTable("b:1", [
    ["a:1", "alive", 10, "ready"],
    ["b:1", "alive", 4, "ready"],
    ["c:1", "alive", 0, "ready"],
    ["f:1", "alive", 0, "ready"],
  ]);
  assertEquals(m.get("d:1"), undefined, "the cluster does not list it");
  assertEquals(m.get("c:1")?.state, "alive", "listed, if only as a seed");
  assertEquals(m.get("f:1"), undefined, "the seed's own seed, not this one's");
  // Another node's start-up seed, gossiped at incarnation 0, is not taken.
  m.merge("c:1", [
    ["c:1", "alive", 3, "ready"],
    ["d:1", "alive", 0, "ready"],
    ["e:1", "alive", 0, "ready"],
  ]);
  assertEquals(m.get("d:1"), undefined);
  assertEquals(m.get("e:1"), undefined);
  // Its own word, or a member's that heard it, is taken.
  m.merge("d:1", [["d:1", "alive", 20, "joining"]]);
  assertEquals(m.get("d:1")?.phase, "joining");
  m.merge("c:1", [["e:1", "alive", 21, "joining"]]);
  assertEquals(m.get("e:1")?.incarnation, 21);
});

Deno.test("a seed table counts whole even from a member this node did not list", () => {
  const m = membership("a:1", ["b:1"]);
  m.adoptSeedTable("c:1", [
    ["b:1", "left", 9, "ready"],
    ["c:1", "alive", 5, "ready"],
    ["d:1", "alive", 6, "joining"],
  ]);
  assertEquals(m.members().map((x) => `${x.address} ${x.state}`), [
    "a:1 alive",
    "b:1 left",
    "c:1 alive",
    "d:1 alive",
  ]);
});

Deno.test("gossip drops no seed; founders' seed lists agree", () => {
  const m = membership("a:1", ["b:1", "c:1", "d:1"]);
  m.merge("c:1", [
    ["b:1", "alive", 0, "ready"],
    ["c:1", "alive", 5, "ready"],
  ]);
  assertEquals(m.members().map((x) => x.address), [
    "a:1",
    "b:1",
    "c:1",
    "d:1",
  ]);
});

Deno.test("a node that has not heard from the cluster gives no seed table, unless alone", () => {
  const m = membership("a:1", ["b:1", "c:1"]);
  assertEquals(m.handlePing("x:1", [])?.members, [], "it knows only seeds");
  m.merge("b:1", [
    ["a:1", "alive", 10, "ready"],
    ["b:1", "alive", 4, "ready"],
    ["c:1", "alive", 7, "ready"],
  ]);
  assertEquals(m.handlePing("x:1", [])?.members.length, 3);
  const alone = membership("a:1", ["a:1"]);
  assertEquals(alone.handlePing("x:1", [])?.members, [
    ["a:1", "alive", 10, "ready"],
  ]);
});

Deno.test("a leave cut off from every member waits until one hears it", async () => {
  const clock = new ManualClock(0);
  let reachable = false;
  const m = new Membership({
    self: "a:1",
    seeds: ["b:1", "c:1"],
    phase: "leaving",
    incarnation: 1,
    transport: {
      call: (target) =>
        reachable
          ? Promise.resolve({
            kind: "ping",
            members: [[target, "alive", 5, "ready"]],
          })
          : Promise.reject(new PeerError(target, "unreachable")),
    },
    clock,
    random: seededRandom(1),
    timing: { suspicionTimeoutMs: 1000, probeIntervalMs: 100 },
  });
  m.merge("b:1", [
    ["a:1", "alive", 1, "leaving"],
    ["b:1", "dead", 4, "ready"],
    ["c:1", "dead", 4, "ready"],
  ]);
  let answered: number | undefined;
  const leave = m.leave().then((n) => answered = n);
  for (let i = 0; i < 20; i++) {
    await Promise.resolve();
    clock.advance(100);
  }
  assertEquals(answered, undefined, "nobody heard it: still leaving");
  assertEquals(m.me.state, "left");
  reachable = true;
  for (let i = 0; i < 20 && answered === undefined; i++) {
    await new Promise((r) => setTimeout(r, 0));
    clock.advance(100);
  }
  await leave;
  assertEquals(answered, 2);
});
