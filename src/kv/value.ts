/**
 * Deno KV's values: bytes with an encoding tag, as denokv stores them:
 * `v8` (the V8 serializer's format, which `Deno.Kv` uses for every value
 * that is neither of the others), `le64` (a `Deno.KvU64`: 8 bytes, little
 * endian) and `bytes` (a `Uint8Array`).
 *
 * Over JSON-RPC a value is JSON: stored as V8 (so that `Deno.openKv`
 * reads it back as the same JS value), and answered as JSON when it is
 * plain JSON. A u64 is `{"type": "KvU64", "value": "<decimal>"}`, bytes
 * `{"type": "Uint8Array", "value": "<base64url>"}` (`@deno/kv-utils`'
 * JSON forms), and a V8 value that JSON cannot hold (a Date, a Map, a
 * bigint) `{"type": "v8", "value": "<base64>"}`.
 *
 * @module
 */

import { deserialize, serialize } from "node:v8";
import { BadRequestError } from "../errors.ts";
import { fromBase64, fromBase64Url, toBase64, toBase64Url } from "./bytes.ts";

/** How a value's bytes are to be read. */
export type ValueEncoding = "v8" | "le64" | "bytes";

/** A stored value. */
export interface KvValue {
  encoding: ValueEncoding;
  data: Uint8Array;
}

/** The largest u64. */
export const U64_MAX = (1n << 64n) - 1n;

export function u64Value(n: bigint): KvValue {
  const data = new Uint8Array(8);
  new DataView(data.buffer).setBigUint64(0, n & U64_MAX, true);
  return { encoding: "le64", data };
}

export function readU64(v: KvValue): bigint {
  return new DataView(v.data.buffer, v.data.byteOffset, 8).getBigUint64(
    0,
    true,
  );
}

function isPlainJson(x: unknown, depth = 0): boolean {
  if (depth > 64) return false;
  if (x === null || typeof x === "string" || typeof x === "boolean") {
    return true;
  }
  if (typeof x === "number") return Number.isFinite(x) && !Object.is(x, -0);
  if (Array.isArray(x)) {
    // Holes and extra properties do not survive JSON.
    if (Object.keys(x).length !== x.length) return false;
    return x.every((y) => isPlainJson(y, depth + 1));
  }
  if (typeof x === "object") {
    const proto = Object.getPrototypeOf(x);
    if (proto !== Object.prototype && proto !== null) return false;
    return Object.values(x as object).every((y) => isPlainJson(y, depth + 1));
  }
  return false;
}

function tagged(x: unknown): { type: unknown; value: unknown } | undefined {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return undefined;
  const keys = Object.keys(x);
  if (keys.length !== 2 || !("type" in x) || !("value" in x)) return undefined;
  return x as { type: unknown; value: unknown };
}

/** A value from its JSON form. */
export function valueFromJson(x: unknown, what: string): KvValue {
  const t = tagged(x);
  if (t !== undefined && typeof t.value === "string") {
    try {
      switch (t.type) {
        case "KvU64": {
          if (!/^\d{1,20}$/.test(t.value)) break;
          const n = BigInt(t.value);
          if (n > U64_MAX) break;
          return u64Value(n);
        }
        case "Uint8Array":
          return { encoding: "bytes", data: fromBase64Url(t.value) };
        case "v8": {
          const data = fromBase64(t.value);
          deserialize(data); // refuse bytes that are not a V8 value
          return { encoding: "v8", data };
        }
      }
    } catch {
      // Falls through to the error below.
    }
    if (t.type === "KvU64" || t.type === "Uint8Array" || t.type === "v8") {
      throw new BadRequestError(
        `${what}: a ${t.type} value is not valid (KvU64: a decimal in [0, 2^64); Uint8Array: base64url; v8: base64 of a V8-serialized value)`,
      );
    }
  }
  if (x === undefined) throw new BadRequestError(`${what}: no value`);
  return { encoding: "v8", data: new Uint8Array(serialize(x)) };
}

/** A value from a JS value, as `Deno.Kv` stores one. */
export function valueFromJs(x: unknown): KvValue {
  if (x instanceof Uint8Array) return { encoding: "bytes", data: x };
  return { encoding: "v8", data: new Uint8Array(serialize(x)) };
}

/** A value in its JSON form. */
export function valueToJson(v: KvValue): unknown {
  switch (v.encoding) {
    case "le64":
      return { type: "KvU64", value: readU64(v).toString() };
    case "bytes":
      return { type: "Uint8Array", value: toBase64Url(v.data) };
    case "v8": {
      let x: unknown;
      try {
        x = deserialize(v.data);
      } catch {
        return { type: "v8", value: toBase64(v.data) };
      }
      // A plain object that looks like a tagged form would read back as
      // the tagged type: send it as V8 too.
      if (isPlainJson(x) && tagged(x) === undefined) return x;
      return { type: "v8", value: toBase64(v.data) };
    }
  }
}
