/**
 * Rebalance speed: records streamed per second when a node joins a loaded
 * cluster, and when a node leaves it.
 *
 * deno run -A bench/rebalance.ts [keys=50000]
 *
 * Three memory nodes with N=3 are loaded through mset; a fourth joins and
 * streams its ranges; then one node leaves and hands its records over.
 *
 * @module
 */

import { KVClient } from "../client.ts";
import {
  freePort,
  NodeProcess,
  runCli,
  startCluster,
  stopAll,
  waitFor,
} from "../tests/_helpers.ts";

const keys = Number(Deno.args[0] ?? 50_000);
const nodes = await startCluster(3, ["-R", "3"]);
let joiner: NodeProcess | undefined;
try {
  const client = new KVClient({ nodes: nodes.map((n) => n.address) });
  const value = "v".repeat(100);
  for (let i = 0; i < keys; i += 500) {
    const batch: Record<string, unknown> = {};
    for (let j = i; j < Math.min(keys, i + 500); j++) {
      batch[`key:${String(j).padStart(12, "0")}`] = value;
    }
    await client.mset(batch);
  }
  console.log(`loaded ${keys} keys on 3 nodes (N=3)`);

  const started = performance.now();
  joiner = new NodeProcess(freePort(), [
    "--join",
    nodes[0]!.address,
    "-R",
    "3",
  ]);
  await joiner.ready();
  const joined = new KVClient({ nodes: [joiner.address] });
  let moved = 0;
  await waitFor(
    "the join",
    async () => {
      const info = await joined.clusterInfo() as unknown as {
        transfer: { phase: string; keys_moved: number };
      };
      moved = info.transfer.keys_moved;
      return info.transfer.phase === "done";
    },
    600_000,
    50,
  );
  const joinS = (performance.now() - started) / 1000;
  console.log(
    `join: ${moved} records streamed in ${joinS.toFixed(2)} s ` +
      `(${Math.round(moved / joinS)} records/s, process start included)`,
  );

  const leaver = nodes[1]!;
  const leaveStarted = performance.now();
  const cli = await runCli(["leave", "-P", String(leaver.port)]);
  const leaveS = (performance.now() - leaveStarted) / 1000;
  const handed = Number(/(\d+) records handed over/.exec(cli.stdout)?.[1]);
  console.log(
    `leave: ${handed} records handed over in ${leaveS.toFixed(2)} s ` +
      `(${Math.round(handed / leaveS)} records/s, 1 s linger included)`,
  );
} finally {
  await stopAll(joiner ? [...nodes, joiner] : nodes);
}
