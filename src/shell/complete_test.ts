import { assert, assertEquals } from "@std/assert";
import { complete, hintFor, quoteIfNeeded, ReverseSearch } from "./mod.ts";

const KEYS = ["abc", "acb", "b", "with space"];
const keys = (prefix: string) =>
  Promise.resolve(KEYS.filter((k) => k.startsWith(prefix)));

Deno.test("complete() completes command names, with a space when arguments follow", async () => {
  assertEquals(await complete("list_m", keys), [["list_members"], "list_m"]);
  assertEquals(await complete("ge", keys), [["get "], "ge"]);
  assertEquals(await complete("LIST_", keys), [
    ["list_keys", "list_members"],
    "LIST_",
  ]);
  assertEquals(await complete("zz", keys), [[], "zz"]);
});

Deno.test("complete() completes keys where a command takes one", async () => {
  assertEquals(await complete("get a", keys), [["abc", "acb"], "a"]);
  assertEquals(await complete("has ", keys), [[
    "abc",
    "acb",
    "b",
    '"with space"',
  ], ""]);
  assertEquals(await complete("mget abc a", keys), [["abc", "acb"], "a"]);
  // get's second argument is a default, not a key; ping takes none.
  assertEquals(await complete("get abc a", keys), [[], "a"]);
  assertEquals(await complete("ping a", keys), [[], "a"]);
});

Deno.test("quoteIfNeeded() quotes keys the parser would split", () => {
  assertEquals(quoteIfNeeded("plain"), "plain");
  assertEquals(quoteIfNeeded("a b"), '"a b"');
  assertEquals(quoteIfNeeded('say "hi"'), '"say \\"hi\\""');
  assertEquals(quoteIfNeeded(""), '""');
});

Deno.test("hintFor() shows the arguments still to type", () => {
  assertEquals(hintFor("get"), " <key> [default]");
  assertEquals(hintFor("get "), "<key> [default]");
  assertEquals(hintFor("get a"), " [default]");
  assertEquals(hintFor("get a "), "[default]");
  assertEquals(hintFor("get a b"), "");
  assertEquals(hintFor("set k "), "<value>");
  assertEquals(hintFor("set k some value"), "");
  assertEquals(hintFor("mget "), "<key> [key ...]");
  assertEquals(hintFor("mget a b "), "");
  assertEquals(hintFor("ping"), "");
  assertEquals(hintFor("nope "), "");
  assertEquals(hintFor(""), "");
});

Deno.test("ReverseSearch finds the newest line holding the query, then older ones", () => {
  const search = new ReverseSearch([
    "get a",
    "set a 1",
    "get b",
    "get c",
    "get c",
    "list_keys",
  ]);
  search.type("get");
  assertEquals(search.match, "get c");
  // The same line twice is one match.
  search.older();
  assertEquals(search.match, "get b");
  search.older();
  assertEquals(search.match, "get a");
  // Nothing older: the match stays.
  search.older();
  assertEquals(search.match, "get a");
  search.type(" x");
  assert(!search.found);
  assertEquals(search.match, "");
  search.backspace();
  search.backspace();
  assertEquals(search.query, "get");
  assertEquals(search.match, "get c");
});
