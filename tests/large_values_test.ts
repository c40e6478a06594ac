/**
 * Large values through every path that moves many records at once: hints,
 * anti-entropy, leave. Each message is bounded in bytes, so none is refused
 * for its size (a dozen 1 MiB values once made every hint delivery 413).
 */

import { assertEquals } from "@std/assert";
import {
  type NodeProcess,
  rpc,
  runCli,
  startCluster,
  stopAll,
  waitFor,
} from "./_helpers.ts";

const MIB = "x".repeat(1024 * 1024);

async function info(node: NodeProcess) {
  const { body } = await rpc(node.address, "cluster_info");
  return body.result as {
    hints: { count: number };
    members: { address: string; state: string }[];
  };
}

/** Keys whose replicas include `member` and not `other`. */
async function keysOn(
  via: NodeProcess,
  member: string,
  other: string,
  count: number,
) {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) {
    const { body } = await rpc(via.address, "replicas", [`big${i}`]);
    const list = body.result as string[];
    if (list.includes(member) && !list.includes(other)) keys.push(`big${i}`);
  }
  return keys;
}

Deno.test("large values: a dozen 1 MiB hints reach their replica, and a leave hands 1 MiB values over", async () => {
  const nodes = await startCluster(4, [
    "-R",
    "3",
    "--hint-interval",
    "200",
    "--anti-entropy-interval",
    "500",
  ]);
  const [a, b, c, d] = nodes as [
    NodeProcess,
    NodeProcess,
    NodeProcess,
    NodeProcess,
  ];
  try {
    // With d down, c (the one node that is not a replica) stands in for
    // it: all twelve hints wait on c, 12 MiB for one delivery.
    const keys = await keysOn(a, d.address, c.address, 12);
    await d.kill("SIGKILL");
    await waitFor(
      "d to be dead",
      async () =>
        (await info(a)).members.find((m) => m.address === d.address)?.state ===
          "dead",
      20_000,
    );
    for (const key of keys) {
      const { status, body } = await rpc(a.address, "set", [
        key,
        `${key}:${MIB}`,
      ]);
      assertEquals(status, 200, JSON.stringify(body).slice(0, 200));
    }
    // The write is acknowledged once a and b have it; the hint for d may
    // still be on its way to c (or, c too slow to take it, to another
    // stand-in): every one of the twelve is kept somewhere.
    let held = 0;
    await waitFor("d's twelve hints to be kept", async () => {
      const infos = await Promise.all([a, b, c].map(info));
      held = infos.reduce((sum, i) => sum + i.hints.count, 0);
      return held >= 12;
    }, 20_000);
    assertEquals(held, 12, "one hint per write, for d");
    await d.restart();
    await waitFor("the hints to be delivered", async () => {
      const infos = await Promise.all([a, b, c].map(info));
      return infos.every((i) => i.hints.count === 0);
    }, 30_000);
    for (const key of keys) {
      const { body } = await rpc(d.address, "get", [key], { local: true });
      assertEquals(body.result, `${key}:${MIB}`, key);
    }
    // d leaves with the 1 MiB values it now holds.
    const left = await runCli(
      ["leave", "-H", "127.0.0.1", "-P", String(d.port)],
      "",
      60_000,
    );
    assertEquals(left.code, 0, left.stderr);
    for (const key of keys) {
      const { body } = await rpc(a.address, "get", [key]);
      assertEquals(body.result, `${key}:${MIB}`, key);
    }
  } finally {
    await stopAll(nodes);
  }
});
