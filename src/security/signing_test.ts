import { assert, assertEquals, assertRejects } from "@std/assert";
import { type PeerRefusal, PeerSigner, SIGNATURE_HEADERS } from "./signing.ts";

const SECRET = "a-cluster-secret-of-some-length";

async function pair(now: () => number, clusterB = "kvdb", secretB = SECRET) {
  const a = await PeerSigner.create(SECRET, "kvdb", { now });
  const b = await PeerSigner.create(secretB, clusterB, { now });
  return { a, b };
}

/** What `receiver` makes of `headers` and `body`: "ok" or the refusal. */
async function receive(
  receiver: PeerSigner,
  headers: Record<string, string>,
  body: string,
): Promise<"ok" | PeerRefusal> {
  const pre = receiver.precheck(new Headers(headers));
  if (!pre.ok) return pre.reason;
  const verified = await receiver.verifyRequest(pre.value, body);
  return verified.ok ? "ok" : verified.reason;
}

Deno.test("PeerSigner: a signed request is accepted once, its replay refused", async () => {
  let now = 1_700_000_000_000;
  const { a, b } = await pair(() => now);
  const body = '{"kind":"read","keys":["k"]}';
  const { headers } = await a.signRequest(body);
  assertEquals(await receive(b, headers, body), "ok");
  assertEquals(await receive(b, headers, body), "replayed");
  now += 10_000;
  assertEquals(await receive(b, headers, body), "replayed");
});

Deno.test("PeerSigner: unsigned, malformed, forged, stale and wrong-cluster requests are refused", async () => {
  let now = 1_700_000_000_000;
  const { a, b } = await pair(() => now);
  const body = '{"kind":"read","keys":["k"]}';
  const { headers } = await a.signRequest(body);
  assertEquals(await receive(b, {}, body), "unsigned");
  const without = { ...headers };
  delete without[SIGNATURE_HEADERS.signature];
  assertEquals(await receive(b, without, body), "unsigned");
  assertEquals(
    await receive(
      b,
      { ...headers, [SIGNATURE_HEADERS.timestamp]: "soon" },
      body,
    ),
    "malformed",
  );
  assertEquals(
    await receive(b, { ...headers, [SIGNATURE_HEADERS.nonce]: "short" }, body),
    "malformed",
  );
  assertEquals(
    await receive(b, { ...headers }, body.replace("k", "j")),
    "bad_signature",
    "the body is signed",
  );
  assertEquals(
    await receive(b, {
      ...headers,
      [SIGNATURE_HEADERS.timestamp]: String(now - 1),
    }, body),
    "bad_signature",
    "the timestamp is signed",
  );
  assertEquals(
    await receive(
      b,
      { ...headers, [SIGNATURE_HEADERS.cluster]: "other" },
      body,
    ),
    "wrong_cluster",
  );
  now += 30_001;
  assertEquals(await receive(b, headers, body), "stale");
  now -= 60_002;
  assertEquals(await receive(b, headers, body), "stale", "from the future");
});

Deno.test("PeerSigner: another secret or cluster id does not verify", async () => {
  const now = () => 1_700_000_000_000;
  const body = "{}";
  const wrongSecret = await pair(now, "kvdb", "another-secret-entirely");
  const signed = await wrongSecret.a.signRequest(body);
  assertEquals(
    await receive(wrongSecret.b, signed.headers, body),
    "bad_signature",
  );
  const otherCluster = await pair(now, "prod");
  const s2 = await otherCluster.a.signRequest(body);
  assertEquals(
    await receive(otherCluster.b, s2.headers, body),
    "wrong_cluster",
  );
});

Deno.test("PeerSigner: answers verify only for their own request", async () => {
  const { a, b } = await pair(() => 1_700_000_000_000);
  const first = await a.signRequest("{}");
  const second = await a.signRequest("{}");
  assert(first.nonce !== second.nonce);
  const answer = '{"status":"OK.","result":1}';
  const headers = new Headers(await b.signResponse(first.nonce, answer));
  assertEquals(await a.verifyResponse(first.nonce, headers, answer), true);
  assertEquals(await a.verifyResponse(second.nonce, headers, answer), false);
  assertEquals(
    await a.verifyResponse(first.nonce, headers, answer + " "),
    false,
  );
  assertEquals(
    await a.verifyResponse(first.nonce, new Headers(), answer),
    false,
  );
});

Deno.test("PeerSigner: a signed answer cannot pass for a request", async () => {
  const { a, b } = await pair(() => 1_700_000_000_000);
  const { headers, nonce } = await a.signRequest("{}");
  const answer = await b.signResponse(nonce, "{}");
  assertEquals(
    await receive(b, { ...headers, ...answer }, "{}"),
    "bad_signature",
  );
});

Deno.test("PeerSigner.create() refuses a weak secret and a bad cluster id", async () => {
  await assertRejects(() => PeerSigner.create("short", "kvdb"), TypeError);
  await assertRejects(() => PeerSigner.create(SECRET, "a b"), TypeError);
  await assertRejects(() => PeerSigner.create(SECRET, ""), TypeError);
});

Deno.test("PeerSigner: a secret rotates node by node without a refused message", async () => {
  const now = () => 1_000_000;
  const NEXT = "the-next-cluster-secret-0123456789";
  const a = await PeerSigner.create(SECRET, "kvdb", { now });
  const b = await PeerSigner.create(SECRET, "kvdb", { now });
  const exchange = async (from: PeerSigner, to: PeerSigner, body: string) => {
    const { headers, nonce } = await from.signRequest(body);
    const verdict = await receive(to, headers, body);
    const answer = await to.signResponse(nonce, body);
    const answered = await from.verifyResponse(
      nonce,
      new Headers(answer),
      body,
    );
    return [verdict, answered];
  };
  // 1. Every node learns the next secret, still signing with the old one.
  await a.setSecrets([SECRET, NEXT]);
  assertEquals(await exchange(a, b, "1"), ["ok", true]);
  await b.setSecrets([SECRET, NEXT]);
  // 2. One node signs with the next secret; the others still verify it.
  await a.setSecrets([NEXT, SECRET]);
  assertEquals(await exchange(a, b, "2"), ["ok", true]);
  assertEquals(await exchange(b, a, "3"), ["ok", true]);
  await b.setSecrets([NEXT, SECRET]);
  // 3. The old secret goes everywhere: a node that kept only it is out.
  await a.setSecrets([NEXT]);
  await b.setSecrets([NEXT]);
  assertEquals(await exchange(a, b, "4"), ["ok", true]);
  const stale = await PeerSigner.create(SECRET, "kvdb", { now });
  assertEquals((await exchange(stale, a, "5"))[0], "bad_signature");
  await assertRejects(() => a.setSecrets(["weak"]), TypeError, "at least");
  await assertRejects(() => a.setSecrets([]), TypeError, "empty");
  assertEquals(a.size, 1, "a refused set changes nothing");
});
