/**
 * Deno KV's keys: tuples of parts (Uint8Array, string, bigint, number,
 * boolean), encoded as denokv encodes them, with FoundationDB's tuple
 * layer: a type byte, then the part, so that the encoded keys compare as
 * bytes (memcmp, SQLite's BLOB order) exactly as Deno KV orders keys:
 * bytes < string < bigint < number < boolean, each in its natural order.
 *
 * Over JSON a key is a list of parts: strings, finite numbers and booleans
 * as themselves; bigints, byte strings and the numbers JSON cannot write
 * as the tagged objects of `@deno/kv-utils`' JSON form:
 * `{"type": "bigint", "value": "12"}`, `{"type": "Uint8Array", "value":
 * "<base64url>"}`, `{"type": "number", "value": "NaN"}`.
 *
 * @module
 */

import { BadRequestError } from "../errors.ts";
import { concatBytes, fromBase64Url, toBase64Url } from "./bytes.ts";

/** One part of a key. */
export type KvKeyPart = Uint8Array | string | number | bigint | boolean;
/** A key: a tuple of parts. */
export type KvKey = readonly KvKeyPart[];

const BYTES = 0x01;
const STRING = 0x02;
const NEG_INT_START = 0x0b;
const INT_ZERO = 0x14;
const POS_INT_END = 0x1d;
const DOUBLE = 0x21;
const FALSE = 0x26;
const TRUE = 0x27;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A 0-terminated byte string with 0x00 escaped as 0x00 0xFF. */
function escaped(type: number, raw: Uint8Array): Uint8Array {
  let zeros = 0;
  for (const b of raw) if (b === 0) zeros++;
  const out = new Uint8Array(raw.length + zeros + 2);
  out[0] = type;
  let o = 1;
  for (const b of raw) {
    out[o++] = b;
    if (b === 0) out[o++] = 0xff;
  }
  out[o] = 0;
  return out;
}

function bigintBytes(n: bigint): Uint8Array {
  let hex = n.toString(16);
  if (hex.length % 2 === 1) hex = "0" + hex;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return out;
}

function encodeBigint(n: bigint): Uint8Array {
  if (n === 0n) return new Uint8Array([INT_ZERO]);
  const negative = n < 0n;
  const raw = bigintBytes(negative ? -n : n);
  if (negative) {
    for (let i = 0; i < raw.length; i++) {
      raw[i] = raw[i]! ^ 0xff;
    }
  }
  if (raw.length <= 8) {
    return concatBytes([
      new Uint8Array([
        negative ? INT_ZERO - raw.length : INT_ZERO + raw.length,
      ]),
      raw,
    ]);
  }
  if (raw.length > 255) {
    throw new BadRequestError("bigint key part too large");
  }
  return concatBytes([
    negative
      ? new Uint8Array([NEG_INT_START, raw.length ^ 0xff])
      : new Uint8Array([POS_INT_END, raw.length]),
    raw,
  ]);
}

function encodeDouble(x: number): Uint8Array {
  const out = new Uint8Array(9);
  out[0] = DOUBLE;
  const view = new DataView(out.buffer);
  // One NaN, as denokv canonicalizes it.
  view.setFloat64(1, Number.isNaN(x) ? NaN : x, false);
  if (Number.isNaN(x)) {
    view.setUint32(1, 0x7ff80000, false);
    view.setUint32(5, 0, false);
  }
  if (out[1]! & 0x80) {
    for (let i = 1; i < 9; i++) out[i] = out[i]! ^ 0xff;
  } else {
    out[1] = out[1]! ^ 0x80;
  }
  return out;
}

function encodePart(part: KvKeyPart): Uint8Array {
  if (part instanceof Uint8Array) return escaped(BYTES, part);
  switch (typeof part) {
    case "string":
      return escaped(STRING, encoder.encode(part));
    case "bigint":
      return encodeBigint(part);
    case "number":
      return encodeDouble(part);
    case "boolean":
      return new Uint8Array([part ? TRUE : FALSE]);
  }
  throw new BadRequestError(
    "expected string, number, bigint, ArrayBufferView, boolean",
  );
}

/** A key's bytes, in Deno KV's order. */
export function encodeKey(key: KvKey): Uint8Array {
  if (key.length === 1) return encodePart(key[0]!);
  return concatBytes(key.map(encodePart));
}

function unescape(bytes: Uint8Array, start: number): [Uint8Array, number] {
  const out: number[] = [];
  let i = start;
  for (;;) {
    if (i >= bytes.length) {
      throw new BadRequestError("invalid key: unterminated");
    }
    const b = bytes[i]!;
    if (b === 0) {
      if (bytes[i + 1] === 0xff) {
        out.push(0);
        i += 2;
        continue;
      }
      return [new Uint8Array(out), i + 1];
    }
    out.push(b);
    i++;
  }
}

