/**
 * Availability while the network is split, with real processes: five
 * nodes (N=3, W=2) in network namespaces of their own. Clients write
 * through the majority side while iptables cuts two nodes off (a 2|3
 * split), then through four nodes while the fifth is frozen by SIGSTOP.
 * Each write has one peer deadline (2 s) to answer: hedged writes reach
 * W through stand-ins as soon as W reachable nodes exist, without waiting
 * for the failure detector or for a peer deadline on a cut-off replica.
 * At least 99 % of the writes must succeed from the first second on.
 */

import { assert } from "@std/assert";
import { PEER_DEADLINE_MS_DEFAULT } from "../src/limits.ts";
import { NamespacedCluster, namespacesUnavailable } from "./_netns.ts";
import { waitFor } from "./_helpers.ts";

const unavailable = await namespacesUnavailable();
const WRITERS = 8;
const KEYS = 1_000;
const PHASE_MS = 6_000;

interface Write {
  startMs: number;
  ms: number;
  ok: boolean;
}

async function set(address: string, key: string, value: string) {
  try {
    const response = await fetch(`http://${address}/`, {
      method: "POST",
      body: JSON.stringify({ function: "set", args: [key, value] }),
      signal: AbortSignal.timeout(PEER_DEADLINE_MS_DEFAULT),
    });
    const body = await response.json();
    return response.ok && body.status === "OK.";
  } catch (error) {
    // A write that did not answer within the deadline failed.
    if (error instanceof DOMException || error instanceof TypeError) {
      return false;
    }
    throw error;
  }
}

/** Writers through `through` for `ms`; every write's outcome. */
async function load(through: string[], ms: number): Promise<Write[]> {
  const writes: Write[] = [];
  const end = performance.now() + ms;
  let n = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      while (performance.now() < end) {
        const i = n++;
        const startMs = performance.now();
        const ok = await set(
          through[i % through.length]!,
          `k${(i * 7919) % KEYS}`,
          `w${w}.${i}`,
        );
        writes.push({ startMs, ms: performance.now() - startMs, ok });
      }
    }),
  );
  return writes;
}

function summary(writes: Write[], fromMs: number) {
  const firstSecond = writes.filter((w) => w.startMs < fromMs + 1_000);
  const rate = (ws: Write[]) =>
    ws.length === 0 ? 0 : ws.filter((w) => w.ok).length / ws.length;
  const ms = writes.filter((w) => w.ok).map((w) => w.ms).sort((a, b) => a - b);
  const at = (q: number) =>
    ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? NaN;
  return {
    writes: writes.length,
    success: rate(writes),
    firstSecondWrites: firstSecond.length,
    firstSecondSuccess: rate(firstSecond),
    p50Ms: Math.round(at(0.5)),
    p99Ms: Math.round(at(0.99)),
    maxMs: Math.round(ms.at(-1) ?? NaN),
  };
}

Deno.test({
  name:
    "partition: writes through the majority of a 2|3 split, and around a frozen node, succeed from the first second",
  ignore: unavailable !== undefined,
  async fn() {
    const cluster = new NamespacedCluster(5, "pt");
    try {
      await cluster.create();
      for (let i = 0; i < 5; i++) cluster.start(i, ["-R", "3"]);
      await waitFor("five nodes that see each other", async () => {
        try {
          const r = await fetch(`http://${cluster.addresses[0]}/`, {
            method: "POST",
            body: JSON.stringify({ function: "list_members" }),
          });
          const body = await r.json();
          // Every node serving (its peers heard it is back), then a write.
          const healthy = await Promise.all(
            cluster.addresses.map(async (a) => {
              const h = await fetch(`http://${a}/health`);
              await h.body?.cancel();
              return h.ok;
            }),
          );
          return r.ok && body.result.length === 5 && healthy.every(Boolean) &&
            await set(cluster.addresses[4]!, "warm", "up");
        } catch (error) {
          if (error instanceof TypeError) return false;
          throw error;
        }
      }, 60_000);
      const majority = cluster.addresses.slice(2);
      const baseline = summary(await load(majority, 2_000), 0);
      console.log("before the split:", JSON.stringify(baseline));

      // 2|3: nodes 0 and 1 drop every packet to and from nodes 2-4.
      await cluster.cut(0, [2, 3, 4]);
      await cluster.cut(1, [2, 3, 4]);
      const splitAt = performance.now();
      const split = summary(await load(majority, PHASE_MS), splitAt);
      console.log("2|3 split, through the majority:", JSON.stringify(split));
      await cluster.heal();

      // One node frozen: writes through the other four.
      await waitFor(
        "writes to all five again",
        async () => (await load(cluster.addresses, 500)).every((w) => w.ok),
        30_000,
      );
      cluster.signal(4, "SIGSTOP");
      const stopAt = performance.now();
      const frozen = summary(
        await load(cluster.addresses.slice(0, 4), PHASE_MS),
        stopAt,
      );
      cluster.signal(4, "SIGCONT");
      console.log(
        "one node stopped, through the others:",
        JSON.stringify(frozen),
      );

      for (
        const [what, s] of [["split", split], ["SIGSTOP", frozen]] as const
      ) {
        assert(
          s.firstSecondSuccess >= 0.99 && s.success >= 0.99,
          `${what}: ${JSON.stringify(s)}`,
        );
      }
    } finally {
      await cluster.destroy();
    }
  },
});
