/**
 * The HTTP status each error code is answered with: the core reports what
 * went wrong ({@link ErrorCode}), the HTTP edge (the JSON-RPC handler, the
 * peer endpoint, KV Connect) chooses how to say it. A code without a status
 * here fails `deno check`.
 *
 * @module
 */

import type { ErrorCode } from "../errors.ts";

const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  bad_request: 400,
  unknown_function: 404,
  unknown_member: 404,
  unsupported_message: 400,
  payload_too_large: 413,
  request_timeout: 408,
  // Another node, or the same one shortly, may well succeed.
  unavailable: 503,
  not_leader: 503,
  clock_skew: 503,
  storage: 503,
  // Refused before any work: the client slows down (with Retry-After).
  overloaded: 429,
  conflict: 409,
  not_a_member: 403,
  address_refused: 403,
};

/** The HTTP status an error with `code` is answered with. */
export function httpStatus(code: ErrorCode): number {
  return HTTP_STATUS[code];
}
