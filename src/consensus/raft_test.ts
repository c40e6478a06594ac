import { assert, assertEquals, assertThrows } from "@std/assert";
import { seeded, TestNetwork } from "./_harness.ts";
import { RawNode } from "./raw_node.ts";
import { MemoryStorage } from "./storage.ts";
import { type Entry, ProposalDroppedError } from "./types.ts";

const THREE = ["1", "2", "3"];

function ents(terms: number[]): Entry[] {
  return terms.map((term, i) => ({
    term,
    index: i + 1,
    type: "normal",
    data: `t${term}i${i + 1}`,
  }));
}

function storageWith(terms: number[], term: number, voters = THREE) {
  const s = new MemoryStorage({ voters, learners: [] });
  s.append(ents(terms));
  s.setHardState({ term, vote: null, commit: 0 });
  return s;
}

function logTerms(net: TestNetwork, id: string): number[] {
  const log = net.raft(id).log;
  const out: number[] = [];
  for (let i = 1; i <= log.lastIndex(); i++) out.push(log.term(i));
  return out;
}

Deno.test("a single voter elects itself and commits at once", () => {
  const net = new TestNetwork(["1"]);
  net.campaign("1");
  assertEquals(net.raft("1").state, "leader");
  net.propose("1", "x");
  assertEquals(net.appliedData("1"), ["x"]);
  assertEquals(net.raft("1").log.committed, 2);
});

Deno.test("three voters elect one leader, and every member applies what it commits", () => {
  const net = new TestNetwork(THREE);
  net.campaign("1");
  assertEquals(net.leaders(), ["1"]);
  assertEquals(net.raft("2").lead, "1");
  for (const d of ["a", "b", "c"]) net.propose("1", d);
  for (const id of THREE) assertEquals(net.appliedData(id), ["a", "b", "c"]);
});

Deno.test("ticks alone elect a leader, with pre-vote and check-quorum on", () => {
  const net = new TestNetwork(THREE, { preVote: true, checkQuorum: true });
  net.tickAll(30);
  assertEquals(net.leaders().length, 1);
  const term = net.raft(net.leaders()[0]!).term;
  for (const id of THREE) assertEquals(net.raft(id).term, term);
});

Deno.test("a follower rejects proposals: proposals are the leader's", () => {
  const net = new TestNetwork(THREE);
  net.campaign("1");
  assertThrows(() => net.get("2").node.propose("x"), ProposalDroppedError);
});

Deno.test("figure 7: a new leader brings every follower's log in line with its own", () => {
  // Leader of term 8 and followers (a)-(f) of the Raft paper's figure 7.
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  for (const [name, log] of Object.entries(followers)) {
    const net = new TestNetwork([]);
    const lead = storageWith(leaderLog, 7);
    lead.setHardState({ term: 7, vote: null, commit: 10 });
    net.add("1", lead);
    net.add("2", storageWith(log, 7));
    // "3" is a voter that is not there: its vote is forced below.
    net.get("1").node.campaign();
    net.process();
    net.queue = [];
    net.deliver({
      type: "vote_resp",
      from: "3",
      to: "1",
      term: 8,
      reject: false,
    });
    net.settle();
    assertEquals(net.raft("1").state, "leader", name);
    net.propose("1", "new");
    assertEquals(logTerms(net, "2"), logTerms(net, "1"), `follower ${name}`);
    assertEquals(logTerms(net, "1"), [...leaderLog, 8, 8], name);
  }
});

Deno.test("figure 8: a leader never commits an entry of an earlier term by counting replicas", () => {
  const net = new TestNetwork([]);
  for (const id of THREE) net.add(id, storageWith([1, 2], 2));
  net.get("1").node.campaign();
  net.process();
  net.queue = [];
  for (const from of ["2", "3"]) {
    net.deliver({ type: "vote_resp", from, to: "1", term: 3, reject: false });
  }
  net.process();
  const r = net.raft("1");
  assertEquals(r.state, "leader");
  assertEquals(r.log.lastIndex(), 3); // the leader's empty entry of term 3
  net.queue = [];
  // A majority has entry 2 (of term 2): still not committed.
  net.deliver({ type: "app_resp", from: "2", to: "1", term: 3, index: 2 });
  assertEquals(r.log.committed, 0);
  // Entry 3 is of the leader's term: committing it commits 2 as well.
  net.deliver({ type: "app_resp", from: "2", to: "1", term: 3, index: 3 });
  assertEquals(r.log.committed, 3);
});

