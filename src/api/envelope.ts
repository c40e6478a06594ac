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

/**
 * Throws when the JSON text `text` nests deeper than `max`, without parsing
 * it. Checked before `JSON.parse` because parsing deep nesting is what
 * costs: 8 MiB of `[` takes the parser seconds (the event loop with it),
 * against tens of milliseconds for a flat document of that size. Brackets
 * inside strings do not count; for text that is not JSON the answer does
 * not matter, as the parser refuses it next.
 */
export function checkTextDepth(text: string, max = JSON_DEPTH_MAX): void {
  let depth = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i);
      continue;
    }
    if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > max) {
        throw new BadRequestError(
          `Bad request: JSON nests deeper than ${max} levels.`,
        );
      }
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth--;
    }
    i++;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** The index after the string that opens at `start` (or the text's end). */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    // indexOf runs natively: long string values cost next to nothing.
    const quote = text.indexOf('"', from);
    if (quote === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) {
      backslashes++;
    }
    // An even run of backslashes escapes itself, not the quote.
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/** Parses a request body into a call, or throws a bad request saying what is wrong. */
export function decodeCall(text: string): RpcCall {
  // Each level of nesting takes at least two characters ("[]"), so a short
  // body cannot be too deep: skip the scan for the common small request.
  if (text.length > 2 * JSON_DEPTH_MAX) checkTextDepth(text);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new BadRequestError("Bad request: the body is not valid JSON.");
  }
  return toCall(body);
}

/**
 * Checks a parsed body's shape and nesting (for bodies parsed elsewhere,
 * such as by `Request.json()`); `bodyBytes` lets short bodies skip the walk.
 */
export function callFromJson(body: unknown, bodyBytes: number): RpcCall {
  if (bodyBytes > 2 * JSON_DEPTH_MAX) checkDepth(body);
  return toCall(body);
}

function toCall(body: unknown): RpcCall {
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
