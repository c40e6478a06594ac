import { assertEquals, assertThrows } from "@std/assert";
import { BadRequestError } from "../errors.ts";
import { compareBytes } from "./bytes.ts";
import {
  decodeKey,
  encodeKey,
  keyFromJson,
  keyToJson,
  type KvKey,
} from "./key.ts";

const KEYS: KvKey[] = [
  [new Uint8Array([])],
  [new Uint8Array([0])],
  [new Uint8Array([0, 1])],
  [new Uint8Array([1])],
  [""],
  ["\u0000"],
  ["a"],
  ["a", "b"],
  ["a\u0000b"],
  ["b"],
  ["é"],
  [-(2n ** 70n)],
  [-(2n ** 64n)],
  [-256n],
  [-255n],
  [-1n],
  [0n],
  [1n],
  [255n],
  [256n],
  [2n ** 63n],
  [2n ** 64n],
  [2n ** 70n],
  [-Infinity],
  [-1e300],
  [-1.5],
  [-0],
  [0],
  [Number.MIN_VALUE],
  [1],
  [1.5],
  [Infinity],
  [NaN],
  [false],
  [true],
  [true, "x"],
];

Deno.test("encodeKey() orders keys as Deno.openKv orders them", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    for (const key of KEYS) await kv.set(key as Deno.KvKey, 1);
    const denoOrder: unknown[] = [];
    for await (const e of kv.list({ prefix: [] })) denoOrder.push(e.key);
    const ours = [...KEYS].sort((a, b) =>
      compareBytes(encodeKey(a), encodeKey(b))
    );
    assertEquals(
      ours.map((k) => keyToJson(k)),
      denoOrder.map((k) => keyToJson(k as KvKey)),
    );
  } finally {
    kv.close();
  }
});

Deno.test("decodeKey() inverts encodeKey() for every part type", () => {
  for (const key of KEYS) {
    assertEquals(decodeKey(encodeKey(key)), [...key]);
  }
});

Deno.test("keys round-trip through their JSON form, tagged where JSON cannot say them", () => {
  const key: KvKey = ["s", 1.5, 7n, true, new Uint8Array([1, 2]), NaN];
  const json = keyToJson(key);
  assertEquals(json, [
    "s",
    1.5,
    { type: "bigint", value: "7" },
    true,
    { type: "Uint8Array", value: "AQI" },
    { type: "number", value: "NaN" },
  ]);
  assertEquals(keyFromJson(JSON.parse(JSON.stringify(json)), "key"), [...key]);
});

Deno.test("keyFromJson() refuses what is not a key, with Deno KV's wording", () => {
  assertThrows(
    () => keyFromJson("a", "key"),
    BadRequestError,
    "a key is a list of parts",
  );
  assertThrows(
    () => keyFromJson([null], "key"),
    BadRequestError,
    "expected string, number, bigint, ArrayBufferView, boolean",
  );
  assertThrows(
    () => keyFromJson([{ type: "bigint", value: "x" }], "key"),
    BadRequestError,
  );
});
