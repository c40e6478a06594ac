/**
 * The handler's security options, without a socket: the auth matrix, signed
 * peer messages, the address policy, the concurrency bound and body
 * deadlines.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { BearerAuth, PeerSigner } from "../security/mod.ts";
import { testHandler } from "./_fixtures.ts";

const TOKEN = "client-token-0123456789";
const SECRET = "cluster-secret-0123456789";

const handler = testHandler;

function rpc(body: string, headers: Record<string, string> = {}): Request {
  return new Request("http://a:1/", { method: "POST", body, headers });
}

const PING = '{"function":"ping"}';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function expectError(
  response: Response,
  status: number,
  description: RegExp,
): Promise<void> {
  assertEquals(response.status, status);
  assertEquals(response.headers.get("content-type"), "application/json");
  const body = await response.json();
  assertEquals(body.status, "Error");
  assertMatch(body.description, description);
}

Deno.test("auth: no token, a malformed header and a wrong token get 401; the right token gets through", async () => {
  const { handle, metrics } = await handler({ auth: new BearerAuth(TOKEN) });
  const none = await handle(rpc(PING));
  assertEquals(none.headers.get("www-authenticate"), 'Bearer realm="kvdb"');
  await expectError(none, 401, /needs 'Authorization: Bearer <token>'/);
  await expectError(
    await handle(rpc(PING, { authorization: `Basic ${btoa("u:p")}` })),
    401,
    /must be 'Bearer <token>'/,
  );
  await expectError(
    await handle(rpc(PING, bearer(TOKEN + "x"))),
    401,
    /not valid/,
  );
  const ok = await handle(rpc(PING, bearer(TOKEN)));
  assertEquals(await ok.text(), '{"status":"OK.","result":"pong"}');
  assertEquals(metrics.refusals("auth", "missing"), 1);
  assertEquals(metrics.refusals("auth", "malformed"), 1);
  assertEquals(metrics.refusals("auth", "wrong"), 1);
});

Deno.test("auth: /health stays open, /metrics needs the token", async () => {
  const { handle } = await handler({ auth: new BearerAuth(TOKEN) });
  assertEquals((await handle(new Request("http://a:1/health"))).status, 200);
  await expectError(
    await handle(new Request("http://a:1/metrics")),
    401,
    /Unauthorized/,
  );
  const metrics = await handle(
    new Request("http://a:1/metrics", { headers: bearer(TOKEN) }),
  );
  assertEquals(metrics.status, 200);
  assertMatch(
    await metrics.text(),
    /kvdb_auth_refusals_total\{reason="missing"\} 1/,
  );
});

Deno.test("auth: a client token does not open /peer, with or without a cluster secret", async () => {
  const read = '{"kind":"read","keys":["k"]}';
  const peerCall = () =>
    new Request("http://a:1/peer", {
      method: "POST",
      body: read,
      headers: bearer(TOKEN),
    });
  const closed = await handler({
    auth: new BearerAuth(TOKEN),
    peerAuth: "closed",
  });
  await expectError(await closed.handle(peerCall()), 401, /no cluster secret/);
  const signed = await handler({
    auth: new BearerAuth(TOKEN),
    peerAuth: await PeerSigner.create(SECRET, "kvdb"),
  });
  await expectError(await signed.handle(peerCall()), 401, /not signed/);
  assertEquals(signed.metrics.refusals("peer", "unsigned"), 1);
});

Deno.test("peers: signed messages pass once; unsigned, stale, replayed, forged and wrong-cluster ones are refused and counted", async () => {
  let now = 1_700_000_000_000;
  const sender = await PeerSigner.create(SECRET, "kvdb", { now: () => now });
  const { handle, metrics } = await handler({
    peerAuth: await PeerSigner.create(SECRET, "kvdb", { now: () => now }),
  });
  const body = '{"kind":"read","keys":["k"]}';
  const send = (headers: Record<string, string>, text = body) =>
    handle(
      new Request("http://a:1/peer", { method: "POST", body: text, headers }),
    );
  const { headers, nonce } = await sender.signRequest(body);

  const ok = await send(headers);
  assertEquals(ok.status, 200);
  const answer = await ok.text();
  assertEquals(
    answer,
    '{"status":"OK.","result":{"kind":"read","records":[null]}}',
  );
  assert(
    await sender.verifyResponse(nonce, ok.headers, answer),
    "signed answer",
  );

  await expectError(await send(headers), 401, /replayed/);
  await expectError(await send({}), 401, /not signed/);
  await expectError(
    await send({ ...headers, "x-kvdb-cluster": "other" }),
    401,
    /another cluster/,
  );
  const fresh = await sender.signRequest(body);
  await expectError(
    await send(fresh.headers, body.replace("k", "j")),
    401,
    /signature does not match/,
  );
  const late = await sender.signRequest(body);
  now += 31_000;
  await expectError(await send(late.headers), 401, /timestamp/);
  const wrongKey = await PeerSigner.create(
    "another-secret-0123456789",
    "kvdb",
    {
      now: () => now,
    },
  );
  await expectError(
    await send((await wrongKey.signRequest(body)).headers),
    401,
    /signature does not match/,
  );
  for (
    const [reason, n] of [
      ["replayed", 1],
      ["unsigned", 1],
      ["wrong_cluster", 1],
      ["bad_signature", 2],
      ["stale", 1],
    ] as const
  ) {
    assertEquals(metrics.refusals("peer", reason), n, reason);
  }
});

Deno.test("peers: link-local and metadata addresses in peer messages are refused", async () => {
  const { handle, metrics } = await handler();
  for (
    const body of [
      { kind: "ping", from: "169.254.169.254:80", members: [] },
      {
        kind: "ping",
        from: "a:1",
        members: [["[fe80::1]:5878", "alive", 1, "ready"]],
      },
      { kind: "ping_req", target: "metadata.google.internal:80" },
      { kind: "transfer", for: "2852039166:80", limit: 10 },
    ]
  ) {
    await expectError(
      await handle(
        new Request("http://a:1/peer", {
          method: "POST",
          body: JSON.stringify(body),
        }),
      ),
      403,
      /link-local|metadata/,
    );
  }
  assertEquals(metrics.refusals("peer", "address"), 4);
});

Deno.test("peers: a value nested too deep is refused at /peer too", async () => {
  const { handle } = await handler();
  const deep = "[".repeat(100) + "]".repeat(100);
  const body =
    `{"kind":"write","records":[{"key":"k","value":${deep},"version":[1,0,"a:1"],"tombstone":false}]}`;
  await expectError(
    await handle(new Request("http://a:1/peer", { method: "POST", body })),
    400,
    /deeper than 64/,
  );
});

/** A body that sends `first`, then waits for `release()` before ending. */
function heldBody(first: string) {
  let release = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(new TextEncoder().encode(first));
      await released;
      controller.close();
    },
  });
  return { stream, release };
}

