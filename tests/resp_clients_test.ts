/**
 * Real Redis clients against a three-node KVDB cluster (N=3), unchanged:
 * redis-cli (one-shot, `-r`, `--pipe`, `--scan`, `--bigkeys`, and
 * interactive under tmux), redis-benchmark, and the npm clients ioredis,
 * node-redis 4 and node-redis 5 (RESP3) running under Deno.
 *
 * redis-cli and redis-benchmark come from Debian's redis-tools, which
 * .ci/run installs; without them those tests are skipped with a message.
 */

import { assert, assertEquals, assertMatch, assertRejects } from "@std/assert";
import { Redis } from "ioredis";
import { createClient as createClient4 } from "redis4";
import { createClient as createClient5 } from "redis5";
import { freePorts, stopAll, waitFor } from "./_helpers.ts";
import { startRespCluster } from "./_resp.ts";

async function has(tool: string, flag = "--version"): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(tool, {
      args: [flag],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

async function run(
  cmd: string,
  args: string[],
  stdin?: string,
): Promise<{ code: number; out: string }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const o = await child.output();
  const d = new TextDecoder();
  return { code: o.code, out: d.decode(o.stdout) + d.decode(o.stderr) };
}

const tools = await has("redis-cli") && await has("redis-benchmark");
const tmux = await has("tmux", "-V");
if (!tools) {
  console.error(
    "resp_clients_test: redis-cli/redis-benchmark not found (apt-get install redis-tools): their tests are skipped",
  );
}

Deno.test({
  name: "resp clients: redis-cli and redis-benchmark against three nodes",
  ignore: !tools,
  async fn(t) {
    const { nodes, resp } = await startRespCluster(3, ["-R", "3"], freePorts);
    const cli = (port: number, ...args: string[]) =>
      run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args]);
    try {
      await t.step("one-shot commands and -r", async () => {
        assertEquals(
          (await cli(resp[0]!, "SET", "greeting", "hi")).out,
          "OK\n",
        );
        assertEquals((await cli(resp[1]!, "GET", "greeting")).out, "hi\n");
        await cli(resp[2]!, "-r", "25", "INCR", "cli:counter");
        assertEquals((await cli(resp[0]!, "GET", "cli:counter")).out, "25\n");
        const e = await cli(resp[0]!, "INCR", "greeting");
        assertMatch(e.out, /ERR value is not an integer or out of range/);
      });

      await t.step("--pipe loads a protocol stream", async () => {
        let stream = "";
        for (let i = 0; i < 2000; i++) {
          const k = `pipe:${i}`;
          const v = `value-${i}`;
          stream +=
            `*3\r\n$3\r\nSET\r\n$${k.length}\r\n${k}\r\n$${v.length}\r\n${v}\r\n`;
        }
        const r = await run(
          "redis-cli",
          ["-p", String(resp[1]), "--pipe"],
          stream,
        );
        assertEquals(r.code, 0, r.out);
        assertMatch(r.out, /errors: 0, replies: 2000/);
        assertEquals(
          (await cli(resp[2]!, "GET", "pipe:1999")).out,
          "value-1999\n",
        );
      });

      await t.step("--scan and --bigkeys walk the whole cluster", async () => {
        const scan = await cli(resp[2]!, "--scan", "--pattern", "pipe:1*");
        const keys = scan.out.trim().split("\n");
        assertEquals(new Set(keys).size, 1111); // pipe:1, pipe:1x, 1xx, 1xxx
        const big = await cli(resp[0]!, "--bigkeys");
        assertEquals(big.code, 0, big.out);
        assertMatch(big.out, /Biggest string found '[^']+' has \d+ bytes/);
        assertMatch(big.out, /\d+ strings with \d+ bytes/);
      });

      await t.step(
        "redis-benchmark runs GET and SET without errors",
        async () => {
          const r = await run("redis-benchmark", [
            "-h",
            "127.0.0.1",
            "-p",
            String(resp[0]),
            "-t",
            "set,get",
            "-n",
            "3000",
            "-c",
            "10",
            "-r",
            "1000",
            "-P",
            "4",
            "--csv",
          ]);
          assertEquals(r.code, 0, r.out);
          for (const op of ["SET", "GET"]) {
            const line = r.out.split("\n").find((l) => l.startsWith(`"${op}"`));
            assert(line !== undefined, r.out);
            assert(Number(line!.split(",")[1]!.replaceAll('"', "")) > 0, line);
          }
          const n = Number((await cli(resp[1]!, "DBSIZE")).out);
          assert(n > 2000, `DBSIZE ${n}`);
        },
      );

      await t.step({
        name: "interactive redis-cli in a terminal (tmux), with hints",
        ignore: !tmux,
        async fn() {
          const session = `kvdb-resp-${Deno.pid}-${resp[0]}`;
          await run("tmux", [
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "120",
            "-y",
            "30",
            `redis-cli -p ${resp[0]}`,
          ]);
          const screen = async () =>
            (await run("tmux", ["capture-pane", "-p", "-t", session])).out;
          try {
            await waitFor(
              "the prompt",
              async () => (await screen()).includes(`127.0.0.1:${resp[0]}>`),
            );
            await run("tmux", ["send-keys", "-t", session, "SET tty", ""]);
            // The hint comes from COMMAND DOCS.
            await waitFor(
              "the SET hint",
              async () => (await screen()).includes("value [NX|XX]"),
            );
            await run("tmux", ["send-keys", "-t", session, " works", "Enter"]);
            await waitFor("OK", async () => (await screen()).includes("OK"));
            // One line at a time, as a person types: linenoise drops
            // keys typed while a command runs.
            await run("tmux", ["send-keys", "-t", session, "GET tty", "Enter"]);
            await waitFor(
              "the value",
              async () => (await screen()).includes('"works"'),
            );
            await run("tmux", [
              "send-keys",
              "-t",
              session,
              "help GET",
              "Enter",
            ]);
            await waitFor(
              "help from COMMAND DOCS",
              async () =>
                (await screen()).includes("Returns the string value of a key."),
            );
          } finally {
            await run("tmux", ["kill-session", "-t", session]);
          }
        },
      });
    } finally {
      await stopAll(nodes);
    }
  },
});