Deno.test("figure 8, played out: an entry a majority held but never committed is overwritten, never applied", () => {
  const ids = ["1", "2", "3", "4", "5"];
  const net = new TestNetwork(ids);
  const only = (a: string, b: string) => {
    net.heal();
    for (const id of ids) net.isolate(id);
    net.cut.delete(`${a}->${b}`);
    net.cut.delete(`${b}->${a}`);
  };
  // (a) S1 leads and writes index 2 to S2 only.
  net.campaign("1");
  only("1", "2");
  net.propose("1", "from-S1");
  assertEquals(net.raft("2").log.lastIndex(), 2);
  // (b) S1 crashes; S5 wins with S3 and S4, but its appends are lost;
  // it writes a different index 2 and crashes.
  net.heal();
  net.isolate("1");
  net.get("5").node.campaign();
  net.settleOnly(["vote", "vote_resp"]);
  assertEquals(net.raft("5").state, "leader");
  net.get("5").node.propose("from-S5");
  net.process();
  net.queue = [];
  // (c) S1 restarts and leads again with S2, S3, S4; S5 stays down.
  const s1 = net.get("1").storage;
  net.add("1", s1);
  net.heal();
  net.isolate("5");
  for (let i = 0; i < 5 && net.raft("1").state !== "leader"; i++) {
    net.campaign("1");
  }
  assertEquals(net.raft("1").state, "leader");
  net.propose("1", "after");
  for (const id of ["1", "2", "3", "4"]) {
    assertEquals(net.appliedData(id), ["from-S1", "after"], `S${id}`);
  }
  // (d) S5 rejoins: its entry, never committed, is overwritten, never applied.
  net.heal();
  net.tickAll(3);
  assertEquals(net.appliedData("5"), ["from-S1", "after"]);
});

Deno.test("leader completeness: a candidate whose log is behind loses the election", () => {
  // Voters whose logs are ahead (a later last term, or longer at the same term).
  for (const [candidate, voter] of [[[1, 1], [1, 2]], [[1, 2], [1, 2, 2]]]) {
    const net = new TestNetwork([]);
    net.add("1", storageWith(candidate!, 2));
    net.add("2", storageWith(voter!, 2));
    net.add("3", storageWith(voter!, 2));
    net.campaign("1");
    assert(net.raft("1").state !== "leader");
    // One of the up-to-date voters wins instead, and keeps its entries.
    net.campaign("2");
    assertEquals(net.raft("2").state, "leader");
    assertEquals(logTerms(net, "1").slice(0, voter!.length), voter);
  }
});

Deno.test("election safety: at most one leader per term, under split votes too", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const net = new TestNetwork(["1", "2", "3", "4", "5"], { seed });
    const leadersOfTerm = new Map<number, string>();
    for (let i = 0; i < 60; i++) {
      for (const [, m] of net.members) m.node.tick();
      net.process();
      // Deliver in a shuffled order to make split votes likely.
      const rand = seeded(seed * 1000 + i);
      net.queue.sort(() => rand() - 0.5);
      net.settle();
      for (const [id, m] of net.members) {
        if (m.node.raft.state !== "leader") continue;
        const prior = leadersOfTerm.get(m.node.raft.term);
        assert(
          prior === undefined || prior === id,
          `two leaders, seed ${seed}`,
        );
        leadersOfTerm.set(m.node.raft.term, id);
      }
    }
    assert(leadersOfTerm.size >= 1);
  }
});

Deno.test("pre-vote: a node cut off and back does not raise the term or depose the leader", () => {
  const net = new TestNetwork(THREE, { preVote: true, checkQuorum: true });
  net.campaign("1");
  const term = net.raft("1").term;
  net.isolate("3");
  net.tickAll(50);
  // Its pre-votes failed: no term was raised.
  assertEquals(net.raft("3").term, term);
  net.heal();
  net.tickAll(5);
  assertEquals(net.leaders(), ["1"]);
  assertEquals(net.raft("1").term, term);
});

Deno.test("without pre-vote, the same node disrupts the leader with a higher term", () => {
  const net = new TestNetwork(THREE);
  net.campaign("1");
  const term = net.raft("1").term;
  net.isolate("3");
  net.tickAll(50);
  assert(net.raft("3").term > term);
});

