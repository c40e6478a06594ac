/**
 * Durable storage end to end, with real node processes on temporary data
 * directories: kill -9 in the middle of writes, restarts, TTL, and the
 * faults a data directory can have at start.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  freePort,
  freePorts,
  NodeProcess,
  rpc,
  runCli,
  waitFor,
} from "./_helpers.ts";

/** A temporary data directory, removed when `fn` is done. */
async function withDataDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kvdb-durability-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Reads `keys` with mget, 1,000 at a time. */
async function readAll(
  address: string,
  keys: string[],
): Promise<Map<string, unknown>> {
  const values = new Map<string, unknown>();
  for (let i = 0; i < keys.length; i += 1000) {
    const chunk = keys.slice(i, i + 1000);
    const { status, body } = await rpc(address, "mget", [chunk]);
    assertEquals(status, 200, JSON.stringify(body));
    const result = body.result as unknown[];
    chunk.forEach((key, j) => values.set(key, result[j]));
  }
  return values;
}

/** A small deterministic generator, so a failing round can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

Deno.test("durability: kill -9 during writes from 4 clients, 20 times, loses no acknowledged write", async () => {
  const seed = Date.now() % 100_000;
  const random = seeded(seed);
  await withDataDir(async (dir) => {
    const node = await new NodeProcess(freePort(), [], { dataDir: dir })
      .ready();
    const acknowledged = new Map<string, string>();
    try {
      for (let round = 0; round < 20; round++) {
        // Each client writes until a request fails: the node died under it
        // (a client that stopped at the kill instead could see every answer
        // it waited for arrive, already sent, and none refused).
        const client = async (c: number) => {
          for (let i = 0;; i++) {
            const key = `r${round}-c${c}-${i}`;
            const value = `${round}:${c}:${i}`;
            let status;
            try {
              ({ status } = await rpc(node.address, "set", [key, value]));
            } catch (error) {
              if (!(error instanceof TypeError)) throw error;
              return; // connection reset or refused
            }
            assertEquals(status, 200);
            acknowledged.set(key, value);
          }
        };
        const clients = [0, 1, 2, 3].map(client);
        const before = acknowledged.size;
        // Kill at a random moment once writes are flowing: after the first
        // acknowledgement of the round (a busy machine may take a while).
        await waitFor(
          `round ${round}: a first write acknowledged`,
          () => acknowledged.size > before,
        );
        await new Promise((r) => setTimeout(r, random() * 120));
        await node.kill("SIGKILL");
        await Promise.all(clients);
        assert(
          acknowledged.size > before,
          `round ${round}: no write was acknowledged before the kill`,
        );
        await node.restart();
        const keys = [...acknowledged.keys()];
        const stored = await readAll(node.address, keys);
        const missing = keys.filter((k) =>
          stored.get(k) !== acknowledged.get(k)
        );
        assertEquals(
          missing.length,
          0,
          `round ${round} (seed ${seed}): ${missing.length} acknowledged writes missing, e.g. ${
            missing.slice(0, 5)
          }`,
        );
      }
      console.log(
        `kill -9: 20 rounds, ${acknowledged.size} acknowledged writes, ` +
          `all present after every restart (seed ${seed})`,
      );
    } finally {
      await node.kill();
    }
  });
});

Deno.test("durability: a restart keeps keys, versions, tombstones and expiries", async () => {
  await withDataDir(async (dir) => {
    const node = await new NodeProcess(freePort(), [], { dataDir: dir })
      .ready();
    const at = node.address;
    try {
      await rpc(at, "set", ["k", "first"]);
      await rpc(at, "set", ["gone", { a: [1, 2] }]);
      assertEquals((await rpc(at, "pop", ["gone"])).body.result, { a: [1, 2] });
      const ttlSetAt = Date.now();
      await rpc(at, "set", ["brief", "soon gone"], { ttl: 3 });
      await node.restart(); // SIGKILL, then the same flags again

      assertEquals((await rpc(at, "get", ["k"])).body.result, "first");
      assertEquals((await rpc(at, "has", ["gone"])).body.result, false);
      assertEquals((await rpc(at, "get", ["brief"])).body.result, "soon gone");
      assertEquals((await rpc(at, "get", ["k"])).body.result, "first");
      const info = (await rpc(at, "cluster_info")).body.result as {
        local_records: number;
        storage: { engine: string; cache: { hits: number; misses: number } };
      };
      assertEquals(info.local_records, 3, "the tombstone is kept");
      // The record cache starts empty: the first reads went to the database
      // and filled it, and it answered the second read of 'k'.
      assertEquals(info.storage.engine, "sqlite");
      assert(info.storage.cache.misses >= 3, JSON.stringify(info.storage));
      assert(info.storage.cache.hits >= 1, JSON.stringify(info.storage));
      assertEquals(
        (await rpc(at, "list_keys")).body.result,
        ["brief", "k"],
      );

      // Writes after the restart are newer than those before it.
      await rpc(at, "set", ["k", "second"]);
      assertEquals((await rpc(at, "get", ["k"])).body.result, "second");
      assertEquals(
        (await rpc(at, "get", ["k"], { local: true })).body.result,
        "second",
      );
      await rpc(at, "set", ["gone", "back"]);
      assertEquals((await rpc(at, "get", ["gone"])).body.result, "back");

      // The expiry set before the restart still holds, to the second.
      await waitFor(
        "'brief' to expire",
        async () => (await rpc(at, "get", ["brief"])).body.result === null,
      );
      assert(
        Date.now() >= ttlSetAt + 3000,
        "expired before its time after the restart",
      );
      await node.restart();
      assertEquals((await rpc(at, "get", ["k"])).body.result, "second");
      assertEquals((await rpc(at, "get", ["brief"])).body.result, null);
    } finally {
      await node.kill();
    }
  });
});

Deno.test("ttl: an expired key is never returned by any function, and is purged", async () => {
  await withDataDir(async (dir) => {
    const node = await new NodeProcess(freePort(), [], { dataDir: dir })
      .ready();
    const at = node.address;
    try {
      await rpc(at, "set", ["stays", 1]);
      const sentAt = Date.now();
      await rpc(at, "set", ["t", "v"], { ttl: 1 });
      const answeredAt = Date.now();
      // The node stamps the expiry between sentAt and answeredAt: a call
      // answered before sentAt + 1000 must see the key; a call sent after
      // answeredAt + 1000 must not.
      const views = async () => ({
        get: (await rpc(at, "get", ["t"])).body.result,
        has: (await rpc(at, "has", ["t"])).body.result,
        mget: ((await rpc(at, "mget", [["t"]])).body.result as unknown[])[0],
        local: (await rpc(at, "get", ["t"], { local: true })).body.result,
        list: ((await rpc(at, "list_keys")).body.result as string[])
          .includes("t"),
        page: ((await rpc(at, "list_keys", [], { limit: 10 })).body.result as {
          keys: string[];
        }).keys.includes("t"),
      });
      const seen = {
        get: "v",
        has: true,
        mget: "v",
        local: "v",
        list: true,
        page: true,
      };
      const gone = {
        get: null,
        has: false,
        mget: null,
        local: null,
        list: false,
        page: false,
      };
      let checkedGone = 0;
      while (Date.now() < answeredAt + 1500) {
        const start = Date.now();
        const view = await views();
        const end = Date.now();
        if (end < sentAt + 1000) assertEquals(view, seen);
        if (start > answeredAt + 1000) {
          assertEquals(view, gone);
          checkedGone++;
        }
      }
      assert(checkedGone > 0);
      // The purge gives the space back within a few of its passes.
      await waitFor("the expired record to be purged", async () => {
        const info = (await rpc(at, "cluster_info")).body.result as {
          local_records: number;
        };
        return info.local_records === 1;
      }, 5_000);
    } finally {
      await node.kill();
    }
  });
});

Deno.test("durability: a stand-in killed with kill -9 keeps the hints it acknowledged", async () => {
  await withDataDir(async (dir) => {
    const ports = freePorts(3);
    const members = ports.map((p) => `127.0.0.1:${p}`).join(",");
    const nodes = ports.map((port) =>
      new NodeProcess(port, [
        "-C",
        members,
        "-R",
        "2",
        "--hint-interval",
        "200",
      ], { dataDir: `${dir}/${port}` })
    );
    const [a, b] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    type Info = { hints: { count: number }; members: { state: string }[] };
    const info = async (node: NodeProcess) =>
      (await rpc(node.address, "cluster_info")).body.result as Info;
    try {
      await Promise.all(nodes.map((n) => n.ready()));
      await b.kill("SIGKILL");
      const others = nodes.filter((n) => n !== b);
      await waitFor("b to be seen dead", async () => {
        const views = await Promise.all(others.map(info));
        return views.every((v) => v.members.some((m) => m.state === "dead"));
      });
      // N=2, W=2: each write for one of b's keys is acknowledged by its
      // other replica and a stand-in that holds it as a hint for b.
      const written = new Map<string, number>();
      for (let i = 0; i < 200; i++) {
        const { status } = await rpc(a.address, "set", [`h:${i}`, i]);
        assertEquals(status, 200);
        written.set(`h:${i}`, i);
      }
      const held = await Promise.all(others.map(async (n) => ({
        node: n,
        count: (await info(n)).hints.count,
      })));
      const standIn = held.reduce((x, y) => x.count >= y.count ? x : y);
      assert(standIn.count > 0, "some writes wait as hints");

      // The stand-in dies at once and comes back: its hints are still there.
      await standIn.node.restart();
      assertEquals((await info(standIn.node)).hints.count, standIn.count);

      // b returns: the hints reach it, and every key is on both replicas.
      await b.restart();
      await waitFor("the hints to drain", async () => {
        const views = await Promise.all(nodes.map(info));
        return views.every((v) => v.hints.count === 0);
      }, 30_000);
      for (const [key, value] of written) {
        const replicas = (await rpc(a.address, "replicas", [key])).body
          .result as string[];
        for (const replica of replicas) {
          const { body } = await rpc(replica, "get", [key], { local: true });
          assertEquals(body.result, value, `${key} on ${replica}`);
        }
      }
    } finally {
      await Promise.all(nodes.map((n) => n.kill()));
    }
  });
});

/** Runs `kvdb node` expecting it to refuse to start; its exit code and stderr. */
async function refusedStart(dataDir: string) {
  const run = runCli(["node", "-P", String(freePort()), "--data-dir", dataDir]);
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(
      () => reject(new Error("the node started instead of refusing")),
      20_000,
    )
  );
  return await Promise.race([run, timeout]);
}