Deno.test("resp clients: ioredis, node-redis 4 and node-redis 5 against three nodes", async (t) => {
  const { nodes, resp } = await startRespCluster(3, ["-R", "3"], freePorts);
  try {
    await t.step("ioredis", async () => {
      const io = new Redis({
        port: resp[0],
        host: "127.0.0.1",
        lazyConnect: true,
      });
      const other = new Redis({
        port: resp[1],
        host: "127.0.0.1",
        lazyConnect: true,
      });
      await io.connect();
      await other.connect();
      try {
        assertEquals(await io.set("io:a", "1", "EX", 100), "OK");
        assertEquals(await other.get("io:a"), "1");
        assert((await other.ttl("io:a")) > 90);
        const binary = Buffer.from([0, 255, 128, 10, 13]);
        await io.set(Buffer.from([1, 200]), binary);
        assertEquals(await other.getBuffer(Buffer.from([1, 200])), binary);
        const results = await io.pipeline().incr("io:n").incr("io:n").get(
          "io:n",
        )
          .exec();
        assertEquals(results?.map(([, v]: [unknown, unknown]) => v), [
          1,
          2,
          "2",
        ]);
        await assertRejects(
          () => io.incr("io:a:x").then(() => io.lpush("io:l", "x")),
          Error,
          "unknown command 'lpush'",
        );
        const keys: string[] = [];
        await new Promise<void>((resolve, reject) => {
          other.scanStream({ match: "io:*", count: 1 })
            .on("data", (batch: string[]) => keys.push(...batch))
            .on("end", resolve)
            .on("error", reject);
        });
        assertEquals(new Set(keys), new Set(["io:a", "io:n", "io:a:x"]));
      } finally {
        io.disconnect();
        other.disconnect();
      }
    });

    await t.step("node-redis 4 (RESP2)", async () => {
      const client = createClient4({ url: `redis://127.0.0.1:${resp[1]}` });
      client.on("error", () => {});
      await client.connect();
      try {
        assertEquals(await client.set("r4:a", "x", { NX: true }), "OK");
        assertEquals(await client.set("r4:a", "y", { NX: true }), null);
        assertEquals(await client.mGet(["r4:a", "r4:none"]), ["x", null]);
        assertEquals(await client.incrBy("r4:n", 5), 5);
        assertEquals(await client.append("r4:a", "yz"), 3);
        const keys: string[] = [];
        for await (
          const key of client.scanIterator({ MATCH: "r4:*", COUNT: 1 })
        ) {
          keys.push(key);
        }
        assertEquals(keys.sort(), ["r4:a", "r4:n"]);
        await assertRejects(
          () => client.incr("r4:a"),
          Error,
          "ERR value is not an integer or out of range",
        );
      } finally {
        await client.quit();
      }
    });

    await t.step("node-redis 5 (RESP3 through HELLO 3)", async () => {
      const client = createClient5({
        url: `redis://127.0.0.1:${resp[2]}`,
        RESP: 3,
      });
      client.on("error", () => {});
      await client.connect();
      try {
        assertEquals(await client.set("r5:a", "1"), "OK");
        assertEquals(await client.get("r5:none"), null);
        assertEquals(await client.incr("r5:a"), 2);
        assertEquals(await client.getDel("r5:a"), "2");
        assertEquals(await client.exists("r5:a"), 0);
        await client.mSet({ "r5:x": "1", "r5:y": "2" });
        const keys: string[] = [];
        for await (
          const batch of client.scanIterator({ MATCH: "r5:*", COUNT: 1 })
        ) keys.push(...batch);
        assertEquals(keys.sort(), ["r5:x", "r5:y"]);
        assertMatch(await client.info("server"), /redis_version:7\.0\.0/);
      } finally {
        await client.quit();
      }
    });
  } finally {
    await stopAll(nodes);
  }
});