Deno.test("check-quorum: a leader cut off from a quorum steps down", () => {
  const net = new TestNetwork(THREE, { checkQuorum: true, preVote: true });
  net.campaign("1");
  net.isolate("1");
  net.tickAll(25);
  assert(net.raft("1").state !== "leader");
  assertEquals(net.leaders().length, 1);
  assert(net.leaders()[0] !== "1");
});

Deno.test("leader lease: followers that hear from their leader ignore a vote", () => {
  const net = new TestNetwork(THREE, { checkQuorum: true });
  net.campaign("1");
  const term = net.raft("1").term;
  // Node 3 campaigns (no pre-vote): 1 and 2 are within their lease.
  net.get("3").node.campaign();
  net.settle();
  assertEquals(net.raft("1").state, "leader");
  assertEquals(net.raft("2").term, term);
});

Deno.test("leader transfer: to an up-to-date follower at once, to a lagging one after it catches up", () => {
  const net = new TestNetwork(THREE, { checkQuorum: true, preVote: true });
  net.campaign("1");
  net.get("1").node.transferLeader("2");
  net.settle();
  assertEquals(net.leaders(), ["2"]);
  // Node 3 misses entries, then is made leader.
  net.isolate("3");
  net.propose("2", "x");
  net.heal();
  net.get("2").node.transferLeader("3");
  assertThrows(() => net.get("2").node.propose("y"), ProposalDroppedError);
  net.settle();
  assertEquals(net.leaders(), ["3"]);
  assertEquals(net.appliedData("3"), ["x"]);
});

Deno.test("ReadIndex: a read index comes after a quorum confirms leadership; a cut-off leader gets none", () => {
  const net = new TestNetwork(THREE);
  net.campaign("1");
  net.propose("1", "x");
  net.get("1").node.readIndex("r1");
  net.process();
  // Not before the heartbeat round.
  assertEquals(net.get("1").reads, []);
  net.settle();
  assertEquals(net.get("1").reads, [{ index: 2, context: "r1" }]);
  // A follower's read goes through the leader.
  net.get("3").node.readIndex("r2");
  net.settle();
  assertEquals(net.get("3").reads, [{ index: 2, context: "r2" }]);
  // A leader cut off from the others never answers a read.
  net.isolate("1");
  net.get("1").node.readIndex("r3");
  net.settle();
  net.tickAll(3);
  assertEquals(net.get("1").reads.length, 1);
  // A new leader answers only after committing an entry of its term.
  net.campaign("2");
  net.get("2").node.readIndex("r4");
  net.settle();
  assertEquals(net.get("2").reads, [{ index: 3, context: "r4" }]);
});

Deno.test("snapshots: a follower behind the compaction point catches up from a snapshot", () => {
  const net = new TestNetwork(THREE);
  net.campaign("1");
  net.isolate("3");
  for (let i = 0; i < 20; i++) net.propose("1", `v${i}`);
  const s1 = net.get("1").storage;
  const applied = net.raft("1").log.applied;
  s1.createSnapshot(applied, net.raft("1").confState(), "image-at-" + applied);
  s1.compact(applied);
  net.heal();
  net.tickAll(3);
  assertEquals(net.get("3").storage.snapshot().data, "image-at-" + applied);
  assertEquals(net.raft("3").log.committed, net.raft("1").log.committed);
  net.propose("1", "after");
  assertEquals(net.appliedData("3").at(-1), "after");
  assertEquals(net.raft("1").prs.get("3")!.state, "replicate");
});

Deno.test("membership: a member added catches up and counts; one removed stops counting", () => {
  const net = new TestNetwork(THREE);
  net.campaign("1");
  net.propose("1", "a");
  net.add("4", new MemoryStorage());
  net.get("1").node.proposeConfChange({
    voters: ["1", "2", "3", "4"],
    learners: [],
  });
  net.settle();
  net.tickAll(2);
  assertEquals(net.appliedData("4"), ["a"]);
  assertEquals([...net.raft("4").voters].sort(), ["1", "2", "3", "4"]);
  // With 4 voters, 1 and 4 alone are not a quorum.
  net.isolate("2");
  net.isolate("3");
  net.propose("1", "b");
  assertEquals(
    net.raft("1").log.committed < net.raft("1").log.lastIndex(),
    true,
  );
  net.heal();
  net.tickAll(2);
  assertEquals(net.appliedData("4"), ["a", "b"]);
  // Two changes at once are refused.
  assertThrows(
    () =>
      net.get("1").node.proposeConfChange({ voters: ["1", "2"], learners: [] }),
    ProposalDroppedError,
  );
  net.get("1").node.proposeConfChange({
    voters: ["1", "2", "4"],
    learners: [],
  });
  net.settle();
  // A second change waits for the first to be applied.
  net.isolate("3");
  net.propose("1", "c");
  assertEquals(net.appliedData("2").at(-1), "c");
});

