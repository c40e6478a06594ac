import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  type ClusterInfo,
  KVAuthError,
  KVClient,
  KVConnectionError,
  KVError,
  KVProtocolError,
  KVRequestError,
  KVUnavailableError,
} from "./client.ts";
import { type ArgType, FUNCTION_TABLE } from "./src/api/mod.ts";
import { hasOpenssl, selfSigned } from "./tests/_helpers.ts";

/** One request as the fake server saw it. */
interface Seen {
  url: string;
  method: string;
  headers: Headers;
  fn: unknown;
  args: unknown;
  kwargs: unknown;
  body: Record<string, unknown>;
}

type Handler = (
  seen: Seen,
  signal: AbortSignal,
) => Response | Promise<Response>;

/** A `fetch` that records each request and answers through `handler`. */
function fakeFetch(handler: Handler): { fetch: typeof fetch; seen: Seen[] } {
  const seen: Seen[] = [];
  const fetchFn = async (
    input: RequestInfo | URL,
    init?: RequestInit,
  ): Promise<Response> => {
    const request = new Request(input, init);
    const body = await request.json();
    const entry: Seen = {
      url: request.url,
      method: request.method,
      headers: request.headers,
      fn: body.function,
      args: body.args,
      kwargs: body.kwargs,
      body,
    };
    seen.push(entry);
    return await handler(entry, init?.signal ?? new AbortController().signal);
  };
  return { fetch: fetchFn as typeof fetch, seen };
}

