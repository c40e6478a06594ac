/**
 * The peer messages of the Redis front end (src/resp) and of the per-key
 * serialiser (src/cluster/key_serializer.ts), apart from the replication
 * messages in messages.ts: their shapes and their validation.
 *
 * - `atomic`: run this read-modify-write command here, under the keys'
 *   locks (the sender believes this node serialises the first key).
 * - `scan_cursor`: remember that SCAN cursor `id` continues after key
 *   `after`, so that a client may go on with it through any node.
 *
 * @module
 */

import { BadRequestError } from "../errors.ts";
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from "../limits.ts";

/** Most keys and most arguments one `atomic` message carries. */
export const ATOMIC_ITEMS_MAX = 2000;
/** Longest operation name. */
const OP_CHARS_MAX = 32;

/** Run a read-modify-write operation here. */
export interface AtomicRequest {
  kind: "atomic";
  /**
   * Unique per command (sender, its start, a counter): a retried message
   * gets the first run's reply instead of running again. Absent from an
   * older sender: no deduplication.
   */
  id?: string;
  op: string;
  keys: string[];
  args: string[];
}

/**
 * Its outcome: the reply (JSON, as the operation made it), or `error`
 * when a quorum failed on the serialising node.
 */
export interface AtomicResponse {
  kind: "atomic";
  reply: unknown;
  error?: string;
}

/** Remember a SCAN cursor. */
export interface ScanCursorRequest {
  kind: "scan_cursor";
  id: number;
  after: string;
}

/** Acknowledges a {@link ScanCursorRequest}. */
export interface ScanCursorResponse {
  kind: "scan_cursor";
}

function fail(what: string): never {
  throw new BadRequestError(`Bad peer message: ${what}.`);
}

function stringList(x: unknown, max: number, charsMax: number): string[] {
  if (!Array.isArray(x) || x.length > max) {
    fail(`expected a list of at most ${max}`);
  }
  for (const item of x) {
    if (typeof item !== "string" || item.length > charsMax) {
      fail("a list item is not a string or too long");
    }
  }
  return x as string[];
}

/** Validates an `atomic` request (`x.kind` already checked). */
export function parseAtomicRequest(x: Record<string, unknown>): AtomicRequest {
  if (
    typeof x.op !== "string" || x.op.length === 0 ||
    x.op.length > OP_CHARS_MAX
  ) fail("bad atomic operation name");
  const keys = stringList(x.keys, ATOMIC_ITEMS_MAX, KEY_BYTES_MAX);
  if (keys.length === 0) fail("an atomic command names no key");
  if (x.id !== undefined && (typeof x.id !== "string" || x.id.length > 300)) {
    fail("bad atomic id");
  }
  return {
    kind: "atomic",
    ...(typeof x.id === "string" ? { id: x.id } : {}),
    op: x.op,
    keys,
    args: stringList(x.args, ATOMIC_ITEMS_MAX, VALUE_BYTES_MAX),
  };
}

/** Validates the answer to an `atomic` request. */
export function parseAtomicResponse(
  x: Record<string, unknown>,
): AtomicResponse {
  if (!("reply" in x)) fail("an atomic answer has no reply");
  if (x.error !== undefined && typeof x.error !== "string") {
    fail("bad atomic error");
  }
  return {
    kind: "atomic",
    reply: x.reply,
    ...(typeof x.error === "string" ? { error: x.error.slice(0, 512) } : {}),
  };
}

/** Validates a `scan_cursor` request. */
export function parseScanCursorRequest(
  x: Record<string, unknown>,
): ScanCursorRequest {
  if (!Number.isSafeInteger(x.id) || (x.id as number) <= 0) {
    fail("bad scan cursor id");
  }
  if (typeof x.after !== "string" || x.after.length > KEY_BYTES_MAX) {
    fail("bad scan cursor key");
  }
  return { kind: "scan_cursor", id: x.id as number, after: x.after };
}
