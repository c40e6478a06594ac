/**
 * Redis's read-modify-write string commands as pure operations for the
 * per-key serialiser (src/cluster/key_serializer.ts): from the keys' live
 * records and the arguments, the writes and the reply. They run on the
 * key's serialising node, which may be another node than the one the
 * client talks to, so arguments are strings (already validated by the
 * front end) and replies travel as JSON ({@link WireReply}).
 *
 * @module
 */

import type { AtomicOp, AtomicOutcome, AtomicWrite } from "../cluster/mod.ts";
import type { StoredRecord } from "../storage/mod.ts";
import { bytesToString, stringToBytes } from "./bytes.ts";
import {
  asText,
  formatHumanDouble,
  INT64_MAX,
  INT64_MIN,
  parseFloat64,
  parseInt64,
  TOO_LARGE,
  valueTooLarge,
} from "./values.ts";

/**
 * A reply as JSON: null is nil, a string a bulk string, `{i}` an integer
 * (decimal, for 64 bits), `{s}` a status, `{e}` an error.
 */
export type WireReply =
  | null
  | string
  | { i: string }
  | { s: string }
  | { e: string }
  | WireReply[];

const OK: WireReply = { s: "OK" };
const NOT_INTEGER: WireReply = {
  e: "ERR value is not an integer or out of range",
};

function int(n: bigint | number): WireReply {
  return { i: String(n) };
}

function done(reply: WireReply, ...writes: AtomicWrite[]): AtomicOutcome {
  return { writes, reply };
}

function put(
  key: string,
  value: unknown,
  expiresAtMs: number | null,
): AtomicWrite {
  return { key, value, expiresAtMs };
}

function keyOf(record: StoredRecord | undefined, fallback: string): string {
  return record?.key ?? fallback;
}

/** args: [key, increment]. INCR, DECR, INCRBY, DECRBY; keeps the expiry. */
const incrby: AtomicOp = (records, args) => {
  const [record] = records;
  const by = parseInt64(args[1]!);
  if (by === undefined) return done(NOT_INTEGER);
  const current = record === undefined ? 0n : parseInt64(asText(record.value));
  if (current === undefined) return done(NOT_INTEGER);
  const next = current + by;
  if (next > INT64_MAX || next < INT64_MIN) {
    return done({ e: "ERR increment or decrement would overflow" });
  }
  return done(
    int(next),
    put(args[0]!, String(next), record?.expiresAtMs ?? null),
  );
};

/** args: [key, increment]; keeps the expiry. */
const incrbyfloat: AtomicOp = (records, args) => {
  const [record] = records;
  const current = record === undefined ? 0 : parseFloat64(asText(record.value));
  const by = parseFloat64(args[1]!);
  if (current === undefined || by === undefined) {
    return done({ e: "ERR value is not a valid float" });
  }
  const next = current + by;
  if (!Number.isFinite(next)) {
    return done({ e: "ERR increment would produce NaN or Infinity" });
  }
  const text = formatHumanDouble(next);
  return done(text, put(args[0]!, text, record?.expiresAtMs ?? null));
};

/** args: [key, suffix]; keeps the expiry. */
const append: AtomicOp = (records, args) => {
  const [record] = records;
  const next = record === undefined
    ? args[1]!
    : asText(record.value) + args[1]!;
  if (valueTooLarge(next)) return done({ e: TOO_LARGE });
  return done(
    int(stringToBytes(next).length),
    put(args[0]!, next, record?.expiresAtMs ?? null),
  );
};

/** args: [key, offset, bytes]; keeps the expiry. Offsets count bytes. */
const setrange: AtomicOp = (records, args) => {
  const [record] = records;
  const offset = Number(args[1]);
  const patch = stringToBytes(args[2]!);
  const old = record === undefined
    ? new Uint8Array(0)
    : stringToBytes(asText(record.value));
  if (patch.length === 0) return done(int(old.length));
  const length = Math.max(old.length, offset + patch.length);
  if (length > 512 * 1024 * 1024) return done({ e: TOO_LARGE });
  const bytes = new Uint8Array(length);
  bytes.set(old);
  bytes.set(patch, offset);
  const next = bytesToString(bytes);
  if (valueTooLarge(next)) return done({ e: TOO_LARGE });
  return done(
    int(length),
    put(args[0]!, next, record?.expiresAtMs ?? null),
  );
};

