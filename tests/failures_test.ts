/**
 * Surviving failures with real processes on loopback: hinted handoff,
 * anti-entropy, join and leave, bad peer input. Each test stays well under
 * two minutes; every wait polls with a deadline.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { KVClient } from "../client.ts";
import {
  freePort,
  NodeProcess,
  rpc,
  runCli,
  startCluster,
  stopAll,
  waitFor,
} from "./_helpers.ts";

/** Fast repair for tests; the failure detector keeps its defaults. */
const FAST = ["--anti-entropy-interval", "500", "--hint-interval", "200"];

interface Info {
  self: string;
  members: { address: string; state: string; phase: string }[];
  hints: { count: number; delivered: number };
  transfer: { phase: string; keys_moved: number };
  local_records: number;
}

async function info(address: string): Promise<Info> {
  const { status, body } = await rpc(address, "cluster_info");
  assertEquals(status, 200);
  return body.result as Info;
}

async function stateOf(from: string, of: string): Promise<string | undefined> {
  return (await info(from)).members.find((m) => m.address === of)?.state;
}

/** Polls until every live node sees `of` in `state`; returns the time it took. */
async function agree(
  nodes: NodeProcess[],
  of: string,
  state: string,
  timeoutMs = 10_000,
): Promise<number> {
  const started = Date.now();
  await waitFor(`every node to see ${of} ${state}`, async () => {
    const views = await Promise.all(nodes.map((n) => stateOf(n.address, of)));
    return views.every((v) => v === state);
  }, timeoutMs);
  return Date.now() - started;
}

/** `get` with `{local: true}` on `address`. */
async function localValue(address: string, key: string): Promise<unknown> {
  const { body } = await rpc(address, "get", [key], { local: true });
  return body.result;
}

/** Keys for which `address` holds no copy although `replicas` names it. */
async function missingCopies(
  nodes: NodeProcess[],
  keys: Map<string, unknown>,
  exact = false,
): Promise<string[]> {
  const client = new KVClient({ nodes: [nodes[0]!.address] });
  const missing: string[] = [];
  for (const [key, value] of keys) {
    const replicas = await client.replicas(key);
    for (const node of nodes) {
      const local = await localValue(node.address, key);
      const should = replicas.includes(node.address);
      if (should && JSON.stringify(local) !== JSON.stringify(value)) {
        missing.push(`${key}@${node.address}`);
      }
      if (exact && !should && local !== null) {
        missing.push(`${key} extra on ${node.address}`);
      }
    }
  }
  return missing;
}