Deno.test("membership: a leader that removes itself steps down and the rest elect another", () => {
  const net = new TestNetwork(THREE);
  net.campaign("1");
  net.get("1").node.proposeConfChange({ voters: ["2", "3"], learners: [] });
  net.settle();
  assert(net.raft("1").state !== "leader");
  net.tickAll(30);
  const leaders = net.leaders();
  assertEquals(leaders.length, 1);
  assert(leaders[0] !== "1");
  net.propose(leaders[0]!, "z");
  assertEquals(net.appliedData("2").at(-1), "z");
});

Deno.test("pipelining: a leader keeps several appends in flight up to its window", () => {
  const net = new TestNetwork(THREE, { maxInflightMsgs: 3, maxSizePerMsg: 1 });
  net.campaign("1");
  net.process();
  // Propose without delivering: appends queue up, at most 3 per follower.
  for (let i = 0; i < 10; i++) net.get("1").node.propose(`p${i}`);
  net.process();
  const toTwo = net.queue.filter((m) => m.type === "app" && m.to === "2");
  assertEquals(toTwo.length, 3);
  assertEquals(net.raft("1").prs.get("2")!.isPaused(), true);
  net.settle();
  assertEquals(net.appliedData("2").length, 10);
});

Deno.test("a restarted node keeps its term, vote and log from its storage", () => {
  const net = new TestNetwork(THREE);
  net.campaign("1");
  net.propose("1", "kept");
  const m2 = net.get("2");
  const term = m2.node.raft.term;
  const restarted = new RawNode({
    id: "2",
    storage: m2.storage,
    random: seeded(9),
    applied: m2.node.raft.log.applied,
  });
  assertEquals(restarted.raft.term, term);
  assertEquals(restarted.raft.vote, "1");
  assertEquals(restarted.raft.log.lastIndex(), m2.node.raft.log.lastIndex());
});

Deno.test("lease reads: a leader whose heartbeats a quorum acknowledged lately answers at once; cut off, it stops", () => {
  const net = new TestNetwork(THREE, { checkQuorum: true, leaseReads: true });
  // Fresh members vote only after an election timeout; then node 1 campaigns.
  for (let i = 0; i < 10; i++) {
    for (const [, m] of net.members) m.node.raft.electionElapsed = 0;
    net.tickAll(1);
  }
  net.campaign("1");
  assertEquals(net.leaders(), ["1"]);
  net.propose("1", "x");
  net.tickAll(1); // a heartbeat round, acknowledged
  net.get("1").node.readIndex("lease");
  net.process();
  // Answered without a message round.
  assertEquals(net.get("1").reads, [{ index: 2, context: "lease" }]);
  net.isolate("1");
  net.tickAll(net.raft("1").leaseTicks);
  net.get("1").node.readIndex("late");
  net.settle();
  assertEquals(net.get("1").reads.length, 1);
});

Deno.test("lease reads: a restarted member votes only after an election timeout", () => {
  const net = new TestNetwork(THREE, { checkQuorum: true, leaseReads: true });
  // Fresh members vote only after an election timeout; then node 1 campaigns.
  for (let i = 0; i < 10; i++) {
    for (const [, m] of net.members) m.node.raft.electionElapsed = 0;
    net.tickAll(1);
  }
  net.campaign("1");
  assertEquals(net.leaders(), ["1"]);
  const s3 = net.get("3").storage;
  net.add("3", s3);
  net.isolate("1");
  // Node 2 asks at once: 3 just restarted and refuses.
  net.get("2").node.campaign();
  net.settle();
  assertEquals(net.raft("2").state === "leader", false);
  net.tickAll(30);
  assertEquals(net.leaders().filter((l) => l !== "1").length, 1);
});
