import { assert, assertEquals } from "@std/assert";
import type { StoredRecord } from "../storage/mod.ts";
import { HintStore } from "./hints.ts";

const record = (
  key: string,
  wall: number,
  value: unknown = "v",
): StoredRecord => ({
  key,
  value,
  version: [wall, 0, "n"],
  tombstone: false,
  expiresAtMs: null,
});

Deno.test("HintStore keeps the newest write per key and target", () => {
  const hints = new HintStore();
  assert(hints.add("b:1", record("k", 1, "old")));
  assert(hints.add("b:1", record("k", 2, "new")));
  assert(hints.add("b:1", record("k", 1, "older")));
  assertEquals(hints.peek("b:1", 10).map((r) => r.value), ["new"]);
  assertEquals(hints.stats().count, 1);
});

Deno.test("HintStore refuses hints beyond its count and byte bounds", () => {
  const byCount = new HintStore({ countMax: 2 });
  assert(byCount.add("b:1", record("a", 1)));
  assert(byCount.add("c:1", record("b", 1)));
  assertEquals(byCount.add("b:1", record("c", 1)), false);
  assertEquals(byCount.stats().refused, 1);
  const byBytes = new HintStore({ bytesMax: 100 });
  assertEquals(byBytes.add("b:1", record("k", 1, "x".repeat(200))), false);
});

Deno.test("delivered() drops handed-over hints but keeps a newer write", () => {
  const hints = new HintStore();
  hints.add("b:1", record("a", 1));
  hints.add("b:1", record("b", 1));
  const batch = hints.peek("b:1", 10);
  hints.add("b:1", record("b", 2, "newer"));
  hints.delivered("b:1", batch);
  assertEquals(hints.peek("b:1", 10).map((r) => r.value), ["newer"]);
  assertEquals(hints.stats().count, 1);
  assertEquals(hints.stats().delivered, 1);
  hints.drop("b:1");
  assertEquals(hints.stats(), {
    count: 0,
    bytes: 0,
    targets: {},
    delivered: 1,
    refused: 0,
  });
});
