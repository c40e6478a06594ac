/**
 * `KVClient.kv`: a KV database of a KVDB cluster, with `Deno.Kv`'s API
 * (`get`, `getMany`, `list` as an async iterator, `set`, `delete`,
 * `atomic().check().set().sum().commit()`), over the `kv_*` JSON-RPC
 * functions. Like the rest of the client it has no dependencies and runs
 * wherever `fetch` does.
 *
 * Values: anything JSON can hold, `Uint8Array` and {@link KvU64} travel
 * as themselves; a value another client stored in a form JSON cannot hold
 * (a `Date` or a `Map` from `Deno.openKv`) reads back as a {@link KvV8Value}
 * holding its V8-serialized bytes.
 *
 * @example Count visits atomically
 * ```ts
 * import { KVClient, KvU64 } from "./client.ts";
 *
 * const client = new KVClient({ nodes: ["127.0.0.1:5878"] });
 * async function demo(): Promise<void> {
 *   const kv = client.kv;
 *   await kv.atomic().sum(["visits"], 1n).commit();
 *   const entry = await kv.get<KvU64>(["visits"]);
 *   console.log(entry.value?.value); // 1n
 *   const { versionstamp } = await kv.get(["config"]);
 *   const res = await kv.atomic()
 *     .check({ key: ["config"], versionstamp })
 *     .set(["config"], { mode: "fast" })
 *     .commit();
 *   console.log(res.ok);
 *   for await (const e of kv.list({ prefix: ["users"] })) console.log(e.key);
 * }
 * ```
 *
 * @module
 */

/** One part of a key, as in `Deno.KvKeyPart`. */
export type KvKeyPart = Uint8Array | string | number | bigint | boolean;
/** A key, as in `Deno.KvKey`. */
export type KvKey = readonly KvKeyPart[];

/** A 64-bit unsigned integer value, as `Deno.KvU64`. */
export class KvU64 {
  readonly value: bigint;
  constructor(value: bigint) {
    if (typeof value !== "bigint" || value < 0n || value >= 1n << 64n) {
      throw new RangeError("value must be a bigint in [0, 2^64)");
    }
    this.value = value;
  }
}

/** A value stored in V8's format that JSON cannot carry; `bytes` are V8's. */
export class KvV8Value {
  constructor(readonly bytes: Uint8Array) {}
}

/** An entry that may be absent, as `Deno.KvEntryMaybe`. */
export interface KvEntryMaybe<T> {
  key: KvKey;
  value: T | null;
  versionstamp: string | null;
}

/** An entry, as `Deno.KvEntry`. */
export interface KvEntry<T> {
  key: KvKey;
  value: T;
  versionstamp: string;
}

/** `strong` (linearizable, the default) or `eventual`. */
export type KvConsistencyLevel = "strong" | "eventual";

/** As `Deno.KvListSelector`. */
export type KvListSelector =
  | { prefix: KvKey }
  | { prefix: KvKey; start: KvKey }
  | { prefix: KvKey; end: KvKey }
  | { start: KvKey; end: KvKey };

/** As `Deno.KvListOptions`. */
export interface KvListOptions {
  limit?: number;
  cursor?: string;
  reverse?: boolean;
  consistency?: KvConsistencyLevel;
  batchSize?: number;
}

/** As `Deno.AtomicCheck`. */
export interface AtomicCheck {
  key: KvKey;
  versionstamp: string | null;
}

/** As `Deno.KvMutation`. */
export type KvMutation =
  & { key: KvKey }
  & (
    | { type: "set"; value: unknown; expireIn?: number }
    | { type: "delete" }
    | { type: "sum"; value: KvU64 }
    | { type: "max"; value: KvU64 }
    | { type: "min"; value: KvU64 }
  );

/** As `Deno.KvCommitResult`. */
export interface KvCommitResult {
  ok: true;
  versionstamp: string;
}

/** As `Deno.KvCommitError`. */
export interface KvCommitError {
  ok: false;
}

