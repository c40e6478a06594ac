import { assertEquals } from "@std/assert";
import type { StoredRecord } from "../storage/mod.ts";
import { ATOMIC_OPS } from "./atomic_ops.ts";

function record(
  value: unknown,
  expiresAtMs: number | null = null,
): StoredRecord {
  return {
    key: "k",
    value,
    version: [1, 0, "n"],
    tombstone: false,
    expiresAtMs,
  };
}

function run(
  op: string,
  records: (StoredRecord | undefined)[],
  args: string[],
  now = 1000,
) {
  return ATOMIC_OPS.get(op)!(records, args, now);
}

Deno.test("incrby keeps the expiry, refuses non-integers and overflow", () => {
  assertEquals(run("incrby", [record("41", 5000)], ["k", "1"]), {
    reply: { i: "42" },
    writes: [{ key: "k", value: "42", expiresAtMs: 5000 }],
  });
  assertEquals(run("incrby", [undefined], ["k", "-3"]).reply, { i: "-3" });
  assertEquals(run("incrby", [record("1.5")], ["k", "1"]).writes, []);
  assertEquals(run("incrby", [record(" 1")], ["k", "1"]).reply, {
    e: "ERR value is not an integer or out of range",
  });
  assertEquals(
    run("incrby", [record("9223372036854775807")], ["k", "1"]).reply,
    {
      e: "ERR increment or decrement would overflow",
    },
  );
  // A JSON-RPC number is its JSON text.
  assertEquals(run("incrby", [record(7)], ["k", "1"]).reply, { i: "8" });
});

Deno.test("incrbyfloat prints as Redis does", () => {
  assertEquals(
    run("incrbyfloat", [record("10.5")], ["k", "0.1"]).reply,
    "10.6",
  );
  assertEquals(run("incrbyfloat", [undefined], ["k", "5.0e3"]).reply, "5000");
  assertEquals(
    run("incrbyfloat", [undefined], ["k", "1e-7"]).reply,
    "0.0000001",
  );
  assertEquals(run("incrbyfloat", [record("abc")], ["k", "1"]).reply, {
    e: "ERR value is not a valid float",
  });
});

Deno.test("set: NX, XX, GET, KEEPTTL and an expiry in the past", () => {
  const nx = (r: StoredRecord | undefined) =>
    run("set", [r], ["k", "v", "nx", "", "", "ok"]);
  assertEquals(nx(undefined).reply, { s: "OK" });
  assertEquals(nx(record("old")), { reply: null, writes: [] });
  assertEquals(
    run("set", [record("old", 9000)], ["k", "v", "", "get", "keep", "ok"]),
    {
      reply: "old",
      writes: [{ key: "k", value: "v", expiresAtMs: 9000 }],
    },
  );
  assertEquals(
    run("set", [record("old")], ["k", "v", "", "", "500", "ok"]).writes,
    [
      { key: "k", delete: true },
    ],
  );
  assertEquals(run("set", [undefined], ["k", "v", "nx", "", "", "int"]).reply, {
    i: "1",
  });
});

Deno.test("setrange and append count bytes; rename moves value and expiry", () => {
  assertEquals(run("setrange", [record("hello")], ["k", "7", "x"]).writes, [
    { key: "k", value: "hello\u0000\u0000x", expiresAtMs: null },
  ]);
  assertEquals(run("append", [record("é")], ["k", "é"]).reply, { i: "4" });
  assertEquals(
    run("rename", [record({ a: 1 }, 7000), undefined], ["k", "n", ""]),
    {
      reply: { s: "OK" },
      writes: [{ key: "n", value: { a: 1 }, expiresAtMs: 7000 }, {
        key: "k",
        delete: true,
      }],
    },
  );
  assertEquals(run("rename", [undefined, undefined], ["k", "n", ""]).reply, {
    e: "ERR no such key",
  });
});

Deno.test("expire: NX, XX, GT, LT and a time in the past", () => {
  const r = record("v", 5000);
  assertEquals(run("expire", [r], ["k", "9000", "nx"]).reply, { i: "0" });
  assertEquals(run("expire", [r], ["k", "9000", "gt"]).reply, { i: "1" });
  assertEquals(run("expire", [r], ["k", "4000", "gt"]).reply, { i: "0" });
  assertEquals(run("expire", [record("v")], ["k", "9000", "gt"]).reply, {
    i: "0",
  });
  assertEquals(run("expire", [record("v")], ["k", "9000", "lt"]).reply, {
    i: "1",
  });
  assertEquals(run("expire", [r], ["k", "10", ""]).writes, [{
    key: "k",
    delete: true,
  }]);
});