Deno.test("failures: a killed node's writes wait as hints and reach it when it returns", async () => {
  const nodes = await startCluster(5, ["-R", "3", ...FAST]);
  const victim = nodes[4]!;
  const others = nodes.slice(0, 4);
  try {
    await victim.kill("SIGKILL");
    const deadMs = await agree(others, victim.address, "dead");
    console.log(`  all 4 nodes saw the kill as dead after ${deadMs} ms`);

    const client = new KVClient({ nodes: others.map((n) => n.address) });
    const written = new Map<string, unknown>();
    await Promise.all([0, 1, 2, 3].map(async (w) => {
      for (let i = w; i < 1000; i += 4) {
        await client.set(`h:${i}`, i);
        written.set(`h:${i}`, i);
      }
    }));
    assertEquals(written.size, 1000);
    const held = (await Promise.all(others.map((n) => info(n.address))))
      .reduce((sum, i) => sum + i.hints.count, 0);
    assert(held > 0, "writes for the dead node are held as hints");

    await victim.restart();
    const backMs = await agree(others, victim.address, "alive");
    const started = Date.now();
    await waitFor("hints to drain", async () => {
      const infos = await Promise.all(others.map((n) => info(n.address)));
      return infos.every((i) => i.hints.count === 0);
    }, 10_000);
    console.log(
      `  back alive everywhere after ${backMs} ms; ${held} hints drained ${
        Date.now() - started
      } ms later`,
    );
    for (const [key, value] of written) {
      assertEquals(await client.get(key), value, key);
    }
    assertEquals(await missingCopies(nodes, written), []);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("failures: anti-entropy restores a node restarted empty", async () => {
  const nodes = await startCluster(5, ["-R", "3", ...FAST]);
  const victim = nodes[2]!;
  try {
    const client = new KVClient({ nodes: [nodes[0]!.address] });
    const written = new Map<string, unknown>();
    for (let i = 0; i < 500; i++) {
      await client.set(`ae:${i}`, { i });
      written.set(`ae:${i}`, { i });
    }
    await waitFor(
      "every copy to land",
      async () =>
        (await missingCopies(nodes, new Map([...written].slice(0, 50))))
          .length === 0,
    );
    const before = (await info(victim.address)).local_records;
    assert(before > 0);

    await victim.restart();
    assertEquals((await info(victim.address)).local_records, 0);
    const started = Date.now();
    await waitFor(
      "anti-entropy to restore the node",
      async () => (await info(victim.address)).local_records >= before,
      30_000,
      250,
    );
    console.log(
      `  anti-entropy restored ${before} records in ${Date.now() - started} ms`,
    );
    assertEquals(await missingCopies(nodes, written), []);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("failures: a sixth node joins while writes go on, and every key ends on exactly its replicas", async () => {
  const nodes = await startCluster(5, ["-R", "3", ...FAST]);
  let joiner: NodeProcess | undefined;
  try {
    const client = new KVClient({ nodes: nodes.map((n) => n.address) });
    const written = new Map<string, unknown>();
    for (let i = 0; i < 600; i++) {
      await client.set(`j:${i}`, i);
      written.set(`j:${i}`, i);
    }
    let stop = false;
    let failedReads = 0;
    let failedWrites = 0;
    const traffic = (async () => {
      for (let i = 0; !stop; i++) {
        const key = `live:${i}`;
        try {
          await client.set(key, i);
          written.set(key, i);
        } catch {
          failedWrites++;
        }
        const probe = `j:${i % 600}`;
        try {
          assertEquals(await client.get(probe), written.get(probe));
        } catch {
          failedReads++;
        }
      }
    })();

    const port = freePort();
    joiner = new NodeProcess(port, [
      "--join",
      nodes[0]!.address,
      "-R",
      "3",
      ...FAST,
    ]);
    await joiner.ready();
    const all = [...nodes, joiner];
    const started = Date.now();
    await waitFor(
      "the join to complete",
      async () => (await info(joiner!.address)).transfer.phase === "done",
      60_000,
      100,
    );
    const joinMs = Date.now() - started;
    await agree(all, joiner.address, "alive");
    await waitFor("every node to see the joiner ready", async () => {
      const views = await Promise.all(all.map((n) => info(n.address)));
      return views.every((v) =>
        v.members.find((m) => m.address === joiner!.address)?.phase === "ready"
      );
    });
    stop = true;
    await traffic;
    const moved = (await info(joiner.address)).transfer.keys_moved;
    console.log(
      `  joined in ${joinMs} ms, ${moved} records streamed; ${written.size} keys written`,
    );
    assertEquals(failedWrites, 0);
    assertEquals(failedReads, 0);
    for (const [key, value] of written) {
      assertEquals(await client.get(key), value, key);
    }
    await waitFor(
      "every key to sit on exactly its replicas",
      async () => (await missingCopies(all, written, true)).length === 0,
      60_000,
      1000,
    );
  } finally {
    await stopAll(joiner ? [...nodes, joiner] : nodes);
  }
});

Deno.test("failures: a node leaves and all its keys stay readable with N copies", async () => {
  const nodes = await startCluster(5, ["-R", "3", ...FAST]);
  const leaver = nodes[1]!;
  const rest = nodes.filter((n) => n !== leaver);
  try {
    const client = new KVClient({ nodes: rest.map((n) => n.address) });
    const written = new Map<string, unknown>();
    for (let i = 0; i < 500; i++) {
      await client.set(`l:${i}`, `v${i}`);
      written.set(`l:${i}`, `v${i}`);
    }
    const held = (await info(leaver.address)).local_records;
    assert(held > 0);
    const started = Date.now();
    const cli = await runCli([
      "leave",
      "-H",
      "127.0.0.1",
      "-P",
      String(leaver.port),
    ]);
    assertEquals(cli.code, 0, cli.stderr);
    assertMatch(cli.stdout, /left the cluster: \d+ records handed over/);
    assertMatch(cli.stderr, /leave \[#{30}\] 100% +\d+ records/);
    await agree(rest, leaver.address, "left", 60_000);
    const leftMs = Date.now() - started;
    console.log(`  left in ${leftMs} ms, handing over ${held} records`);
    for (const [key, value] of written) {
      const replicas = await client.replicas(key);
      assert(!replicas.includes(leaver.address));
      assertEquals(replicas.length, 3);
      assertEquals(await client.get(key), value, key);
    }
    assertEquals(await missingCopies(rest, written), []);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("failures: a dead node removed for good: its ranges get new replicas and its hints are dropped", async () => {
  const nodes = await startCluster(4, ["-R", "3", ...FAST]);
  const victim = nodes[3]!;
  const rest = nodes.slice(0, 3);
  const at = ["-H", "127.0.0.1", "-P", String(rest[0]!.port)];
  try {
    const client = new KVClient({ nodes: rest.map((n) => n.address) });
    const written = new Map<string, unknown>();
    for (let i = 0; i < 300; i++) {
      await client.set(`r:${i}`, i);
      written.set(`r:${i}`, i);
    }
    const alive = await runCli(["remove-member", victim.address, ...at]);
    assertEquals(alive.code, 1, "a live member is not removed");
    assertMatch(alive.stderr, /is alive, not dead/);

    await victim.kill("SIGKILL");
    await agree(rest, victim.address, "dead");
    // Writes while it is dead leave hints for it.
    for (let i = 300; i < 400; i++) {
      await client.set(`r:${i}`, i);
      written.set(`r:${i}`, i);
    }
    const started = Date.now();
    // A late refutation from before the kill can make it suspect again for
    // a while (gossip is eventually consistent): retry until it is dead.
    let removed = await runCli(["remove-member", victim.address, ...at]);
    await waitFor("the removal to be accepted", async () => {
      if (removed.code === 0) return true;
      assertMatch(removed.stderr, /is suspect, not dead/);
      removed = await runCli(["remove-member", victim.address, ...at]);
      return removed.code === 0;
    });
    assertEquals(removed.stdout, `removed ${victim.address}\n`);
    await agree(rest, victim.address, "left");
    const leftMs = Date.now() - started;

    await waitFor(
      "every key on exactly its 3 live replicas",
      async () => (await missingCopies(rest, written, true)).length === 0,
      60_000,
    );
    console.log(
      `  removed everywhere after ${leftMs} ms; ${written.size} keys back to 3 copies ${
        Date.now() - started
      } ms after the removal`,
    );
    for (const key of written.keys()) {
      const replicas = await client.replicas(key);
      assertEquals(replicas.length, 3);
      assert(!replicas.includes(victim.address), key);
    }
    const infos = await Promise.all(rest.map((n) => info(n.address)));
    assertEquals(infos.map((i) => i.hints.count), [0, 0, 0]);

    // Removing again is no error; a stranger or the node itself is.
    const again = await rpc(rest[1]!.address, "remove_member", [
      victim.address,
    ]);
    assertEquals(again.status, 200);
    assertEquals(again.body.result, { removed: victim.address });
    const stranger = await rpc(rest[0]!.address, "remove_member", [
      "10.9.9.9:1",
    ]);
    assertEquals(stranger.status, 404);
    assertMatch(stranger.body.description, /not a member of this cluster/);
    const self = await rpc(rest[0]!.address, "remove_member", [
      rest[0]!.address,
    ]);
    assertEquals(self.status, 400);
    assertMatch(self.body.description, /is this node/);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("failures: bad peer input is refused with a clear error and the node stays up", async () => {
  const nodes = await startCluster(2, ["-R", "2"]);
  const at = nodes[0]!.address;
  const peer = (body: unknown) =>
    fetch(`http://${at}/peer`, {
      method: "POST",
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  try {
    const cases: [string, unknown, number, RegExp][] = [
      ["not JSON", "{{", 400, /not valid JSON/],
      ["an unknown kind", { kind: "drop_everything" }, 400, /unknown kind/],
      ["no kind", { records: [] }, 400, /no 'kind'/],
      [
        "gossip from outside the cluster",
        {
          kind: "ping",
          from: "10.9.9.9:1",
          members: [["10.9.9.9:2", "alive", 1, "ready"]],
        },
        403,
        /not a member/,
      ],
      [
        "a member entry with a bad state",
        {
          kind: "ping",
          from: nodes[1]!.address,
          members: [[nodes[1]!.address, "zombie", 1, "ready"]],
        },
        400,
        /bad member state/,
      ],
      [
        "a digest with too many buckets",
        {
          kind: "ae_buckets",
          from: nodes[1]!.address,
          ring: 1,
          cut: 0,
          buckets: Array.from({ length: 100_000 }, () => [0, 0]),
        },
        400,
        /longer than 256/,
      ],
      [
        "an entry listing for a leaf out of range",
        {
          kind: "ae_entries",
          from: nodes[1]!.address,
          ring: 1,
          leaves: [2 ** 40],
          before: 0,
        },
        400,
        /bad leaf/,
      ],
      [
        "a transfer for a huge page",
        {
          kind: "transfer",
          for: nodes[1]!.address,
          limit: 10_000_000,
        },
        400,
        /limit must be an integer/,
      ],
      [
        "a write with a bad version",
        {
          kind: "write",
          records: [{ key: "k", value: 1, version: ["x"], tombstone: false }],
        },
        400,
        /bad version/,
      ],
      [
        "a digest from a non-member",
        {
          kind: "ae_buckets",
          from: "10.1.1.1:5878",
          ring: 1,
          cut: 0,
          buckets: Array.from({ length: 256 }, () => [0, 0]),
        },
        403,
        /not a member/,
      ],
    ];
    for (const [what, body, status, message] of cases) {
      const response = await peer(body);
      const parsed = await response.json();
      assertEquals(response.status, status, what);
      assertEquals(parsed.status, "Error", what);
      assertMatch(parsed.description, message, what);
    }
    const members = (await info(at)).members.map((m) => m.address);
    assertEquals(members.sort(), nodes.map((n) => n.address).sort());
    assertEquals((await rpc(at, "ping")).body.result, "pong");
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("failures: a member restarted with a -C list naming a node that never joined neither rings nor gossips it", async () => {
  const nodes = await startCluster(3, FAST);
  const stranger = `127.0.0.1:${freePort()}`;
  const [restarted] = nodes;
  try {
    await restarted!.kill("SIGKILL");
    // The operator lists a fourth node on the restarted one before it has
    // joined (nothing listens there).
    const members = nodes.map((n) => n.address).join(",");
    nodes[0] = new NodeProcess(restarted!.port, [
      "-C",
      `${members},${stranger}`,
      ...FAST,
    ]);
    await nodes[0].ready();
    // Gossip went both ways: every node sees the others alive, and the
    // restarted node's new incarnation has reached the other two.
    await waitFor("every node to see the restarted one alive", async () => {
      for (const node of nodes) {
        const seen = (await info(node.address)).members;
        if (
          seen.length < 3 ||
          seen.some((m) => m.address !== stranger && m.state !== "alive")
        ) return false;
      }
      return true;
    }, 20_000);
    for (const node of nodes) {
      const seen = (await info(node.address)).members.map((m) => m.address);
      assert(!seen.includes(stranger), `${node.address} lists ${stranger}`);
    }
    // Nor does any key go to it.
    const { body } = await rpc(nodes[0].address, "locate", ["some-key"]);
    assert(!JSON.stringify(body.result).includes(stranger));
  } finally {
    await stopAll(nodes);
  }
});
