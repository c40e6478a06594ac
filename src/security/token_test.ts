import { assertEquals, assertThrows } from "@std/assert";
import { BearerAuth, constantTimeEqual, secretProblem } from "./token.ts";

const TOKEN = "0123456789abcdef-token";

Deno.test("BearerAuth.check() accepts the token and names what is wrong otherwise", () => {
  const auth = new BearerAuth(TOKEN);
  assertEquals(auth.check(`Bearer ${TOKEN}`), "ok");
  assertEquals(
    auth.check(`bearer ${TOKEN}`),
    "ok",
    "the scheme is case-insensitive",
  );
  assertEquals(auth.check(`BEARER   ${TOKEN}`), "ok");
  assertEquals(auth.check(null), "missing");
  assertEquals(auth.check(""), "missing");
  assertEquals(auth.check(`Basic ${btoa(`u:${TOKEN}`)}`), "malformed");
  assertEquals(auth.check("Bearer"), "malformed");
  assertEquals(auth.check("Bearer "), "malformed");
  assertEquals(auth.check(`Bearer ${TOKEN} extra`), "malformed");
  assertEquals(auth.check(TOKEN), "malformed");
  assertEquals(auth.check(`Bearer ${TOKEN}x`), "wrong");
  assertEquals(auth.check(`Bearer ${TOKEN.slice(0, -1)}`), "wrong");
  assertEquals(auth.check(`Bearer ${TOKEN.toUpperCase()}`), "wrong");
  assertEquals(auth.check("Bearer x"), "wrong");
});

Deno.test("constantTimeEqual() compares bytes of any lengths", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  assertEquals(constantTimeEqual(bytes("abc"), bytes("abc")), true);
  assertEquals(constantTimeEqual(bytes("abd"), bytes("abc")), false);
  assertEquals(constantTimeEqual(bytes("ab"), bytes("abc")), false);
  assertEquals(constantTimeEqual(bytes(""), bytes("abc")), false);
  assertEquals(constantTimeEqual(bytes("abcd"), bytes("abc")), false);
});

Deno.test("secretProblem() refuses short, long and unprintable secrets", () => {
  assertEquals(secretProblem(TOKEN), undefined);
  assertEquals(typeof secretProblem("short"), "string");
  assertEquals(typeof secretProblem("x".repeat(2000)), "string");
  assertEquals(typeof secretProblem("with a space inside it"), "string");
  assertEquals(typeof secretProblem("line\nbreak-0123456789"), "string");
  assertThrows(() => new BearerAuth("short"), TypeError, "at least 16");
});

Deno.test("BearerAuth accepts every token of its set, and the set can change", () => {
  const next = "fedcba9876543210-token";
  const auth = new BearerAuth([next, TOKEN]);
  assertEquals(auth.size, 2);
  assertEquals(auth.check(`Bearer ${TOKEN}`), "ok");
  assertEquals(auth.check(`Bearer ${next}`), "ok");
  auth.setTokens([next]);
  assertEquals(auth.check(`Bearer ${TOKEN}`), "wrong");
  assertEquals(auth.check(`Bearer ${next}`), "ok");
  assertThrows(() => auth.setTokens([next, "short"]), TypeError, "at least");
  assertThrows(() => auth.setTokens([]), TypeError, "empty");
  assertEquals(
    auth.check(`Bearer ${next}`),
    "ok",
    "a refused set changes nothing",
  );
  assertEquals(auth.size, 1);
});
