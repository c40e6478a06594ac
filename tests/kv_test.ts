/**
 * KV databases over real node processes: three nodes, each reached over
 * JSON-RPC, with Deno KV's semantics whichever node a call reaches.
 */

import { assert, assertEquals } from "@std/assert";
import {
  freePort,
  NodeProcess,
  rpc,
  runCli,
  startCluster,
  stopAll,
  waitFor,
} from "./_helpers.ts";

async function ok(
  node: NodeProcess,
  fn: string,
  args: unknown[] = [],
  kwargs: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const { status, body } = await rpc(node.address, fn, args, kwargs);
  if (status !== 200) {
    throw new Error(
      `${fn} on ${node.address}: ${status} ${JSON.stringify(body)}`,
    );
  }
  return body.result as Record<string, unknown>;
}

interface DbStatus {
  name: string;
  role: string;
  leader: string | null;
  term: number;
  commit_index: number;
  voters: string[];
}

async function kvStatus(node: NodeProcess): Promise<DbStatus[]> {
  const info = await ok(node, "cluster_info");
  return (info.kv as { databases: DbStatus[] }).databases;
}

async function leaderOf(nodes: NodeProcess[], db = "default") {
  let leader: string | null = null;
  await waitFor(`a leader of '${db}'`, async () => {
    const views = await Promise.all(nodes.map(kvStatus));
    const leaders = views.flat().filter((d) =>
      d.name === db && d.role === "leader"
    );
    leader = leaders.length === 1 ? leaders[0]!.leader : null;
    return leader !== null;
  });
  return nodes.find((n) => n.address === leader)!;
}

