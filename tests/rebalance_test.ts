/**
 * Rebalancing under `--stream-mb-per-s`: a joining node's streams go no
 * faster than the sources' limit allows, and it still gets every record.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { KVClient } from "../client.ts";
import {
  freePort,
  NodeProcess,
  rpc,
  startCluster,
  stopAll,
  waitFor,
} from "./_helpers.ts";

interface Info {
  transfer: { phase: string; bytes_moved: number; elapsed_ms: number | null };
  stream: {
    bytes_sent: number;
    throttled_ms: number;
    mb_per_s_max: number | null;
  };
}

async function info(address: string): Promise<Info> {
  return (await rpc(address, "cluster_info")).body.result as Info;
}

/** The limiter's burst: an eighth of a second's worth (rate_limiter.ts). */
const BURST_BYTES = 1_000_000 / 8;

Deno.test("rebalance: a join from a source limited to 1 MB/s takes at least the time the limit implies; meanwhile a leave is refused and a second join waits", async () => {
  const limit = ["--stream-mb-per-s", "1"];
  const [source] = await startCluster(1, limit);
  let joiner: NodeProcess | undefined;
  let second: NodeProcess | undefined;
  try {
    const client = new KVClient({ nodes: [source!.address] });
    // 6 MB: about half moves to the joiner, some 3 s at 1 MB/s.
    const value = "x".repeat(2_000);
    const keys: string[] = [];
    for (let i = 0; i < 3_000; i += 300) {
      const batch: Record<string, string> = {};
      for (let j = i; j < i + 300; j++) {
        batch[`r:${j}`] = value;
        keys.push(`r:${j}`);
      }
      await client.mset(batch);
    }
    assertEquals((await info(source!.address)).stream.mb_per_s_max, 1);

    joiner = new NodeProcess(freePort(), [
      "--join",
      source!.address,
      ...limit,
    ]);
    await joiner.ready();
    // One member moves at a time: a leave asked for during the join is
    // refused, and says why.
    const refused = await rpc(source!.address, "leave");
    assertEquals(refused.status, 409, JSON.stringify(refused.body));
    assertMatch(
      String(refused.body.description),
      new RegExp(`^leave refused: ${joiner.address} is joining; one member`),
    );
    // A second join waits for the first.
    second = new NodeProcess(freePort(), ["--join", source!.address]);
    await waitFor(
      "the second joiner to say it waits",
      () => Promise.resolve(second!.log.includes("join.waiting")),
      30_000,
    );
    assertEquals(
      (await info(joiner.address)).transfer.phase,
      "joining",
      "the first join was still under way while the second waited",
    );
    await waitFor(
      "the join to complete",
      async () => (await info(joiner!.address)).transfer.phase === "done",
      60_000,
      100,
    );
    await second.ready(60_000);
    await waitFor(
      "the second join to complete",
      async () => (await info(second!.address)).transfer.phase === "done",
      60_000,
      100,
    );
    const { transfer } = await info(joiner.address);
    const { stream } = await info(source!.address);
    console.log(
      `  ${transfer.bytes_moved} bytes in ${transfer.elapsed_ms} ms; ` +
        `the source waited ${stream.throttled_ms} ms for the limit`,
    );
    // Enough data for the limit to show: well over its burst.
    assert(transfer.bytes_moved > 2_000_000, `${transfer.bytes_moved} bytes`);
    // One source at 1 MB/s: bytes <= burst + 1000 bytes per ms.
    assert(
      transfer.elapsed_ms! >= (transfer.bytes_moved - BURST_BYTES) / 1000,
      `${transfer.bytes_moved} bytes moved in ${transfer.elapsed_ms} ms`,
    );
    assert(stream.bytes_sent >= transfer.bytes_moved);
    assert(stream.throttled_ms > 0);

    // Throttled, not lossy: the joiner serves every key it now holds.
    const joined = new KVClient({ nodes: [joiner.address] });
    for (let i = 0; i < keys.length; i += 1_000) {
      const values = await joined.mget(keys.slice(i, i + 1_000));
      assertEquals(values.filter((v) => v !== value).length, 0);
    }
  } finally {
    await stopAll([
      source!,
      ...(joiner ? [joiner] : []),
      ...(second ? [second] : []),
    ]);
  }
});
