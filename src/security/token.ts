/**
 * Client authentication: a bearer token (`--auth-token`) that every data and
 * admin request must carry as `Authorization: Bearer <token>`.
 *
 * @module
 */

import { timingSafeEqual as stdTimingSafeEqual } from "@std/crypto/timing-safe-equal";
import { SECRET_CHARS_MAX, SECRET_CHARS_MIN } from "../limits.ts";

/** The std module ships untyped JS: this is its signature. */
const timingSafeEqual = stdTimingSafeEqual as (
  a: Uint8Array,
  b: Uint8Array,
) => boolean;

/** Why a request was refused: no header, not a bearer token, a wrong token. */
export type AuthVerdict = "ok" | "missing" | "malformed" | "wrong";

const encoder = new TextEncoder();

/**
 * Characters a token or secret may hold: printable ASCII without spaces.
 * Anything else could not travel in a header unchanged, or would be
 * mangled by a shell or a file's trailing newline.
 */
const SECRET_CHARS = /^[\x21-\x7e]+$/;

/**
 * Why `value` cannot be a token or secret, or `undefined` when it can. The
 * length floor keeps `--auth-token secret` out of production.
 */
export function secretProblem(value: string): string | undefined {
  if (value.length < SECRET_CHARS_MIN) {
    return `must be at least ${SECRET_CHARS_MIN} characters (try: openssl rand -hex 32)`;
  }
  if (value.length > SECRET_CHARS_MAX) {
    return `must be at most ${SECRET_CHARS_MAX} characters`;
  }
  if (!SECRET_CHARS.test(value)) {
    return "must be printable ASCII without spaces";
  }
  return undefined;
}

/**
 * Throws a TypeError naming `what` unless `values` is a non-empty list
 * whose every entry passes {@link secretProblem}.
 */
export function checkSecrets(values: readonly string[], what: string): void {
  if (values.length === 0) {
    throw new TypeError(`Cannot use an empty list of ${what}s`);
  }
  for (const value of values) {
    const problem = secretProblem(value);
    if (problem !== undefined) {
      throw new TypeError(`Cannot use the ${what} as it ${problem}`);
    }
  }
}

/**
 * Compares `candidate` with `expected` in time that depends only on
 * `expected`'s length: a caller timing many guesses learns neither how many
 * leading bytes were right nor how long the token is.
 */
export function constantTimeEqual(
  candidate: Uint8Array,
  expected: Uint8Array,
): boolean {
  const sameLength = candidate.byteLength === expected.byteLength;
  // With a different length, still run one full comparison, of the
  // expected bytes with themselves, so both outcomes take the same time.
  const equal = timingSafeEqual(sameLength ? candidate : expected, expected);
  return sameLength && equal;
}

/**
 * Checks `Authorization` headers against the accepted tokens: usually one,
 * two while a token is rotated (docs/security.md). The set can be replaced
 * while the node runs.
 */
export class BearerAuth {
  #expected: Uint8Array[] = [];

  /** Every token must pass {@link secretProblem}; the CLI checks them first. */
  constructor(tokens: string | readonly string[]) {
    this.setTokens(typeof tokens === "string" ? [tokens] : tokens);
  }

  /** How many tokens are accepted. */
  get size(): number {
    return this.#expected.length;
  }

  /**
   * Replaces the accepted tokens, all or nothing: with an empty list or a
   * token that fails {@link secretProblem}, throws and keeps the old set.
   */
  setTokens(tokens: readonly string[]): void {
    checkSecrets(tokens, "auth token");
    this.#expected = tokens.map((token) => encoder.encode(token));
  }

  /**
   * The accepted tokens, as bytes: keys for what is derived from them (KV
   * Connect's data-path tokens are signed with the access token that was
   * shown, and so verify on every node that accepts it).
   */
  tokenBytes(): readonly Uint8Array[] {
    return this.#expected;
  }

  /** The verdict on one request's `Authorization` header (null when absent). */
  check(header: string | null): AuthVerdict {
    if (header === null || header === "") return "missing";
    // RFC 9110: the scheme is case-insensitive; one or more spaces follow.
    const match = /^bearer +(\S+) *$/i.exec(header);
    if (match === null) return "malformed";
    const candidate = encoder.encode(match[1]);
    // Every token is compared, whichever matches: the time depends on the
    // set, not on which one (if any) was sent.
    let ok = false;
    for (const expected of this.#expected) {
      if (constantTimeEqual(candidate, expected)) ok = true;
    }
    return ok ? "ok" : "wrong";
  }
}