Deno.test("kv: three nodes, every write is read back through every node", async () => {
  const nodes = await startCluster(3);
  try {
    for (const [i, writer] of nodes.entries()) {
      const w = await ok(writer, "kv_set", [["k", i], { by: writer.address }]);
      assertEquals(w.ok, true);
      // Linearizable: every node sees the write as soon as it is acknowledged.
      for (const reader of nodes) {
        const r = await ok(reader, "kv_get", [["k", i]]);
        assertEquals(r.value, { by: writer.address });
        assertEquals(r.versionstamp, w.versionstamp);
      }
    }
    const list = await ok(nodes[2]!, "kv_list", [], { prefix: ["k"] });
    assertEquals((list.entries as unknown[]).length, 3);
    const status = await kvStatus(nodes[0]!);
    assertEquals(status[0]!.voters.length, 3);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("kv: concurrent sums through three nodes lose no increment", async () => {
  const nodes = await startCluster(3);
  try {
    const rounds = 20;
    await Promise.all(
      nodes.flatMap((n) =>
        Array.from({ length: 5 }, async () => {
          for (let i = 0; i < rounds; i++) {
            await ok(n, "kv_atomic", [[], [{
              type: "sum",
              key: ["c"],
              value: 1,
            }]]);
          }
        })
      ),
    );
    const r = await ok(nodes[1]!, "kv_get", [["c"]]);
    assertEquals(r.value, { type: "KvU64", value: String(3 * 5 * rounds) });
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("kv: compare-and-set through different nodes: one of two racing writers wins", async () => {
  const nodes = await startCluster(3);
  try {
    const first = await ok(nodes[0]!, "kv_set", [["lock"], "free"]);
    const race = await Promise.all(
      nodes.slice(1).map((n) =>
        ok(n, "kv_atomic", [[{
          key: ["lock"],
          versionstamp: first.versionstamp,
        }], [
          { type: "set", key: ["lock"], value: n.address },
        ]])
      ),
    );
    assertEquals(race.filter((r) => r.ok === true).length, 1);
    const winner = race.findIndex((r) => r.ok === true);
    const r = await ok(nodes[0]!, "kv_get", [["lock"]]);
    assertEquals(r.value, nodes[1 + winner]!.address);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("kv: bad input is a 400 with Deno KV's text; the node stays up", async () => {
  const nodes = await startCluster(3);
  try {
    const big = await rpc(nodes[0]!.address, "kv_set", [["x".repeat(3000)], 1]);
    assertEquals(big.status, 400);
    assertEquals(
      big.body.description,
      "Key too large for write (max 2048 bytes)",
    );
    const bad = await rpc(nodes[1]!.address, "kv_get", ["not a list"]);
    assertEquals(bad.status, 400);
    const sum = await rpc(nodes[2]!.address, "kv_atomic", [[], [
      { type: "sum", key: ["s"], value: "one" },
    ]]);
    assertEquals(sum.status, 400);
    assertEquals((await rpc(nodes[0]!.address, "ping")).status, 200);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("kv: named databases have their own group and leader", async () => {
  const nodes = await startCluster(3);
  try {
    await ok(nodes[0]!, "kv_set", [["a"], 1], { db: "orders" });
    await ok(nodes[1]!, "kv_set", [["a"], 2]);
    assertEquals(
      (await ok(nodes[2]!, "kv_get", [["a"]], { db: "orders" })).value,
      1,
    );
    assertEquals((await ok(nodes[2]!, "kv_get", [["a"]])).value, 2);
    await leaderOf(nodes, "orders");
    const names = (await kvStatus(nodes[0]!)).map((d) => d.name).sort();
    assertEquals(names, ["default", "orders"]);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("kv: the leader killed, the others elect another and go on; it comes back and catches up", async () => {
  const dirs = [0, 1, 2].map(() =>
    Deno.makeTempDirSync({ prefix: "kvdb-kv-" })
  );
  const ports = [0, 1, 2].map(() => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const p = (l.addr as Deno.NetAddr).port;
    l.close();
    return p;
  });
  const members = ports.map((p) => `127.0.0.1:${p}`).join(",");
  const nodes = ports.map((p, i) =>
    new NodeProcess(p, ["-C", members], { dataDir: dirs[i]! })
  );
  try {
    await Promise.all(nodes.map((n) => n.ready()));
    await ok(nodes[0]!, "kv_set", [["before"], "kill"]);
    const leader = await leaderOf(nodes);
    await leader.kill("SIGKILL");
    const others = nodes.filter((n) => n !== leader);
    const w = await ok(others[0]!, "kv_set", [["after"], "kill"]);
    assertEquals(w.ok, true);
    assertEquals((await ok(others[1]!, "kv_get", [["before"]])).value, "kill");
    await leader.restart();
    await waitFor(
      "the restarted node to catch up",
      async () =>
        (await ok(leader, "kv_get", [["after"]], { consistency: "eventual" }))
          .value === "kill",
    );
    assert((await kvStatus(leader))[0]!.term > 1);
  } finally {
    await stopAll(nodes);
    for (const d of dirs) Deno.removeSync(d, { recursive: true });
  }
});

Deno.test("kv: the shell and the one-shot commands read and write the KV database", async () => {
  const node = new NodeProcess(freePort(), []);
  try {
    await node.ready();
    const hp = ["-H", "127.0.0.1", "-P", String(node.port)];
    const set = await runCli([
      "kv-set",
      '["users",1]',
      '{"name":"Ada"}',
      ...hp,
    ]);
    assertEquals(set.code, 0, set.stderr);
    assert(/^OK [0-9a-f]{20}$/.test(set.stdout.trim()), set.stdout);
    const got = await runCli(["kv-get", '["users",1]', ...hp]);
    assert(got.stdout.includes('"name": "Ada"'), got.stdout);
    const incr = await runCli(["kv-incr", "hits", "5", ...hp]);
    assertEquals(incr.stdout.trim(), "5");
    const status = await runCli(["status", ...hp]);
    assert(
      /KV DATABASE\s+LEADER\s+TERM\s+COMMIT\s+VOTERS\ndefault\s+127\.0\.0\.1:/
        .test(status.stdout),
      status.stdout,
    );
    const shell = await runCli(
      ["shell", ...hp],
      [
        "kv_incr hits",
        "kv_set greeting hello world",
        "kv_get greeting",
        "kv_cas greeting null replaced",
        "kv_list",
        "kv_delete greeting",
        "kv_get greeting",
        "exit",
      ].join("\n") + "\n",
    );
    const out = shell.stdout;
    assert(out.includes(">> 6\n"), out);
    assert(out.includes("hello world  (versionstamp"), out);
    assert(out.includes("FAILED: the key changed"), out);
    assert(out.includes('["users",1] = {'), out);
    assert(out.includes('["hits"] = 6 (u64)'), out);
    assert(
      out.trimEnd().endsWith("(nil)\n>>") || out.includes("OK\n>> (nil)"),
      out,
    );
  } finally {
    await node.kill();
  }
});

Deno.test("kv: a voter that leaves is replaced by another member, which catches up", async () => {
  const nodes = await startCluster(4);
  try {
    await ok(nodes[0]!, "kv_set", [["kept"], "across the change"]);
    // Only the database's voters hold a replica: ask them all.
    const views = (await Promise.all(nodes.map(kvStatus))).flat();
    const voters = views.find((d) => d.name === "default")?.voters ?? [];
    assertEquals(voters.length, 3);
    const outsider = nodes.find((n) => !voters.includes(n.address))!;
    // A follower voter leaves (the leader may be any of them).
    const leader = await leaderOf(
      nodes.filter((n) => voters.includes(n.address)),
    );
    const leaving = nodes.find((n) =>
      voters.includes(n.address) && n !== leader
    )!;
    await ok(leaving, "leave");
    await waitFor("the group to replace the voter that left", async () => {
      const s = (await kvStatus(leader)).find((d) => d.name === "default");
      return s !== undefined && s.voters.includes(outsider.address) &&
        !s.voters.includes(leaving.address) && s.voters.length === 3;
    }, 30_000);
    await waitFor(
      "the new voter to catch up",
      async () =>
        (await ok(outsider, "kv_get", [["kept"]], { consistency: "eventual" }))
          .value === "across the change",
      30_000,
    );
    const w = await ok(outsider, "kv_set", [["after"], 1]);
    assertEquals(w.ok, true);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("kv: the leaders of several databases spread over the members", async () => {
  const nodes = await startCluster(3);
  try {
    const names = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
    for (const db of names) await ok(nodes[0]!, "kv_set", [["k"], db], { db });
    // Each leader hands over to its database's preferred voter after a while.
    await waitFor("leaders on at least two members", async () => {
      const leaders = new Set<string>();
      for (const n of nodes) {
        for (const d of await kvStatus(n)) {
          if (d.role === "leader" && names.includes(d.name)) {
            leaders.add(n.address);
          }
        }
      }
      return leaders.size >= 2;
    }, 40_000);
    for (const db of names) {
      assertEquals((await ok(nodes[1]!, "kv_get", [["k"]], { db })).value, db);
    }
  } finally {
    await stopAll(nodes);
  }
});
