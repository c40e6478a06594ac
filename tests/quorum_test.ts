/**
 * What quorums promise, with real processes: `all` means all N replicas,
 * `strict` counts no stand-in, a lost quorum counts right, and a write
 * acknowledged through stand-ins is read once they are back.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  freePorts,
  NodeProcess,
  rpc,
  startCluster,
  stopAll,
  waitFor,
} from "./_helpers.ts";

async function replicas(node: NodeProcess, key: string): Promise<string[]> {
  const { body } = await rpc(node.address, "replicas", [key]);
  return body.result as string[];
}

/** Keys (k0, k1, ...) whose replicas include every one of `members`. */
async function keysOn(
  via: NodeProcess,
  members: string[],
  count: number,
): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) {
    const key = `k${i}`;
    const list = await replicas(via, key);
    if (members.every((m) => list.includes(m))) keys.push(key);
  }
  return keys;
}

async function waitDead(nodes: NodeProcess[], of: string[]): Promise<void> {
  await waitFor(`${of} to be dead everywhere`, async () => {
    for (const node of nodes) {
      const { body } = await rpc(node.address, "cluster_info");
      const members = (body.result as {
        members: { address: string; state: string }[];
      }).members;
      for (const address of of) {
        if (members.find((m) => m.address === address)?.state !== "dead") {
          return false;
        }
      }
    }
    return true;
  }, 20_000);
}

Deno.test("quorum: consistency 'all' needs all N replicas, never a stand-in", async () => {
  const nodes = await startCluster(4, ["-R", "3"]);
  const [a, b, c, down] = nodes as [
    NodeProcess,
    NodeProcess,
    NodeProcess,
    NodeProcess,
  ];
  try {
    await down.kill("SIGKILL");
    await waitDead([a, b, c], [down.address]);
    const keys = await keysOn(a, [down.address], 50);
    for (const key of keys) {
      const set = await rpc(a.address, "set", [key, 1], { consistency: "all" });
      assertEquals(set.status, 503, "no 'all' write counts a stand-in");
      assertStringIncludes(
        String(set.body.description),
        "write quorum not met: 2 of 3",
      );
      const get = await rpc(a.address, "get", [key], { consistency: "all" });
      assertEquals(get.status, 503);
    }
    // With every replica up, 'all' succeeds.
    const [whole] = await keysOn(a, [a.address, b.address, c.address], 1);
    const ok = await rpc(a.address, "set", [whole!, 1], { consistency: "all" });
    assertEquals(ok.status, 200, JSON.stringify(ok.body));
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("quorum: a lost quorum counts the coordinator's own acknowledgement", async () => {
  const nodes = await startCluster(3, ["-R", "3"]);
  const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
  try {
    await b.kill("SIGKILL");
    await c.kill("SIGKILL");
    await waitDead([a], [b.address, c.address]);
    const { status, body } = await rpc(a.address, "set", ["k", 1], {
      consistency: "all",
    });
    assertEquals(status, 503);
    assert(
      String(body.description).startsWith(
        "write quorum not met: 1 of 3 acknowledgements",
      ),
      String(body.description),
    );
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("quorum: strict writes refuse stand-ins; sloppy ones are read once the stand-ins are back", async () => {
  const root = await Deno.makeTempDir({ prefix: "kvdb-quorum-" });
  const ports = freePorts(5);
  const members = ports.map((p) => `127.0.0.1:${p}`).join(",");
  const nodes = ports.map((port) =>
    new NodeProcess(port, ["-C", members, "-R", "3"], {
      dataDir: `${root}/${port}`,
    })
  );
  try {
    await Promise.all(nodes.map((n) => n.ready()));
    const via = nodes[0]!;
    // Two replicas of every key below go down; `via` is the third.
    const [x, y] = nodes.slice(1, 3) as [NodeProcess, NodeProcess];
    const keys = await keysOn(via, [via.address, x.address, y.address], 200);
    await x.kill("SIGKILL");
    await y.kill("SIGKILL");
    await waitDead([via, nodes[3]!, nodes[4]!], [x.address, y.address]);

    for (const key of keys.slice(0, 20)) {
      const { status, body } = await rpc(via.address, "set", [key, "strict"], {
        strict: true,
      });
      assertEquals(status, 503, JSON.stringify(body));
      assertStringIncludes(String(body.description), "only a stand-in");
    }
    // Sloppy (the default): acknowledged through the stand-ins.
    for (const key of keys) {
      const { status, body } = await rpc(via.address, "set", [key, "sloppy"]);
      assertEquals(status, 200, JSON.stringify(body));
    }
    // The stand-ins die too; the two replicas come back with their disks.
    const standIns = nodes.slice(3);
    for (const node of standIns) await node.kill("SIGKILL");
    await x.restart();
    await y.restart();
    // The stand-ins come back with the hints they committed: every write
    // they acknowledged reaches its replicas and reads with a quorum.
    for (const node of standIns) await node.restart();
    await waitFor("every sloppy write to read back", async () => {
      for (const key of keys) {
        const { body } = await rpc(x.address, "get", [key]);
        if (body.result !== "sloppy") return false;
      }
      return true;
    }, 60_000);
  } finally {
    await stopAll(nodes);
    await Deno.remove(root, { recursive: true });
  }
});
