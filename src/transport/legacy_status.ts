/**
 * Reading an error from a node of the previous version, which sent the HTTP
 * status its error carried instead of an {@link ErrorCode}: in the HTTP
 * status of a refused `POST /peer` (without the `kvdb-error-code` header),
 * and as `status` in a `kv` answer. Kept so that a rolling upgrade works:
 * while old and new nodes run side by side, an old node's refusal is read
 * as the condition it stood for. Remove once no node older than the one
 * that sends codes can be in a cluster.
 *
 * @module
 */

import type { ErrorCode } from "../errors.ts";

/**
 * The statuses the previous version's errors were sent with, each as a code
 * the edge answers with that same status again (src/server/status.ts; a
 * test checks the round trip). A status that stood for two conditions
 * (404, 403, 503) maps to the more common one.
 */
const CODE_OF_STATUS: ReadonlyMap<number, ErrorCode> = new Map([
  [400, "bad_request"],
  [403, "not_a_member"],
  [404, "unknown_function"],
  [408, "request_timeout"],
  [409, "conflict"],
  [413, "payload_too_large"],
  [429, "overloaded"],
  [503, "unavailable"],
]);

/**
 * The code an old peer's error `status` stands for; undefined for a status
 * no project error was sent with (401, 500: a refused signature, a bug).
 */
export function codeOfLegacyStatus(status: number): ErrorCode | undefined {
  return CODE_OF_STATUS.get(status);
}

/** Every status {@link codeOfLegacyStatus} knows, for tests. */
export const LEGACY_STATUSES: readonly number[] = [...CODE_OF_STATUS.keys()];
