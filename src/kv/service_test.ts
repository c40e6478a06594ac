import { assertEquals, assertRejects } from "@std/assert";
import { setImmediate } from "node:timers";
import { systemClock } from "../clock/mod.ts";
import { BadRequestError } from "../errors.ts";
import { KvDatabases } from "./manager.ts";
import { KvService } from "./service.ts";

/** A one-node KV database, in memory, as `deno task start --memory` has it. */
function oneNode(): { kv: KvService; dbs: KvDatabases } {
  const self = "127.0.0.1:1";
  const dbs = new KvDatabases({
    self,
    founders: [self],
    voters: 3,
    transport: {
      call: () => Promise.reject(new Error("no peers in this test")),
    },
    clock: systemClock,
    schedule: (fn) => void setImmediate(fn),
    random: Math.random,
    members: () => [{ address: self, state: "alive" }],
    requestDeadlineMs: 2_000,
    peerDeadlineMs: 1_000,
  });
  dbs.start();
  return { kv: new KvService(dbs, { now: () => Date.now() }), dbs };
}

async function withKv(fn: (kv: KvService) => Promise<void>) {
  const { kv, dbs } = oneNode();
  try {
    await fn(kv);
  } finally {
    dbs.stop();
  }
}

const u64 = (n: number | bigint) => ({ type: "KvU64", value: String(n) });

Deno.test("kv: a set is read back with its versionstamp; an absent key reads as nulls", () =>
  withKv(async (kv) => {
    const r = await kv.atomic([], [{
      type: "set",
      key: ["a"],
      value: { x: 1 },
    }]);
    assertEquals(r.ok, true);
    const got = await kv.get(["a"]);
    assertEquals(got.value, { x: 1 });
    assertEquals(
      got.versionstamp,
      (r as { versionstamp: string }).versionstamp,
    );
    assertEquals(await kv.get(["nope"]), {
      key: ["nope"],
      value: null,
      versionstamp: null,
    });
  }));

Deno.test("kv: versionstamps strictly increase, and every key of one commit shares one", () =>
  withKv(async (kv) => {
    const a = await kv.atomic([], [
      { type: "set", key: ["x"], value: 1 },
      { type: "set", key: ["y"], value: 2 },
    ]);
    const b = await kv.atomic([], [{ type: "set", key: ["x"], value: 3 }]);
    const [x, y] = await kv.getMany([["x"], ["y"]]);
    assertEquals(y!.versionstamp, (a as { versionstamp: string }).versionstamp);
    assertEquals(x!.versionstamp, (b as { versionstamp: string }).versionstamp);
    assertEquals(x!.versionstamp! > y!.versionstamp!, true);
    assertEquals(x!.versionstamp!.length, 20);
  }));

Deno.test("kv: a check against a versionstamp or absence decides the whole commit", () =>
  withKv(async (kv) => {
    assertEquals(
      (await kv.atomic([{ key: ["k"], versionstamp: null }], [
        { type: "set", key: ["k"], value: "first" },
      ])).ok,
      true,
    );
    // The key exists now: the same check fails and nothing is written.
    assertEquals(
      await kv.atomic([{ key: ["k"], versionstamp: null }], [
        { type: "set", key: ["k"], value: "second" },
        { type: "set", key: ["other"], value: 1 },
      ]),
      { ok: false },
    );
    assertEquals((await kv.get(["other"])).value, null);
    const { versionstamp } = await kv.get(["k"]);
    assertEquals(
      (await kv.atomic([{ key: ["k"], versionstamp }], [
        { type: "delete", key: ["k"] },
      ])).ok,
      true,
    );
    assertEquals((await kv.get(["k"])).versionstamp, null);
  }));

Deno.test("kv: sum wraps at 2^64, min and max keep the smaller and larger, on u64 only", () =>
  withKv(async (kv) => {
    await kv.atomic([], [{
      type: "sum",
      key: ["n"],
      value: u64(2n ** 64n - 1n),
    }]);
    await kv.atomic([], [{ type: "sum", key: ["n"], value: u64(2) }]);
    assertEquals((await kv.get(["n"])).value, u64(1));
    await kv.atomic([], [{ type: "max", key: ["n"], value: 10 }]);
    await kv.atomic([], [{ type: "min", key: ["n"], value: u64(7) }]);
    assertEquals((await kv.get(["n"])).value, u64(7));
    await kv.atomic([], [{ type: "set", key: ["s"], value: "text" }]);
    await assertRejects(
      () => kv.atomic([], [{ type: "sum", key: ["s"], value: u64(1) }]),
      BadRequestError,
      "Failed to perform 'sum' mutation on a non-U64 value in the database",
    );
    // All or nothing: the mutations before the failing one are undone.
    await assertRejects(
      () =>
        kv.atomic([], [
          { type: "set", key: ["before"], value: 1 },
          { type: "sum", key: ["n"], value: u64(5) },
          { type: "max", key: ["s"], value: u64(1) },
        ]),
      BadRequestError,
      "Failed to perform 'max' mutation",
    );
    assertEquals((await kv.get(["before"])).versionstamp, null);
    assertEquals((await kv.get(["n"])).value, u64(7));
  }));

