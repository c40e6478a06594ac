import { assert, assertEquals, assertRejects } from "@std/assert";
import { fetchChannel, preload, startLoad } from "./generator.ts";
import { type Mix, Workload } from "./workload.ts";

interface Call {
  url: string;
  body: { function: string; args: unknown[] };
}

/**
 * A fetch that answers like a KVDB node backed by `store`, without a socket.
 * `functions` limits what it knows (the minimal server has only get/set).
 */
function fakeNode(
  store: Map<string, unknown>,
  options: { functions?: string[]; answer?: (call: Call) => Response | null } =
    {},
) {
  const calls: Call[] = [];
  const known = new Set(options.functions ?? ["get", "set", "mget", "mset"]);
  const fetch = (input: string | URL | Request, init?: RequestInit) => {
    const call: Call = {
      url: String(input),
      body: JSON.parse(String(init?.body)),
    };
    calls.push(call);
    const special = options.answer?.(call);
    if (special) return Promise.resolve(special);
    const { function: fn, args } = call.body;
    if (!known.has(fn)) {
      return Promise.resolve(
        Response.json({ status: "Error", description: "unknown" }, {
          status: 404,
        }),
      );
    }
    let result: unknown = null;
    if (fn === "get") result = store.get(args[0] as string) ?? null;
    if (fn === "set") store.set(args[0] as string, args[1]);
    if (fn === "mget") {
      result = (args[0] as string[]).map((k) => store.get(k) ?? null);
    }
    if (fn === "mset") {
      for (const [k, v] of Object.entries(args[0] as object)) store.set(k, v);
    }
    return Promise.resolve(Response.json({ status: "OK.", result }));
  };
  return { fetch: fetch as typeof globalThis.fetch, calls };
}

const workload = (mix: Mix = { get: 1 }, keys = 100) =>
  new Workload({ mix, keys, keySize: 16, valueSize: 10, batch: 5 });

Deno.test("startLoad() sends exactly the requested number of requests", async () => {
  const node = fakeNode(new Map());
  const run = startLoad({
    targets: ["http://a/", "http://b/"],
    connections: 4,
    requests: 101,
    workload: workload({ get: 3, set: 1, mget: 1 }),
    seed: 1,
  }, { open: fetchChannel(node.fetch) });
  const rec = await run.finished;
  assertEquals(node.calls.length, 101);
  let requests = 0;
  let keys = 0;
  for (const op of rec.ops.values()) {
    requests += op.requests;
    keys += op.keys;
    assertEquals(op.errors, 0);
  }
  assertEquals(requests, 101);
  assertEquals(keys, 101 + 4 * rec.ops.get("mget")!.requests);
  assertEquals(rec.allUs.count, 101);
  // Workers 0 and 2 talk to a, 1 and 3 to b.
  const a = node.calls.filter((c) => c.url === "http://a/").length;
  assert(a > 30 && a < 70, `${a} of 101 to a`);
});

Deno.test("startLoad() draws the same keys from the same seed", async () => {
  const bodies = async (seed: number) => {
    const node = fakeNode(new Map());
    await startLoad({
      targets: ["http://a/"],
      connections: 3,
      requests: 60,
      workload: workload({ get: 1, set: 1 }, 1000),
      seed,
    }, { open: fetchChannel(node.fetch) }).finished;
    return node.calls.map((c) => JSON.stringify(c.body)).sort();
  };
  assertEquals(await bodies(9), await bodies(9));
  assert((await bodies(9)).join() !== (await bodies(10)).join());
});

Deno.test("startLoad() counts failures by kind and leaves them out of latencies", async () => {
  let n = 0;
  const node = fakeNode(new Map(), {
    answer: () => {
      n++;
      if (n % 4 === 1) {
        return Response.json({ status: "Error" }, { status: 503 });
      }
      if (n % 4 === 2) return new Response('{"status":"Error"}');
      return null;
    },
  });
  const failing: typeof fetch = (input, init) =>
    n % 4 === 3 ? (n++, Promise.reject(new TypeError("refused"))) : node.fetch(
      input,
      init,
    );
  const rec = await startLoad({
    targets: ["http://a/"],
    connections: 1,
    requests: 12,
    workload: workload(),
    seed: 1,
  }, { open: fetchChannel(failing) }).finished;
  const get = rec.ops.get("get")!;
  assertEquals(get.errors + get.requests, 12);
  assertEquals(rec.errorKinds, {
    "http 503": 3,
    "bad answer": 3,
    "connection": 3,
  });
  assertEquals(rec.allUs.count, get.requests);
});

