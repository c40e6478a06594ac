/**
 * The JSON-RPC envelope of PROTOCOL.md §1:
 * `{"function": NAME, "args": [...], "kwargs": {...}}` in,
 * `{"status": "OK.", "result": ...}` or
 * `{"status": "Error", "description": ...}` out.
 *
 * @module
 */

import { BadRequestError } from "../errors.ts";
import { JSON_DEPTH_MAX } from "../limits.ts";

/** A decoded call. */
export interface RpcCall {
  fn: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * Throws when `value` nests deeper than `max`. Iterative, so a hostile
 * document cannot exhaust the stack.
 */
export function checkDepth(value: unknown, max = JSON_DEPTH_MAX): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [x, depth] = stack.pop()!;
    if (typeof x !== "object" || x === null) continue;
    if (depth > max) {
      throw new BadRequestError(
        `Bad request: JSON nests deeper than ${max} levels.`,
      );
    }
    for (const child of Array.isArray(x) ? x : Object.values(x)) {
      if (typeof child === "object" && child !== null) {
        stack.push([child, depth + 1]);
      }
    }
  }
}

/** Parses a request body into a call, or throws a 400 saying what is wrong. */
export function decodeCall(text: string): RpcCall {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new BadRequestError("Bad request: the body is not valid JSON.");
  }
  if (!isObject(body)) {
    throw new BadRequestError("Bad request: the body must be a JSON object.");
  }
  const { function: fn, args = [], kwargs = {} } = body;
  if (typeof fn !== "string") {
    throw new BadRequestError(
      "Bad request: 'function' must be the name of a function.",
    );
  }
  if (!Array.isArray(args)) {
    throw new BadRequestError("Bad request: 'args' must be a list.");
  }
  if (!isObject(kwargs)) {
    throw new BadRequestError("Bad request: 'kwargs' must be an object.");
  }
  // Each level of nesting takes at least two characters ("[]"), so a short
  // body cannot be too deep: skip the walk for the common small request.
  if (text.length > 2 * JSON_DEPTH_MAX) checkDepth(body);
  return { fn, args, kwargs };
}

const OK_PREFIX = '{"status":"OK.","result":';

/** The success envelope, as text. */
export function encodeResult(result: unknown): string {
  return `${OK_PREFIX}${JSON.stringify(result ?? null)}}`;
}

/** The failure envelope, as text. */
export function encodeError(description: string): string {
  return JSON.stringify({ status: "Error", description });
}
