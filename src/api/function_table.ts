/**
 * The one table of JSON-RPC functions: name, arguments, keyword arguments,
 * what each does and returns. Everything that lists functions derives from
 * it or is checked against it by a test:
 *
 * - the server's argument binding (src/api/functions.ts: one runner per
 *   name, a missing runner is a type error);
 * - the shell's commands, help, completion and hints (src/shell);
 * - the one-shot CLI commands (main.ts);
 * - the function tables of README.md and docs/protocol.md
 *   (src/docs/tables.ts, `deno task docs`, tests/tables_test.ts);
 * - the fuzz suite's specs (tests/fuzz_test.ts);
 * - the client's methods (client_test.ts).
 *
 * To add a function: add a row here and its runner in functions.ts, then
 * run `deno task docs`; the client method is the one thing written by
 * hand, and a test says when it is missing.
 *
 * @module
 */

/**
 * What an argument holds. It decides how the shell and the CLI turn typed
 * words into JSON, what the docs show and what the fuzz suite sends.
 */
export type ArgType =
  /** A key: a string of at most 4 KiB. */
  | "key"
  /** Any JSON value (from the shell and the CLI: a string). */
  | "value"
  /** A list of keys (shell and CLI: one word each). */
  | "keys"
  /** An object of keys to values (shell and CLI: key value pairs). */
  | "entries"
  /** A member's `"host:port"`. */
  | "address"
  /** `"one"`, `"quorum"` or `"all"`. */
  | "consistency"
  /** `true` or `false`. */
  | "boolean"
  /** A positive number of seconds. */
  | "seconds"
  /** An integer. */
  | "integer"
  /** A `list_keys` cursor: a string, or null to start. */
  | "cursor"
  /** A list of records as the wire carries them (`write_records`). */
  | "records";

/** One argument of a function. */
export interface ArgDef {
  /** The wire name (a kwarg's key, a positional parameter's name). */
  readonly name: string;
  readonly type: ArgType;
  /** One line for help and docs. */
  readonly doc: string;
  /** How the shell's usage and the CLI name it, if not by `name`. */
  readonly label?: string;
  /**
   * The CLI flag for a kwarg, if not `--<name>` in kebab case. For a
   * boolean kwarg whose server default is true, the flag sends `false`.
   */
  readonly flag?: string;
  /** The server's default, for a boolean kwarg that defaults to true. */
  readonly defaultTrue?: boolean;
}

/** One JSON-RPC function. */
export interface FunctionDef {
  /** The wire name (`"function"` in the request). */
  readonly name: string;
  /** One line for help and docs. */
  readonly summary: string;
  /** Parameters given by position or by name, in order. */
  readonly params: readonly ArgDef[];
  /** How many of `params` must be given. */
  readonly required: number;
  /** Keyword-only arguments. */
  readonly kwargs: readonly ArgDef[];
  /**
   * Changes nothing on the server: a client may retry it on another node
   * after a timeout.
   */
  readonly readOnly: boolean;
  /** What it answers, for the docs (Markdown). */
  readonly result: string;
  /** Always answers `null` on success: the shell prints `OK`. */
  readonly ack?: boolean;
  /**
   * In the shell: `true`, `false`, or `"rest"` when the last parameter
   * takes the rest of the line verbatim (the seed's `set`).
   */
  readonly shell: boolean | "rest";
  /** The one-shot CLI command's name, or `false` for none. */
  readonly cli: string | false;
  /** Where the docs say more (Markdown link), if anywhere. */
  readonly more?: string;
}

const KEY: ArgDef = { name: "key", type: "key", doc: "the key" };
const DEFAULT_VALUE: ArgDef = {
  name: "default_value",
  type: "value",
  label: "default",
  doc: "answered when the key is absent (default null)",
};
const CONSISTENCY: ArgDef = {
  name: "consistency",
  type: "consistency",
  doc: 'replicas to wait for: "one", "quorum" (default) or "all"',
};
const STRICT: ArgDef = {
  name: "strict",
  type: "boolean",
  doc: "count only the key's own replicas towards the quorum, never a stand-in",
};
const LOCAL: ArgDef = {
  name: "local",
  type: "boolean",
  doc: "this node's own copy only, without routing",
};
const TTL: ArgDef = {
  name: "ttl",
  type: "seconds",
  doc: "seconds until the key expires",
};

const KV_DB: ArgDef = {
  name: "db",
  type: "value",
  doc: 'the KV database (default "default")',
};
const KV_CONSISTENCY: ArgDef = {
  name: "consistency",
  type: "value",
  doc: '"strong" (default, linearizable) or "eventual"',
};
const KV_ID: ArgDef = {
  name: "id",
  type: "value",
  doc:
    "makes a retry safe: a commit with an id applied answers its first outcome",
};

/**
 * Every function, in the order help and docs list them. Wire names are
 * only ever added, never renamed (PROTOCOL.md).
 */
