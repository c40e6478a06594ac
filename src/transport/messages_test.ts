import { assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import { BadRequestError } from "../errors.ts";
import { parsePeerRequest } from "./messages.ts";

/** Parses, or names the error class that the parse threw. */
function outcome(x: unknown): string {
  try {
    return `parsed ${parsePeerRequest(x).kind}`;
  } catch (error) {
    return error instanceof BadRequestError ? "refused" : String(error);
  }
}

Deno.test("parsePeerRequest() refuses a 'kind' that no String() can print", () => {
  const hostile = JSON.parse('{"kind":{"toString":1,"valueOf":null}}');
  assertThrows(
    () => parsePeerRequest(hostile),
    BadRequestError,
    "'kind' must be a string: got object",
  );
  assertThrows(
    () => parsePeerRequest({ kind: ["write"] }),
    BadRequestError,
    "got list",
  );
  assertThrows(
    () => parsePeerRequest({ kind: "x".repeat(10_000) }),
    BadRequestError,
    "unknown kind",
  );
});

Deno.test("parsePeerRequest() answers any JSON with a message or a 400, never a crash", () => {
  const kinds = fc.constantFrom(
    "write",
    "read",
    "ping",
    "ping_req",
    "transfer",
    "transfer_range",
    "ae_buckets",
    "ae_leaves",
    "ae_entries",
    "scan",
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.jsonValue({ maxDepth: 4 }),
        fc.record({
          kind: fc.oneof(kinds, fc.jsonValue({ maxDepth: 3 })),
        }, { requiredKeys: [] }),
        fc.tuple(kinds, fc.dictionary(fc.string(), fc.jsonValue())).map((
          [kind, rest],
        ) => ({ ...rest, kind })),
      ),
      (x) => {
        const result = outcome(JSON.parse(JSON.stringify(x ?? null)));
        assertEquals(
          result === "refused" || result.startsWith("parsed "),
          true,
          result,
        );
      },
    ),
    { numRuns: 3_000 },
  );
});

Deno.test("parsePeerRequest() refuses a member address no node could be called at", () => {
  const ping = (address: string) => ({
    kind: "ping",
    from: "127.0.0.1:5878",
    members: [[address, "alive", 0, "ready"]],
  });
  for (const bad of ["a:99999", "999.1.1.1:5878", "[zz]:5878", "a:"]) {
    assertEquals(outcome(ping(bad)), "refused", bad);
  }
  for (const good of ["127.0.0.1:5878", "[::1]:1", "node-1.example:65535"]) {
    assertEquals(outcome(ping(good)), "parsed ping", good);
  }
});

Deno.test("parsePeerRequest() takes a transfer_range's ranges only ascending, apart and within its bounds", () => {
  const request = (ranges: unknown, to = 100) => ({
    kind: "transfer_range",
    for: "127.0.0.1:5878",
    from: 10,
    to,
    limit: 5_000,
    assigned: true,
    ranges,
  });
  assertEquals(
    parsePeerRequest(request([[10, 20], [20, 30], [50, 100]])),
    {
      kind: "transfer_range",
      for: "127.0.0.1:5878",
      from: 10,
      to: 100,
      limit: 5_000,
      assigned: true,
      ranges: [[10, 20], [20, 30], [50, 100]],
    },
  );
  const cases: [string, unknown][] = [
    ["not a list", "10-20"],
    ["not a pair", [[10, 20, 30]]],
    ["empty range", [[20, 20]]],
    ["backwards", [[30, 40], [10, 20]]],
    ["overlapping", [[10, 30], [20, 40]]],
    ["before from", [[5, 20]]],
    ["past to", [[90, 101]]],
    ["not a hash", [[10.5, 20]]],
  ];
  for (const [name, ranges] of cases) {
    assertEquals(outcome(request(ranges)), "refused", name);
  }
  const many = (n: number) =>
    Array.from({ length: n }, (_, i) => [10 + i, 11 + i]);
  assertEquals(outcome(request(many(4_096), 2 ** 32)), "parsed transfer_range");
  assertEquals(outcome(request(many(4_097), 2 ** 32)), "refused", "too many");
});
