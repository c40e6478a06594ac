/**
 * The RESP port over the wire, against a real three-node cluster (N=3):
 * commands and their Redis 7.0 replies and error texts, pipelining,
 * inline commands, binary-safe values shared with JSON-RPC, protocol
 * errors that close the connection, limits, SCAN through several nodes,
 * and the counts in /metrics and cluster_info.
 */

import { assert, assertEquals, assertInstanceOf } from "@std/assert";
import {
  freePorts,
  hasOpenssl,
  NodeProcess,
  rpc,
  selfSigned,
  stopAll,
  waitFor,
} from "./_helpers.ts";
import {
  command,
  concat,
  RespConn,
  RespErr,
  startRespCluster,
  Status,
} from "./_resp.ts";

function err(w: unknown): string {
  assertInstanceOf(w, RespErr);
  return (w as RespErr).text;
}

function ok(w: unknown): void {
  assertInstanceOf(w, Status);
  assertEquals((w as Status).text, "OK");
}

Deno.test("resp: a three-node cluster answers Redis commands as Redis 7.0 does", async (t) => {
  const { nodes, resp } = await startRespCluster(3, ["-R", "3"], freePorts);
  const [p1, p2, p3] = resp as [number, number, number];
  const a = await RespConn.open(p1);
  const b = await RespConn.open(p2);
  try {
    await t.step("strings: SET, GET, options, counters, ranges", async () => {
      ok(await a.call("SET", "s1", "hello"));
      assertEquals(await b.call("GET", "s1"), "hello");
      assertEquals(await a.call("GET", "missing"), null);
      assertEquals(await a.call("SET", "s1", "x", "NX"), null);
      assertEquals(await a.call("SET", "s1", "world", "XX", "GET"), "hello");
      assertEquals(await a.call("SETNX", "s1", "y"), 0);
      assertEquals(await a.call("APPEND", "s1", "!"), 6);
      assertEquals(await b.call("STRLEN", "s1"), 6);
      assertEquals(await a.call("GETRANGE", "s1", "0", "-2"), "world");
      assertEquals(await a.call("SETRANGE", "s1", "1", "OO"), 6);
      assertEquals(await a.call("GET", "s1"), "wOOld!");
      assertEquals(await a.call("INCR", "n"), 1);
      assertEquals(await b.call("INCRBY", "n", "41"), 42);
      assertEquals(await a.call("DECRBY", "n", "2"), 40);
      assertEquals(await a.call("INCRBYFLOAT", "f", "10.5"), "10.5");
      assertEquals(await a.call("INCRBYFLOAT", "f", "0.1"), "10.6");
      assertEquals(
        await a.call("INCRBY", "big", "9223372036854775807"),
        9223372036854775807n,
      );
      assertEquals(
        err(await a.call("INCR", "big")),
        "ERR increment or decrement would overflow",
      );
      assertEquals(
        err(await a.call("INCR", "s1")),
        "ERR value is not an integer or out of range",
      );
      assertEquals(await a.call("GETSET", "n", "0"), "40");
      assertEquals(await a.call("GETDEL", "n"), "0");
      assertEquals(await a.call("EXISTS", "n", "s1", "s1"), 2);
      ok(await a.call("MSET", "m1", "1", "m2", "2"));
      assertEquals(await b.call("MGET", "m1", "nope", "m2"), ["1", null, "2"]);
      assertEquals(await a.call("MSETNX", "m2", "x", "m3", "y"), 0);
      assertEquals(await a.call("MSETNX", "m3", "x", "m4", "y"), 1);
      ok(await a.call("RENAME", "m4", "m5"));
      assertEquals(await a.call("TYPE", "m5"), new Status("string"));
      assertEquals(await a.call("TYPE", "m4"), new Status("none"));
      assertEquals(err(await a.call("RENAME", "m4", "m6")), "ERR no such key");
      assertEquals(await a.call("DEL", "m1", "m2", "nope"), 2);
    });

    await t.step(
      "expiry: EX, PX, EXAT, KEEPTTL, EXPIRE flags, TTL",
      async () => {
        ok(await a.call("SET", "e1", "v", "EX", "100"));
        const ttl = await b.call("TTL", "e1") as number;
        assert(ttl > 95 && ttl <= 100, `TTL ${ttl}`);
        ok(await a.call("SET", "e1", "w", "KEEPTTL"));
        assert((await a.call("PTTL", "e1") as number) > 90_000);
        ok(await a.call("SET", "e2", "v", "EXAT", "4102444800"));
        assertEquals(await a.call("EXPIRETIME", "e2"), 4102444800);
        assertEquals(await a.call("EXPIRE", "e2", "50", "GT"), 0);
        assertEquals(await a.call("EXPIRE", "e2", "50", "LT"), 1);
        assertEquals(await a.call("PERSIST", "e2"), 1);
        assertEquals(await a.call("TTL", "e2"), -1);
        assertEquals(await a.call("TTL", "nope"), -2);
        assertEquals(await a.call("EXPIRE", "e2", "10", "XX"), 0);
        assertEquals(
          err(await a.call("EXPIRE", "e2", "10", "NX", "XX")),
          "ERR NX and XX, GT or LT options at the same time are not compatible",
        );
        assertEquals(
          err(await a.call("EXPIRE", "e2", "10", "FOO")),
          "ERR Unsupported option FOO",
        );
        ok(await a.call("SET", "e3", "v", "PX", "150"));
        await waitFor(
          "e3 to expire",
          async () => await b.call("GET", "e3") === null,
        );
        assertEquals(await a.call("GETEX", "e1", "PERSIST"), "w");
        assertEquals(await a.call("TTL", "e1"), -1);
        assertEquals(
          err(await a.call("SET", "e4", "v", "EX", "0")),
          "ERR invalid expire time in 'set' command",
        );
      },
    );

    await t.step("errors carry Redis's texts", async () => {
      assertEquals(
        err(await a.call("GET")),
        "ERR wrong number of arguments for 'get' command",
      );
      assertEquals(
        err(await a.call("FROB", "x", "y")),
        "ERR unknown command 'FROB', with args beginning with: 'x' 'y' ",
      );
      assertEquals(
        err(await a.call("SET", "k", "v", "NX", "XX")),
        "ERR syntax error",
      );
      assertEquals(
        err(await a.call("INCRBY", "k", "1.5")),
        "ERR value is not an integer or out of range",
      );
      assertEquals(
        err(await a.call("SELECT", "1")),
        "ERR DB index is out of range",
      );
      ok(await a.call("SELECT", "0"));
      assertEquals(
        err(await a.call("CLIENT", "FOO")),
        "ERR unknown subcommand 'FOO'. Try CLIENT HELP.",
      );
      assertEquals(
        err(await a.call("HELLO", "4")),
        "NOPROTO unsupported protocol version",
      );
      assertEquals(
        err(await a.call("AUTH", "secret")),
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
      );
    });

    await t.step("pipelining and inline commands answer in order", async () => {
      const pipeline: Uint8Array[] = [];
      for (let i = 0; i < 200; i++) {
        pipeline.push(command("SET", `p${i}`, String(i)));
        pipeline.push(command("INCR", `p${i}`));
        pipeline.push(command("GET", `p${i}`));
      }
      await a.send(concat(pipeline));
      for (let i = 0; i < 200; i++) {
        ok(await a.read());
        assertEquals(await a.read(), i + 1);
        assertEquals(await a.read(), String(i + 1));
      }
      await a.send('SET inline "two words"\r\nGET inline\r\nPING\r\n\r\n');
      ok(await a.read());
      assertEquals(await a.read(), "two words");
      assertEquals(await a.read(), new Status("PONG"));
    });

    await t.step(
      "values are binary-safe and shared with JSON-RPC",
      async () => {
        const bytes = new Uint8Array([0, 0xff, 0xfe, 13, 10, 0xc3, 0x28, 65]);
        const keyBytes = new Uint8Array([0x6b, 0x80, 0x81]);
        ok(await a.call("SET", keyBytes, bytes));
        b.raw = true;
        assertEquals(await b.call("GET", keyBytes), bytes as unknown as string);
        b.raw = false;
        ok(await a.call("SET", "shared", "héllo"));
        const got = await rpc(nodes[2]!.address, "get", ["shared"]);
        assertEquals(got.body.result, "héllo");
        await rpc(nodes[1]!.address, "set", ["fromjson", { a: [1, 2] }]);
        assertEquals(await a.call("GET", "fromjson"), '{"a":[1,2]}');
        await rpc(nodes[1]!.address, "set", ["num", 7]);
        assertEquals(await a.call("INCR", "num"), 8);
        const escaped = await rpc(nodes[0]!.address, "get", ["k\udc80\udc81"]);
        assertEquals(escaped.body.result, "\u0000\udcff\udcfe\r\n\udcc3(A");
      },
    );

    await t.step(
      "SCAN pages through every key, one node after another",
      async () => {
        for (let i = 0; i < 30; i++) ok(await a.call("SET", `scan:${i}`, "v"));
        const seen = new Set<string>();
        const conns = [a, b, await RespConn.open(p3)];
        let cursor = "0";
        let calls = 0;
        do {
          const conn = conns[calls++ % 3]!;
          const [next, keys] = await conn.call(
            "SCAN",
            cursor,
            "MATCH",
            "scan:*",
            "COUNT",
            "7",
          ) as [string, string[]];
          keys.forEach((k) => seen.add(k));
          cursor = next;
        } while (cursor !== "0" && calls < 100);
        conns[2]!.close();
        assertEquals(seen.size, 30);
        assert(calls > 3, "several pages");
        const keys = await b.call("KEYS", "scan:1*") as string[];
        assertEquals(
          keys.sort(),
          ["scan:1", ...Array.from({ length: 10 }, (_, i) => `scan:1${i}`)]
            .sort(),
        );
        assertEquals(err(await a.call("SCAN", "abc")), "ERR invalid cursor");
        const size = await a.call("DBSIZE") as number;
        const listed = await rpc(nodes[0]!.address, "list_keys");
        assertEquals(size, (listed.body.result as string[]).length);
      },
    );

    await t.step("HELLO 3 switches to RESP3 maps and nulls", async () => {
      const c = await RespConn.open(p2);
      const hello = await c.call("HELLO", "3", "SETNAME", "tester") as Map<
        unknown,
        unknown
      >;
      assertInstanceOf(hello, Map);
      assertEquals(hello.get("proto"), 3);
      assertEquals(hello.get("server"), "redis");
      assertEquals(await c.call("GET", "missing"), null);
      assertEquals(await c.call("CLIENT", "GETNAME"), "tester");
      const info = await c.call("INFO", "replication") as string;
      assert(info.includes("kvdb_replication_factor:3"), info);
      c.close();
    });

    await t.step(
      "a malformed request gets a protocol error and is closed",
      async () => {
        const cases: [string, string][] = [
          ["*abc\r\n", "ERR Protocol error: invalid multibulk length"],
          ["*1\r\n$x\r\n", "ERR Protocol error: invalid bulk length"],
          ["*1\r\n$99999999\r\n", "ERR Protocol error: invalid bulk length"],
          ["*1\r\n+GET\r\n", "ERR Protocol error: expected '$', got '+'"],
          [
            'SET k "unbalanced\r\n',
            "ERR Protocol error: unbalanced quotes in request",
          ],
        ];
        for (const [bytes, expected] of cases) {
          const c = await RespConn.open(p3);
          await c.send(bytes);
          assertEquals(err(await c.read()), expected);
          assert(await c.closedByServer());
          c.close();
        }
        const long = await RespConn.open(p3);
        await long.send("x".repeat(70 * 1024));
        assertEquals(
          err(await long.read()),
          "ERR Protocol error: too big inline request",
        );
        long.close();
        // An HTTP request on the RESP port is dropped without a reply.
        const http = await RespConn.open(p3);
        await http.send("POST / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert(await http.closedByServer());
        http.close();
        // The node stays up.
        const after = await RespConn.open(p3);
        assertEquals(await after.call("PING"), new Status("PONG"));
        after.close();
      },
    );

    await t.step("QUIT answers OK and closes", async () => {
      const c = await RespConn.open(p1);
      ok(await c.call("QUIT"));
      assert(await c.closedByServer());
      c.close();
    });

    await t.step("/metrics and cluster_info count the RESP port", async () => {
      const metrics = await (await fetch(`http://${nodes[2]!.address}/metrics`))
        .text();
      const closes = /kvdb_resp_closes_total\{reason="protocol_error"\} (\d+)/
        .exec(metrics);
      assert(closes !== null && Number(closes[1]) >= 6, metrics);
      assert(/kvdb_resp_commands_total\{command="ping"\} \d+/.test(metrics));
      const info = await rpc(nodes[0]!.address, "cluster_info");
      const r = (info.body.result as { resp: Record<string, unknown> }).resp;
      assertEquals(r.port, p1);
      assert((r.commands_total as number) > 100);
      assert((r.connections_open as number) >= 1);
    });
  } finally {
    a.close();
    b.close();
    await stopAll(nodes);
  }
});

Deno.test("resp: limits: pre-AUTH bounds, AUTH with the client token, idle timeout", async () => {
  const token = "resp-test-token-0123456789abcdef";
  const { nodes, resp } = await startRespCluster(1, [
    "--auth-token",
    token,
    "--resp-idle-timeout",
    "400",
  ], freePorts);
  try {
    const c = await RespConn.open(resp[0]!);
    assertEquals(
      err(await c.call("GET", "k")),
      "NOAUTH Authentication required.",
    );
    assertEquals(
      err(await c.call("AUTH", "wrong-token-wrong-token")),
      "WRONGPASS invalid username-password pair or user is disabled.",
    );
    ok(await c.call("AUTH", token));
    ok(await c.call("FLUSHALL"));
    ok(await c.call("SET", "k", "v"));
    // One node batches a pipeline's SETs; a GET after them still sees them.
    const pipeline: Uint8Array[] = [];
    for (let i = 0; i < 50; i++) {
      pipeline.push(command("SET", `one:${i}`, `a${i}`));
      pipeline.push(command("SET", `one:${i}`, `b${i}`));
    }
    for (let i = 0; i < 50; i++) pipeline.push(command("GET", `one:${i}`));
    await c.send(concat(pipeline));
    for (let i = 0; i < 100; i++) ok(await c.read());
    for (let i = 0; i < 50; i++) assertEquals(await c.read(), `b${i}`);
    c.close();

    const big = await RespConn.open(resp[0]!);
    await big.send(command(...Array.from({ length: 11 }, () => "x")));
    assertEquals(
      err(await big.read()),
      "ERR Protocol error: unauthenticated multibulk length",
    );
    big.close();

    const hello = await RespConn.open(resp[0]!);
    const map = await hello.call("HELLO", "3", "AUTH", "default", token);
    assertInstanceOf(map, Map);
    assertEquals(await hello.call("GET", "k"), "v");
    // Silent past the idle timeout: the node closes the connection.
    assert(await hello.closedByServer());
    hello.close();
  } finally {
    await stopAll(nodes);
  }
});

const openssl = await hasOpenssl();

Deno.test({
  name:
    "resp: with the node's certificate the RESP port speaks TLS, to Deno and to redis-cli --tls",
  ignore: !openssl,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "kvdb-resp-tls-" });
    await selfSigned(dir);
    const cert = await Deno.readTextFile(`${dir}/cert.pem`);
    const [http, port] = freePorts(2) as [number, number];
    const node = new NodeProcess(http, [
      "--tls-cert",
      `${dir}/cert.pem`,
      "--tls-key",
      `${dir}/key.pem`,
      "--resp-port",
      String(port),
    ], { caCert: cert });
    try {
      await node.ready();
      const c = await RespConn.open(port, cert);
      ok(await c.call("SET", "tls", "yes"));
      assertEquals(await c.call("GET", "tls"), "yes");
      c.close();
      // A client speaking plain RESP to it gets no reply, and the node stays up.
      const plain = await RespConn.open(port);
      await plain.send(command("PING"));
      assert(await plain.closedByServer());
      plain.close();
      const cli = await new Deno.Command("redis-cli", {
        args: [
          "--tls",
          "--cacert",
          `${dir}/cert.pem`,
          "-h",
          "127.0.0.1",
          "-p",
          String(port),
          "GET",
          "tls",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output().catch(() => null);
      if (cli !== null) {
        assertEquals(new TextDecoder().decode(cli.stdout), "yes\n");
      }
    } finally {
      await node.kill();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
