import { assertEquals } from "@std/assert";
import { globMatch, literalPrefix } from "./glob.ts";

const e = (s: string) => new TextEncoder().encode(s);

Deno.test("globMatch() matches as Redis's stringmatchlen", () => {
  const cases: [string, string, boolean][] = [
    ["*", "anything", true],
    ["h?llo", "hello", true],
    ["h?llo", "hllo", false],
    ["h*llo", "heeeello", true],
    ["h[ae]llo", "hallo", true],
    ["h[ae]llo", "hillo", false],
    ["h[^e]llo", "hallo", true],
    ["h[^e]llo", "hello", false],
    ["h[a-b]llo", "hbllo", true],
    ["h\\*llo", "h*llo", true],
    ["h\\*llo", "hello", false],
    ["user:*:name", "user:42:name", true],
    ["user:*:name", "user:42:email", false],
    ["*a*b*c*", "xxaxxbxxcxx", true],
    ["", "", true],
    ["", "a", false],
  ];
  for (const [pattern, subject, expected] of cases) {
    assertEquals(
      globMatch(e(pattern), e(subject)),
      expected,
      `${pattern} ~ ${subject}`,
    );
  }
  // Bytes, not characters: "é" is two bytes.
  assertEquals(globMatch(e("?"), e("é")), false);
  assertEquals(globMatch(e("??"), e("é")), true);
});

Deno.test("literalPrefix() stops at the first special character", () => {
  const d = (b: Uint8Array) => new TextDecoder().decode(b);
  assertEquals(d(literalPrefix(e("user:*"))), "user:");
  assertEquals(d(literalPrefix(e("a\\*b?"))), "a*b");
  assertEquals(d(literalPrefix(e("[ab]c"))), "");
});
