/**
 * Leaving while another member is down: the leave is refused (the dead
 * member would take over some of the leaver's records, and could not),
 * the leaver stays a full member, and once the dead member is removed
 * the leave completes with nothing lost.
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

Deno.test("leave: refused while another member is dead; after remove-member it completes and every key stays readable", async () => {
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
    const at = ["-H", "127.0.0.1", "-P", String(leaver.port)];
    const refused = await runCli(["leave", ...at], "", 60_000);
    assertEquals(refused.code, 1, refused.stdout);
    assertMatch(
      refused.stderr,
      new RegExp(`leave refused: ${dead.address} is dead`),
    );
    assertEquals(
      await stateOf(rest[0]!.address, leaver.address),
      "alive",
      "the leaver stays a full member",
    );
    const { body: info } = await rpc(leaver.address, "cluster_info");
    assertEquals(
      (info.result as { members: { address: string; phase: string }[] })
        .members.find((m) => m.address === leaver.address)?.phase,
      "ready",
    );
    const removed = await runCli([
      "remove-member",
      dead.address,
      "-H",
      "127.0.0.1",
      "-P",
      String(rest[0]!.port),
    ]);
    assertEquals(removed.code, 0, removed.stderr);
    await waitFor(
      "the leaver to see the dead member removed",
      async () => await stateOf(leaver.address, dead.address) === "left",
      20_000,
    );
    const started = Date.now();
    const left = await runCli(["leave", ...at], "", 60_000);
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
    console.log(`  left in ${Date.now() - started} ms after the removal`);
    for (const node of rest) {
      const via = new KVClient({ nodes: [node.address] });
      for (const [key, value] of written) {
        assertEquals(await via.get(key), value, `${key} via ${node.address}`);
      }
    }
  } finally {
    await stopAll(nodes);
  }
});
