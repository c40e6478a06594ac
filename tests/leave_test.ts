/**
 * Leaving while another member is down: the leave must end, handing the
 * down member's share to stand-ins as hints, and nothing may be lost.
 */

import { assertEquals, assertMatch } from "@std/assert";
import { KVClient } from "../client.ts";
import { rpc, runCli, startCluster, stopAll, waitFor } from "./_helpers.ts";

async function stateOf(from: string, of: string): Promise<string | undefined> {
  const { body } = await rpc(from, "cluster_info");
  const members = (body.result as {
    members: { address: string; state: string }[];
  }).members;
  return members.find((m) => m.address === of)?.state;
}

Deno.test("leave: a node leaves while another member is dead, and every key stays readable", async () => {
  const nodes = await startCluster(5, [
    "-R",
    "3",
    "--anti-entropy-interval",
    "500",
    "--hint-interval",
    "200",
  ]);
  const [dead, leaver] = [nodes[4]!, nodes[3]!];
  const rest = nodes.slice(0, 3);
  try {
    const client = new KVClient({ nodes: rest.map((n) => n.address) });
    const written = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      await client.set(`l:${i}`, i);
      written.set(`l:${i}`, i);
    }
    await dead.kill("SIGKILL");
    await waitFor("every live node to see the killed one dead", async () => {
      for (const node of [...rest, leaver]) {
        if (await stateOf(node.address, dead.address) !== "dead") return false;
      }
      return true;
    }, 20_000);
    const started = Date.now();
    const left = await runCli(
      ["leave", "-H", "127.0.0.1", "-P", String(leaver.port)],
      "",
      60_000,
    );
    assertEquals(left.code, 0, left.stderr);
    assertMatch(left.stdout, /left the cluster: \d+ records handed over/);
    await waitFor("every live node to see the leaver gone", async () => {
      for (const node of rest) {
        if (await stateOf(node.address, leaver.address) !== "left") {
          return false;
        }
      }
      return true;
    }, 20_000);
    console.log(`  left in ${Date.now() - started} ms with a member dead`);
    for (const [key, value] of written) {
      assertEquals(await client.get(key), value, key);
    }
    // The dead member's share of the leaver's keys waits for it as hints.
    const held = await Promise.all(rest.map(async (n) => {
      const { body } = await rpc(n.address, "cluster_info");
      return (body.result as { hints: { count: number } }).hints.count;
    }));
    console.log(`  hints held for the dead member: ${held}`);
  } finally {
    await stopAll(nodes);
  }
});
