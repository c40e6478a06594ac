/**
 * Key hashing for ring placement: MurmurHash3 x86_32 over a key's UTF-8
 * bytes.
 *
 * Placement runs on every request, so the hash must be synchronous and
 * cheap; an awaited `crypto.subtle.digest` costs tens of microseconds per
 * call (see docs/ring.md). Murmur3 is not cryptographic, which is fine:
 * keys are placed, not authenticated, and virtual-node tokens still come
 * from SHA-256.
 *
 * @module
 */

/**
 * The seed every node uses for {@linkcode hashKey}. Part of the placement
 * contract: changing it moves every key, so it never changes.
 */
export const HASH_SEED = 0;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

// Reused across calls so that hashing a non-ASCII key allocates nothing
// once the buffer has grown to fit the longest key seen (3 bytes per UTF-16
// code unit); the API's key size limit bounds that.
let buffer = new Uint8Array(256);

/**
 * Synchronous 32-bit hash of a key's UTF-8 bytes: MurmurHash3 x86_32 with
 * seed {@linkcode HASH_SEED}. All nodes place keys with it, so its output
 * is pinned by golden tests.
 *
 * Lone UTF-16 surrogates are hashed as U+FFFD, as `TextEncoder` encodes
 * them, so a key hashes the same as the bytes it is sent as.
 *
 * @example Usage
 * ```ts
 * import { hashKey } from "./hash.ts";
 * hashKey("hello"); // 613153351 (0x248bfa47)
 * ```
 *
 * @param key The key to hash.
 * @returns An unsigned integer in [0, 2^32 - 1].
 */
export function hashKey(key: string): number {
  return murmur3(key, HASH_SEED);
}

/**
 * MurmurHash3 x86_32 of a string's UTF-8 bytes with an explicit seed.
 * Exposed for the published test vectors, which use several seeds; place
 * keys with {@linkcode hashKey}.
 *
 * @param key The string to hash.
 * @param seed An unsigned 32-bit seed.
 * @returns An unsigned integer in [0, 2^32 - 1].
 */
export function murmur3(key: string, seed: number): number {
  const ascii = murmur3Ascii(key, seed);
  return ascii >= 0 ? ascii : murmur3Utf8(key, seed);
}

// ASCII keys are the common case and their UTF-16 code units are their
// UTF-8 bytes, so hash straight from the string: no encoding pass, no
// buffer. Returns -1 as soon as a non-ASCII code unit shows up.
function murmur3Ascii(key: string, seed: number): number {
  const length = key.length;
  const blocksEnd = length & ~3;
  let h = seed | 0;
  let i = 0;
  for (; i < blocksEnd; i += 4) {
    const c0 = key.charCodeAt(i);
    const c1 = key.charCodeAt(i + 1);
    const c2 = key.charCodeAt(i + 2);
    const c3 = key.charCodeAt(i + 3);
    if ((c0 | c1 | c2 | c3) > 0x7f) return -1;
    h = mixBlock(h, c0 | (c1 << 8) | (c2 << 16) | (c3 << 24));
  }
  const rest = length & 3;
  if (rest > 0) {
    const c0 = key.charCodeAt(i);
    const c1 = rest > 1 ? key.charCodeAt(i + 1) : 0;
    const c2 = rest > 2 ? key.charCodeAt(i + 2) : 0;
    if ((c0 | c1 | c2) > 0x7f) return -1;
    h = mixTail(h, c0 | (c1 << 8) | (c2 << 16));
  }
  return finalize(h, length);
}

function murmur3Utf8(key: string, seed: number): number {
  // A UTF-16 code unit encodes to at most 3 UTF-8 bytes (a surrogate pair
  // is 2 units and 4 bytes), so this size always fits the whole key.
  const bytesMax = key.length * 3;
  if (buffer.length < bytesMax) {
    let size = buffer.length;
    while (size < bytesMax) size *= 2;
    buffer = new Uint8Array(size);
  }
  const bytes = buffer;
  const length = encodeUtf8(key, bytes);
  const blocksEnd = length & ~3;
  let h = seed | 0;
  let i = 0;
  for (; i < blocksEnd; i += 4) {
    h = mixBlock(
      h,
      bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) |
        (bytes[i + 3]! << 24),
    );
  }
  const rest = length & 3;
  if (rest > 0) {
    let tail = bytes[i]!;
    if (rest > 1) tail |= bytes[i + 1]! << 8;
    if (rest > 2) tail |= bytes[i + 2]! << 16;
    h = mixTail(h, tail);
  }
  return finalize(h, length);
}

// Writes the UTF-8 encoding of `key` into `bytes` (which must hold 3 bytes
// per code unit) and returns its length. Written out by hand because
// `TextEncoder.encodeInto` is a call into the runtime: it measured ~160 ns
// for a 16-byte key against ~57 ns for this loop. It must produce exactly
// TextEncoder's bytes; hash_test.ts checks that on random strings.
function encodeUtf8(key: string, bytes: Uint8Array): number {
  const units = key.length;
  let length = 0;
  for (let i = 0; i < units; i++) {
    let c = key.charCodeAt(i);
    if (c < 0x80) {
      bytes[length++] = c;
      continue;
    }
    if (c < 0x800) {
      bytes[length++] = 0xc0 | (c >> 6);
      bytes[length++] = 0x80 | (c & 0x3f);
      continue;
    }
    if (c >= 0xd800 && c < 0xe000) {
      const next = i + 1 < units ? key.charCodeAt(i + 1) : 0;
      if (c < 0xdc00 && next >= 0xdc00 && next < 0xe000) {
        // A surrogate pair: one code point above U+FFFF, 4 bytes.
        i++;
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        bytes[length++] = 0xf0 | (c >> 18);
        bytes[length++] = 0x80 | ((c >> 12) & 0x3f);
        bytes[length++] = 0x80 | ((c >> 6) & 0x3f);
        bytes[length++] = 0x80 | (c & 0x3f);
        continue;
      }
      c = 0xfffd; // A lone surrogate, replaced as TextEncoder does.
    }
    bytes[length++] = 0xe0 | (c >> 12);
    bytes[length++] = 0x80 | ((c >> 6) & 0x3f);
    bytes[length++] = 0x80 | (c & 0x3f);
  }
  return length;
}

function mixBlock(h: number, block: number): number {
  let k = Math.imul(block, C1);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, C2);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function mixTail(h: number, tail: number): number {
  let k = Math.imul(tail, C1);
  k = (k << 15) | (k >>> 17);
  return h ^ Math.imul(k, C2);
}

function finalize(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