Deno.test("limits: beyond the concurrent request bound the node answers 503 with Retry-After", async () => {
  const { handle, metrics } = await handler({ concurrentRequestsMax: 1 });
  const held = heldBody('{"function":"ping"');
  const first = handle(
    new Request("http://a:1/", { method: "POST", body: held.stream }),
  );
  const second = await handle(rpc(PING));
  assertEquals(second.headers.get("retry-after"), "1");
  await expectError(second, 503, /Overloaded/);
  held.release();
  // The held body completes as '{"function":"ping"' + nothing: not JSON.
  assertEquals((await first).status, 400);
  assertEquals((await handle(rpc(PING))).status, 200, "the slot is free again");
  assertEquals(metrics.refusals("overload", "client"), 1);
});

Deno.test("limits: peers have their own pool, so client overload does not starve them", async () => {
  const { handle } = await handler({ concurrentRequestsMax: 1 });
  const held = heldBody("{");
  const first = handle(
    new Request("http://a:1/", { method: "POST", body: held.stream }),
  );
  const peer = await handle(
    new Request("http://a:1/peer", {
      method: "POST",
      body: '{"kind":"read","keys":["k"]}',
    }),
  );
  assertEquals(peer.status, 200);
  await peer.body?.cancel();
  held.release();
  await (await first).body?.cancel();
});

Deno.test("limits: a body that does not arrive in time is refused with 408", async () => {
  const { handle } = await handler({ bodyDeadlineMs: 40 });
  const held = heldBody('{"function":');
  // The deadline's timer does not keep a process alive; a server would.
  const keepAlive = setTimeout(() => {}, 5_000);
  try {
    const started = performance.now();
    const response = await handle(
      new Request("http://a:1/", { method: "POST", body: held.stream }),
    );
    await expectError(response, 408, /did not arrive within 40 ms/);
    assert(performance.now() - started < 1_000);
  } finally {
    clearTimeout(keepAlive);
    held.release();
  }
});

Deno.test("limits: a body that breaks off is a 400, not a 500", async () => {
  const logged: unknown[] = [];
  const { handle } = await handler({ logError: (e) => logged.push(e) });
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.error(new Error("connection reset"));
    },
  });
  await expectError(
    await handle(new Request("http://a:1/", { method: "POST", body })),
    400,
    /could not be read/,
  );
  assertEquals(logged, []);
});
