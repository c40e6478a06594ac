import { assertEquals } from "@std/assert";
import { decodeKey, encodeKey, prefixEnd } from "./_key_bytes.ts";

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

const KEYS = [
  "",
  "a",
  "ab",
  "b\u0000",
  "é",
  "\ue000",
  "\uffff",
  "😀",
  "\ud800",
  "\udfff",
  "日本",
  "x".repeat(5000),
];

Deno.test("encodeKey() round-trips every string, lone surrogates included", () => {
  for (const key of KEYS) assertEquals(decodeKey(encodeKey(key)), key);
});

Deno.test("encodeKey() orders bytes as JavaScript orders strings", () => {
  const byString = [...KEYS].sort();
  const byBytes = [...KEYS].sort((a, b) =>
    compareBytes(encodeKey(a), encodeKey(b))
  );
  assertEquals(byBytes, byString);
});

Deno.test("prefixEnd() bounds a prefix range and has none for 0xFF runs", () => {
  assertEquals(prefixEnd(encodeKey("a")), new Uint8Array([0, 0x62]));
  assertEquals(
    prefixEnd(encodeKey("a\uffff")),
    new Uint8Array([0, 0x62]),
  );
  assertEquals(prefixEnd(encodeKey("\u00ff")), new Uint8Array([1]));
  assertEquals(prefixEnd(encodeKey("\uffff")), null);
  assertEquals(prefixEnd(new Uint8Array()), null);
});