Deno.test("startLoad() stops sending when stopped and returns what it saw", async () => {
  const later: { run?: ReturnType<typeof startLoad> } = {};
  const node = fakeNode(new Map(), {
    answer: () => {
      if (node.calls.length === 10) later.run!.stop();
      return null;
    },
  });
  const run = later.run = startLoad({
    targets: ["http://a/"],
    connections: 2,
    durationMs: 3_600_000,
    workload: workload(),
    seed: 1,
  }, { open: fetchChannel(node.fetch) });
  const rec = await run.finished;
  // The other worker may have had one more in flight.
  const count = rec.ops.get("get")!.requests;
  assert(count >= 10 && count <= 11, `${count}`);
  assertEquals(run.progress().requests, count);
});

Deno.test("startLoad() cuts requests still in flight after the grace period", async () => {
  const hanging: typeof fetch = (_input, init) =>
    new Promise((_resolve, reject) => {
      init!.signal!.addEventListener(
        "abort",
        () => reject(init!.signal!.reason),
      );
    });
  const run = startLoad({
    targets: ["http://a/"],
    connections: 3,
    durationMs: 3_600_000,
    workload: workload(),
    seed: 1,
    graceMs: 0,
  }, { open: fetchChannel(hanging) });
  run.stop();
  const rec = await run.finished;
  assertEquals(rec.errorKinds, { "cut at end": 3 });
});

Deno.test("preload() writes every key with mset when the server has it", async () => {
  const store = new Map<string, unknown>();
  const node = fakeNode(store);
  const w = workload({ get: 1 }, 2345);
  const result = await preload(["http://a/", "http://b/"], w, {
    connections: 4,
    batch: 1000,
    fetch: node.fetch,
  });
  assertEquals(result, { keys: 2345, via: "mset" });
  assertEquals(store.size, 2345);
  assertEquals(store.get(w.key(2344)), "0123456789");
  assertEquals(node.calls.length, 3);
});

Deno.test("preload() falls back to set on a server without mset", async () => {
  const store = new Map<string, unknown>();
  const node = fakeNode(store, { functions: ["get", "set"] });
  const result = await preload(["http://a/"], workload({ get: 1 }, 250), {
    connections: 8,
    fetch: node.fetch,
  });
  assertEquals(result.via, "set");
  assertEquals(store.size, 250);
  assertEquals(node.calls.length, 251);
});

Deno.test("preload() names the request that failed", async () => {
  const node = fakeNode(new Map(), {
    answer: (call) =>
      call.body.function === "set"
        ? Response.json({ status: "Error", description: "full" }, {
          status: 507,
        })
        : null,
    functions: ["get"],
  });
  await assertRejects(
    () =>
      preload(["http://a/"], workload(), { connections: 1, fetch: node.fetch }),
    Error,
    "preload failed: set of key:000000000000 on http://a/",
  );
});

Deno.test("startLoad() drives a real server over its own HTTP/1.1 connections", async () => {
  const store = new Map<string, unknown>();
  const peers = new Set<number>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request, info) => {
      peers.add(info.remoteAddr.port);
      const { function: fn, args } = await request.json();
      if (fn === "set") store.set(args[0], args[1]);
      return Response.json({ status: "OK.", result: store.get(args[0]) });
    },
  );
  const rec = await startLoad({
    targets: [`http://127.0.0.1:${server.addr.port}/`],
    connections: 4,
    requests: 200,
    workload: workload({ get: 1, set: 1 }),
    seed: 1,
  }).finished;
  await server.shutdown();
  assertEquals(
    rec.ops.get("get")!.requests + rec.ops.get("set")!.requests,
    200,
  );
  assertEquals(Object.keys(rec.errorKinds), []);
  // Keep-alive: one connection per worker for the whole run.
  assertEquals(peers.size, 4);
  assert(store.size > 0);
});

Deno.test("startLoad() cuts socket requests a silent server never answers", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })().catch(() => {});
  const run = startLoad({
    targets: [`http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`],
    connections: 2,
    durationMs: 3_600_000,
    workload: workload(),
    seed: 1,
    graceMs: 0,
  });
  run.stop();
  const rec = await run.finished;
  assertEquals(rec.errorKinds, { "cut at end": 2 });
  listener.close();
  for (const conn of held) conn.close();
  await accepting;
});
