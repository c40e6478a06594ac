/**
 * Costs of ring placement, to justify hashing keys with murmur3 rather than
 * an awaited Web Crypto digest (see docs/ring.md).
 *
 * Run: `deno bench bench/ring_bench.ts`
 *
 * @module
 */

import { hashKey, Ring, VNODES_DEFAULT } from "../src/ring/mod.ts";

const MEMBERS = [5878, 5879, 5880, 5881, 5882].map((p) => `127.0.0.1:${p}`);

// Distinct keys, as real traffic has: one repeated key would measure a
// single warm cache line. Each is 16 bytes of UTF-8.
const KEYS = Array.from(
  { length: 4096 },
  (_, i) => `session:${String(i * 7919).padStart(8, "0")}`,
);
const KEYS_UNICODE = KEYS.map((key) => `clé:ключ${key.slice(-3)}`);
const KEYS_BYTES = KEYS.map((key) => new TextEncoder().encode(key));
let next = 0;
// Results land here so that no call can be optimized away.
let sink = 0;

const ring = await Ring.build(MEMBERS);
for (const key of KEYS) ring.preferenceList(key, 3);

Deno.bench("hashKey() of a 16-byte ASCII key", {
  group: "key hash",
  baseline: true,
}, () => {
  sink ^= hashKey(KEYS[next++ & 4095]!);
});

Deno.bench("hashKey() of a 16-byte non-ASCII key", {
  group: "key hash",
}, () => {
  sink ^= hashKey(KEYS_UNICODE[next++ & 4095]!);
});

Deno.bench("awaited crypto.subtle.digest(SHA-256) of a 16-byte key", {
  group: "key hash",
}, async () => {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    KEYS_BYTES[next++ & 4095]!,
  );
  sink ^= digest.byteLength;
});

Deno.bench(
  `preferenceList(key, 3) on 5 members x ${VNODES_DEFAULT} vnodes`,
  () => {
    sink ^= ring.preferenceList(KEYS[next++ & 4095]!, 3).length;
  },
);

// Last: its garbage would otherwise disturb the nanosecond cases.
Deno.bench(`Ring.build() of 5 members x ${VNODES_DEFAULT} vnodes`, {
  n: 20,
  warmup: 2,
}, async () => {
  sink ^= (await Ring.build(MEMBERS)).vnodes;
});
