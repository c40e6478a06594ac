/**
 * Simulations: whole clusters in one process over an in-memory network on
 * a manual clock, running the same core as the real nodes. Each prints its
 * seed, and replays from it.
 */

import { assert, assertEquals } from "@std/assert";
import { ManualClock } from "../src/clock/mod.ts";
import {
  ClusterNode,
  MEMBERSHIP_TIMING_DEFAULT,
  seededRandom,
} from "../src/cluster/mod.ts";
import { MemoryStore } from "../src/storage/mod.ts";
import { MemoryNetwork } from "../src/transport/mod.ts";

interface Sim {
  clock: ManualClock;
  network: MemoryNetwork;
  nodes: ClusterNode[];
  addresses: string[];
  /** Advances simulated time by `ms`, letting every node's work run. */
  run(ms: number): Promise<void>;
  /** Runs until `check` holds; returns the simulated ms it took. */
  until(what: string, check: () => boolean, limitMs: number): Promise<number>;
  stop(): void;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
}

async function simulate(count: number, seed: number): Promise<Sim> {
  const clock = new ManualClock(1_800_000_000_000);
  const network = new MemoryNetwork();
  const addresses = Array.from({ length: count }, (_, i) => `n${i + 1}:1`);
  const nodes: ClusterNode[] = [];
  for (const [i, self] of addresses.entries()) {
    const node = await ClusterNode.create({
      self,
      seeds: addresses,
      join: false,
      store: new MemoryStore(),
      transport: network.transport(self),
      clock,
      random: seededRandom(seed * 31 + i),
      vnodes: 64,
      replicationFactor: 3,
      requestDeadlineMs: 5_000,
      peerDeadlineMs: 1_000,
      timing: {
        ...MEMBERSHIP_TIMING_DEFAULT,
        antiEntropyIntervalMs: 1_000,
        hintIntervalMs: 500,
        handOffIntervalMs: 2_000,
      },
      hintCountMax: 100_000,
      hintBytesMax: 1 << 26,
      tombstoneGraceMs: 86_400_000,
    });
    network.register(self, node.handlePeer);
    nodes.push(node);
  }
  for (const node of nodes) node.start();
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 50) {
      clock.advance(50);
      await settle();
    }
  };
  return {
    clock,
    network,
    nodes,
    addresses,
    run,
    async until(what, check, limitMs) {
      for (let t = 0; t <= limitMs; t += 50) {
        if (check()) return t;
        await run(50);
      }
      throw new Error(`seed ${seed}: ${what} did not happen in ${limitMs} ms`);
    },
    stop: () => nodes.forEach((n) => n.stop()),
  };
}

const seeds = [1, 2, 3];

for (const seed of seeds) {
  Deno.test(`sim: a crashed node is dead to all within 5 s and alive again after it returns (seed ${seed})`, async () => {
    const sim = await simulate(5, seed);
    try {
      await sim.run(1_000);
      const victim = sim.addresses[4]!;
      const others = sim.nodes.slice(0, 4);
      sim.network.down(victim);
      const deadMs = await sim.until(
        "every node to see the crash",
        () => others.every((n) => n.membership.get(victim)?.state === "dead"),
        10_000,
      );
      assert(deadMs <= 5_000, `seed ${seed}: took ${deadMs} ms`);
      sim.network.up(victim);
      const aliveMs = await sim.until(
        "every node to see the return",
        () =>
          sim.nodes.every((n) =>
            n.membership.members().every((m) => m.state === "alive")
          ),
        10_000,
      );
      assert(aliveMs <= 5_000, `seed ${seed}: took ${aliveMs} ms`);
    } finally {
      sim.stop();
    }
  });

  Deno.test(`sim: partition 3-2 with W=2 R=2 loses no acknowledged write (seed ${seed})`, async () => {
    const sim = await simulate(5, seed);
    try {
      await sim.run(1_000);
      const [a, b] = [sim.addresses.slice(0, 3), sim.addresses.slice(3)];
      sim.network.partition(a, b);
      const acknowledged = new Map<string, number>();
      const random = seededRandom(seed);
      for (let i = 0; i < 200; i++) {
        const node = sim.nodes[Math.floor(random.next() * 5)]!;
        const key = `p:${i}`;
        try {
          await node.coordinator.set(key, i);
          acknowledged.set(key, i);
        } catch {
          // not acknowledged: may or may not be stored
        }
        if (i % 20 === 0) await sim.run(100);
      }
      assert(acknowledged.size > 100, `seed ${seed}: ${acknowledged.size}`);
      sim.network.heal();
      await sim.until(
        "hints to drain",
        () => sim.nodes.every((n) => n.hints.stats().count === 0),
        20_000,
      );
      for (const [key, value] of acknowledged) {
        for (const node of sim.nodes) {
          assertEquals(
            (await node.coordinator.read(key))?.value,
            value,
            `seed ${seed}: ${key} from ${node.self}`,
          );
        }
      }
    } finally {
      sim.stop();
    }
  });
}
