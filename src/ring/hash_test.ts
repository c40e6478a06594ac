import { assertEquals } from "@std/assert";
import { HASH_SEED, hashKey, murmur3 } from "./hash.ts";

// Expected values are MurmurHash3 x86_32 of the UTF-8 bytes, checked
// against the reference C implementation (via the `murmurhash` Python
// package) and, where noted, published vectors.

Deno.test("hashKey() uses seed 0", () => {
  assertEquals(HASH_SEED, 0);
  assertEquals(hashKey("hello"), murmur3("hello", 0));
});

Deno.test("hashKey() matches murmur3 x86_32 known answers for ASCII", () => {
  const vectors: [string, number][] = [
    ["", 0],
    ["a", 1009084850],
    ["ab", 2613040991],
    ["abc", 3017643002],
    ["abcd", 1139631978],
    ["abcde", 3902511862],
    ["hello", 0x248bfa47],
    ["Hello, world!", 0xc0363e43],
    ["The quick brown fox jumps over the lazy dog", 0x2e4ff723],
  ];
  for (const [key, expected] of vectors) {
    assertEquals(hashKey(key), expected, JSON.stringify(key));
  }
});

Deno.test("murmur3() matches the published seeded vectors", () => {
  const vectors: [string, number, number][] = [
    ["", 1, 0x514e28b7],
    ["", 0xffffffff, 0x81f16f39],
    ["\0\0\0\0", 0, 0x2362f9de],
    ["aaaa", 0x9747b28c, 0x5a97808a],
    ["abc", 0x9747b28c, 0xc84a62dd],
    ["Hello, world!", 0x9747b28c, 0x24884cba],
    ["The quick brown fox jumps over the lazy dog", 0x9747b28c, 0x2fa826cd],
  ];
  for (const [key, seed, expected] of vectors) {
    assertEquals(murmur3(key, seed), expected, JSON.stringify(key));
  }
});

Deno.test("hashKey() hashes the UTF-8 bytes of non-ASCII keys", () => {
  const vectors: [string, number][] = [
    ["é", 269551495],
    ["aé", 52038863],
    ["abcé", 3433116993],
    ["abcdé", 3825281041],
    ["héllo wörld", 2549609076],
    ["ключ:42", 2715820359],
    ["日本語キー", 3757955032],
    ["🔑 key", 2682251458],
  ];
  for (const [key, expected] of vectors) {
    assertEquals(hashKey(key), expected, JSON.stringify(key));
  }
});

Deno.test("hashKey() encodes the edges of each UTF-8 width", () => {
  const vectors: [string, number][] = [
    ["\u007f", 1435096473],
    ["\u0080", 1268126344],
    ["\u07ff", 2359816829],
    ["\u0800", 2057557023],
    ["\ud7ff", 1139012201],
    ["\ue000", 451076826],
    ["\uffff", 1061879644],
    ["\ud800\udc00", 1640069375], // U+10000
    ["\udbff\udfff", 734332634], // U+10FFFF
    ["a\udbff\udfffb", 1973397942],
  ];
  for (const [key, expected] of vectors) {
    assertEquals(hashKey(key), expected, JSON.stringify(key));
  }
});

Deno.test("hashKey() hashes a lone surrogate as U+FFFD", () => {
  // UTF-8 "a", EF BF BD, "b".
  assertEquals(hashKey("a\ud800b"), 3412674851);
  assertEquals(hashKey("a\ud800b"), hashKey("a\ufffdb"));
  for (const lone of ["\ud800", "\udbff", "\udc00", "\udfff"]) {
    assertEquals(hashKey(`a${lone}b`), 3412674851, JSON.stringify(lone));
  }
  // A low surrogate before a high one is two lone surrogates, not a pair.
  assertEquals(hashKey("\udc00\ud800"), hashKey("\ufffd\ufffd"));
});

Deno.test("hashKey() handles keys longer than its initial buffer", () => {
  assertEquals(hashKey("x".repeat(1000)), 1897939982);
  const long = "k".repeat(300) + "é".repeat(200);
  assertEquals(hashKey(long), 1784537747);
  // The buffer has grown; shorter keys hashed afterwards are unaffected.
  assertEquals(hashKey("héllo wörld"), 2549609076);
  assertEquals(hashKey(long), 1784537747);
});

Deno.test("hashKey() returns an unsigned 32-bit integer", () => {
  for (let i = 0; i < 1000; i++) {
    const hash = hashKey(`key:${i}`);
    assertEquals(Number.isInteger(hash) && hash >= 0 && hash < 2 ** 32, true);
  }
});

// A plain, byte-at-a-time MurmurHash3 x86_32 over TextEncoder's bytes: an
// independent model for the fuzz test below.
function referenceMurmur3(bytes: Uint8Array, seed: number): number {
  const mul = Math.imul;
  const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));
  let h = seed | 0;
  const blocks = bytes.length >> 2;
  for (let b = 0; b < blocks; b++) {
    let k = 0;
    for (let j = 3; j >= 0; j--) k = (k << 8) | bytes[b * 4 + j]!;
    k = mul(rotl(mul(k, 0xcc9e2d51), 15), 0x1b873593);
    h = (mul(rotl(h ^ k, 13), 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  for (let j = bytes.length - 1; j >= blocks * 4; j--) k = (k << 8) | bytes[j]!;
  if ((bytes.length & 3) !== 0) {
    h ^= mul(rotl(mul(k, 0xcc9e2d51), 15), 0x1b873593);
  }
  h ^= bytes.length;
  h = mul(h ^ (h >>> 16), 0x85ebca6b);
  h = mul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

Deno.test("hashKey() agrees with a reference over TextEncoder bytes", () => {
  const encoder = new TextEncoder();
  assertEquals(referenceMurmur3(encoder.encode("hello"), 0), 0x248bfa47);
  // A seeded LCG: the same strings on every run.
  let state = 42;
  const random = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0);
  // Code units from every UTF-8 width, surrogate halves included, so pairs
  // and lone surrogates both occur.
  const unit = () => {
    const r = random() % 4;
    if (r === 0) return random() % 0x80;
    if (r === 1) return random() % 0x800;
    if (r === 2) return 0xd800 + random() % 0x800;
    return random() % 0x10000;
  };
  for (let i = 0; i < 20_000; i++) {
    const units = Array.from({ length: random() % 24 }, unit);
    const key = String.fromCharCode(...units);
    assertEquals(
      hashKey(key),
      referenceMurmur3(encoder.encode(key), 0),
      JSON.stringify(key),
    );
  }
});
