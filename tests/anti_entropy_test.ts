/**
 * Anti-entropy at a size where one round cannot do everything: it must
 * finish whatever the number of differing keys. Real processes, the SQLite
 * engine, the default anti-entropy interval.
 */

import { assertEquals } from "@std/assert";
import { freePorts, NodeProcess, rpc, stopAll, waitFor } from "./_helpers.ts";

interface Info {
  local_records: number;
  members: { address: string; state: string; phase: string }[];
}

async function info(node: NodeProcess): Promise<Info> {
  const { status, body } = await rpc(node.address, "cluster_info");
  assertEquals(status, 200);
  return body.result as Info;
}

/** `count` nodes with N = 3 on the SQLite engine, each in its own directory. */
async function cluster(count: number, root: string): Promise<NodeProcess[]> {
  const ports = freePorts(count);
  const members = ports.map((p) => `127.0.0.1:${p}`).join(",");
  const nodes = ports.map((port) =>
    new NodeProcess(port, ["-C", members, "-R", "3"], {
      dataDir: `${root}/${port}`,
    })
  );
  await Promise.all(nodes.map((n) => n.ready()));
  return nodes;
}

/** Writes `count` keys through `node` in batches of 1,000. */
async function load(node: NodeProcess, count: number): Promise<void> {
  for (let start = 0; start < count; start += 1_000) {
    const entries: Record<string, string> = {};
    for (let i = start; i < Math.min(count, start + 1_000); i++) {
      entries[`key${String(i).padStart(7, "0")}`] = `value ${i}`;
    }
    const { status, body } = await rpc(node.address, "mset", [entries]);
    assertEquals(status, 200, JSON.stringify(body));
  }
}

Deno.test("anti-entropy: a node restarted with an empty disk among nodes holding 50,000 keys gets every key back", async () => {
  const root = await Deno.makeTempDir({ prefix: "kvdb-ae-" });
  const nodes = await cluster(3, root);
  try {
    await load(nodes[0]!, 50_000);
    const victim = nodes[2]!;
    await victim.kill("SIGKILL");
    await Deno.remove(`${root}/${victim.port}`, { recursive: true });
    const started = Date.now();
    await victim.restart();
    await waitFor(
      "the empty node to hold all 50,000 keys",
      async () => (await info(victim)).local_records === 50_000,
      120_000,
      250,
    );
    console.log(
      `  50,000 keys back on the empty node ${
        Date.now() - started
      } ms after its restart`,
    );
    // Every key, spot-checked from the node's own copy.
    for (let i = 0; i < 50_000; i += 997) {
      const key = `key${String(i).padStart(7, "0")}`;
      const { body } = await rpc(victim.address, "get", [key], { local: true });
      assertEquals(body.result, `value ${i}`, key);
    }
  } finally {
    await stopAll(nodes);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a member restarted with an empty disk and --join stays on the read ring and streams its keys back", async () => {
  const root = await Deno.makeTempDir({ prefix: "kvdb-refill-" });
  const nodes = await cluster(3, root);
  let back: NodeProcess | undefined;
  try {
    await load(nodes[0]!, 10_000);
    const victim = nodes[2]!;
    await victim.kill("SIGKILL");
    await Deno.remove(`${root}/${victim.port}`, { recursive: true });
    // A new disk, the same address, pointed at one member: as an operator
    // replaces a failed disk.
    back = new NodeProcess(
      victim.port,
      ["--join", nodes[0]!.address, "-R", "3"],
      { dataDir: `${root}/${victim.port}` },
    );
    await back.ready(60_000);
    // It never leaves the ring reads use: a joining phase would hand its
    // ranges to nodes that never held them.
    const phases = new Set<string>();
    await waitFor(
      "the refilled node to hold all 10,000 keys",
      async () => {
        for (const node of nodes.slice(0, 2)) {
          const me = (await info(node)).members.find((m) =>
            m.address === victim.address
          );
          if (me !== undefined) phases.add(me.phase);
        }
        return (await info(back!)).local_records === 10_000;
      },
      60_000,
      100,
    );
    assertEquals([...phases], ["ready"]);
    await waitFor(
      "the refill to be logged",
      () => Promise.resolve(back!.log.includes("join.refilled")),
      10_000,
    );
    const key = "key0004242";
    const { body } = await rpc(back.address, "get", [key], { local: true });
    assertEquals(body.result, "value 4242");
  } finally {
    await stopAll([...nodes.slice(0, 2), ...(back ? [back] : [])]);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("anti-entropy: after remove-member in a four-node cluster holding 15,000 keys, every key is back on three replicas", async () => {
  const root = await Deno.makeTempDir({ prefix: "kvdb-ae-" });
  const nodes = await cluster(4, root);
  try {
    await load(nodes[0]!, 15_000);
    const gone = nodes[3]!;
    const survivors = nodes.slice(0, 3);
    await gone.kill("SIGKILL");
    await waitFor("the killed node to be dead", async () => {
      const members = (await info(survivors[0]!)).members;
      return members.find((m) => m.address === gone.address)?.state === "dead";
    }, 20_000);
    const { status } = await rpc(survivors[0]!.address, "remove_member", [
      gone.address,
    ]);
    assertEquals(status, 200);
    const started = Date.now();
    // Three members left, N = 3: each holds every key.
    await waitFor(
      "every survivor to hold all 15,000 keys",
      async () => {
        const counts = await Promise.all(
          survivors.map(async (n) => (await info(n)).local_records),
        );
        return counts.every((c) => c === 15_000);
      },
      120_000,
      250,
    );
    console.log(
      `  15,000 keys on all three survivors ${
        Date.now() - started
      } ms after the removal`,
    );
  } finally {
    await stopAll(nodes);
    await Deno.remove(root, { recursive: true });
  }
});
