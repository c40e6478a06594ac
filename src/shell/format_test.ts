import { assertEquals } from "@std/assert";
import { formatResult } from "./format.ts";

Deno.test("formatResult() prints strings raw and null as (nil)", () => {
  assertEquals(formatResult("hello world"), "hello world");
  assertEquals(formatResult(""), "");
  assertEquals(formatResult('"quoted"'), '"quoted"');
  assertEquals(formatResult(null), "(nil)");
  assertEquals(formatResult(undefined), "(nil)");
});

Deno.test("formatResult() prints booleans and numbers as JSON does", () => {
  assertEquals(formatResult(true), "true");
  assertEquals(formatResult(false), "false");
  assertEquals(formatResult(42), "42");
  assertEquals(formatResult(-1.5), "-1.5");
  assertEquals(formatResult(1e21), "1e+21");
});

Deno.test("formatResult() prints a list one item per line", () => {
  assertEquals(formatResult(["a", "b c"]), "a\nb c");
  assertEquals(formatResult([]), "(empty list)");
  assertEquals(formatResult([1, null, true]), "1\n(nil)\ntrue");
  assertEquals(
    formatResult([{ a: 1 }, [1, 2], "x"]),
    '{"a":1}\n[1,2]\nx',
  );
});

Deno.test("formatResult() prints an object as indented JSON", () => {
  assertEquals(formatResult({}), "{}");
  assertEquals(
    formatResult({ self: "h:1", members: [{ address: "h:1" }] }),
    [
      "{",
      '  "self": "h:1",',
      '  "members": [',
      "    {",
      '      "address": "h:1"',
      "    }",
      "  ]",
      "}",
    ].join("\n"),
  );
});
