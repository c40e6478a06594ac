/**
 * A peer that stops answering must not bring the others down: with one node
 * frozen by SIGSTOP under a steady load, the others keep a bounded number of
 * sockets, stay up and keep acknowledging writes; calls to the frozen node
 * fail fast instead of each waiting out a peer deadline.
 */

import { assert, assertEquals } from "@std/assert";
import {
  type NodeProcess,
  openDescriptors,
  rpc,
  startCluster,
  stopAll,
  waitFor,
} from "./_helpers.ts";

/** Writes and reads through `nodes` from `workers` loops until `stop` resolves. */
async function load(
  nodes: NodeProcess[],
  workers: number,
  stop: Promise<void>,
): Promise<{ ok: number; failed: number; failures: string[] }> {
  let done = false;
  stop.then(() => done = true);
  const result = { ok: 0, failed: 0, failures: [] as string[] };
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; !done; i++) {
      const node = nodes[(w + i) % nodes.length]!;
      try {
        // Half writes, half reads: reads ask every replica they need.
        const key = `w${w}:${i % 500}`;
        const { status, body } = i % 2 === 0
          ? await rpc(node.address, "set", [key, i])
          : await rpc(node.address, "get", [key]);
        if (status === 200) result.ok++;
        else {
          result.failed++;
          if (result.failures.length < 5) {
            result.failures.push(String(body.description));
          }
        }
      } catch (error) {
        result.failed++;
        if (result.failures.length < 5) result.failures.push(String(error));
      }
    }
  }));
  return result;
}

Deno.test("peer faults: with one node frozen for 60 s under load, the others keep few sockets, stay up and keep serving", async () => {
  const nodes = await startCluster(3, ["-R", "3"]);
  const [a, b, frozen] = nodes as [NodeProcess, NodeProcess, NodeProcess];
  try {
    frozen.signal("SIGSTOP");
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => stop = resolve);
    const writes = load([a, b], 16, stopped);
    let peak = 0;
    const started = Date.now();
    while (Date.now() - started < 60_000) {
      await new Promise((r) => setTimeout(r, 1_000));
      for (const node of [a, b]) {
        peak = Math.max(peak, await openDescriptors(node.pid));
        const { status } = await rpc(node.address, "ping");
        assertEquals(status, 200, `${node.address} is up`);
      }
    }
    stop();
    const { ok, failed, failures } = await writes;
    console.log(
      `  60 s with a frozen peer: ${ok} requests answered, ${failed} failed; ` +
        `peak ${peak} open descriptors on the other nodes; ${
          failures.slice(0, 2)
        }`,
    );
    assert(peak < 1_000, `peak ${peak} descriptors`);
    assert(ok > 1_000, `only ${ok} requests answered`);
    assert(
      failed <= ok / 100,
      `${failed} of ${ok + failed} requests failed: ${failures}`,
    );
    // Thawed, the node is alive again everywhere.
    frozen.signal("SIGCONT");
    await waitFor("the thawed node to be alive everywhere", async () => {
      for (const node of nodes) {
        const { body } = await rpc(node.address, "cluster_info");
        const info = body.result as {
          members: { address: string; state: string }[];
        };
        const state = info.members.find((m) => m.address === frozen.address)
          ?.state;
        if (state !== "alive") return false;
      }
      return true;
    });
  } finally {
    frozen.signal("SIGCONT");
    await stopAll(nodes);
  }
});