Deno.test("kv: list by prefix, start and end, reverse, limit and cursor, each page in key order", () =>
  withKv(async (kv) => {
    const muts = [];
    for (let i = 0; i < 25; i++) {
      muts.push({ type: "set", key: ["p", i], value: i });
    }
    muts.push({ type: "set", key: ["p"], value: "the prefix itself" });
    muts.push({ type: "set", key: ["q", 0], value: "outside" });
    await kv.atomic([], muts);
    const all = await kv.list({ prefix: ["p"] }, { limit: 1000 });
    assertEquals(all.entries.map((e) => e.value), [...Array(25).keys()]);
    assertEquals(all.cursor, null);
    const seen: unknown[] = [];
    let cursor: string | null = null;
    do {
      const page: { entries: { value: unknown }[]; cursor: string | null } =
        await kv.list({ prefix: ["p"] }, { limit: 10, cursor, reverse: true });
      seen.push(...page.entries.map((e) => e.value));
      cursor = page.cursor;
    } while (cursor !== null);
    assertEquals(seen, [...Array(25).keys()].reverse());
    const range = await kv.list({ start: ["p", 5], end: ["p", 8] });
    assertEquals(range.entries.map((e) => e.value), [5, 6, 7]);
    const from = await kv.list({ prefix: ["p"], start: ["p", 23] });
    assertEquals(from.entries.map((e) => e.value), [23, 24]);
  }));

Deno.test("kv: Deno KV's limits, with its error texts", () =>
  withKv(async (kv) => {
    const cases: [() => Promise<unknown>, string][] = [
      [
        () =>
          kv.atomic([], [{ type: "set", key: ["x".repeat(2100)], value: 1 }]),
        "Key too large for write (max 2048 bytes)",
      ],
      [
        () => kv.get(["x".repeat(2100)]),
        "Key too large for read (max 2049 bytes)",
      ],
      [
        () =>
          kv.atomic([], [{
            type: "set",
            key: ["v"],
            value: { type: "Uint8Array", value: "A".repeat(90_000) },
          }]),
        "Value too large (max 65536 bytes)",
      ],
      [
        () => kv.getMany(Array.from({ length: 11 }, (_, i) => [i])),
        "Too many ranges (max 10)",
      ],
      [
        () => kv.list({ prefix: [] }, { limit: 1001 }),
        "Too many entries (max 1000)",
      ],
      [
        () =>
          kv.atomic(
            Array.from(
              { length: 101 },
              (_, i) => ({ key: [i], versionstamp: null }),
            ),
            [],
          ),
        "Too many checks (max 100)",
      ],
      [
        () =>
          kv.atomic(
            [],
            Array.from(
              { length: 1001 },
              (_, i) => ({ type: "delete", key: [i] }),
            ),
          ),
        "Too many mutations (max 1000)",
      ],
      [
        () =>
          kv.atomic(
            [],
            Array.from({ length: 14 }, (_, i) => ({
              type: "set",
              key: [i],
              value: { type: "Uint8Array", value: "A".repeat(84_000) },
            })),
          ),
        "Total mutation size too large (max 819200 bytes)",
      ],
      [
        () =>
          kv.atomic(
            [],
            Array.from({ length: 50 }, (_, i) => ({
              type: "delete",
              key: [i, "x".repeat(2000)],
            })),
          ),
        "Total key size too large (max 81920 bytes)",
      ],
      [
        () => kv.atomic([], [{ type: "set", key: [], value: 1 }]),
        "key cannot be empty",
      ],
      [
        () => kv.atomic([{ key: ["a"], versionstamp: "zz" }], []),
        "Invalid check",
      ],
      [
        () => kv.atomic([], [{ type: "append", key: ["a"], value: 1 }]),
        "Invalid mutation type",
      ],
      [
        () =>
          kv.atomic([], [{ type: "set", key: ["a"], value: 1, expireIn: -5 }]),
        "expireIn must be a non-negative integer: received -5",
      ],
      [
        () => kv.list({ prefix: ["a"], start: ["b"] }),
        "Start key is not in the keyspace defined by prefix",
      ],
      [() => kv.list({ prefix: [] }, { cursor: "!!" }), "invalid cursor"],
    ];
    for (const [f, text] of cases) {
      await assertRejects(f, BadRequestError, text);
    }
  }));

Deno.test("kv: a commit retried with the same id is applied once and answers its first outcome", () =>
  withKv(async (kv) => {
    const sum = () =>
      kv.atomic([], [{ type: "sum", key: ["c"], value: u64(1) }], {
        id: "once",
      });
    const first = await sum();
    const again = await sum();
    assertEquals(again, first);
    assertEquals((await kv.get(["c"])).value, u64(1));
  }));

Deno.test("kv: named databases are separate keyspaces", () =>
  withKv(async (kv) => {
    await kv.atomic([], [{ type: "set", key: ["a"], value: "in other" }], {
      db: "other",
    });
    assertEquals((await kv.get(["a"])).value, null);
    assertEquals((await kv.get(["a"], { db: "other" })).value, "in other");
    await assertRejects(
      () => kv.get(["a"], { db: "no/slash" }),
      BadRequestError,
      "'db' must be a database name",
    );
  }));

Deno.test("kv: expired entries are purged by the leader", () =>
  withKv(async (kv) => {
    await kv.atomic([], [{ type: "set", key: ["e"], value: 1, expireIn: 50 }]);
    assertEquals((await kv.get(["e"])).value, 1);
    const deadline = Date.now() + 5_000;
    while ((await kv.get(["e"])).value !== null) {
      if (Date.now() > deadline) throw new Error("not purged");
      await new Promise((r) => setTimeout(r, 50));
    }
  }));
