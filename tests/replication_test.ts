/**
 * Replication with real processes: N=3, W=2, R=2 on three nodes, one of
 * which is killed with SIGKILL while clients write.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { KVClient } from "../client.ts";
import { rpc, startCluster, stopAll, waitFor } from "./_helpers.ts";

Deno.test("replication: with N=3 and one of three nodes killed, no acknowledged write is lost and writes go on", async () => {
  const nodes = await startCluster(3, ["-R", "3"]);
  const [n1, n2, n3] = nodes as [
    typeof nodes[0],
    typeof nodes[0],
    typeof nodes[0],
  ];
  try {
    const acknowledged = new Map<string, number>();
    let killed = false;
    let failedAfterKill = 0;
    let writtenAfterKill = 0;
    const writer = async (id: number, count: number) => {
      // Each writer starts at a different node, so that one of them has the
      // killed node first and must fail over.
      const order = [n3, n1, n2].map((n) => n.address);
      const client = new KVClient({
        nodes: [...order.slice(id % 3), ...order.slice(0, id % 3)],
        timeoutMs: 5_000,
      });
      for (let i = 0; i < count; i++) {
        const key = `w${id}:k${i}`;
        const after = killed;
        try {
          await client.set(key, i);
          acknowledged.set(key, i);
          if (after) writtenAfterKill++;
        } catch {
          if (after) failedAfterKill++;
        }
      }
    };
    const writers = [0, 1, 2, 3].map((id) => writer(id, 150));
    // Kill the third node once some writes are in.
    const deadline = Date.now() + 20_000;
    while (acknowledged.size < 120 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await n3.kill("SIGKILL");
    killed = true;
    await Promise.all(writers);

    assert(
      acknowledged.size > 500,
      `only ${acknowledged.size} of 600 acknowledged`,
    );
    assertEquals(failedAfterKill, 0, "writes after the kill must all succeed");
    assert(writtenAfterKill > 0);

    const reader = new KVClient({ nodes: [n1.address, n2.address] });
    const values = await Promise.all(
      [...acknowledged.keys()].map((key) => reader.get(key)),
    );
    const lost = [...acknowledged].filter(([, v], i) => values[i] !== v);
    assertEquals(lost, [], "every acknowledged write reads back at R=2");

    const keys = await reader.listKeys();
    for (const key of acknowledged.keys()) assert(keys.includes(key), key);

    // The failure detector probes one member a period, in random order:
    // the kill is seen within a few periods, first as suspect, then dead.
    const stateOfKilled = async () => {
      const info = await rpc(n1.address, "cluster_info");
      const members =
        (info.body.result as { members: { address: string; state: string }[] })
          .members;
      return members.find((m) => m.address === n3.address)?.state;
    };
    await waitFor(
      "n1 to report the killed node suspect or dead",
      async () => ["suspect", "dead"].includes(await stateOfKilled() ?? ""),
      10_000,
    );
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("replication: with two of three nodes down, a write answers 503 quickly instead of hanging", async () => {
  const nodes = await startCluster(3, ["-R", "3"]);
  try {
    await nodes[1]!.kill();
    await nodes[2]!.kill();
    const started = Date.now();
    const { status, body } = await rpc(nodes[0]!.address, "set", ["k", 1]);
    assertEquals(status, 503);
    assertEquals(body.status, "Error");
    const description = String(body.description);
    assert(
      description.startsWith("write quorum not met: 1 of 2 acknowledgements ("),
      description,
    );
    // It names each replica that failed, and why.
    assertStringIncludes(description, `${nodes[1]!.address}: `);
    assertStringIncludes(description, `${nodes[2]!.address}: `);
    assert(Date.now() - started < 5_000);
    const read = await rpc(nodes[0]!.address, "get", ["k"]);
    assertEquals(read.status, 503);
    const one = await rpc(nodes[0]!.address, "get", ["k"], {
      consistency: "one",
    });
    assertEquals(
      one.status,
      200,
      "consistency one still reads from the live replica",
    );
  } finally {
    await stopAll(nodes);
  }
});