function assertOneLineError(
  result: { code: number; stderr: string },
  pattern: RegExp,
) {
  assertEquals(result.code, 1, result.stderr);
  const lines = result.stderr.trimEnd().split("\n");
  assertEquals(lines.length, 1, result.stderr);
  assertMatch(lines[0]!, pattern);
}

Deno.test("faults: a data directory in use by another node is refused at start", async () => {
  await withDataDir(async (dir) => {
    const first = await new NodeProcess(freePort(), [], { dataDir: dir })
      .ready();
    try {
      assertOneLineError(
        await refusedStart(dir),
        /^error: Cannot open data directory '.+': the database is locked by another process/,
      );
      // The first node is unharmed.
      assertEquals((await rpc(first.address, "ping")).body.result, "pong");
    } finally {
      await first.kill();
    }
  });
});

Deno.test("faults: a corrupt database file is refused at start with one line", async () => {
  await withDataDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/kvdb.sqlite`,
      "not a database, just garbage\n".repeat(1000),
    );
    assertOneLineError(
      await refusedStart(dir),
      /^error: Cannot open data directory '.+': the database file is corrupt or not a database/,
    );
  });
});

Deno.test("faults: a data directory that cannot be created is refused at start", async () => {
  // Tests run as root, for whom chmod 000 blocks nothing; a path whose
  // parent is a regular file cannot be created by anyone.
  await withDataDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "");
    assertOneLineError(
      await refusedStart(`${dir}/file/node`),
      /^error: Cannot open data directory '.+': a part of its path is a file/,
    );
    assertOneLineError(
      await refusedStart(`${dir}/file`),
      /^error: Cannot open data directory '.+': it exists and is not a directory/,
    );
  });
});