/** The transport a handle calls through: `KVClient.call`. */
export type KvCall = (
  fn: string,
  args: unknown[],
  kwargs: Record<string, unknown>,
) => Promise<unknown>;

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromB64(s: string): Uint8Array {
  const std = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(std + "===".slice((std.length + 3) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function partToJson(p: KvKeyPart): unknown {
  if (p instanceof Uint8Array) return { type: "Uint8Array", value: b64url(p) };
  if (typeof p === "bigint") return { type: "bigint", value: p.toString() };
  if (typeof p === "number" && (!Number.isFinite(p) || Object.is(p, -0))) {
    return { type: "number", value: Object.is(p, -0) ? "-0" : String(p) };
  }
  if (
    typeof p === "string" || typeof p === "number" || typeof p === "boolean"
  ) return p;
  throw new TypeError(
    "expected string, number, bigint, ArrayBufferView, boolean",
  );
}

function keyToJson(key: KvKey): unknown[] {
  if (!Array.isArray(key)) throw new TypeError("a key is an array of parts");
  return key.map(partToJson);
}

function partFromJson(x: unknown): KvKeyPart {
  if (typeof x === "object" && x !== null) {
    const { type, value } = x as { type: string; value: string };
    if (type === "bigint") return BigInt(value);
    if (type === "Uint8Array") return fromB64(value);
    if (type === "number") return value === "-0" ? -0 : Number(value);
  }
  return x as KvKeyPart;
}

function keyFromJson(x: unknown): KvKey {
  return (x as unknown[]).map(partFromJson);
}

function valueToJson(v: unknown): unknown {
  if (v instanceof KvU64) return { type: "KvU64", value: v.value.toString() };
  if (v instanceof Uint8Array) return { type: "Uint8Array", value: b64url(v) };
  if (v instanceof KvV8Value) {
    let s = "";
    for (const b of v.bytes) s += String.fromCharCode(b);
    return { type: "v8", value: btoa(s) };
  }
  if (v === undefined || typeof v === "bigint" || typeof v === "function") {
    throw new TypeError(
      "KVClient.kv carries JSON values, Uint8Array, KvU64 and KvV8Value",
    );
  }
  return v;
}

function valueFromJson(x: unknown): unknown {
  if (typeof x === "object" && x !== null && !Array.isArray(x)) {
    const keys = Object.keys(x);
    const { type, value } = x as { type: unknown; value: unknown };
    if (keys.length === 2 && typeof value === "string") {
      if (type === "KvU64") return new KvU64(BigInt(value));
      if (type === "Uint8Array") return fromB64(value);
      if (type === "v8") return new KvV8Value(fromB64(value));
    }
  }
  return x;
}

function entryFromJson<T>(x: unknown): KvEntryMaybe<T> {
  const e = x as { key: unknown; value: unknown; versionstamp: string | null };
  return {
    key: keyFromJson(e.key),
    value: e.versionstamp === null ? null : valueFromJson(e.value) as T,
    versionstamp: e.versionstamp,
  };
}

/** A list in progress, as `Deno.KvListIterator`: `cursor` resumes it. */
export class KvListIterator<T> implements AsyncIterableIterator<KvEntry<T>> {
  readonly #fetchPage: (
    cursor: string | undefined,
    limit: number,
  ) => Promise<{ entries: KvEntry<T>[]; cursor: string | null }>;
  #buffer: KvEntry<T>[] = [];
  #cursor: string | undefined;
  #lastCursor = "";
  #done = false;
  #remaining: number;
  readonly #batch: number;

  constructor(
    fetchPage: (
      cursor: string | undefined,
      limit: number,
    ) => Promise<{ entries: KvEntry<T>[]; cursor: string | null }>,
    options: KvListOptions,
  ) {
    this.#fetchPage = fetchPage;
    this.#cursor = options.cursor;
    this.#remaining = options.limit ?? Infinity;
    this.#batch = Math.min(options.batchSize ?? 500, 1000);
  }

  /** Where the list stands: pass it as `cursor` to go on from here. */
  get cursor(): string {
    return this.#lastCursor;
  }

  async next(): Promise<IteratorResult<KvEntry<T>>> {
    if (this.#buffer.length === 0 && !this.#done && this.#remaining > 0) {
      const page = await this.#fetchPage(
        this.#cursor,
        Math.min(this.#batch, this.#remaining),
      );
      this.#buffer = page.entries;
      if (page.cursor === null) this.#done = true;
      else this.#cursor = page.cursor;
    }
    const entry = this.#buffer.shift();
    if (entry === undefined || this.#remaining <= 0) {
      return { done: true, value: undefined };
    }
    this.#remaining--;
    this.#lastCursor = b64url(
      new TextEncoder().encode(JSON.stringify(keyToJson(entry.key))),
    );
    return { done: false, value: entry };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<KvEntry<T>> {
    return this;
  }
}

/** Checks and mutations committed at once, as `Deno.AtomicOperation`. */
export class AtomicOperation {
  readonly #handle: Kv;
  readonly #checks: unknown[] = [];
  readonly #mutations: unknown[] = [];

  constructor(handle: Kv) {
    this.#handle = handle;
  }

  /** The commit happens only if each key's versionstamp is still this (null: absent). */
  check(...checks: AtomicCheck[]): this {
    for (const c of checks) {
      this.#checks.push({
        key: keyToJson(c.key),
        versionstamp: c.versionstamp,
      });
    }
    return this;
  }

  mutate(...mutations: KvMutation[]): this {
    for (const m of mutations) {
      const out: Record<string, unknown> = {
        type: m.type,
        key: keyToJson(m.key),
      };
      if ("value" in m) out.value = valueToJson(m.value);
      if ("expireIn" in m && m.expireIn !== undefined) {
        out.expireIn = m.expireIn;
      }
      this.#mutations.push(out);
    }
    return this;
  }

  set(key: KvKey, value: unknown, options: { expireIn?: number } = {}): this {
    return this.mutate({ type: "set", key, value, ...options });
  }

  delete(key: KvKey): this {
    return this.mutate({ type: "delete", key });
  }

  /** Adds `n` to a u64 (wrapping at 2^64); a missing key counts as 0. */
  sum(key: KvKey, n: bigint): this {
    return this.mutate({ type: "sum", key, value: new KvU64(n) });
  }

  min(key: KvKey, n: bigint): this {
    return this.mutate({ type: "min", key, value: new KvU64(n) });
  }

  max(key: KvKey, n: bigint): this {
    return this.mutate({ type: "max", key, value: new KvU64(n) });
  }

  /** All or nothing: `{ok: true, versionstamp}`, or `{ok: false}` when a check fails. */
  async commit(): Promise<KvCommitResult | KvCommitError> {
    return await this.#handle.commit(this.#checks, this.#mutations);
  }
}