function readBigint(raw: Uint8Array, negative: boolean): bigint {
  let n = 0n;
  for (const b of raw) n = (n << 8n) | BigInt(negative ? b ^ 0xff : b);
  return negative ? -n : n;
}

/** The parts of an encoded key; throws BadRequestError on bytes that are not one. */
export function decodeKey(bytes: Uint8Array): KvKeyPart[] {
  const parts: KvKeyPart[] = [];
  let i = 0;
  while (i < bytes.length) {
    const tag = bytes[i]!;
    if (tag === BYTES || tag === STRING) {
      const [raw, next] = unescape(bytes, i + 1);
      if (tag === BYTES) parts.push(raw);
      else {
        try {
          parts.push(decoder.decode(raw));
        } catch {
          throw new BadRequestError("invalid key: a string is not UTF-8");
        }
      }
      i = next;
    } else if (tag >= NEG_INT_START && tag <= POS_INT_END) {
      let len: number;
      let start = i + 1;
      const negative = tag < INT_ZERO;
      if (tag === NEG_INT_START) {
        len = (bytes[i + 1] ?? 0) ^ 0xff;
        start++;
      } else if (tag === POS_INT_END) {
        len = bytes[i + 1] ?? 0;
        start++;
      } else len = Math.abs(tag - INT_ZERO);
      if (start + len > bytes.length) throw new BadRequestError("invalid key");
      parts.push(readBigint(bytes.subarray(start, start + len), negative));
      i = start + len;
    } else if (tag === DOUBLE) {
      if (i + 9 > bytes.length) throw new BadRequestError("invalid key");
      const b = bytes.slice(i + 1, i + 9);
      if (b[0]! & 0x80) b[0] = b[0]! ^ 0x80;
      else for (let j = 0; j < 8; j++) b[j] = b[j]! ^ 0xff;
      parts.push(new DataView(b.buffer).getFloat64(0, false));
      i += 9;
    } else if (tag === FALSE || tag === TRUE) {
      parts.push(tag === TRUE);
      i++;
    } else {
      throw new BadRequestError(`invalid key: unknown type byte ${tag}`);
    }
  }
  return parts;
}

function typeName(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "list";
  return typeof x;
}

/** A key part from its JSON form; `what` names it in errors. */
export function partFromJson(x: unknown, what: string): KvKeyPart {
  if (typeof x === "string" || typeof x === "boolean") return x;
  if (typeof x === "number") return x;
  if (typeof x === "object" && x !== null && !Array.isArray(x)) {
    const { type, value } = x as { type?: unknown; value?: unknown };
    switch (type) {
      case "string":
        if (typeof value === "string") return value;
        break;
      case "boolean":
        if (typeof value === "boolean") return value;
        break;
      case "number":
        if (typeof value === "number") return value;
        if (value === "NaN") return NaN;
        if (value === "Infinity") return Infinity;
        if (value === "-Infinity") return -Infinity;
        if (value === "-0") return -0;
        break;
      case "bigint":
        if (typeof value === "string" && /^-?\d{1,620}$/.test(value)) {
          return BigInt(value);
        }
        break;
      case "Uint8Array":
        if (typeof value === "string") {
          try {
            return fromBase64Url(value);
          } catch {
            break;
          }
        }
        break;
    }
    throw new BadRequestError(
      `${what}: a tagged key part is {"type": "string"|"number"|"bigint"|"boolean"|"Uint8Array", "value": ...} with a value of that type`,
    );
  }
  throw new BadRequestError(
    `${what}: expected string, number, bigint, ArrayBufferView, boolean: got ${
      typeName(x)
    }`,
  );
}

/** A key from its JSON form (a list of parts). */
export function keyFromJson(x: unknown, what: string): KvKeyPart[] {
  if (!Array.isArray(x)) {
    throw new BadRequestError(
      `${what}: a key is a list of parts: got ${typeName(x)}`,
    );
  }
  if (x.length > 1_000) throw new BadRequestError(`${what}: too many parts`);
  return x.map((p, i) => partFromJson(p, `${what}[${i}]`));
}

/** A key part as JSON: plain where JSON can say it exactly, tagged otherwise. */
export function partToJson(p: KvKeyPart): unknown {
  if (p instanceof Uint8Array) {
    return { type: "Uint8Array", value: toBase64Url(p) };
  }
  if (typeof p === "bigint") return { type: "bigint", value: p.toString() };
  if (typeof p === "number" && (!Number.isFinite(p) || Object.is(p, -0))) {
    return { type: "number", value: Object.is(p, -0) ? "-0" : String(p) };
  }
  return p;
}

export function keyToJson(key: KvKey): unknown[] {
  return key.map(partToJson);
}
