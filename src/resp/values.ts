/**
 * How RESP sees KVDB's values, and Redis's number formats.
 *
 * Every value is a Redis string. A string value (which is what RESP
 * writes) is itself; any other JSON value that a JSON-RPC client stored
 * reads as its JSON text (`{"a":[1,2]}`, `5`, `true`, `null`). Commands
 * that only change an expiry (EXPIRE, PERSIST, RENAME's move) keep the
 * value as it was, JSON type and all.
 *
 * @module
 */

import { VALUE_BYTES_MAX } from "../limits.ts";
import { byteLength } from "./bytes.ts";

/** The Redis string for a stored value. */
export function asText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value) ?? "";
}

/** Largest signed 64-bit integer, as Redis's `long long`. */
export const INT64_MAX = (1n << 63n) - 1n;
/** Smallest signed 64-bit integer. */
export const INT64_MIN = -(1n << 63n);

const INTEGER = /^(0|-?[1-9][0-9]{0,19})$/;

/**
 * A signed 64-bit integer as Redis's `string2ll` reads one: decimal, no
 * sign but '-', no leading zeros, no spaces; undefined otherwise.
 */
export function parseInt64(text: string): bigint | undefined {
  if (!INTEGER.test(text)) return undefined;
  const n = BigInt(text);
  return n > INT64_MAX || n < INT64_MIN ? undefined : n;
}

/** {@link parseInt64} as a JavaScript number, when it is a safe one. */
export function parseSafeInt(text: string): number | undefined {
  const n = parseInt64(text);
  if (n === undefined) return undefined;
  const x = Number(n);
  return Number.isSafeInteger(x) ? x : undefined;
}

const FLOAT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A double as Redis's `string2ld` reads one (no spaces, no NaN; `inf` and
 * `-inf` allowed); undefined otherwise.
 */
export function parseFloat64(text: string): number | undefined {
  if (FLOAT.test(text)) return Number(text);
  const lower = text.toLowerCase();
  if (lower === "inf" || lower === "+inf" || lower === "infinity") {
    return Infinity;
  }
  if (lower === "-inf" || lower === "-infinity") return -Infinity;
  return undefined;
}

/**
 * A double as INCRBYFLOAT prints it: plain decimal, no exponent, no
 * trailing zeros (Redis's "human" long double format), with the shortest
 * digits that read back as the same double.
 */
export function formatHumanDouble(x: number): string {
  if (Object.is(x, -0)) return "0";
  if (Number.isInteger(x)) return BigInt(x).toString();
  const s = String(x);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (m === null) return s;
  const [, sign, lead, frac = "", exp] = m;
  const digits = lead! + frac;
  const point = 1 + Number(exp);
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) {
    return sign + digits + "0".repeat(point - digits.length);
  }
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/**
 * True when a value this long could not be stored: over VALUE_BYTES_MAX
 * bytes, or over it as the JSON text it is stored and replicated as.
 */
export function valueTooLarge(s: string): boolean {
  // JSON escapes a byte to at most 6 characters ("\udc80").
  if (s.length * 6 + 2 <= VALUE_BYTES_MAX) return false;
  if (byteLength(s) > VALUE_BYTES_MAX) return true;
  const json = JSON.stringify(s);
  return json.length * 3 > VALUE_BYTES_MAX &&
    new TextEncoder().encode(json).length > VALUE_BYTES_MAX;
}

/** Redis's error for a string over the size limit. */
export const TOO_LARGE =
  "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
