/**
 * The wire contract of PROTOCOL.md §1, byte for byte, against a real node
 * process: what the seed's Python clients send and read.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  freePort,
  NodeProcess,
  rpc,
  rpcRaw,
  startCluster,
  stopAll,
} from "./_helpers.ts";

const OK = (result: unknown) =>
  `{"status":"OK.","result":${JSON.stringify(result)}}`;

Deno.test("protocol: one node answers every seed function with the seed's envelope", async (t) => {
  const node = await new NodeProcess(freePort(), []).ready();
  const at = node.address;
  const call = (body: unknown) => rpcRaw(at, JSON.stringify(body));
  try {
    await t.step("ping answers pong", async () => {
      assertEquals(await call({ function: "ping" }), {
        status: 200,
        text: OK("pong"),
      });
      assertEquals(await call({ function: "ping", args: [], kwargs: {} }), {
        status: 200,
        text: OK("pong"),
      });
    });

    await t.step("set stores any JSON value and answers null", async () => {
      assertEquals(await call({ function: "set", args: ["s", "hello"] }), {
        status: 200,
        text: OK(null),
      });
      assertEquals(
        (await call({
          function: "set",
          args: ["x", { a: [1, 2] }],
          kwargs: {},
        })).text,
        OK(null),
      );
      assertEquals(
        (await call({ function: "set", args: ["n", 1.5] })).text,
        OK(null),
      );
    });

    await t.step(
      "get returns the value, else default_value, else null",
      async () => {
        assertEquals(
          (await call({ function: "get", args: ["x"] })).text,
          OK({ a: [1, 2] }),
        );
        assertEquals(
          (await call({ function: "get", args: ["s"] })).text,
          OK("hello"),
        );
        assertEquals(
          (await call({ function: "get", args: ["missing"] })).text,
          OK(null),
        );
        assertEquals(
          (await call({
            function: "get",
            args: ["missing"],
            kwargs: { default_value: 7 },
          }))
            .text,
          OK(7),
        );
        assertEquals(
          (await call({ function: "get", args: ["missing", "d"] })).text,
          OK("d"),
          "default_value may come by position, as Python binds it",
        );
        assertEquals(
          (await call({ function: "get", kwargs: { key: "s" } })).text,
          OK("hello"),
          "the key may come by name",
        );
      },
    );

    await t.step("has answers true or false", async () => {
      assertEquals(
        (await call({ function: "has", args: ["s"] })).text,
        OK(true),
      );
      assertEquals(
        (await call({ function: "has", args: ["nope"] })).text,
        OK(false),
      );
    });

    await t.step(
      "pop returns the removed value, then the default",
      async () => {
        assertEquals(
          (await call({ function: "pop", args: ["n"] })).text,
          OK(1.5),
        );
        assertEquals(
          (await call({ function: "has", args: ["n"] })).text,
          OK(false),
        );
        assertEquals(
          (await call({ function: "pop", args: ["n"] })).text,
          OK(null),
        );
        assertEquals(
          (await call({
            function: "pop",
            args: ["n"],
            kwargs: { default_value: "gone" },
          }))
            .text,
          OK("gone"),
        );
      },
    );

    await t.step(
      "list_keys is sorted, each key once, with and without fan-out",
      async () => {
        assertEquals(
          (await call({ function: "list_keys" })).text,
          OK(["s", "x"]),
        );
        assertEquals(
          (await call({
            function: "list_keys",
            kwargs: { fan_out_mode: false },
          })).text,
          OK(["s", "x"]),
        );
      },
    );

    await t.step("list_members and locate name this node", async () => {
      assertEquals((await call({ function: "list_members" })).text, OK([at]));
      assertEquals(
        (await call({ function: "locate", args: ["s"] })).text,
        OK(at),
      );
      assertEquals(
        (await call({ function: "replicas", args: ["s"] })).text,
        OK([at]),
      );
    });

    await t.step("GET /health answers 200", async () => {
      const response = await fetch(`http://${at}/health`);
      assertEquals(response.status, 200);
      assertEquals(await response.text(), OK("serving"));
    });

    await t.step("GET /metrics answers Prometheus text", async () => {
      const response = await fetch(`http://${at}/metrics`);
      assertEquals(response.status, 200);
      const text = await response.text();
      assertMatch(text, /kvdb_requests_total\{function="get",code="200"\} \d+/);
      assertMatch(text, /kvdb_local_records \d+/);
    });

    const bad: [string, string | Uint8Array<ArrayBuffer>, number, RegExp][] = [
      ["a body that is not JSON", "{not json", 400, /not valid JSON/],
      ["an empty body", "", 400, /not valid JSON/],
      ["a JSON list", "[1,2]", 400, /must be a JSON object/],
      ["a JSON string", '"ping"', 400, /must be a JSON object/],
      ["a JSON number", "42", 400, /must be a JSON object/],
      ["JSON null", "null", 400, /must be a JSON object/],
      ["no function", '{"args":[]}', 400, /'function'/],
      ["a function that is not a string", '{"function":1}', 400, /'function'/],
      [
        "args that is not a list",
        '{"function":"get","args":{"0":"a"}}',
        400,
        /'args' must be a list/,
      ],
      [
        "args that is a string",
        '{"function":"get","args":"a"}',
        400,
        /'args' must be a list/,
      ],
      [
        "args null",
        '{"function":"ping","args":null}',
        400,
        /'args' must be a list/,
      ],
      [
        "kwargs that is a list",
        '{"function":"get","args":["a"],"kwargs":[]}',
        400,
        /'kwargs' must be an object/,
      ],
      [
        "kwargs that is a string",
        '{"function":"get","args":["a"],"kwargs":"x"}',
        400,
        /'kwargs' must be an object/,
      ],
      [
        "an unknown function",
        '{"function":"drop_all"}',
        404,
        /Unknown function: 'drop_all'/,
      ],
      [
        "a function named like a prototype member",
        '{"function":"__proto__"}',
        404,
        /Unknown function/,
      ],
      [
        "a function named constructor",
        '{"function":"constructor"}',
        404,
        /Unknown function/,
      ],
      [
        "an unknown kwarg",
        '{"function":"get","args":["a"],"kwargs":{"nope":1}}',
        400,
        /get: unknown argument 'nope'/,
      ],
      [
        "a missing key",
        '{"function":"get"}',
        400,
        /get: missing argument 'key'/,
      ],
      [
        "too many args",
        '{"function":"has","args":["a","b"]}',
        400,
        /has: takes at most 1 arguments/,
      ],
      [
        "a key given twice",
        '{"function":"has","args":["a"],"kwargs":{"key":"b"}}',
        400,
        /got two values for 'key'/,
      ],
      [
        "a number key",
        '{"function":"get","args":[1]}',
        400,
        /get: 'key' must be a string: got number/,
      ],
      [
        "a null key",
        '{"function":"set","args":[null,1]}',
        400,
        /set: 'key' must be a string: got null/,
      ],
      [
        "an object key",
        '{"function":"has","args":[{}]}',
        400,
        /'key' must be a string: got object/,
      ],
      [
        "a key over the size limit",
        JSON.stringify({ function: "set", args: ["k".repeat(5000), 1] }),
        400,
        /'key' must be at most 4096 bytes/,
      ],
      [
        "set without a value",
        '{"function":"set","args":["a"]}',
        400,
        /set: missing argument 'value'/,
      ],
      [
        "a bad consistency",
        '{"function":"get","args":["a"],"kwargs":{"consistency":"most"}}',
        400,
        /'consistency' must be "one", "quorum" or "all"/,
      ],
      [
        "a non-boolean local",
        '{"function":"get","args":["a"],"kwargs":{"local":"yes"}}',
        400,
        /'local' must be true or false/,
      ],
      [
        "a negative ttl",
        '{"function":"set","args":["a",1],"kwargs":{"ttl":-1}}',
        400,
        /'ttl' must be a positive number/,
      ],
      [
        "a non-boolean fan_out_mode",
        '{"function":"list_keys","kwargs":{"fan_out_mode":"no"}}',
        400,
        /'fan_out_mode' must be true or false/,
      ],
      [
        "a list_keys limit of 0",
        '{"function":"list_keys","kwargs":{"limit":0}}',
        400,
        /'limit' must be an integer/,
      ],
      [
        "mget with keys not a list",
        '{"function":"mget","args":["a"]}',
        400,
        /'keys' must be a list/,
      ],
      [
        "mset with a list",
        '{"function":"mset","args":[[1]]}',
        400,
        /'entries' must be an object/,
      ],
      [
        "JSON nested 100 deep",
        `{"function":"set","args":["a",${"[".repeat(100)}${"]".repeat(100)}]}`,
        400,
        /nests deeper than 64/,
      ],
      [
        "a body over 8 MiB",
        `{"function":"set","args":["a","${"x".repeat(8 * 1024 * 1024)}"]}`,
        413,
        /too large/,
      ],
      [
        "a value over 4 MiB in UTF-8 bytes but not in characters",
        JSON.stringify({ function: "set", args: ["a", "€".repeat(1_500_000)] }),
        400,
        /'value' must be at most 4194304 bytes/,
      ],
      [
        "invalid UTF-8",
        new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
        400,
        /not valid JSON/,
      ],
    ];

    for (const [what, body, status, description] of bad) {
      await t.step(`${what} answers ${status} with a JSON error`, async () => {
        const response = await fetch(`http://${at}/`, { method: "POST", body });
        assertEquals(response.status, status);
        assertEquals(response.headers.get("content-type"), "application/json");
        const parsed = JSON.parse(await response.text());
        assertEquals(Object.keys(parsed), ["status", "description"]);
        assertEquals(parsed.status, "Error");
        assertMatch(parsed.description, description);
        assert(!/\bat .*\.ts:\d+/.test(parsed.description), "no stack trace");
      });
    }

    await t.step(
      "a streamed (chunked) body over the limit is refused as it arrives",
      async () => {
        const chunk = new Uint8Array(1024 * 1024).fill(0x20);
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent++ < 12) controller.enqueue(chunk);
            else controller.close();
          },
        });
        const response = await fetch(`http://${at}/`, { method: "POST", body });
        assertEquals(response.status, 413);
        await response.body?.cancel();
      },
    );

    await t.step("GET / is 405, an unknown path 404, both JSON", async () => {
      const get = await fetch(`http://${at}/`);
      assertEquals(get.status, 405);
      assertEquals(JSON.parse(await get.text()).status, "Error");
      const other = await fetch(`http://${at}/nope`, {
        method: "POST",
        body: "{}",
      });
      assertEquals(other.status, 404);
      assertEquals(JSON.parse(await other.text()).status, "Error");
    });

    await t.step(
      "after every bad request the node is up and the data unchanged",
      async () => {
        assertEquals(
          (await call({ function: "list_keys" })).text,
          OK(["s", "x"]),
        );
        assertEquals(
          (await call({ function: "get", args: ["x"] })).text,
          OK({ a: [1, 2] }),
        );
        assertEquals(
          (await call({ function: "get", args: ["a"] })).text,
          OK(null),
        );
      },
    );

    await t.step(
      "keys named like Object.prototype members are plain keys",
      async () => {
        for (const key of ["__proto__", "constructor", "toString"]) {
          assertEquals(
            (await call({ function: "get", args: [key] })).text,
            OK(null),
          );
          assertEquals(
            (await call({ function: "has", args: [key] })).text,
            OK(false),
          );
          assertEquals(
            (await call({ function: "set", args: [key, key] })).text,
            OK(null),
          );
          assertEquals(
            (await call({ function: "get", args: [key] })).text,
            OK(key),
          );
        }
        assertEquals(
          (await call({
            function: "get",
            args: ["a"],
            kwargs: JSON.parse('{"__proto__":{"x":1}}'),
          }))
            .status,
          400,
          "a __proto__ kwarg is an unknown argument, not a prototype",
        );
      },
    );
  } finally {
    await node.kill();
  }
});

Deno.test("protocol: cluster_info, replicas and locate agree across a 3-node cluster", async () => {
  const nodes = await startCluster(3, ["-R", "3"]);
  try {
    const infos = await Promise.all(
      nodes.map((n) => rpc(n.address, "cluster_info")),
    );
    for (const [i, { status, body }] of infos.entries()) {
      assertEquals(status, 200);
      const info = body.result as Record<string, unknown>;
      assertEquals(info.self, nodes[i]!.address);
      assertEquals(info.replication_factor, 3);
      assertEquals(info.read_quorum, 2);
      assertEquals(info.write_quorum, 2);
      assertEquals(
        (info.members as { address: string; state: string }[])
          .map((m) => m.state),
        ["alive", "alive", "alive"],
      );
    }
    for (const key of ["a", "b", "c", "user:42"]) {
      const answers = await Promise.all(
        nodes.map((n) => rpc(n.address, "replicas", [key])),
      );
      const lists = answers.map((a) => a.body.result as string[]);
      assertEquals(lists[0]!.length, 3);
      assertEquals(new Set(lists[0]).size, 3);
      assertEquals(lists[1], lists[0]);
      assertEquals(lists[2], lists[0]);
      const located = await rpc(nodes[1]!.address, "locate", [key]);
      assertEquals(located.body.result, lists[0]![0]);
    }
  } finally {
    await stopAll(nodes);
  }
});