function ok(result: unknown, status = 200): Response {
  return new Response(JSON.stringify({ status: "OK.", result }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function fail(status: number, description: string): Response {
  return new Response(JSON.stringify({ status: "Error", description }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function refused(): never {
  throw new TypeError("error sending request: Connection refused (os 111)");
}

/** Never answers; rejects as `fetch` does when the deadline passes. */
function hang(signal: AbortSignal): Promise<Response> {
  return new Promise((_, reject) => {
    signal.addEventListener("abort", () => reject(signal.reason), {
      once: true,
    });
  });
}

/** A client whose every call answers `result`, and the requests it sent. */
function clientAnswering(result: unknown) {
  const fake = fakeFetch(() => ok(result));
  return { client: new KVClient({ fetch: fake.fetch }), seen: fake.seen };
}

const INFO: ClusterInfo = {
  self: "127.0.0.1:5878",
  version: "0.1.0",
  replication_factor: 3,
  read_quorum: 2,
  write_quorum: 2,
  vnodes: 64,
  members: [
    { address: "127.0.0.1:5878", state: "alive" },
    { address: "127.0.0.1:5879", state: "suspect" },
  ],
};

// ---------------------------------------------------------------------------
// Request shape

Deno.test("KVClient posts the JSON-RPC envelope to the node's root", async () => {
  const { client, seen } = clientAnswering("pong");
  assertEquals(await client.ping(), "pong");
  assertEquals(seen.length, 1);
  const request = seen[0]!;
  assertEquals(request.url, "http://127.0.0.1:5878/");
  assertEquals(request.method, "POST");
  assertEquals(request.headers.get("content-type"), "application/json");
  assertEquals(request.headers.get("authorization"), null);
  assertEquals(request.body, { function: "ping", args: [], kwargs: {} });
});

Deno.test("KVClient methods send their function, args and only given kwargs", async () => {
  const cases: [
    (client: KVClient) => Promise<unknown>,
    unknown,
    [string, unknown[], Record<string, unknown>],
  ][] = [
    [(c) => c.get("a"), 1, ["get", ["a"], {}]],
    [
      (c) => c.get("a", { defaultValue: 0, consistency: "all", local: true }),
      1,
      ["get", ["a"], { default_value: 0, consistency: "all", local: true }],
    ],
    [(c) => c.get("a", { defaultValue: null }), null, [
      "get",
      ["a"],
      { default_value: null },
    ]],
    [(c) => c.set("a", { x: [1, 2] }), null, ["set", ["a", { x: [1, 2] }], {}]],
    [
      (c) => c.set("a", "v", { consistency: "one", ttl: 30 }),
      null,
      ["set", ["a", "v"], { consistency: "one", ttl: 30 }],
    ],
    [(c) => c.has("a"), true, ["has", ["a"], {}]],
    [
      (c) => c.has("a", { consistency: "quorum", local: false }),
      true,
      ["has", ["a"], { consistency: "quorum", local: false }],
    ],
    [(c) => c.pop("a"), 1, ["pop", ["a"], {}]],
    [
      (c) => c.pop("a", { defaultValue: "none", consistency: "all" }),
      1,
      ["pop", ["a"], { default_value: "none", consistency: "all" }],
    ],
    [(c) => c.listKeys(), [], ["list_keys", [], {}]],
    [(c) => c.listKeys({ fanOut: false }), [], [
      "list_keys",
      [],
      { fan_out_mode: false },
    ]],
    [
      (c) => c.listKeysPage({ prefix: "user:", limit: 2, cursor: "user:b" }),
      { keys: [], cursor: null },
      ["list_keys", [], { prefix: "user:", limit: 2, cursor: "user:b" }],
    ],
    [
      (c) => c.listKeysPage({ limit: 10 }),
      { keys: [], cursor: null },
      ["list_keys", [], { limit: 10 }],
    ],
    [
      (c) => c.listKeysPage({}),
      { keys: [], cursor: null },
      ["list_keys", [], { cursor: null }],
    ],
    [(c) => c.listMembers(), [], ["list_members", [], {}]],
    [(c) => c.locate("a"), "h:1", ["locate", ["a"], {}]],
    [(c) => c.replicas("a"), ["h:1"], ["replicas", ["a"], {}]],
    [(c) => c.clusterInfo(), INFO, ["cluster_info", [], {}]],
    [(c) => c.mget(["a", "b"]), [1, null], ["mget", [["a", "b"]], {}]],
    [(c) => c.mset({ a: 1, b: "x" }), null, ["mset", [{ a: 1, b: "x" }], {}]],
    [(c) => c.call("leave"), null, ["leave", [], {}]],
    [
      (c) => c.call("get", ["a"], { default_value: 3 }),
      3,
      ["get", ["a"], { default_value: 3 }],
    ],
  ];
  for (const [invoke, result, [fn, args, kwargs]] of cases) {
    const { client, seen } = clientAnswering(result);
    await invoke(client);
    assertEquals(seen.length, 1);
    assertEquals(seen[0]!.body, { function: fn, args, kwargs });
  }
});

Deno.test("KVClient sends the token as a bearer Authorization header", async () => {
  const fake = fakeFetch(() => ok("pong"));
  const client = new KVClient({ fetch: fake.fetch, token: "s3cret" });
  await client.ping();
  assertEquals(fake.seen[0]!.headers.get("authorization"), "Bearer s3cret");
});

// ---------------------------------------------------------------------------
// Results

Deno.test("KVClient with caCert sends through its own HTTP client, released by close()", async () => {
  const clients: unknown[] = [];
  const fetchFn = (
    _input: RequestInfo | URL,
    init?: RequestInit & { client?: Deno.HttpClient },
  ): Promise<Response> => {
    clients.push(init?.client);
    return Promise.resolve(ok("pong"));
  };
  // Any well-formed PEM certificate will do: the client is never used.
  const caCert = await makeCertificate();
  if (caCert === undefined) return; // no openssl: covered by security_test
  const client = new KVClient({ fetch: fetchFn, caCert });
  try {
    await client.ping();
    assertEquals(clients.length, 1);
    assert(clients[0] !== undefined, "an HttpClient was passed to fetch");
  } finally {
    client.close();
  }
});

/** A throwaway self-signed certificate (PEM), or undefined without openssl. */
async function makeCertificate(): Promise<string | undefined> {
  if (!await hasOpenssl()) return undefined;
  const dir = await Deno.makeTempDir();
  try {
    await selfSigned(dir);
    return await Deno.readTextFile(`${dir}/cert.pem`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("KVClient decodes each function's result", async () => {
  assertEquals(await clientAnswering({ a: [1] }).client.get("k"), { a: [1] });
  assertEquals(await clientAnswering(null).client.get("k"), null);
  assertEquals(await clientAnswering(false).client.has("k"), false);
  assertEquals(await clientAnswering("v").client.pop("k"), "v");
  assertEquals(await clientAnswering(null).client.set("k", 1), undefined);
  assertEquals(await clientAnswering(["a", "b"]).client.listKeys(), [
    "a",
    "b",
  ]);
  assertEquals(
    await clientAnswering({ keys: ["a"], cursor: "a" }).client.listKeysPage({
      limit: 1,
    }),
    { keys: ["a"], cursor: "a" },
  );
  assertEquals(
    await clientAnswering(["h:1", "h:2"]).client.listMembers(),
    ["h:1", "h:2"],
  );
  assertEquals(await clientAnswering("h:2").client.locate("k"), "h:2");
  assertEquals(await clientAnswering(["h:2", "h:1"]).client.replicas("k"), [
    "h:2",
    "h:1",
  ]);
  assertEquals(await clientAnswering(INFO).client.clusterInfo(), INFO);
  assertEquals(await clientAnswering([1, null]).client.mget(["a", "b"]), [
    1,
    null,
  ]);
});

Deno.test("KVClient.listKeysPage() takes a server's unpaged list as the last page", async () => {
  const { client } = clientAnswering(["a", "b"]);
  assertEquals(await client.listKeysPage({ prefix: "" }), {
    keys: ["a", "b"],
    cursor: null,
  });
});

Deno.test("KVClient throws KVProtocolError for a result of the wrong shape", async () => {
  const cases: [unknown, (client: KVClient) => Promise<unknown>][] = [
    [1, (c) => c.ping()],
    ["yes", (c) => c.has("a")],
    [["a", 1], (c) => c.listKeys()],
    [{ keys: ["a"] }, (c) => c.listKeysPage({ limit: 1 })],
    ["h:1", (c) => c.listMembers()],
    [null, (c) => c.locate("a")],
    [[1], (c) => c.replicas("a")],
    [{ self: "h:1" }, (c) => c.clusterInfo()],
    [[1], (c) => c.mget(["a", "b"])],
  ];
  for (const [result, invoke] of cases) {
    const error = await assertRejects(
      () => invoke(clientAnswering(result).client),
      KVProtocolError,
    );
    assertEquals(error.node, "127.0.0.1:5878");
    assertStringIncludes(error.message, "Unexpected result");
  }
});

// ---------------------------------------------------------------------------
// Errors

Deno.test("KVClient throws KVRequestError with the server's status and description", async () => {
  for (const status of [400, 404, 413, 500]) {
    const fake = fakeFetch(() => fail(status, `failed with ${status}`));
    const client = new KVClient({ fetch: fake.fetch });
    const error = await assertRejects(() => client.get("a"), KVRequestError);
    assertEquals(error.constructor, KVRequestError);
    assertInstanceOf(error, KVError);
    assertEquals(error.status, status);
    assertEquals(error.description, `failed with ${status}`);
    assertEquals(error.message, `failed with ${status}`);
    assertEquals(error.node, "127.0.0.1:5878");
    assertEquals(error.name, "KVRequestError");
  }
});

Deno.test("KVClient throws KVUnavailableError on HTTP 503", async () => {
  const fake = fakeFetch(() => fail(503, "Quorum not met: 1 of 2 replicas."));
  const client = new KVClient({ fetch: fake.fetch });
  const error = await assertRejects(() => client.set("a", 1), KVRequestError);
  assertInstanceOf(error, KVUnavailableError);
  assertEquals(error.name, "KVUnavailableError");
  assertEquals(error.status, 503);
  assertEquals(error.message, "Quorum not met: 1 of 2 replicas.");
});

/** An error answer carrying `Retry-After: seconds`. */
function overloaded(status: number, seconds: string): Response {
  const response = fail(status, "the node is overloaded; try again shortly");
  response.headers.set("retry-after", seconds);
  return response;
}

Deno.test("KVClient sends a write again, to the same node, after 429 with Retry-After", async () => {
  let answered = 0;
  const fake = fakeFetch(() => ++answered <= 2 ? overloaded(429, "0") : ok(1));
  const client = new KVClient({
    nodes: ["127.0.0.1:1", "127.0.0.1:2"],
    fetch: fake.fetch,
  });
  await client.set("a", 1);
  assertEquals(fake.seen.length, 3);
  assertEquals(new Set(fake.seen.map((s) => s.url)).size, 1);
});

Deno.test("KVClient gives up on a node that stays overloaded, with KVUnavailableError", async () => {
  const fake = fakeFetch(() => overloaded(503, "0"));
  const client = new KVClient({ fetch: fake.fetch });
  const error = await assertRejects(
    () => client.set("a", 1),
    KVUnavailableError,
  );
  assertEquals(error.status, 503);
  assertEquals(fake.seen.length, 21, "the first try and 20 more");
});

Deno.test("KVClient does not resend a 429 or 503 without Retry-After", async () => {
  for (const status of [429, 503]) {
    const fake = fakeFetch(() => fail(status, "no"));
    const client = new KVClient({ fetch: fake.fetch });
    const error = await assertRejects(
      () => client.set("a", 1),
      KVUnavailableError,
    );
    assertEquals(error.status, status);
    assertEquals(fake.seen.length, 1);
  }
});

Deno.test("KVClient throws KVAuthError on HTTP 401", async () => {
  const fake = fakeFetch(() => fail(401, "Unauthorized."));
  const client = new KVClient({ fetch: fake.fetch, token: "wrong" });
  const error = await assertRejects(() => client.ping(), KVAuthError);
  assertInstanceOf(error, KVRequestError);
  assertEquals(error.name, "KVAuthError");
  assertEquals(error.status, 401);
});

Deno.test("KVClient reads a seed server's error answered with HTTP 200", async () => {
  const fake = fakeFetch(() => fail(200, "Bad request."));
  const client = new KVClient({ fetch: fake.fetch });
  const error = await assertRejects(() => client.get("a"), KVRequestError);
  assertEquals(error.status, 200);
  assertEquals(error.message, "Bad request.");
});

Deno.test("KVClient throws KVProtocolError for an answer that is not the envelope", async () => {
  const answers: [Response, string][] = [
    [new Response("<html>Bad Gateway</html>", { status: 502 }), "not JSON"],
    [new Response("[1]"), "not a JSON object"],
    [new Response('{"status":"OK"}'), "unknown status"],
    [new Response('{"status":"OK."}'), "no 'result'"],
    [new Response('{"status":"Error"}', { status: 400 }), "description"],
    [
      new Response('{"status":"OK.","result":1}', { status: 500 }),
      "error status",
    ],
    [new Response(null, { status: 204 }), "not JSON"],
  ];
  for (const [response, why] of answers) {
    const client = new KVClient({ fetch: fakeFetch(() => response).fetch });
    const error = await assertRejects(() => client.get("a"), KVProtocolError);
    assertInstanceOf(error, KVError);
    assertEquals(error.status, response.status);
    assertEquals(error.node, "127.0.0.1:5878");
    assertStringIncludes(error.message, why);
  }
});

Deno.test("KVClient refuses an answer larger than responseBytesMax", async () => {
  const big = JSON.stringify({ status: "OK.", result: "x".repeat(200) });
  // Once with a Content-Length, once streamed without one.
  const bodies: BodyInit[] = [
    big,
    new Blob([big]).stream().pipeThrough(new TransformStream()),
  ];
  for (const body of bodies) {
    const fake = fakeFetch(() => new Response(body));
    const client = new KVClient({ fetch: fake.fetch, responseBytesMax: 100 });
    const error = await assertRejects(() => client.get("a"), KVProtocolError);
    assertStringIncludes(error.message, "larger than 100 bytes");
  }
});

Deno.test("KVClient throws KVConnectionError naming every node when none answers", async () => {
  const fake = fakeFetch(refused);
  const client = new KVClient({
    nodes: ["10.0.0.1:5878", "10.0.0.2:5878"],
    fetch: fake.fetch,
  });
  const error = await assertRejects(() => client.ping(), KVConnectionError);
  assertInstanceOf(error, KVError);
  assertEquals(error.name, "KVConnectionError");
  assertStringIncludes(error.message, "10.0.0.1:5878, 10.0.0.2:5878");
  assertEquals(error.nodes, ["10.0.0.1:5878", "10.0.0.2:5878"]);
  assertInstanceOf(error.cause, TypeError);
  assertEquals(fake.seen.map((s) => s.url), [
    "http://10.0.0.1:5878/",
    "http://10.0.0.2:5878/",
  ]);
});

Deno.test("KVClient lets an error that is not the network's propagate as is", async () => {
  const fake = fakeFetch(() => {
    throw new RangeError("bug in an injected fetch");
  });
  const client = new KVClient({ nodes: ["a:1", "b:2"], fetch: fake.fetch });
  await assertRejects(() => client.ping(), RangeError, "bug in");
  assertEquals(fake.seen.length, 1);
});

// ---------------------------------------------------------------------------
// Failover

Deno.test("KVClient fails over to the next node when a connection is refused", async () => {
  const fake = fakeFetch((seen) =>
    seen.url === "http://a:1/" ? refused() : ok(seen.fn === "set" ? null : 7)
  );
  const client = new KVClient({ nodes: ["a:1", "b:2"], fetch: fake.fetch });
  await client.set("k", 7);
  assertEquals(fake.seen.map((s) => s.url), ["http://a:1/", "http://b:2/"]);
});

Deno.test("KVClient remembers the node that answered", async () => {
  const fake = fakeFetch((seen) =>
    seen.url === "http://a:1/" ? refused() : ok("pong")
  );
  const client = new KVClient({ nodes: ["a:1", "b:2"], fetch: fake.fetch });
  await client.ping();
  await client.ping();
  await client.ping();
  assertEquals(fake.seen.map((s) => s.url), [
    "http://a:1/",
    "http://b:2/",
    "http://b:2/",
    "http://b:2/",
  ]);
});

Deno.test("KVClient remembers a node that answered with an error", async () => {
  const fake = fakeFetch((seen) =>
    seen.url === "http://a:1/" ? refused() : fail(400, "Bad request.")
  );
  const client = new KVClient({ nodes: ["a:1", "b:2"], fetch: fake.fetch });
  await assertRejects(() => client.get("k"), KVRequestError);
  await assertRejects(() => client.get("k"), KVRequestError);
  assertEquals(fake.seen.map((s) => s.url), [
    "http://a:1/",
    "http://b:2/",
    "http://b:2/",
  ]);
});

Deno.test("KVClient wraps around the node list from the remembered node", async () => {
  let bDown = false;
  const fake = fakeFetch((seen) => {
    if (seen.url === "http://a:1/" && fake.seen.length === 1) refused();
    if (seen.url === "http://b:2/" && bDown) refused();
    return ok("pong");
  });
  const client = new KVClient({ nodes: ["a:1", "b:2"], fetch: fake.fetch });
  await client.ping(); // a refused, b answers
  bDown = true;
  await client.ping(); // b refused, a answers again
  assertEquals(fake.seen.map((s) => s.url), [
    "http://a:1/",
    "http://b:2/",
    "http://b:2/",
    "http://a:1/",
  ]);
});

Deno.test("KVClient does not fail over when a node answered with an error", async () => {
  const fake = fakeFetch(() => fail(500, "Internal error."));
  const client = new KVClient({ nodes: ["a:1", "b:2"], fetch: fake.fetch });
  await assertRejects(() => client.get("k"), KVRequestError, "Internal");
  await assertRejects(() => client.set("k", 1), KVRequestError, "Internal");
  assertEquals(fake.seen.map((s) => s.url), ["http://a:1/", "http://a:1/"]);
});

Deno.test("KVClient does not fail a write over after a timeout", async () => {
  for (
    const write of [
      (c: KVClient) => c.set("k", 1),
      (c: KVClient) => c.pop("k"),
      (c: KVClient) => c.mset({ k: 1 }),
    ]
  ) {
    const fake = fakeFetch((seen, signal) =>
      seen.url === "http://a:1/" ? hang(signal) : ok(null)
    );
    const client = new KVClient({
      nodes: ["a:1", "b:2"],
      fetch: fake.fetch,
      timeoutMs: 10,
    });
    const error = await assertRejects(() => write(client), KVConnectionError);
    assertStringIncludes(error.message, "Timed out after 10 ms");
    assertStringIncludes(error.message, "a:1");
    assertEquals(error.nodes, ["a:1"]);
    assertEquals(fake.seen.map((s) => s.url), ["http://a:1/"]);
  }
});

Deno.test("KVClient fails a read over after a timeout", async () => {
  const fake = fakeFetch((seen, signal) =>
    seen.url === "http://a:1/" ? hang(signal) : ok("v")
  );
  const client = new KVClient({
    nodes: ["a:1", "b:2"],
    fetch: fake.fetch,
    timeoutMs: 10,
  });
  assertEquals(await client.get("k"), "v");
  assertEquals(fake.seen.map((s) => s.url), ["http://a:1/", "http://b:2/"]);
});

Deno.test("KVClient reports a timeout of the last node as KVConnectionError", async () => {
  const fake = fakeFetch((_, signal) => hang(signal));
  const client = new KVClient({ fetch: fake.fetch, timeoutMs: 10 });
  const error = await assertRejects(() => client.ping(), KVConnectionError);
  assertStringIncludes(error.message, "127.0.0.1:5878");
  assertInstanceOf(error.cause, KVConnectionError);
  assertStringIncludes((error.cause as Error).message, "Timed out");
});

Deno.test("KVClient treats a body cut short as ambiguous: reads fail over, writes do not", async () => {
  const broken = () =>
    new Response(
      new ReadableStream({
        pull(controller) {
          controller.error(new TypeError("connection reset"));
        },
      }),
    );
  const fake = fakeFetch((seen) =>
    seen.url === "http://a:1/" ? broken() : ok(seen.fn === "get" ? 1 : null)
  );
  const client = new KVClient({ nodes: ["a:1", "b:2"], fetch: fake.fetch });
  assertEquals(await client.get("k"), 1);
  const fresh = new KVClient({ nodes: ["a:1", "b:2"], fetch: fake.fetch });
  const error = await assertRejects(() => fresh.set("k", 1), KVConnectionError);
  assertStringIncludes(error.message, "broke while reading");
  assertEquals(fake.seen.map((s) => s.url), [
    "http://a:1/",
    "http://b:2/",
    "http://a:1/",
  ]);
});

// ---------------------------------------------------------------------------
// Options

Deno.test("KVClient accepts host:port, bare host and http(s) URLs", async () => {
  const fake = fakeFetch(() => refused());
  const client = new KVClient({
    nodes: [
      "localhost:5879",
      "db",
      "[::1]:5880",
      "http://10.0.0.1:80",
      "https://kv.example.com/",
      "HTTP://Example.com:8080",
    ],
    fetch: fake.fetch,
  });
  const error = await assertRejects(() => client.ping(), KVConnectionError);
  assertEquals(fake.seen.map((s) => s.url), [
    "http://localhost:5879/",
    "http://db:5878/",
    "http://[::1]:5880/",
    "http://10.0.0.1/",
    "https://kv.example.com/",
    "http://example.com:8080/",
  ]);
  assertEquals(error.nodes, [
    "localhost:5879",
    "db:5878",
    "[::1]:5880",
    "10.0.0.1",
    "kv.example.com",
    "example.com:8080",
  ]);
});

Deno.test("KVClient constructor rejects invalid options with a TypeError", () => {
  const bad: [unknown, string][] = [
    [{ nodes: [] }, "'nodes' must be a non-empty array"],
    [{ nodes: "127.0.0.1:5878" }, "'nodes' must be a non-empty array"],
    [{ nodes: [""] }, "'nodes[0]' must be"],
    [{ nodes: ["a:1", 5878] }, "'nodes[1]' must be a string"],
    [{ nodes: ["host:port"] }, "'nodes[0]' must be"],
    [{ nodes: ["a:1:2"] }, "'nodes[0]' must be"],
    [{ nodes: ["a b:1"] }, "'nodes[0]' must be"],
    [{ nodes: ["a:0"] }, "port outside 1-65535"],
    [{ nodes: ["a:65536"] }, "port outside 1-65535"],
    [{ nodes: ["ftp://a:1"] }, "'nodes[0]' must be"],
    [{ nodes: ["http://a:1/kv"] }, "'nodes[0]' must be"],
    [{ nodes: ["http://a:1/?x=1"] }, "'nodes[0]' must be"],
    [{ nodes: ["http://user:pw@a:1"] }, "'nodes[0]' must be"],
    [{ timeoutMs: 0 }, "'timeoutMs' must be a positive integer"],
    [{ timeoutMs: 1.5 }, "'timeoutMs' must be a positive integer"],
    [{ timeoutMs: Infinity }, "'timeoutMs' must be a positive integer"],
    [{ responseBytesMax: -1 }, "'responseBytesMax' must be"],
    [{ token: "" }, "'token' must be a non-empty string"],
    [{ token: "a\nb" }, "without line breaks"],
    [{ caCert: "not a certificate" }, "'caCert' must be a PEM certificate"],
    [{ caCert: 42 }, "'caCert' must be a PEM certificate"],
    [{ fetch: "nope" }, "'fetch' must be a function"],
  ];
  for (const [options, message] of bad) {
    assertThrows(
      () => new KVClient(options as never),
      TypeError,
      message,
    );
  }
});

Deno.test("KVClient refuses values and levels JSON or the server cannot take", async () => {
  const { client, seen } = clientAnswering(null);
  await assertRejects(() => client.set("k", undefined), TypeError, "undefined");
  await assertRejects(
    () => client.get("k", { consistency: "most" as never }),
    TypeError,
    "'consistency' must be one of",
  );
  await assertRejects(() => client.set("k", 1n), TypeError);
  await assertRejects(() => client.call(""), TypeError, "'fn'");
  assertEquals(seen.length, 0);
});

// ---------------------------------------------------------------------------
// Against a real socket: bodies are consumed (the sanitizers would report a
// leak) and a closed port fails over.

const netGranted =
  (await Deno.permissions.query({ name: "net" })).state === "granted";

Deno.test({
  name:
    "KVClient talks to a real HTTP server and fails over from a closed port",
  ignore: !netGranted,
  async fn() {
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closedPort = closed.addr.port;
    closed.close();
    const seen: unknown[] = [];
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      async (request) => {
        const body = await request.json();
        seen.push(body);
        if (body.function === "get") return fail(400, "Key must be a string.");
        return ok(body.function === "ping" ? "pong" : null);
      },
    );
    try {
      const client = new KVClient({
        nodes: [`127.0.0.1:${closedPort}`, `127.0.0.1:${server.addr.port}`],
        timeoutMs: 2_000,
      });
      assertEquals(await client.ping(), "pong");
      await client.set("a", { b: [1] });
      await assertRejects(() => client.get("a"), KVRequestError, "Key must");
      assertEquals(seen, [
        { function: "ping", args: [], kwargs: {} },
        { function: "set", args: ["a", { b: [1] }], kwargs: {} },
        { function: "get", args: ["a"], kwargs: {} },
      ]);
    } finally {
      await server.shutdown();
    }
    assert(true);
  },
});

Deno.test("KVClient has a method for every function of the table, sending that function", async () => {
  const sample: Record<ArgType, unknown> = {
    key: "k",
    value: "v",
    keys: ["a", "b"],
    entries: { a: 1 },
    address: "127.0.0.1:5879",
    consistency: "one",
    boolean: true,
    seconds: 1,
    integer: 1,
    cursor: null,
    records: [],
  };
  // Answers shaped as each function answers, for the methods that check.
  const answers: Record<string, unknown> = {
    ping: "pong",
    list_keys: [],
    list_members: [],
    locate: "127.0.0.1:5878",
    replicas: [],
    cluster_info: {
      self: "a:1",
      version: "0",
      replication_factor: 1,
      read_quorum: 1,
      write_quorum: 1,
      vnodes: 1,
      members: [],
    },
    mget: [null, null],
    read_records: [null, null],
    write_records: { written: 0 },
    has: false,
  };
  const { fetch, seen } = fakeFetch((s) =>
    Response.json({ status: "OK.", result: answers[s.fn as string] ?? null })
  );
  const client = new KVClient({ fetch });
  const methods = client as unknown as Record<
    string,
    (...args: unknown[]) => Promise<unknown>
  >;
  for (const def of FUNCTION_TABLE) {
    // The KV databases' functions are reached through client.kv, which
    // mirrors Deno.Kv (tests/kv_client_test.ts), not one method each.
    if (def.name.startsWith("kv_")) continue;
    const method = def.name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
    assertEquals(
      typeof methods[method],
      "function",
      `KVClient.${method}() for '${def.name}' is missing`,
    );
    const args = def.params.slice(0, def.required).map((p) => sample[p.type]);
    await methods[method]!.call(client, ...args);
    assertEquals(seen.at(-1)?.fn, def.name, `KVClient.${method}()`);
  }
});
