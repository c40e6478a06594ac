// A Deno KV program, unmodified whichever database it opens: the public
// API of Deno.Kv exercised widely (key parts and their order, value types,
// get/getMany/list with every selector and option, atomic with checks and
// every mutation, versionstamps, expiry, watch, limits). Its expectations
// are Deno's own: the same file passes against Deno.openKv(":memory:").
//
//   deno run -A --unstable-kv scenarios.mjs <url | :memory:> [deno | npm]
//   node scenarios.mjs <url> npm          (npm @deno/kv, on Node)
//
// "deno" opens the database with Deno.openKv; "npm" with npm @deno/kv's
// own KV Connect client (implementation "remote": fetch, HTTP/1.1). Prints
// one line per scenario ("ok <name>" or "FAIL <name>: <why>"), then
// "<passed> passed, <failed> failed"; exits 1 if any failed.
//
// Plain JavaScript so that Node runs it as it is.

import assert from "node:assert/strict";
import process from "node:process";

const [target = ":memory:", clientKind = "deno"] = process.argv.slice(
  globalThis.Deno ? 2 : 2,
);

async function open() {
  if (clientKind === "deno") {
    return { kv: await Deno.openKv(target), KvU64: Deno.KvU64 };
  }
  const spec = process.env.DENO_KV_MODULE ?? "@deno/kv";
  const mod = await import(spec);
  const kv = await mod.openKv(target, {
    implementation: "remote",
    accessToken: process.env.DENO_KV_ACCESS_TOKEN ?? "no-token-needed",
  });
  return { kv, KvU64: mod.KvU64 };
}

