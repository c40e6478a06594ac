/**
 * Argument validation for the JSON-RPC functions: one error class, one
 * message shape: `get: 'key' must be a string: got number`.
 *
 * @module
 */

import type { Consistency } from "../cluster/mod.ts";
import { BadRequestError } from "../errors.ts";
import { KEY_BYTES_MAX, TTL_SECONDS_MAX } from "../limits.ts";

const encoder = new TextEncoder();

/** A short name for a JSON value's type, for error messages. */
export function typeName(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "list";
  return typeof x;
}

/** Throws a bad request naming the function and the argument. */
export function invalid(fn: string, name: string, why: string): never {
  throw new BadRequestError(`${fn}: '${name}' ${why}`);
}

/** UTF-8 length of `s` without encoding when it is short enough not to matter. */
export function utf8Bytes(s: string): number {
  // Each UTF-16 code unit is at most 3 UTF-8 bytes.
  if (s.length * 3 <= KEY_BYTES_MAX) return s.length;
  return encoder.encode(s).length;
}

/** A key: a string of at most {@link KEY_BYTES_MAX} UTF-8 bytes. */
export function asKey(fn: string, name: string, x: unknown): string {
  if (typeof x !== "string") {
    invalid(fn, name, `must be a string: got ${typeName(x)}`);
  }
  if (x.length > KEY_BYTES_MAX || utf8Bytes(x) > KEY_BYTES_MAX) {
    invalid(fn, name, `must be at most ${KEY_BYTES_MAX} bytes`);
  }
  return x;
}

/** A boolean flag. */
export function asBoolean(fn: string, name: string, x: unknown): boolean {
  if (typeof x !== "boolean") {
    invalid(fn, name, `must be true or false: got ${typeName(x)}`);
  }
  return x;
}

/** A consistency level. */
export function asConsistency(
  fn: string,
  name: string,
  x: unknown,
): Consistency {
  if (x !== "one" && x !== "quorum" && x !== "all") {
    invalid(
      fn,
      name,
      `must be "one", "quorum" or "all": got ${
        JSON.stringify(x)?.slice(0, 40)
      }`,
    );
  }
  return x;
}

/** A TTL in seconds: a positive number up to {@link TTL_SECONDS_MAX}. */
export function asTtl(fn: string, name: string, x: unknown): number {
  if (typeof x !== "number" || !Number.isFinite(x) || x <= 0) {
    invalid(fn, name, "must be a positive number of seconds");
  }
  if (x > TTL_SECONDS_MAX) {
    invalid(fn, name, `must be at most ${TTL_SECONDS_MAX} seconds`);
  }
  return x;
}

/** An integer in [min, max]. */
export function asInteger(
  fn: string,
  name: string,
  x: unknown,
  min: number,
  max: number,
): number {
  if (!Number.isSafeInteger(x) || (x as number) < min || (x as number) > max) {
    invalid(fn, name, `must be an integer in [${min}, ${max}]`);
  }
  return x as number;
}
