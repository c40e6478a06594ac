import { assertEquals } from "@std/assert";
import { ERROR_CODES, type ErrorCode } from "../errors.ts";
import { codeOfLegacyStatus, LEGACY_STATUSES } from "../transport/mod.ts";
import { httpStatus } from "./status.ts";

/** What clients have always been answered with, by condition. */
const TABLE: [ErrorCode, number][] = [
  ["bad_request", 400],
  ["unknown_function", 404],
  ["unknown_member", 404],
  ["unsupported_message", 400],
  ["payload_too_large", 413],
  ["request_timeout", 408],
  ["unavailable", 503],
  ["not_leader", 503],
  ["clock_skew", 503],
  ["storage", 503],
  ["overloaded", 429],
  ["conflict", 409],
  ["not_a_member", 403],
  ["address_refused", 403],
];

Deno.test("httpStatus() answers each code with its status", () => {
  for (const [code, status] of TABLE) {
    assertEquals(httpStatus(code), status, code);
  }
});

Deno.test("httpStatus()'s table covers every code, once", () => {
  assertEquals(
    TABLE.map(([code]) => code).sort(),
    Object.keys(ERROR_CODES).sort(),
  );
});

Deno.test("an old peer's status reads as a code answered with that status again", () => {
  for (const status of LEGACY_STATUSES) {
    const code = codeOfLegacyStatus(status);
    assertEquals(code === undefined ? undefined : httpStatus(code), status);
  }
});

Deno.test("a code unknown to an older node reads back from its status as one with that status", () => {
  for (const [code, status] of TABLE) {
    const back = codeOfLegacyStatus(status);
    assertEquals(
      back === undefined ? undefined : httpStatus(back),
      status,
      code,
    );
  }
});

Deno.test("statuses no project error is sent with read as no code", () => {
  for (const status of [200, 401, 405, 500, 502]) {
    assertEquals(codeOfLegacyStatus(status), undefined, String(status));
  }
});
