/**
 * Keys as the SQLite engine stores them: the string's UTF-16 code units,
 * big-endian, as a BLOB. SQLite compares BLOBs with memcmp, and memcmp over
 * big-endian 16-bit units orders exactly as JavaScript compares strings
 * (code unit by code unit). TEXT would be compared as UTF-8 bytes, which
 * puts U+10000 and above (surrogate pairs in UTF-16) after U+E000–U+FFFF,
 * where JavaScript puts them before; and UTF-8 cannot hold a lone surrogate,
 * which a JSON key may contain.
 *
 * @module
 */

import { assert } from "@std/assert";

/** Code units per `String.fromCharCode` call (its arguments go on the stack). */
const DECODE_CHUNK_UNITS = 4096;

/** The key's UTF-16 code units, big-endian. */
export function encodeKey(key: string): Uint8Array {
  const bytes = new Uint8Array(key.length * 2);
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i);
    bytes[2 * i] = unit >>> 8;
    bytes[2 * i + 1] = unit & 0xff;
  }
  return bytes;
}

/** The string whose {@link encodeKey} is `bytes`. */
export function decodeKey(bytes: Uint8Array): string {
  assert(bytes.length % 2 === 0, "a stored key has an odd byte length");
  const units = bytes.length / 2;
  let out = "";
  for (let start = 0; start < units; start += DECODE_CHUNK_UNITS) {
    const end = Math.min(units, start + DECODE_CHUNK_UNITS);
    const chunk = new Array<number>(end - start);
    for (let i = start; i < end; i++) {
      chunk[i - start] = (bytes[2 * i]! << 8) | bytes[2 * i + 1]!;
    }
    out += String.fromCharCode(...chunk);
  }
  return out;
}

/**
 * The smallest byte string greater than every string that starts with
 * `prefix`: the upper bound of a prefix range. Null when there is none (the
 * prefix is empty or all 0xFF bytes): the range then runs to the end.
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array | null {
  let i = prefix.length - 1;
  while (i >= 0 && prefix[i] === 0xff) i--;
  if (i < 0) return null;
  const end = prefix.slice(0, i + 1);
  end[i]!++;
  return end;
}
