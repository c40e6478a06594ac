import { assertEquals } from "@std/assert";
import { byteLength, bytesToString, stringToBytes } from "./bytes.ts";

Deno.test("bytesToString() keeps UTF-8 as text and escapes other bytes, one to one", () => {
  const cases = [
    new Uint8Array([]),
    new TextEncoder().encode("plain ascii"),
    new TextEncoder().encode("héllo wörld ✓ 𝄞"),
    new Uint8Array([0xff, 0xfe, 0x00, 0x80]),
    new Uint8Array([0xef, 0xbb, 0xbf, 0x41]), // a BOM stays
    new Uint8Array([0xed, 0xa0, 0x80]), // an encoded surrogate is not UTF-8
    new Uint8Array([0xc0, 0xaf]), // overlong
    new Uint8Array([0xe2, 0x82]), // truncated
    new Uint8Array([0xf4, 0x90, 0x80, 0x80]), // past U+10FFFF
    Uint8Array.from({ length: 600 }, (_, i) => i % 256),
  ];
  for (const bytes of cases) {
    const s = bytesToString(bytes);
    assertEquals(stringToBytes(s), bytes);
    assertEquals(byteLength(s), bytes.length);
  }
  assertEquals(bytesToString(new TextEncoder().encode("é")), "é");
  assertEquals(bytesToString(new Uint8Array([0x61, 0xff])), "a\udcff");
});

Deno.test("bytesToString() maps every byte string of length 2 to a distinct string", () => {
  const seen = new Set<string>();
  for (let a = 0; a < 256; a++) {
    for (let b = 0; b < 256; b++) {
      const s = bytesToString(new Uint8Array([a, b]));
      seen.add(s);
      assertEquals(stringToBytes(s), new Uint8Array([a, b]));
    }
  }
  assertEquals(seen.size, 65536);
});
