import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { setImmediate } from "node:timers";
import { systemClock } from "../clock/mod.ts";
import { KvdbError, UnavailableError } from "../errors.ts";
import type { PeerResponse } from "../transport/mod.ts";
import { KvDatabases, type KvOp } from "./manager.ts";

const SELF = "127.0.0.1:1";
const PEER = "127.0.0.1:2";

/**
 * A node that hosts no replica (its one peer founded the databases), so
 * every operation is forwarded; the peer answers each with `answer`.
 */
function forwarding(answer: unknown): { dbs: KvDatabases; calls: number[] } {
  const calls: number[] = [];
  const dbs = new KvDatabases({
    self: SELF,
    founders: [PEER],
    voters: 1,
    transport: {
      call: (_peer, request) => {
        calls.push(1);
        if (request.kind !== "kv") throw new Error(`sent ${request.kind}`);
        return Promise.resolve({ kind: "kv", answer } as PeerResponse);
      },
    },
    clock: systemClock,
    schedule: (fn) => void setImmediate(fn),
    random: Math.random,
    members: () => [
      { address: SELF, state: "alive" },
      { address: PEER, state: "alive" },
    ],
    requestDeadlineMs: 300,
    peerDeadlineMs: 100,
  });
  return { dbs, calls };
}

const GET: KvOp = {
  type: "get",
  keys: [new Uint8Array([1])],
  eventual: false,
};

async function refusal(answer: unknown): Promise<[KvdbError, number]> {
  const { dbs, calls } = forwarding(answer);
  try {
    const error = await assertRejects(() => dbs.run("default", GET), KvdbError);
    return [error, calls.length];
  } finally {
    dbs.stop();
  }
}

Deno.test("kv: a peer's deterministic refusal is the answer, with its code", async () => {
  const [error, calls] = await refusal({
    ok: false,
    code: "conflict",
    error: "not now",
    leader: PEER,
  });
  assertEquals([error.code, error.message, calls], ["conflict", "not now", 1]);
});

Deno.test("kv: a refusal from a peer of the previous version (a status, no code) reads as the code it stood for", async () => {
  const [error, calls] = await refusal({
    ok: false,
    status: 400,
    error: "bad op",
    leader: PEER,
  });
  assertEquals([error.code, error.message, calls], [
    "bad_request",
    "bad op",
    1,
  ]);
  // Its 503 (no leader yet, not hosted) is retried until the deadline:
  // the node's own verdict, not the peer's.
  const [unavailable] = await refusal({
    ok: false,
    status: 503,
    error: "no leader",
    leader: null,
  });
  assertEquals(unavailable instanceof UnavailableError, true);
  assertStringIncludes(unavailable.message, "is unavailable: no leader");
});

Deno.test("kv: a refusal another replica may not share is retried, not answered", async () => {
  for (const code of ["not_leader", "unavailable", "storage", "clock_skew"]) {
    const [error] = await refusal({
      ok: false,
      code,
      error: "elsewhere",
      leader: null,
    });
    // Retried until the deadline: the node's own verdict, not the peer's.
    assertEquals(error instanceof UnavailableError, true, code);
    assertStringIncludes(
      error.message,
      "KV database 'default' is unavailable: elsewhere",
    );
  }
});
