/**
 * Deno KV's operations over JSON: `get`, `getMany`, `list` and `atomic`
 * with `Deno.Kv`'s argument shapes, limits and error texts, on top of the
 * routing of {@link KvDatabases}. The JSON-RPC functions (`kv_*`) and the
 * client's `KVClient.kv` speak this.
 *
 * @module
 */

import { BadRequestError } from "../errors.ts";
import {
  KV_CHECKS_MAX,
  KV_COMMIT_BYTES_MAX,
  KV_COMMIT_KEY_BYTES_MAX,
  KV_GET_MANY_KEYS_MAX,
  KV_KEY_BYTES_MAX,
  KV_LIST_ENTRIES_MAX,
  KV_MUTATIONS_MAX,
  KV_READ_KEY_BYTES_MAX,
  KV_VALUE_BYTES_MAX,
} from "../limits.ts";
import {
  compareBytes,
  concatBytes,
  fromBase64Url,
  toBase64Url,
} from "./bytes.ts";
import {
  type Check,
  type CommitResult,
  type Mutation,
  type MutationType,
  versionstampOf,
} from "./command.ts";
import { decodeKey, encodeKey, keyFromJson, keyToJson } from "./key.ts";
import type { KvDatabases, KvOpResult } from "./manager.ts";
import type { KvRow } from "./replica_store.ts";
import { u64Value, valueFromJson, valueToJson } from "./value.ts";
import { DB_NAME } from "./wire.ts";

/** An entry as `Deno.KvEntryMaybe` in JSON. */
export interface KvEntryJson {
  key: unknown[];
  value: unknown;
  versionstamp: string | null;
}

/** `strong` (linearizable, the default) or `eventual` (this replica's state). */
export type KvConsistency = "strong" | "eventual";

/** Read options. */
export interface KvReadOptions {
  db?: string;
  consistency?: KvConsistency;
}

/** `kv_list`'s selector, as `Deno.KvListSelector`. */
export interface KvListSelector {
  prefix?: unknown;
  start?: unknown;
  end?: unknown;
}

/** `kv_list`'s options, as `Deno.KvListOptions` (limit per page). */
export interface KvListOptions extends KvReadOptions {
  limit?: unknown;
  reverse?: unknown;
  cursor?: unknown;
}

function fail(message: string): never {
  throw new BadRequestError(message);
}

function dbName(x: unknown): string {
  if (x === undefined || x === null) return "default";
  if (typeof x !== "string" || !DB_NAME.test(x)) {
    fail(
      "'db' must be a database name: 1 to 64 letters, digits, '_' or '-'",
    );
  }
  return x;
}

function consistency(x: unknown): boolean {
  if (x === undefined || x === null || x === "strong") return false;
  if (x === "eventual") return true;
  fail(`'consistency' must be "strong" or "eventual"`);
}

function readKey(x: unknown, what: string): Uint8Array {
  const key = encodeKey(keyFromJson(x, what));
  if (key.length > KV_READ_KEY_BYTES_MAX) {
    fail(`Key too large for read (max ${KV_READ_KEY_BYTES_MAX} bytes)`);
  }
  return key;
}

function writeKey(x: unknown, what: string): Uint8Array {
  const parts = keyFromJson(x, what);
  if (parts.length === 0) fail("key cannot be empty");
  const key = encodeKey(parts);
  if (key.length > KV_KEY_BYTES_MAX) {
    fail(`Key too large for write (max ${KV_KEY_BYTES_MAX} bytes)`);
  }
  return key;
}

function entryOf(key: unknown[], row: KvRow | null | undefined): KvEntryJson {
  if (row === null || row === undefined) {
    return { key, value: null, versionstamp: null };
  }
  return {
    key,
    value: valueToJson(row.value),
    versionstamp: versionstampOf(row.index),
  };
}

function rowsOf(r: KvOpResult): (KvRow | null)[] {
  if (!("rows" in r)) throw new Error("a read answered with a commit");
  return r.rows;
}

function operandOf(type: string, x: unknown): Mutation["value"] {
  if (Number.isSafeInteger(x) && (x as number) >= 0) {
    return u64Value(BigInt(x as number));
  }
  let v;
  try {
    v = valueFromJson(x, "value");
  } catch {
    v = undefined;
  }
  if (v?.encoding !== "le64") {
    fail(
      `Invalid mutation '${type}': the value must be a KvU64 ({"type": "KvU64", "value": "<decimal>"} or a non-negative integer)`,
    );
  }
  return v;
}

function expireInOf(x: unknown): number | undefined {
  if (x === undefined || x === null) return undefined;
  if (!Number.isSafeInteger(x) || (x as number) < 0) {
    fail(
      `expireIn must be a non-negative integer: received ${
        JSON.stringify(x)?.slice(0, 40)
      }`,
    );
  }
  return x as number;
}

const MUTATION_TYPES: readonly MutationType[] = [
  "set",
  "delete",
  "sum",
  "min",
  "max",
  "setSuffixVersionstampedKey",
];