const { kv, KvU64 } = await open();
// Every key of this run lives under its own first part.
const run = `run-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
const k = (...parts) => [run, ...parts];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function collect(iter) {
  const out = [];
  for await (const e of iter) out.push(e);
  return out;
}

async function throws(what, fn) {
  let threw = false;
  try {
    await fn();
  } catch {
    threw = true;
  }
  assert.ok(threw, `${what} should throw`);
}

const scenarios = [];
const scenario = (name, fn) => scenarios.push({ name, fn });

scenario(
  "every key part type is stored and ordered as Deno KV orders them",
  async () => {
    // bytes < string < bigint < number < boolean, each in its natural order.
    const parts = [
      new Uint8Array([]),
      new Uint8Array([0]),
      new Uint8Array([0, 0]),
      new Uint8Array([1]),
      new Uint8Array([255]),
      "",
      "\u0000",
      "A",
      "a",
      "a\u0000",
      "aa",
      "é",
      "日本",
      "🙂",
      -(2n ** 64n),
      -1n,
      0n,
      1n,
      2n ** 64n,
      -Infinity,
      -1e300,
      -1,
      -0.5,
      0,
      Number.MIN_VALUE,
      0.5,
      1,
      2 ** 53,
      1e300,
      Infinity,
      false,
      true,
    ];
    const shuffled = [...parts].reverse();
    for (const [i, p] of shuffled.entries()) {
      await kv.set(k("order", p), i);
    }
    const listed = await collect(kv.list({ prefix: k("order") }));
    assert.equal(listed.length, parts.length);
    assert.deepEqual(listed.map((e) => e.key[2]), parts);
    const reversed = await collect(kv.list({ prefix: k("order") }, {
      reverse: true,
    }));
    assert.deepEqual(reversed.map((e) => e.key[2]), [...parts].reverse());
    // Longer keys follow their prefixes; multi-part keys compare part by part.
    await kv.set(k("tuple", "a"), 1);
    await kv.set(k("tuple", "a", 1), 2);
    await kv.set(k("tuple", "a", "b"), 3);
    await kv.set(k("tuple", "b"), 4);
    const tuples = await collect(kv.list({ prefix: k("tuple") }));
    assert.deepEqual(tuples.map((e) => e.key.slice(2)), [
      ["a"],
      ["a", "b"],
      ["a", 1],
      ["b"],
    ]);
  },
);

scenario("every value type round-trips", async () => {
  const date = new Date(1_700_000_000_123);
  const values = [
    "string",
    "",
    42,
    -0.25,
    NaN,
    Infinity,
    2n ** 70n,
    true,
    false,
    null,
    undefined,
    [1, "two", [3]],
    { nested: { deep: [1, { x: null }] } },
    date,
    /ab+c/gi,
    new Map([["a", 1], ["b", [2]]]),
    new Set([1, "x"]),
    new Uint8Array([0, 1, 2, 255]),
  ];
  for (const [i, v] of values.entries()) {
    await kv.set(k("value", i), v);
    const got = await kv.get(k("value", i));
    assert.deepEqual(got.value, v, `value ${i}`);
    assert.equal(typeof got.versionstamp, "string");
  }
  const u = new KvU64(18_446_744_073_709_551_615n);
  await kv.set(k("value", "u64"), u);
  const got = (await kv.get(k("value", "u64"))).value;
  assert.equal(got.value, 18_446_744_073_709_551_615n);
  // A value of 64 KiB is the limit (a V8 string of 65,530 ASCII chars fits).
  const big = "x".repeat(65_000);
  await kv.set(k("value", "big"), big);
  assert.equal((await kv.get(k("value", "big"))).value, big);
});

scenario(
  "get and getMany read absent keys as null and keep the order asked",
  async () => {
    const absent = await kv.get(k("nothing"));
    assert.deepEqual(absent, {
      key: k("nothing"),
      value: null,
      versionstamp: null,
    });
    await kv.set(k("many", 1), "one");
    await kv.set(k("many", 3), "three");
    const got = await kv.getMany([k("many", 3), k("many", 2), k("many", 1)]);
    assert.deepEqual(got.map((e) => e.value), ["three", null, "one"]);
    assert.equal(got[1].versionstamp, null);
    const eventual = await kv.get(k("many", 1), { consistency: "eventual" });
    assert.equal(eventual.value, "one");
    const ten = Array.from({ length: 10 }, (_, i) => k("many", i));
    assert.equal((await kv.getMany(ten)).length, 10);
  },
);

scenario("list takes every selector and option", async () => {
  for (let i = 0; i < 25; i++) await kv.set(k("list", i), i);
  await kv.set(k("listx"), "outside");
  const values = (es) => es.map((e) => e.value);
  const all = await collect(kv.list({ prefix: k("list") }));
  assert.deepEqual(values(all), Array.from({ length: 25 }, (_, i) => i));
  const range = await collect(
    kv.list({ start: k("list", 5), end: k("list", 9) }),
  );
  assert.deepEqual(values(range), [5, 6, 7, 8]);
  const fromStart = await collect(
    kv.list({ prefix: k("list"), start: k("list", 20) }),
  );
  assert.deepEqual(values(fromStart), [20, 21, 22, 23, 24]);
  const toEnd = await collect(
    kv.list({ prefix: k("list"), end: k("list", 3) }),
  );
  assert.deepEqual(values(toEnd), [0, 1, 2]);
  const limited = await collect(kv.list({ prefix: k("list") }, { limit: 4 }));
  assert.deepEqual(values(limited), [0, 1, 2, 3]);
  const rev = await collect(
    kv.list({ prefix: k("list") }, { limit: 3, reverse: true }),
  );
  assert.deepEqual(values(rev), [24, 23, 22]);
  // Small batches page through everything, each page a cursor on.
  const batched = await collect(
    kv.list({ prefix: k("list") }, { batchSize: 4 }),
  );
  assert.deepEqual(values(batched), values(all));
  // A cursor resumes a listing where an earlier one stopped.
  const iter = kv.list({ prefix: k("list") }, { limit: 10 });
  await collect(iter);
  const rest = await collect(
    kv.list({ prefix: k("list") }, { cursor: iter.cursor }),
  );
  assert.deepEqual(values(rest), Array.from({ length: 15 }, (_, i) => i + 10));
  const revIter = kv.list({ prefix: k("list") }, { limit: 20, reverse: true });
  await collect(revIter);
  const revRest = await collect(kv.list({ prefix: k("list") }, {
    cursor: revIter.cursor,
    reverse: true,
  }));
  assert.deepEqual(values(revRest), [4, 3, 2, 1, 0]);
  const eventual = await collect(
    kv.list({ prefix: k("list") }, { consistency: "eventual" }),
  );
  assert.equal(eventual.length, 25);
  assert.deepEqual(await collect(kv.list({ prefix: k("list", "none") })), []);
  // Selectors Deno refuses.
  await throws(
    "start after end",
    () => collect(kv.list({ start: k("list", 9), end: k("list", 5) })),
  );
});

scenario("atomic checks decide the whole commit", async () => {
  const first = await kv.atomic()
    .check({ key: k("cas"), versionstamp: null })
    .set(k("cas"), "first")
    .set(k("cas-side"), "side")
    .commit();
  assert.equal(first.ok, true);
  const entry = await kv.get(k("cas"));
  assert.equal(entry.versionstamp, first.versionstamp);
  assert.equal((await kv.get(k("cas-side"))).versionstamp, first.versionstamp);
  // A stale check fails, and none of the commit's mutations is applied.
  const stale = await kv.atomic()
    .check({ key: k("cas"), versionstamp: null })
    .set(k("cas"), "second")
    .set(k("cas-other"), "other")
    .commit();
  assert.deepEqual(stale, { ok: false });
  assert.equal((await kv.get(k("cas"))).value, "first");
  assert.equal((await kv.get(k("cas-other"))).value, null);
  const fresh = await kv.atomic()
    .check(entry)
    .delete(k("cas"))
    .commit();
  assert.equal(fresh.ok, true);
  assert.equal((await kv.get(k("cas"))).value, null);
  assert.ok(fresh.versionstamp > first.versionstamp);
  // Several checks: all must hold.
  await kv.set(k("c1"), 1);
  const c1 = await kv.get(k("c1"));
  const two = await kv.atomic()
    .check(c1)
    .check({ key: k("c2"), versionstamp: null })
    .set(k("c2"), 2)
    .commit();
  assert.equal(two.ok, true);
});

scenario("sum, min and max work on u64s; sum wraps around", async () => {
  const U = (n) => new KvU64(n);
  await kv.atomic().sum(k("sum"), 5n).commit();
  await kv.atomic().sum(k("sum"), 7n).commit();
  assert.equal((await kv.get(k("sum"))).value.value, 12n);
  await kv.set(k("wrap"), U(18_446_744_073_709_551_615n));
  await kv.atomic().sum(k("wrap"), 2n).commit();
  assert.equal((await kv.get(k("wrap"))).value.value, 1n);
  await kv.atomic().min(k("min"), 9n).commit();
  await kv.atomic().min(k("min"), 4n).commit();
  await kv.atomic().min(k("min"), 6n).commit();
  assert.equal((await kv.get(k("min"))).value.value, 4n);
  await kv.atomic().max(k("max"), 3n).commit();
  await kv.atomic().max(k("max"), 8n).commit();
  await kv.atomic().max(k("max"), 5n).commit();
  assert.equal((await kv.get(k("max"))).value.value, 8n);
  // On a value that is not a u64, the commit fails. (Deno's own SQLite
  // backend keeps the commit's other mutations then; KVDB undoes them.)
  await kv.set(k("notu64"), "text");
  await throws(
    "sum on a string",
    () => kv.atomic().sum(k("notu64"), 1n).commit(),
  );
  assert.equal((await kv.get(k("notu64"))).value, "text");
});

scenario(
  "every mutation of one commit shares its versionstamp, and versionstamps increase",
  async () => {
    const r = await kv.atomic()
      .set(k("vs", 1), "a")
      .set(k("vs", 2), "b")
      .sum(k("vs", 3), 1n)
      .commit();
    const got = await kv.getMany([k("vs", 1), k("vs", 2), k("vs", 3)]);
    assert.deepEqual(got.map((e) => e.versionstamp), [
      r.versionstamp,
      r.versionstamp,
      r.versionstamp,
    ]);
    assert.match(r.versionstamp, /^[0-9a-f]{20}$/);
    let last = r.versionstamp;
    for (let i = 0; i < 5; i++) {
      const next = await kv.set(k("vs", "seq"), i);
      assert.ok(next.versionstamp > last);
      last = next.versionstamp;
    }
    const del = await kv.atomic().delete(k("vs", 1)).commit();
    assert.ok(del.versionstamp > last);
  },
);

scenario(
  "an entry set with expireIn is readable until it expires",
  async () => {
    await kv.set(k("ttl", "long"), "stays", { expireIn: 3_600_000 });
    assert.equal((await kv.get(k("ttl", "long"))).value, "stays");
    await kv.atomic().set(k("ttl", "short"), "goes", { expireIn: 1 }).commit();
    // Deno KV removes expired entries some time after they expire: before
    // that, a read may still see them.
    const v = (await kv.get(k("ttl", "short"))).value;
    assert.ok(v === "goes" || v === null);
  },
);

scenario("watch sends every key at once, then each change", async () => {
  await kv.set(k("w", "a"), "a0");
  const stream = kv.watch([k("w", "a"), k("w", "b")]);
  const reader = stream.getReader();
  const first = (await reader.read()).value;
  assert.deepEqual(first.map((e) => e.value), ["a0", null]);
  assert.equal(first[1].versionstamp, null);
  const set = await kv.set(k("w", "b"), "b1");
  // Changes may be collapsed: read until the change shows.
  let frame;
  do {
    frame = (await reader.read()).value;
  } while (frame[1].value !== "b1");
  assert.equal(frame[0].value, "a0");
  assert.equal(frame[1].versionstamp, set.versionstamp);
  await kv.delete(k("w", "a"));
  do {
    frame = (await reader.read()).value;
  } while (frame[0].value !== null);
  assert.equal(frame[0].versionstamp, null);
  assert.equal(frame[1].value, "b1");
  await reader.cancel();
});

scenario("Deno KV's limits are refused", async () => {
  await throws("a 2,049-byte key", () => kv.set(k("x".repeat(2_100)), 1));
  await throws(
    "a value over 64 KiB",
    () => kv.set(k("big"), new Uint8Array(65_537)),
  );
  await throws("an empty key", () => kv.set([], 1));
  await throws(
    "getMany of 11 keys",
    () => kv.getMany(Array.from({ length: 11 }, (_, i) => k(i))),
  );
  await throws("1,001 mutations", () => {
    const op = kv.atomic();
    for (let i = 0; i < 1_001; i++) op.set(k("m", i), i);
    return op.commit();
  });
  // npm @deno/kv checks no watch limit itself, and the server's 400 escapes
  // its stream as an unhandled rejection: Deno.Kv only.
  if (clientKind === "deno") {
    await throws("a watch of 11 keys", async () => {
      const r = kv.watch(Array.from({ length: 11 }, (_, i) => k(i)))
        .getReader();
      await r.read();
    });
  }
  // At the limits themselves, all is well.
  const op = kv.atomic();
  for (let i = 0; i < 1_000; i++) op.set(k("m", i), i);
  assert.equal((await op.commit()).ok, true);
  assert.equal((await collect(kv.list({ prefix: k("m") }))).length, 1_000);
});

let passed = 0;
let failed = 0;
for (const { name, fn } of scenarios) {
  try {
    await fn();
    passed++;
    console.log(`ok ${name}`);
  } catch (error) {
    failed++;
    console.log(`FAIL ${name}: ${error?.stack ?? error}`);
  }
}
kv.close();
console.log(`${passed} passed, ${failed} failed`);
await sleep(0);
process.exit(failed === 0 ? 0 : 1);
