/**
 * Memory engine overhead per key: heap used by N records (16-byte keys,
 * 100-byte values, as the coordinator writes them) minus the 116 bytes of
 * key and value payload, per key.
 *
 * deno run --v8-flags=--expose-gc bench/memory_overhead.ts [N=1000000]
 *
 * @module
 */

import { HybridClock, systemClock } from "../src/clock/mod.ts";
import { MemoryStore } from "../src/storage/mod.ts";

const count = Number(Deno.args[0] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error("run with --v8-flags=--expose-gc");
  Deno.exit(2);
}

function heapAfterGc(): number {
  gc!();
  gc!();
  return Deno.memoryUsage().heapUsed;
}

const store = new MemoryStore();
const hlc = new HybridClock(systemClock, "127.0.0.1:5878");
const filler = "v".repeat(88);
const before = heapAfterGc();
for (let i = 0; i < count; i++) {
  const key = "key:" + String(i).padStart(12, "0"); // 16 bytes
  const value = filler + String(i).padStart(12, "0"); // 100 bytes, distinct
  await store.apply({
    key,
    value,
    version: hlc.now(),
    tombstone: false,
    expiresAtMs: null,
  });
}
const loaded = heapAfterGc();
store.scan({ limit: 1 }); // builds the sorted key index list_keys uses
const indexed = heapAfterGc();
const payload = 16 + 100;
const perKey = (bytes: number) => (bytes - before) / count;
console.log(`records:                ${count}`);
console.log(`heap per key:           ${perKey(loaded).toFixed(1)} bytes`);
console.log(
  `overhead per key:       ${(perKey(loaded) - payload).toFixed(1)} bytes ` +
    `(beyond ${payload} bytes of key and value)`,
);
console.log(
  `with the sorted index:  ${(perKey(indexed) - payload).toFixed(1)} bytes`,
);
