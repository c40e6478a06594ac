import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { main } from "../../main.ts";
import { ConfigError } from "../config.ts";
import {
  type BenchOptions,
  parseDuration,
  runBench,
  svgPathFor,
} from "./command.ts";
import type { BenchReport } from "./report.ts";

/**
 * A Map server speaking KVDB's JSON-RPC, without mset; with a `token`, it
 * answers 401 to any request without it, as a node run with
 * --auth-token does.
 */
function mapServer(token?: string) {
  const store = new Map<string, unknown>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      if (
        token !== undefined &&
        request.headers.get("authorization") !== `Bearer ${token}`
      ) {
        await request.body?.cancel();
        return Response.json({ status: "Error", description: "token" }, {
          status: 401,
        });
      }
      const { function: fn, args } = await request.json();
      switch (fn) {
        case "get":
          return Response.json({
            status: "OK.",
            result: store.get(args[0]) ?? null,
          });
        case "set":
          store.set(args[0], args[1]);
          return Response.json({ status: "OK.", result: null });
        default:
          return Response.json({ status: "Error", description: "unknown" }, {
            status: 404,
          });
      }
    },
  );
  return { store, server, address: `127.0.0.1:${server.addr.port}` };
}

function options(nodes: string[], out: string): BenchOptions {
  return {
    nodes,
    connections: 3,
    durationMs: 10_000,
    requests: 300,
    mix: { get: 2, set: 1 },
    keys: 50,
    keySize: 16,
    valueSize: 20,
    batch: 10,
    seed: 7,
    preload: true,
    client: "socket",
    out,
  };
}

Deno.test("runBench() preloads, runs, prints a summary and writes JSON and SVG", async () => {
  const { store, server, address } = mapServer();
  const dir = await Deno.makeTempDir();
  const printed: string[] = [];
  const progress: string[] = [];
  try {
    const { report, jsonPath, svgPath } = await runBench(
      options([address], `${dir}/nested/run.json`),
      {
        print: (t) => printed.push(t),
        progress: { isTerminal: false, write: (t) => progress.push(t) },
        command: "kvdb bench --test",
      },
    );
    assertEquals(jsonPath, `${dir}/nested/run.json`);
    assertEquals(svgPath, `${dir}/nested/run.svg`);
    const saved = JSON.parse(await Deno.readTextFile(jsonPath)) as BenchReport;
    assertEquals(saved, report);
    assertEquals(saved.schema, "kvdb-bench/1");
    assertEquals(saved.command, "kvdb bench --test");
    assertEquals(saved.preload, { ...saved.preload!, keys: 50, via: "set" });
    assertEquals(saved.total.requests, 300);
    assertEquals(saved.total.errors, 0);
    assertEquals(saved.config.requests, 300);
    assertEquals(saved.config.durationS, null);
    assertEquals(store.size, 50);
    assertStringIncludes(await Deno.readTextFile(svgPath), "<svg");
    const text = printed.join("");
    assertStringIncludes(text, "preloaded 50 keys with set");
    assertStringIncludes(text, `results: ${jsonPath}`);
    assert(/^get\s+\d+/m.test(text), text);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runBench() sends the token, with either client, and preloads with it", async () => {
  const { store, server, address } = mapServer("sesame");
  const dir = await Deno.makeTempDir();
  const io = {
    print: () => {},
    progress: { isTerminal: false, write: () => {} },
    command: "kvdb bench --token sesame",
  };
  try {
    for (const client of ["socket", "fetch"] as const) {
      const { report } = await runBench({
        ...options([address], `${dir}/${client}.json`),
        client,
        token: "sesame",
      }, io);
      assertEquals(report.total.errors, 0, client);
      assertEquals(report.total.requests, 300, client);
    }
    assertEquals(store.size, 50);
    await assertRejects(
      () => runBench(options([address], `${dir}/none.json`), io),
      Error,
      "preload failed",
    );
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runBench() writes its results, then fails, when no request succeeded", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const dir = await Deno.makeTempDir();
  try {
    await assertRejects(
      () =>
        runBench({
          ...options([`127.0.0.1:${port}`], `${dir}/x.json`),
          preload: false,
          requests: 5,
        }, {
          print: () => {},
          progress: { isTerminal: false, write: () => {} },
          command: "kvdb bench",
        }),
      Error,
      "no request succeeded: connection (5)",
    );
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/x.json`));
    assertEquals(saved.errorKinds, { connection: 5 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runBench() refuses options that do not fit together before sending anything", async () => {
  await assertRejects(
    () =>
      runBench({
        ...options(["127.0.0.1:1"], "/nonexistent/x.json"),
        keySize: 5,
      }, {
        print: () => {},
        progress: { isTerminal: false, write: () => {} },
        command: "kvdb bench",
      }),
    ConfigError,
    "'keySize' must be at least 6",
  );
});

Deno.test("parseDuration() reads wrk-style durations", () => {
  assertEquals(parseDuration("10s"), 10_000);
  assertEquals(parseDuration("10"), 10_000);
  assertEquals(parseDuration("250ms"), 250);
  assertEquals(parseDuration("1.5s"), 1500);
  assertEquals(parseDuration("2m"), 120_000);
  assertEquals(parseDuration("1h"), 3_600_000);
  assertThrows(() => parseDuration("0s"), ConfigError);
  assertThrows(() => parseDuration("25h"), ConfigError);
  assertThrows(() => parseDuration("10 minutes"), ConfigError);
});

Deno.test("svgPathFor() puts the chart beside the results", () => {
  assertEquals(svgPathFor("a/b.json"), "a/b.svg");
  assertEquals(svgPathFor("a/b"), "a/b.svg");
});

Deno.test("kvdb bench exits 2 on a bad flag value", async () => {
  for (
    const args of [
      ["--connections", "0"],
      ["--duration", "soon"],
      ["--mix", "get=1,nope=2"],
      ["--client", "curl"],
      ["--keys", "1000", "--key-size", "5"],
      ["--nodes", "host:99999"],
    ]
  ) {
    assertEquals(await main(["bench", ...args]), 2, args.join(" "));
  }
});