export const FUNCTION_TABLE = [
  {
    name: "ping",
    summary: "check that the node answers",
    params: [],
    required: 0,
    kwargs: [],
    readOnly: true,
    result: '`"pong"`',
    shell: true,
    cli: "ping",
  },
  {
    name: "get",
    summary: "read a key's value",
    params: [KEY, DEFAULT_VALUE],
    required: 1,
    kwargs: [CONSISTENCY, LOCAL],
    readOnly: true,
    result: "the value, else `default_value` (null)",
    shell: true,
    cli: "get",
  },
  {
    name: "set",
    summary: "store a value",
    params: [KEY, { name: "value", type: "value", doc: "any JSON value" }],
    required: 2,
    kwargs: [CONSISTENCY, STRICT, TTL],
    readOnly: false,
    result: "`null`",
    ack: true,
    shell: "rest",
    cli: "set",
  },
  {
    name: "has",
    summary: "whether a key holds a value",
    params: [KEY],
    required: 1,
    kwargs: [CONSISTENCY, LOCAL],
    readOnly: true,
    result: "`true` / `false`",
    shell: true,
    cli: "has",
  },
  {
    name: "pop",
    summary: "remove a key and answer the value it held",
    params: [KEY, DEFAULT_VALUE],
    required: 1,
    kwargs: [CONSISTENCY, STRICT],
    readOnly: false,
    result: "the removed value, else `default_value`",
    shell: true,
    cli: "pop",
  },
  {
    name: "list_keys",
    summary: "every key in the cluster, sorted",
    params: [],
    required: 0,
    kwargs: [
      {
        name: "fan_out_mode",
        type: "boolean",
        doc: "false: this node's keys only",
        flag: "--local",
        defaultTrue: true,
      },
      { name: "prefix", type: "key", doc: "only keys that start with it" },
      { name: "limit", type: "integer", doc: "most keys in a page" },
      {
        name: "cursor",
        type: "cursor",
        doc: "where the next page starts",
      },
    ],
    readOnly: true,
    result:
      'sorted keys; with `prefix`/`limit`/`cursor`, `{"keys": […], "cursor": …}`',
    shell: true,
    cli: "list-keys",
    more: "[below](#list_keys)",
  },
  {
    name: "list_members",
    summary: "the cluster's members",
    params: [],
    required: 0,
    kwargs: [],
    readOnly: true,
    result: '`["host:port", …]`',
    shell: true,
    cli: "list-members",
  },
  {
    name: "locate",
    summary: "the node that owns a key",
    params: [KEY],
    required: 1,
    kwargs: [],
    readOnly: true,
    result: 'the key\'s primary owner, `"host:port"`',
    shell: true,
    cli: "locate",
  },
  {
    name: "replicas",
    summary: "the nodes holding a key, primary first",
    params: [KEY],
    required: 1,
    kwargs: [],
    readOnly: true,
    result: "the key's N replicas, primary first",
    shell: true,
    cli: "replicas",
  },
  {
    name: "cluster_info",
    summary: "the node's view of the cluster",
    params: [],
    required: 0,
    kwargs: [],
    readOnly: true,
    result: "this node's view: members and states, N, R, W, version, stats",
    shell: true,
    cli: "info",
    more: "[below](#cluster_info)",
  },
  {
    name: "mget",
    summary: "read several keys",
    params: [{ name: "keys", type: "keys", doc: "the keys (at most 1,000)" }],
    required: 1,
    kwargs: [CONSISTENCY],
    readOnly: true,
    result: "values, `null` where absent",
    shell: true,
    cli: "mget",
  },
  {
    name: "mset",
    summary: "write several keys",
    params: [{
      name: "entries",
      type: "entries",
      label: "object",
      doc: "keys to values (at most 1,000)",
    }],
    required: 1,
    kwargs: [CONSISTENCY, STRICT, TTL],
    readOnly: false,
    result: "`null`",
    ack: true,
    shell: true,
    cli: "mset",
  },
  {
    name: "leave",
    summary: "hand this node's data to its successors, then stop it",
    params: [],
    required: 0,
    kwargs: [],
    readOnly: false,
    result: '`{"leaving": true}`: the node hands its data over, then exits',
    shell: false,
    cli: "leave",
    more: "[failures.md](failures.md#leave)",
  },
  {
    name: "remove_member",
    summary: "take a dead member out of the cluster for good",
    params: [{
      name: "address",
      type: "address",
      doc: "the dead member's host:port",
    }],
    required: 1,
    kwargs: [],
    readOnly: false,
    result: '`{"removed": address}`: a dead member is taken out for good',
    shell: false,
    cli: "remove-member",
    more: "[failures.md](failures.md#a-node-that-never-comes-back)",
  },
  {
    name: "read_records",
    summary: "read keys with their versions and expiry, for backups",
    params: [{ name: "keys", type: "keys", doc: "the keys (at most 1,000)" }],
    required: 1,
    kwargs: [CONSISTENCY],
    readOnly: true,
    result:
      'a list of records (`{"key", "value", "version", "tombstone", "expiresAtMs"}`), `null` where absent',
    shell: false,
    cli: false,
    more: "[operations.md](operations.md#backup-and-restore)",
  },
  {
    name: "write_records",
    summary: "write records keeping their versions and expiry, for restores",
    params: [{
      name: "records",
      type: "records",
      doc: "records as read_records answers them (at most 1,000)",
    }],
    required: 1,
    kwargs: [CONSISTENCY, STRICT],
    readOnly: false,
    result:
      '`{"written": n}`; a record older than the key\'s stored version changes nothing',
    shell: false,
    cli: false,
    more: "[operations.md](operations.md#backup-and-restore)",
  },
  {
    name: "kv_get",
    summary: "KV database: read an entry, linearizably",
    params: [{ name: "key", type: "value", doc: "a key: a list of parts" }],
    required: 1,
    kwargs: [KV_DB, KV_CONSISTENCY],
    readOnly: true,
    result: 'the entry `{"key", "value", "versionstamp"}`, `null`s when absent',
    shell: false,
    cli: false,
    more: "[below](#kv-databases)",
  },
  {
    name: "kv_get_many",
    summary: "KV database: read up to 10 entries from one snapshot",
    params: [{ name: "keys", type: "value", doc: "a list of keys" }],
    required: 1,
    kwargs: [KV_DB, KV_CONSISTENCY],
    readOnly: true,
    result: "a list of entries",
    shell: false,
    cli: false,
    more: "[below](#kv-databases)",
  },
  {
    name: "kv_list",
    summary: "KV database: a page of entries in key order, one snapshot",
    params: [{
      name: "selector",
      type: "value",
      doc: "`{prefix}`, `{prefix, start}`, `{prefix, end}` or `{start, end}`",
    }],
    required: 0,
    kwargs: [
      { name: "prefix", type: "value", doc: "the selector's prefix" },
      { name: "start", type: "value", doc: "the selector's start key" },
      { name: "end", type: "value", doc: "the selector's end key" },
      {
        name: "limit",
        type: "integer",
        doc: "entries per page (1-1,000, default 100)",
      },
      { name: "reverse", type: "boolean", doc: "in descending key order" },
      { name: "cursor", type: "value", doc: "where the last page ended" },
      KV_DB,
      KV_CONSISTENCY,
    ],
    readOnly: true,
    result: '`{"entries": [...], "cursor": <string or null>}`',
    shell: false,
    cli: false,
    more: "[below](#kv-databases)",
  },
  {
    name: "kv_atomic",
    summary: "KV database: checks and mutations, all or nothing",
    params: [
      { name: "checks", type: "value", doc: "a list of `{key, versionstamp}`" },
      {
        name: "mutations",
        type: "value",
        doc: "a list of `{type, key, value, expireIn}`",
      },
    ],
    required: 0,
    kwargs: [KV_DB, KV_ID],
    readOnly: false,
    result: '`{"ok": true, "versionstamp": "<20 hex>"}` or `{"ok": false}`',
    shell: false,
    cli: false,
    more: "[below](#kv-databases)",
  },
  {
    name: "kv_set",
    summary: "KV database: set one key",
    params: [
      { name: "key", type: "value", doc: "a key: a list of parts" },
      { name: "value", type: "value", doc: "the value" },
    ],
    required: 2,
    kwargs: [
      { name: "expireIn", type: "integer", doc: "ms until the entry expires" },
      KV_DB,
      KV_ID,
    ],
    readOnly: false,
    result: "as `kv_atomic`",
    shell: false,
    cli: false,
    more: "[below](#kv-databases)",
  },
  {
    name: "kv_delete",
    summary: "KV database: delete one key",
    params: [{ name: "key", type: "value", doc: "a key: a list of parts" }],
    required: 1,
    kwargs: [KV_DB, KV_ID],
    readOnly: false,
    result: "as `kv_atomic`",
    shell: false,
    cli: false,
    more: "[below](#kv-databases)",
  },
] as const satisfies readonly FunctionDef[];

/** The name of a function in {@link FUNCTION_TABLE}. */
export type FunctionName = typeof FUNCTION_TABLE[number]["name"];

/** The names of every function, in table order. */
export const FUNCTION_NAMES: readonly string[] = FUNCTION_TABLE.map((
  f,
) => f.name);

const BY_NAME: ReadonlyMap<string, FunctionDef> = new Map(
  FUNCTION_TABLE.map((f) => [f.name, f]),
);

/** The row of function `name`, if there is one. */
export function functionDef(name: string): FunctionDef | undefined {
  return BY_NAME.get(name);
}

/** The functions that change nothing (safe to retry on another node). */
export const READ_ONLY_FUNCTIONS: ReadonlySet<string> = new Set(
  FUNCTION_TABLE.filter((f) => f.readOnly).map((f) => f.name),
);