/** The checks and mutations of a commit, validated against Deno KV's limits. */
export function parseAtomic(
  checksJson: unknown,
  mutationsJson: unknown,
): { checks: Check[]; mutations: Mutation[] } {
  const checksList = checksJson ?? [];
  const mutationsList = mutationsJson ?? [];
  if (!Array.isArray(checksList)) fail("'checks' must be a list of checks");
  if (!Array.isArray(mutationsList)) {
    fail("'mutations' must be a list of mutations");
  }
  if (checksList.length > KV_CHECKS_MAX) {
    fail(`Too many checks (max ${KV_CHECKS_MAX})`);
  }
  if (mutationsList.length > KV_MUTATIONS_MAX) {
    fail(`Too many mutations (max ${KV_MUTATIONS_MAX})`);
  }
  let keyBytes = 0;
  let mutationBytes = 0;
  const checks = checksList.map((c, i): Check => {
    if (typeof c !== "object" || c === null || Array.isArray(c)) {
      fail("Invalid check");
    }
    const { key, versionstamp } = c as Record<string, unknown>;
    const k = readKey(key, `checks[${i}].key`);
    if (
      versionstamp !== null &&
      (typeof versionstamp !== "string" ||
        !/^[0-9a-f]{20}$/.test(versionstamp))
    ) fail("Invalid check");
    keyBytes += k.length;
    return { key: k, versionstamp: versionstamp as string | null };
  });
  const mutations = mutationsList.map((m, i): Mutation => {
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      fail("Invalid mutation type");
    }
    const { type, key, value, expireIn } = m as Record<string, unknown>;
    if (!MUTATION_TYPES.includes(type as MutationType)) {
      fail("Invalid mutation type");
    }
    const t = type as MutationType;
    const k = t === "setSuffixVersionstampedKey"
      ? encodeKey(keyFromJson(key, `mutations[${i}].key`))
      : writeKey(key, `mutations[${i}].key`);
    if (k.length > KV_KEY_BYTES_MAX) {
      fail(`Key too large for write (max ${KV_KEY_BYTES_MAX} bytes)`);
    }
    const out: Mutation = { type: t, key: k };
    if (t === "set" || t === "setSuffixVersionstampedKey") {
      if (value === undefined) fail(`Invalid mutation '${t}': no value`);
      out.value = valueFromJson(value, `mutations[${i}].value`);
      const e = expireInOf(expireIn);
      if (e !== undefined) out.expireIn = e;
    } else if (t === "sum" || t === "min" || t === "max") {
      out.value = operandOf(t, value);
    }
    if (out.value !== undefined && out.value.data.length > KV_VALUE_BYTES_MAX) {
      fail(`Value too large (max ${KV_VALUE_BYTES_MAX} bytes)`);
    }
    keyBytes += k.length;
    mutationBytes += k.length + (out.value?.data.length ?? 0);
    return out;
  });
  if (mutationBytes > KV_COMMIT_BYTES_MAX) {
    fail(`Total mutation size too large (max ${KV_COMMIT_BYTES_MAX} bytes)`);
  }
  if (keyBytes > KV_COMMIT_KEY_BYTES_MAX) {
    fail(`Total key size too large (max ${KV_COMMIT_KEY_BYTES_MAX} bytes)`);
  }
  return { checks, mutations };
}

