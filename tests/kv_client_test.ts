/**
 * `KVClient.kv` against a real node, beside `Deno.openKv(":memory:")`: the
 * same script runs on both and must give the same answers (versionstamps
 * aside, which are each store's own), so the expectations are Deno's.
 */

import { assertEquals } from "@std/assert";
import { KVClient, KvU64 } from "../client.ts";
import { freePort, NodeProcess } from "./_helpers.ts";

type AnyKv = {
  get(
    key: Deno.KvKey,
  ): Promise<{ key: unknown; value: unknown; versionstamp: string | null }>;
  getMany(
    keys: Deno.KvKey[],
  ): Promise<{ value: unknown; versionstamp: string | null }[]>;
  set(
    key: Deno.KvKey,
    value: unknown,
  ): Promise<{ ok: boolean; versionstamp: string }>;
  delete(key: Deno.KvKey): Promise<void>;
  list(
    selector: Record<string, Deno.KvKey>,
    options?: {
      limit?: number;
      reverse?: boolean;
      cursor?: string;
      batchSize?: number;
    },
  ): AsyncIterableIterator<{ key: unknown; value: unknown }> & {
    cursor: string;
  };
  atomic(): {
    check(...c: { key: Deno.KvKey; versionstamp: string | null }[]): unknown;
    set(key: Deno.KvKey, value: unknown): unknown;
    delete(key: Deno.KvKey): unknown;
    sum(key: Deno.KvKey, n: bigint): unknown;
    min(key: Deno.KvKey, n: bigint): unknown;
    max(key: Deno.KvKey, n: bigint): unknown;
    commit(): Promise<{ ok: boolean }>;
  };
};

/** Runs the same operations on a KV and returns what it saw. */
async function script(kv: AnyKv, u64: (n: bigint) => unknown) {
  const seen: unknown[] = [];
  const plain = (v: unknown): unknown =>
    v instanceof Uint8Array
      ? ["bytes", [...v]]
      : typeof v === "object" && v !== null && "value" in v &&
          typeof (v as { value: unknown }).value === "bigint"
      ? ["u64", String((v as { value: bigint }).value)]
      : v;
  const keyOf = (k: unknown) =>
    (k as unknown[]).map((p) =>
      p instanceof Uint8Array
        ? ["bytes", [...p]]
        : typeof p === "bigint"
        ? ["bigint", String(p)]
        : p
    );
  await kv.set(["users", 1], { name: "Ada", tags: ["a", "b"] });
  await kv.set(["users", 2], "Grace");
  await kv.set(["users", 10n], true);
  await kv.set(["bin", new Uint8Array([0, 1, 2])], new Uint8Array([9, 8]));
  await kv.set(["n", -1.5], null);
  seen.push(plain((await kv.get(["users", 1])).value));
  seen.push((await kv.get(["missing"])).versionstamp);
  seen.push(
    (await kv.getMany([["users", 2], ["nope"], [
      "bin",
      new Uint8Array([0, 1, 2]),
    ]]))
      .map((e) => plain(e.value)),
  );
  const all = [];
  for await (const e of kv.list({ prefix: [] })) {
    all.push([keyOf(e.key), plain(e.value)]);
  }
  seen.push(all);
  const rev = [];
  for await (
    const e of kv.list({ prefix: ["users"] }, { reverse: true, limit: 2 })
  ) {
    rev.push(keyOf(e.key));
  }
  seen.push(rev);
  // A list resumed from its cursor goes on after the last entry it gave.
  const it = kv.list({ prefix: ["users"] }, { batchSize: 1 });
  const first = await it.next();
  seen.push(keyOf(first.value.key));
  const rest = [];
  for await (const e of kv.list({ prefix: ["users"] }, { cursor: it.cursor })) {
    rest.push(keyOf(e.key));
  }
  seen.push(rest);
  const range = [];
  for await (const e of kv.list({ start: ["users", 10n], end: ["users", 2] })) {
    range.push(keyOf(e.key));
  }
  seen.push(range);
  // Atomic: checks decide; sum, min and max on u64.
  const { versionstamp } = await kv.get(["users", 2]);
  const a = kv.atomic();
  a.check({ key: ["users", 2], versionstamp });
  a.set(["users", 2], "Grace Hopper");
  a.sum(["count"], 5n);
  seen.push((await a.commit()).ok);
  const b = kv.atomic();
  b.check({ key: ["users", 2], versionstamp });
  b.set(["users", 2], "lost");
  seen.push((await b.commit()).ok);
  seen.push(plain((await kv.get(["users", 2])).value));
  const c = kv.atomic();
  c.sum(["count"], 2n ** 64n - 1n);
  c.max(["hi"], 7n);
  c.min(["lo"], 3n);
  await c.commit();
  seen.push(plain((await kv.get(["count"])).value));
  seen.push(
    plain((await kv.get(["hi"])).value),
    plain((await kv.get(["lo"])).value),
  );
  const d = kv.atomic();
  d.check({ key: ["fresh"], versionstamp: null });
  d.set(["fresh"], u64(1n));
  seen.push((await d.commit()).ok);
  await kv.delete(["users", 1]);
  seen.push((await kv.get(["users", 1])).value);
  return seen;
}

Deno.test("KVClient.kv behaves as Deno.openKv(':memory:') on the same script", async () => {
  const local = await Deno.openKv(":memory:");
  const node = new NodeProcess(freePort(), []);
  const client = new KVClient({ nodes: [node.address] });
  try {
    await node.ready();
    const expected = await script(
      local as unknown as AnyKv,
      (n) => new Deno.KvU64(n),
    );
    const got = await script(
      client.kv as unknown as AnyKv,
      (n) => new KvU64(n),
    );
    assertEquals(got, expected);
  } finally {
    local.close();
    client.close();
    await node.kill();
  }
});

Deno.test("KVClient.kvDatabase() reaches a named database", async () => {
  const node = new NodeProcess(freePort(), []);
  const client = new KVClient({ nodes: [node.address] });
  try {
    await node.ready();
    await client.kvDatabase("other").set(["k"], 1);
    assertEquals((await client.kv.get(["k"])).value, null);
    assertEquals((await client.kvDatabase("other").get(["k"])).value, 1);
  } finally {
    client.close();
    await node.kill();
  }
});