/**
 * SET with NX, XX, GET or KEEPTTL, SETNX and GETSET. args: [key, value,
 * condition ("nx" | "xx" | ""), "get" | "", expiry ("keep" | "" (none) |
 * absolute ms), reply form ("ok" | "int")].
 */
const set: AtomicOp = (records, args, nowMs) => {
  const [record] = records;
  const [key, value, condition, get, expiry, form] = args as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const old: WireReply = record === undefined ? null : asText(record.value);
  const aborted = (condition === "nx" && record !== undefined) ||
    (condition === "xx" && record === undefined);
  if (aborted) {
    return done(get === "get" ? old : form === "int" ? int(0) : null);
  }
  const reply = get === "get" ? old : form === "int" ? int(1) : OK;
  if (expiry === "keep") {
    return done(reply, put(key, value, record?.expiresAtMs ?? null));
  }
  if (expiry === "") return done(reply, put(key, value, null));
  const at = Number(expiry);
  // An expiry already past deletes the key, as Redis does.
  if (at <= nowMs) {
    return record === undefined
      ? done(reply)
      : done(reply, { key, delete: true });
  }
  return done(reply, put(key, value, at));
};

/** args: [key]. */
const getdel: AtomicOp = (records, args) => {
  const [record] = records;
  if (record === undefined) return done(null);
  return done(asText(record.value), { key: args[0]!, delete: true });
};

/** args: [key, "persist" | "at", absolute ms]. GETEX with an option. */
const getex: AtomicOp = (records, args, nowMs) => {
  const [record] = records;
  if (record === undefined) return done(null);
  const text = asText(record.value);
  const key = keyOf(record, args[0]!);
  if (args[1] === "persist") {
    if (record.expiresAtMs === null) return done(text);
    return done(text, put(key, record.value, null));
  }
  const at = Number(args[2]);
  if (at <= nowMs) return done(text, { key, delete: true });
  return done(text, put(key, record.value, at));
};

/** keys: k1..kn, args: [k1, v1, ..., kn, vn]. */
const msetnx: AtomicOp = (records, args) => {
  if (records.some((r) => r !== undefined)) return done(int(0));
  const writes: AtomicWrite[] = [];
  for (let i = 0; i + 1 < args.length; i += 2) {
    writes.push(put(args[i]!, args[i + 1]!, null));
  }
  return done(int(1), ...writes);
};

/** keys: [src, dst], args: [src, dst, "nx" | ""]. RENAME and RENAMENX. */
const rename: AtomicOp = (records, args) => {
  const [source, target] = records;
  const [from, to, nx] = args as [string, string, string];
  if (source === undefined) return done({ e: "ERR no such key" });
  if (from === to) return done(nx === "nx" ? int(0) : OK);
  if (nx === "nx" && target !== undefined) return done(int(0));
  return done(
    nx === "nx" ? int(1) : OK,
    put(to, source.value, source.expiresAtMs),
    { key: from, delete: true },
  );
};

/**
 * args: [key, absolute ms, condition ("nx" | "xx" | "gt" | "lt" | "")].
 * EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT.
 */
const expire: AtomicOp = (records, args, nowMs) => {
  const [record] = records;
  if (record === undefined) return done(int(0));
  const at = Number(args[1]);
  const current = record.expiresAtMs;
  const flags = args[2]!;
  if (flags.includes("nx") && current !== null) return done(int(0));
  if (flags.includes("xx") && current === null) return done(int(0));
  if (flags.includes("gt") && (current === null || at <= current)) {
    return done(int(0));
  }
  if (flags.includes("lt") && current !== null && at >= current) {
    return done(int(0));
  }
  if (at <= nowMs) return done(int(1), { key: record.key, delete: true });
  return done(int(1), put(record.key, record.value, at));
};

/** args: [key]. */
const persist: AtomicOp = (records) => {
  const [record] = records;
  if (record === undefined || record.expiresAtMs === null) return done(int(0));
  return done(int(1), put(record.key, record.value, null));
};

/** Every operation, by the name the front end and peers use. */
export const ATOMIC_OPS: ReadonlyMap<string, AtomicOp> = new Map([
  ["incrby", incrby],
  ["incrbyfloat", incrbyfloat],
  ["append", append],
  ["setrange", setrange],
  ["set", set],
  ["getdel", getdel],
  ["getex", getex],
  ["msetnx", msetnx],
  ["rename", rename],
  ["expire", expire],
  ["persist", persist],
]);
