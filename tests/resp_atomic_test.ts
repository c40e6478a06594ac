/**
 * Read-modify-write commands through several nodes at once (N=3): no lost
 * update while all nodes are up, and what holds when the key's
 * serialising node is killed (docs/resp.md, "Atomicity").
 */

import { assert, assertEquals } from "@std/assert";
import { freePorts, rpc, stopAll, waitFor } from "./_helpers.ts";
import { RespConn, RespErr, startRespCluster } from "./_resp.ts";

Deno.test("resp atomic: 50 clients incrementing one key through three nodes lose no increment", async () => {
  const { nodes, resp } = await startRespCluster(3, ["-R", "3"], freePorts);
  try {
    const clients = 50;
    const each = 20;
    const conns = await Promise.all(
      Array.from({ length: clients }, (_, i) => RespConn.open(resp[i % 3]!)),
    );
    const errors: string[] = [];
    await Promise.all(conns.map(async (c) => {
      for (let i = 0; i < each; i++) {
        const r = await c.call("INCR", "hot");
        if (r instanceof RespErr) errors.push(r.text);
      }
    }));
    assertEquals(errors, []);
    for (const port of resp) {
      const c = await RespConn.open(port);
      assertEquals(await c.call("GET", "hot"), String(clients * each));
      c.close();
    }
    // SETNX from every client at once: exactly one wins.
    const wins = await Promise.all(
      conns.map((c, i) => c.call("SETNX", "lock", `owner-${i}`)),
    );
    assertEquals(wins.filter((w) => w === 1).length, 1);
    // APPEND from every client: every piece is there once.
    await Promise.all(conns.map((c, i) => c.call("APPEND", "log", `<${i}>`)));
    const log = await conns[0]!.call("GET", "log") as string;
    for (let i = 0; i < clients; i++) assert(log.includes(`<${i}>`), log);
    assertEquals(log.length, conns.reduce((n, _, i) => n + `<${i}>`.length, 0));
    conns.forEach((c) => c.close());
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("resp atomic: killing the key's serialising node loses no acknowledged increment", async () => {
  const { nodes, resp } = await startRespCluster(3, [
    "-R",
    "3",
    "--probe-interval",
    "200",
    "--suspicion-timeout",
    "1500",
  ], freePorts);
  try {
    const key = "counter";
    const replicas = await rpc(nodes[0]!.address, "replicas", [key]);
    const owner = (replicas.body.result as string[])[0]!;
    const victim = nodes.findIndex((n) => n.address === owner);
    assert(victim >= 0, `owner ${owner} is one of the nodes`);
    const survivors = resp.filter((_, i) => i !== victim);

    let acknowledged = 0;
    let uncertain = 0;
    let ackedAfterKill = 0;
    let killed = false;
    const deadline = Date.now() + 30_000;
    // Clients on the surviving nodes only: a client of the killed node
    // would lose its connection, not learn anything more.
    const worker = async (port: number) => {
      let c = await RespConn.open(port);
      while (Date.now() < deadline && (!killed || ackedAfterKill < 200)) {
        try {
          const r = await c.call("INCR", key);
          if (r instanceof RespErr) {
            uncertain++;
            await new Promise((resolve) => setTimeout(resolve, 20));
            continue;
          }
          acknowledged++;
          if (killed) ackedAfterKill++;
        } catch {
          uncertain++;
          c.close();
          c = await RespConn.open(port);
        }
      }
      c.close();
    };
    const workers = Array.from(
      { length: 6 },
      (_, i) => worker(survivors[i % 2]!),
    );
    await waitFor("some increments", () => acknowledged >= 150, 20_000);
    await nodes[victim]!.kill("SIGKILL");
    killed = true;
    await Promise.all(workers);

    assert(ackedAfterKill >= 200, `increments go on: ${ackedAfterKill}`);
    const c = await RespConn.open(survivors[0]!);
    const value = Number(await c.call("GET", key));
    c.close();
    // Every acknowledged increment is there; an increment whose reply was
    // an error or never came may or may not be.
    assert(
      value >= acknowledged && value <= acknowledged + uncertain,
      `value ${value}, acknowledged ${acknowledged}, uncertain ${uncertain}`,
    );
  } finally {
    await stopAll(nodes);
  }
});
