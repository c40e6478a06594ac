import { assert, assertEquals, assertThrows } from "@std/assert";
import { ConfigError } from "../config.ts";
import { seededRandom } from "./random.ts";
import {
  formatMix,
  keyBytesNeeded,
  makeValue,
  type Op,
  parseMix,
  Workload,
} from "./workload.ts";

const BASE = { keys: 10_000, keySize: 16, valueSize: 100, batch: 10 };

Deno.test("parseMix() reads weights and bare ops", () => {
  assertEquals(parseMix("get=90,set=10"), { get: 90, set: 10 });
  assertEquals(parseMix("mget"), { mget: 1 });
  assertEquals(parseMix(" get = 2.5 , pop=0 "), { get: 2.5, pop: 0 });
  assertEquals(formatMix(parseMix("set=1,get=3")), "get=3,set=1");
});

Deno.test("parseMix() names what is wrong", () => {
  assertThrows(
    () => parseMix("get=90,del=10"),
    ConfigError,
    "unknown op 'del'",
  );
  assertThrows(() => parseMix("get=1,get=2"), ConfigError, "appears twice");
  assertThrows(() => parseMix("get=-1"), ConfigError, "expected op=weight");
  assertThrows(() => parseMix("get=0"), ConfigError, "every weight is 0");
  assertThrows(() => parseMix(""), ConfigError);
});

Deno.test("Workload makes keys of exactly keySize bytes, as preload.ts does", () => {
  const w = new Workload({ ...BASE, mix: { get: 1 } });
  assertEquals(w.key(42), "key:000000000042");
  const wide = new Workload({ ...BASE, mix: { get: 1 }, keySize: 40 });
  assertEquals(wide.key(9_999).length, 40);
  assertEquals(keyBytesNeeded(10_000), "key:9999".length);
  assertEquals(keyBytesNeeded(1), "key:0".length);
});

Deno.test("Workload refuses a key size too small for the key space", () => {
  assertThrows(
    () => new Workload({ ...BASE, mix: { get: 1 }, keys: 100_000, keySize: 8 }),
    ConfigError,
    "'keySize' must be at least 9 for 100000 keys ('key:99999')",
  );
});

Deno.test("Workload refuses a batch larger than the key space", () => {
  assertThrows(
    () => new Workload({ ...BASE, mix: { mget: 1 }, keys: 5, batch: 6 }),
    ConfigError,
    "'batch' must be at most 'keys'",
  );
  // Without mget/mset the batch size does not matter.
  new Workload({ ...BASE, mix: { get: 1 }, keys: 5, batch: 6 });
});

Deno.test("Workload sets values of exactly valueSize characters", () => {
  assertEquals(makeValue(0), "");
  assertEquals(makeValue(100).length, 100);
  const w = new Workload({ ...BASE, mix: { set: 1 }, valueSize: 7 });
  const body = JSON.parse(w.next(seededRandom(1)).body);
  assertEquals(body.function, "set");
  assertEquals(body.args[1], "0123456");
  assertEquals(body.kwargs, {});
});

Deno.test("Workload bodies are the JSON-RPC envelope of each op", () => {
  for (const op of ["get", "has", "pop", "set", "mget", "mset"] as Op[]) {
    const w = new Workload({ ...BASE, mix: { [op]: 1 } });
    const request = w.next(seededRandom(7));
    assertEquals(request.op, op);
    const body = JSON.parse(request.body);
    assertEquals(body.function, op);
    assert(Array.isArray(body.args));
    if (op === "mget") {
      assertEquals(request.keys, 10);
      assertEquals(new Set(body.args[0]).size, 10, "distinct keys");
    } else if (op === "mset") {
      assertEquals(request.keys, 10);
      assertEquals(Object.keys(body.args[0]).length, 10);
    } else {
      assertEquals(request.keys, 1);
      assertEquals(body.args[0].length, 16);
    }
  }
});

Deno.test("Workload batches wrap around the end of the key space", () => {
  const w = new Workload({ ...BASE, mix: { mget: 1 }, keys: 12, batch: 12 });
  const keys = JSON.parse(w.next(seededRandom(3)).body).args[0] as string[];
  assertEquals(new Set(keys).size, 12);
});

Deno.test("Workload draws the same requests from the same seed", () => {
  const w = new Workload({ ...BASE, mix: { get: 3, set: 1, mget: 1 } });
  const draw = (seed: number) => {
    const random = seededRandom(seed);
    return Array.from({ length: 50 }, () => w.next(random).body);
  };
  assertEquals(draw(11), draw(11));
  assert(draw(11).join() !== draw(12).join());
});

Deno.test("Workload follows the mix's weights", () => {
  const w = new Workload({ ...BASE, mix: { get: 90, set: 10, pop: 0 } });
  const random = seededRandom(5);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 20_000; i++) {
    const { op } = w.next(random);
    counts[op] = (counts[op] ?? 0) + 1;
  }
  assertEquals(counts.pop, undefined);
  const share = counts.get! / 20_000;
  assert(share > 0.88 && share < 0.92, `get share ${share}`);
});
