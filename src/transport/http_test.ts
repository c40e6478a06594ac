import { assert, assertEquals, assertRejects } from "@std/assert";
import { openDescriptors, waitFor } from "../../tests/_helpers.ts";
import {
  CONNECTIONS_PER_PEER_MAX,
  ERROR_CODE_HEADER,
  HttpTransport,
} from "./http.ts";
import { PeerError } from "./transport.ts";

/** A server that accepts connections and never answers, counting them. */
function silentServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const stats = { open: 0, peak: 0, accepted: 0 };
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      stats.accepted++;
      stats.peak = Math.max(stats.peak, ++stats.open);
      (async () => {
        const buffer = new Uint8Array(4096);
        try {
          while (await conn.read(buffer) !== null) { /* never answer */ }
        } catch {
          // reset by the client
        }
        stats.open--;
        conn.close();
      })();
    }
  })().catch(() => {});
  const { port } = listener.addr as Deno.NetAddr;
  return {
    address: `127.0.0.1:${port}`,
    stats,
    close: () => listener.close(),
  };
}

Deno.test("HttpTransport holds at most a bounded number of connections to a peer that never answers, and leaves none behind", async () => {
  const server = silentServer();
  const transport = new HttpTransport();
  const before = await openDescriptors(Deno.pid);
  try {
    let settled = false;
    const calls = Promise.all(Array.from(
      { length: 300 },
      () =>
        assertRejects(
          () =>
            transport.call(server.address, { kind: "read", keys: ["k"] }, 300),
          PeerError,
          "no answer within 300 ms",
        ),
    )).finally(() => settled = true);
    // This process holds both ends of each connection: two descriptors.
    let peak = 0;
    while (!settled) {
      const stats = transport.poolStats()!;
      assert((stats.busy[server.address] ?? 0) <= CONNECTIONS_PER_PEER_MAX);
      peak = Math.max(peak, (await openDescriptors(Deno.pid)) - before);
    }
    await calls;
    assert(server.stats.accepted > 0);
    assert(
      peak <= 2 * CONNECTIONS_PER_PEER_MAX + 8,
      `peak ${peak} descriptors more than before`,
    );
    await waitFor(
      "every connection to be closed",
      () => server.stats.open === 0,
    );
    assertEquals(transport.poolStats()!.busy, {});
  } finally {
    server.close();
  }
});

Deno.test("HttpTransport: a probe does not wait for a connection behind data calls to a busy peer", async () => {
  // A peer that answers probes at once and holds every other call.
  const held: (() => void)[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const body = await request.json();
      if (body.kind !== "ping") {
        await new Promise<void>((resolve) => held.push(resolve));
      }
      const result = body.kind === "ping"
        ? { kind: "ping", members: [] }
        : { kind: "read", records: [null] };
      return Response.json({ status: "OK.", result });
    },
  );
  const address = `127.0.0.1:${server.addr.port}`;
  const transport = new HttpTransport();
  try {
    // More data calls than the peer's connections: every one is busy.
    const reads = Array.from(
      { length: CONNECTIONS_PER_PEER_MAX + 8 },
      () => transport.call(address, { kind: "read", keys: ["k"] }, 10_000),
    );
    await waitFor(
      "the data connections to be busy",
      () => held.length >= CONNECTIONS_PER_PEER_MAX,
    );
    const answer = await transport.call(
      address,
      { kind: "ping", from: "127.0.0.1:1", members: [] },
      2_000,
    );
    assertEquals(answer.kind, "ping");
    while (held.length > 0) held.shift()!();
    // The ones that waited for a connection go out once one is free.
    await waitFor("the waiting calls to be sent", () => {
      while (held.length > 0) held.shift()!();
      return transport.poolStats()!.waiting === 0;
    });
    await Promise.all(reads);
  } finally {
    await server.shutdown();
  }
});

Deno.test("HttpTransport reads a refused answer's error code, and an old peer's from its status", async () => {
  // Each call is answered with the next status and code header (if any).
  const answers: [number, string | undefined][] = [
    [503, "clock_skew"],
    // A peer of the previous version: a status, no code.
    [429, undefined],
    // A newer peer's code this node does not know: read by its status.
    [404, "some_future_code"],
    // Refused, but not with a project error.
    [401, undefined],
  ];
  let next = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      await request.text();
      const [status, code] = answers[next++ % answers.length]!;
      return Response.json({ status: "Error", description: "no" }, {
        status,
        headers: code === undefined ? {} : { [ERROR_CODE_HEADER]: code },
      });
    },
  );
  const address = `127.0.0.1:${server.addr.port}`;
  try {
    for (
      const transport of [
        new HttpTransport(),
        new HttpTransport({ fetch: globalThis.fetch }),
      ]
    ) {
      const codes = [];
      for (let i = 0; i < answers.length; i++) {
        const error = await assertRejects(
          () => transport.call(address, { kind: "read", keys: ["k"] }, 5_000),
          PeerError,
        );
        assertEquals(error.failure, "refused");
        codes.push(error.code);
      }
      assertEquals(codes, [
        "clock_skew",
        "overloaded",
        "unknown_function",
        undefined,
      ]);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("HttpTransport lets a failure of its own through, not as a peer that is down", async () => {
  const bug = new TypeError("cannot read properties of undefined");
  const transport = new HttpTransport({
    signer: {
      signRequest: () => Promise.reject(bug),
      verifyResponse: () => Promise.resolve(true),
    },
  });
  const error = await assertRejects(() =>
    transport.call("127.0.0.1:1", { kind: "read", keys: ["k"] }, 1_000)
  );
  assert(error === bug, `expected the TypeError itself, got ${error}`);
});