/** The byte range of a selector. */
function rangeOf(selector: KvListSelector): [Uint8Array, Uint8Array] {
  if (typeof selector !== "object" || selector === null) {
    fail("a list selector has 'prefix', 'start' or 'end'");
  }
  const { prefix, start, end } = selector;
  if (prefix !== undefined && prefix !== null) {
    const p = readKey(prefix, "prefix");
    const lo = concatBytes([p, new Uint8Array([0x00])]);
    const hi = concatBytes([p, new Uint8Array([0xff])]);
    if (
      start !== undefined && start !== null && end !== undefined && end !== null
    ) {
      fail(
        "Selector can not specify both 'start' and 'end' key when specifying 'prefix'",
      );
    }
    if (start !== undefined && start !== null) {
      const s = readKey(start, "start");
      if (compareBytes(s, lo) < 0 || compareBytes(s, hi) >= 0) {
        fail("Start key is not in the keyspace defined by prefix");
      }
      return [s, hi];
    }
    if (end !== undefined && end !== null) {
      const e = readKey(end, "end");
      if (compareBytes(e, lo) < 0 || compareBytes(e, hi) > 0) {
        fail("End key is not in the keyspace defined by prefix");
      }
      return [lo, e];
    }
    return [lo, hi];
  }
  if (
    start === undefined || start === null || end === undefined || end === null
  ) {
    fail("Selector must specify either 'prefix' or both 'start' and 'end' key");
  }
  const s = readKey(start, "start");
  const e = readKey(end, "end");
  if (compareBytes(s, e) > 0) fail("Start key is greater than end key");
  return [s, e];
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A list cursor: the last key returned, as base64url of its JSON form, so
 * that a client can make one from any key it was given.
 */
export function cursorOf(key: Uint8Array): string {
  return toBase64Url(utf8.encode(JSON.stringify(keyToJson(decodeKey(key)))));
}

function cursorKey(cursor: unknown): Uint8Array {
  try {
    if (typeof cursor !== "string") throw new Error();
    const json = JSON.parse(fromUtf8.decode(fromBase64Url(cursor)));
    return encodeKey(keyFromJson(json, "cursor"));
  } catch {
    fail("invalid cursor");
  }
}

/** Deno KV's operations on the KV databases, in JSON. */
export class KvService {
  readonly #dbs: KvDatabases;
  readonly #newId: () => string;
  readonly #now: () => number;

  /** `now` stamps commits (expiry); `newId` names proposals. */
  constructor(
    dbs: KvDatabases,
    options: { now: () => number; newId?: () => string },
  ) {
    this.#dbs = dbs;
    this.#now = options.now;
    this.#newId = options.newId ?? (() => crypto.randomUUID());
  }

  get databases(): KvDatabases {
    return this.#dbs;
  }

  async get(
    keyJson: unknown,
    options: KvReadOptions = {},
  ): Promise<KvEntryJson> {
    const key = readKey(keyJson, "key");
    const rows = rowsOf(
      await this.#dbs.run(dbName(options.db), {
        type: "get",
        keys: [key],
        eventual: consistency(options.consistency),
      }),
    );
    return entryOf(keyToJson(decodeKey(key)), rows[0]);
  }

  async getMany(
    keysJson: unknown,
    options: KvReadOptions = {},
  ): Promise<KvEntryJson[]> {
    if (!Array.isArray(keysJson)) fail("'keys' must be a list of keys");
    if (keysJson.length > KV_GET_MANY_KEYS_MAX) {
      fail(`Too many ranges (max ${KV_GET_MANY_KEYS_MAX})`);
    }
    const keys = keysJson.map((k, i) => readKey(k, `keys[${i}]`));
    if (keys.length === 0) return [];
    // One read: every key from the same state.
    const rows = rowsOf(
      await this.#dbs.run(dbName(options.db), {
        type: "get",
        keys,
        eventual: consistency(options.consistency),
      }),
    );
    return keys.map((k, i) => entryOf(keyToJson(decodeKey(k)), rows[i]));
  }

  async list(
    selector: KvListSelector,
    options: KvListOptions = {},
  ): Promise<{ entries: KvEntryJson[]; cursor: string | null }> {
    let [start, end] = rangeOf(selector);
    const limit = options.limit ?? 100;
    if (!Number.isSafeInteger(limit) || (limit as number) < 1) {
      fail("Invalid limit: it must be a positive integer");
    }
    if ((limit as number) > KV_LIST_ENTRIES_MAX) {
      fail(`Too many entries (max ${KV_LIST_ENTRIES_MAX})`);
    }
    const reverse = options.reverse ?? false;
    if (typeof reverse !== "boolean") fail("'reverse' must be true or false");
    if (options.cursor !== undefined && options.cursor !== null) {
      const c = cursorKey(options.cursor);
      if (compareBytes(c, start) < 0 || compareBytes(c, end) >= 0) {
        fail("invalid cursor");
      }
      if (reverse) end = c;
      else start = concatBytes([c, new Uint8Array([0x00])]);
    }
    if (compareBytes(start, end) >= 0) return { entries: [], cursor: null };
    const rows = rowsOf(
      await this.#dbs.run(dbName(options.db), {
        type: "range",
        start,
        end,
        limit: limit as number,
        reverse,
        eventual: consistency(options.consistency),
      }),
    ).filter((r): r is KvRow => r !== null);
    const entries = rows.map((r) => entryOf(keyToJson(decodeKey(r.key)), r));
    const full = rows.length === limit;
    return {
      entries,
      cursor: full ? cursorOf(rows[rows.length - 1]!.key) : null,
    };
  }

  /**
   * Commits checks and mutations at once. `id` makes a retry safe: a
   * commit with an id already applied answers its first outcome.
   */
  async atomic(
    checksJson: unknown,
    mutationsJson: unknown,
    options: { db?: string; id?: unknown } = {},
  ): Promise<CommitResult> {
    const { checks, mutations } = parseAtomic(checksJson, mutationsJson);
    let id = this.#newId();
    if (options.id !== undefined && options.id !== null) {
      if (
        typeof options.id !== "string" || options.id.length === 0 ||
        options.id.length > 128
      ) fail("'id' must be a string of 1 to 128 characters");
      id = `client/${options.id}`;
    }
    const result = await this.#dbs.run(dbName(options.db), {
      type: "atomic",
      command: { op: "atomic", id, t: this.#now(), checks, mutations },
    });
    if ("rows" in result || "ranges" in result) {
      throw new Error("a commit answered with rows");
    }
    if (!result.ok && "error" in result) fail(result.error);
    return result;
  }
}