/** A KV database, as `Deno.Kv`. */
export class Kv {
  readonly #call: KvCall;
  readonly #db: string;

  constructor(call: KvCall, db = "default") {
    this.#call = call;
    this.#db = db;
  }

  #kw(extra: Record<string, unknown> = {}): Record<string, unknown> {
    const out: Record<string, unknown> = this.#db === "default"
      ? {}
      : { db: this.#db };
    for (const [k, v] of Object.entries(extra)) if (v !== undefined) out[k] = v;
    return out;
  }

  async get<T = unknown>(
    key: KvKey,
    options: { consistency?: KvConsistencyLevel } = {},
  ): Promise<KvEntryMaybe<T>> {
    return entryFromJson<T>(
      await this.#call("kv_get", [keyToJson(key)], this.#kw(options)),
    );
  }

  async getMany<T extends readonly unknown[]>(
    keys: readonly KvKey[],
    options: { consistency?: KvConsistencyLevel } = {},
  ): Promise<{ [K in keyof T]: KvEntryMaybe<T[K]> }> {
    const r = await this.#call(
      "kv_get_many",
      [keys.map(keyToJson)],
      this.#kw(options),
    ) as unknown[];
    return r.map((e) => entryFromJson(e)) as {
      [K in keyof T]: KvEntryMaybe<T[K]>;
    };
  }

  list<T = unknown>(
    selector: KvListSelector,
    options: KvListOptions = {},
  ): KvListIterator<T> {
    const sel: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(selector)) {
      sel[k] = keyToJson(v as KvKey);
    }
    return new KvListIterator<T>(async (cursor, limit) => {
      const page = await this.#call(
        "kv_list",
        [sel],
        this.#kw({
          limit,
          cursor,
          reverse: options.reverse,
          consistency: options.consistency,
        }),
      ) as { entries: unknown[]; cursor: string | null };
      return {
        entries: page.entries.map((e) => entryFromJson<T>(e) as KvEntry<T>),
        cursor: page.cursor,
      };
    }, options);
  }

  async set(
    key: KvKey,
    value: unknown,
    options: { expireIn?: number } = {},
  ): Promise<KvCommitResult> {
    return await this.atomic().set(key, value, options)
      .commit() as KvCommitResult;
  }

  async delete(key: KvKey): Promise<void> {
    await this.atomic().delete(key).commit();
  }

  atomic(): AtomicOperation {
    return new AtomicOperation(this);
  }

  /** @internal Used by {@link AtomicOperation.commit}. */
  async commit(
    checks: unknown[],
    mutations: unknown[],
  ): Promise<KvCommitResult | KvCommitError> {
    return await this.#call("kv_atomic", [checks, mutations], this.#kw()) as
      | KvCommitResult
      | KvCommitError;
  }
}
