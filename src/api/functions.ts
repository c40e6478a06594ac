/**
 * The JSON-RPC functions (PROTOCOL.md §1 and §2): argument binding as the
 * seed's Python server did it (positional or by name), validation, and the
 * calls into the coordinator.
 *
 * @module
 */

import type { Coordinator, KeyPage, RemoveRefusal } from "../cluster/mod.ts";
import {
  BadRequestError,
  ConflictError,
  KvdbError,
  UnavailableError,
  UnknownFunctionError,
} from "../errors.ts";
import { parseRecord } from "../transport/mod.ts";
import {
  BATCH_KEYS_MAX,
  LIST_PAGE_KEYS_MAX,
  VALUE_BYTES_MAX,
} from "../limits.ts";
import { FUNCTION_TABLE, type FunctionName } from "./function_table.ts";
import type { KvService } from "../kv/mod.ts";
import { KV_RUNNERS } from "./kv_functions.ts";
import {
  asBoolean,
  asConsistency,
  asInteger,
  asKey,
  asTtl,
  invalid,
  typeName,
} from "./validate.ts";

/** A member as `cluster_info` shows it. */
export interface MemberInfo {
  address: string;
  state: "alive" | "suspect" | "dead" | "left";
  incarnation?: number;
  phase?: "joining" | "ready" | "leaving";
}

/** What the functions need besides the coordinator. */
export interface ApiContext {
  coordinator: Coordinator;
  /** This node's address. */
  self: string;
  /** The KVDB version. */
  version: string;
  /** Virtual nodes per member. */
  vnodes: number;
  /** The replication factor as configured (before capping). */
  configuredReplicationFactor: number;
  /** Every member with its state as this node sees it. */
  members(): MemberInfo[];
  /** More of this node's state for `cluster_info` (hints, repair). */
  status?: () => Record<string, unknown>;
  /** Starts handing this node's data to its successors, then leaving. */
  leave?: () => unknown;
  /** Removes a dead member for good (see `Membership.remove`). */
  removeMember?: (address: string) => Promise<RemoveRefusal | null>;
  /** The KV databases (src/kv); absent: the `kv_*` functions are unavailable. */
  kv?: KvService;
}

/** The answer to each refusal of `remove_member`. */
function removeRefused(address: string, why: RemoveRefusal): KvdbError {
  const who = JSON.stringify(address.slice(0, 256));
  switch (why) {
    case "self":
      return new BadRequestError(
        `remove_member: ${who} is this node; to take a live node out, run 'kvdb leave' against it`,
      );
    case "unknown":
      return new KvdbError(
        `remove_member: ${who} is not a member of this cluster`,
        "unknown_member",
      );
    case "left":
      // Not reached: an already removed member answers as removed.
      return new ConflictError(`remove_member: ${who} has already left`);
    case "alive":
    case "suspect":
      return new ConflictError(
        `remove_member: ${who} is ${why}, not dead; only a dead member can be removed (a live one leaves with 'kvdb leave')`,
      );
  }
}

/** Bound arguments, by parameter name (a Map: no inherited names). */
export type Bound = Map<string, unknown>;

/** Runs one function on bound, not yet validated, arguments. */
export type Runner = (
  ctx: ApiContext,
  a: Bound,
  bodyBytes: number,
) => unknown;

/** A function's row of the table, as binding needs it, and its runner. */
interface FunctionSpec {
  /** Parameters given by position or by name, in order. */
  params: readonly string[];
  /** How many of `params` must be given. */
  required: number;
  /** Keyword-only arguments. */
  kwargs: readonly string[];
  run: Runner;
}

const LIST_PAGE_KEYS_DEFAULT = 1000;

function consistencyOf(fn: string, a: Bound) {
  const c = a.get("consistency");
  return c === undefined
    ? {}
    : { consistency: asConsistency(fn, "consistency", c) };
}

/** A list of at most {@link BATCH_KEYS_MAX} keys. */
function keyList(fn: string, keys: unknown): string[] {
  if (!Array.isArray(keys)) {
    invalid(fn, "keys", `must be a list: got ${typeName(keys)}`);
  }
  if (keys.length > BATCH_KEYS_MAX) {
    invalid(fn, "keys", `must hold at most ${BATCH_KEYS_MAX} keys`);
  }
  return keys.map((k, i) => asKey(fn, `keys[${i}]`, k));
}

/** A write's quorum options: `consistency` and `strict`. */
function writeQuorumOf(fn: string, a: Bound) {
  const strict = flag(fn, a, "strict");
  return {
    ...consistencyOf(fn, a),
    ...(strict === undefined ? {} : { strict }),
  };
}

function flag(fn: string, a: Bound, name: string): boolean | undefined {
  const x = a.get(name);
  return x === undefined ? undefined : asBoolean(fn, name, x);
}

/** Reads the bound `key`: this node's copy with `local`, else a quorum. */
function readKey(fn: string, ctx: ApiContext, a: Bound) {
  const key = asKey(fn, "key", a.get("key"));
  return flag(fn, a, "local")
    ? Promise.resolve(ctx.coordinator.readLocal(key))
    : ctx.coordinator.read(key, consistencyOf(fn, a));
}

/** The value of a stored record, or the caller's default. */
function orDefault(a: Bound, value: unknown, found: boolean): unknown {
  return found ? value : (a.get("default_value") ?? null);
}

const encoder = new TextEncoder();

/**
 * `bodyBytes` bounds the request body's size in UTF-8 bytes; a value in a
 * body that small cannot be over the limit, and nothing is serialized.
 * Otherwise the value's JSON is measured in UTF-8 bytes, as it is stored
 * and sent.
 */
function checkValueSize(fn: string, value: unknown, bodyBytes: number): void {
  if (bodyBytes <= VALUE_BYTES_MAX) return;
  const json = JSON.stringify(value) ?? "";
  if (json.length * 3 <= VALUE_BYTES_MAX) return;
  if (encoder.encode(json).length > VALUE_BYTES_MAX) {
    invalid(fn, "value", `must be at most ${VALUE_BYTES_MAX} bytes as JSON`);
  }
}

/**
 * Each function's work; its arguments are the table's (function_table.ts).
 * A function in the table without a runner here is a type error.
 */
const RUNNERS: Record<FunctionName, { run: Runner }> = {
  ping: { run: () => "pong" },
  ...KV_RUNNERS,

  get: {
    async run(ctx, a) {
      const record = await readKey("get", ctx, a);
      return orDefault(a, record?.value, record !== undefined);
    },
  },

  set: {
    async run(ctx, a, bodyBytes) {
      const key = asKey("set", "key", a.get("key"));
      const value = a.get("value");
      checkValueSize("set", value, bodyBytes);
      const ttl = a.get("ttl");
      await ctx.coordinator.set(key, value, {
        ...writeQuorumOf("set", a),
        ...(ttl === undefined || ttl === null
          ? {}
          : { ttlSeconds: asTtl("set", "ttl", ttl) }),
      });
      return null;
    },
  },

  has: {
    async run(ctx, a) {
      return (await readKey("has", ctx, a)) !== undefined;
    },
  },

  pop: {
    async run(ctx, a) {
      const key = asKey("pop", "key", a.get("key"));
      const prior = await ctx.coordinator.pop(key, writeQuorumOf("pop", a));
      return orDefault(a, prior?.value, prior !== undefined);
    },
  },

  list_keys: {
    async run(ctx, a): Promise<string[] | KeyPage> {
      const fanOutMode = flag("list_keys", a, "fan_out_mode") ?? true;
      const prefix = a.get("prefix");
      const limit = a.get("limit");
      const cursor = a.get("cursor");
      const paged = a.has("prefix") || a.has("limit") || a.has("cursor");
      const options = {
        ...(prefix === undefined || prefix === null
          ? {}
          : { prefix: asKey("list_keys", "prefix", prefix) }),
        ...(cursor === undefined || cursor === null
          ? {}
          : { cursor: asKey("list_keys", "cursor", cursor) }),
      };
      const coordinator = ctx.coordinator;
      if (!paged) return await coordinator.allKeys({ local: !fanOutMode });
      const page = {
        ...options,
        limit: limit === undefined || limit === null
          ? LIST_PAGE_KEYS_DEFAULT
          : asInteger("list_keys", "limit", limit, 1, LIST_PAGE_KEYS_MAX),
      };
      return fanOutMode
        ? await coordinator.listKeys(page)
        : coordinator.listLocalKeys(page);
    },
  },

  list_members: {
    run: (ctx) => ctx.members().map((m) => m.address),
  },

  locate: {
    run: (ctx, a) =>
      ctx.coordinator.replicas(asKey("locate", "key", a.get("key")))[0],
  },

  replicas: {
    run: (ctx, a) => [
      ...ctx.coordinator.replicas(asKey("replicas", "key", a.get("key"))),
    ],
  },

  cluster_info: {
    run(ctx) {
      const s = ctx.coordinator.settings;
      return {
        self: ctx.self,
        version: ctx.version,
        replication_factor: s.replicationFactor,
        configured_replication_factor: ctx.configuredReplicationFactor,
        read_quorum: s.readQuorum,
        write_quorum: s.writeQuorum,
        vnodes: ctx.vnodes,
        members: ctx.members(),
        local_records: ctx.coordinator.localRecordCount(),
        ...ctx.status?.(),
      };
    },
  },

  leave: {
    run(ctx) {
      if (ctx.leave === undefined) {
        throw new BadRequestError("leave: this node cannot leave");
      }
      return ctx.leave();
    },
  },

  remove_member: {
    async run(ctx, a) {
      const address = asKey("remove_member", "address", a.get("address"));
      if (ctx.removeMember === undefined) {
        throw new BadRequestError(
          "remove_member: this node cannot remove members",
        );
      }
      const refusal = await ctx.removeMember(address);
      // Removing twice is not an error: the member is gone either way.
      if (refusal !== null && refusal !== "left") {
        throw removeRefused(address, refusal);
      }
      return { removed: address };
    },
  },

  read_records: {
    async run(ctx, a) {
      const keys = keyList("read_records", a.get("keys"));
      const options = consistencyOf("read_records", a);
      const records = await ctx.coordinator.readMany(keys, options);
      return records.map((r) => r ?? null);
    },
  },

  write_records: {
    async run(ctx, a, bodyBytes) {
      const list = a.get("records");
      if (!Array.isArray(list)) {
        invalid(
          "write_records",
          "records",
          `must be a list: got ${typeName(list)}`,
        );
      }
      if (list.length > BATCH_KEYS_MAX) {
        invalid(
          "write_records",
          "records",
          `must hold at most ${BATCH_KEYS_MAX} records`,
        );
      }
      const records = list.map((x, i) => {
        try {
          const record = parseRecord(x);
          asKey("write_records", `records[${i}].key`, record.key);
          checkValueSize("write_records", record.value, bodyBytes);
          return record;
        } catch (error) {
          if (!(error instanceof BadRequestError)) throw error;
          // The wire parser speaks of peer messages; say which record.
          throw new BadRequestError(
            `write_records: records[${i}] is not a record: ${
              error.message.replace(/^Bad peer message: /, "")
            }`,
          );
        }
      });
      const quorum = {
        ...writeQuorumOf("write_records", a),
        keepVersion: true,
      };
      // Each keeps its version: the store takes it only if it is newer
      // than what it holds, so an old backup never undoes a newer write.
      const results = await Promise.allSettled(
        records.map((r) => ctx.coordinator.write(r, quorum)),
      );
      const failed = results.filter((r) => r.status === "rejected").length;
      if (failed > 0) {
        throw new UnavailableError(
          `write_records: ${failed} of ${records.length} writes did not reach a write quorum`,
        );
      }
      return { written: records.length };
    },
  },

  mget: {
    async run(ctx, a) {
      const keys = a.get("keys");
      if (!Array.isArray(keys)) {
        invalid("mget", "keys", `must be a list: got ${typeName(keys)}`);
      }
      if (keys.length > BATCH_KEYS_MAX) {
        invalid("mget", "keys", `must hold at most ${BATCH_KEYS_MAX} keys`);
      }
      const valid = keys.map((k, i) => asKey("mget", `keys[${i}]`, k));
      const options = consistencyOf("mget", a);
      const records = await ctx.coordinator.readMany(valid, options);
      return records.map((r) => r === undefined ? null : r.value);
    },
  },

  mset: {
    async run(ctx, a, bodyBytes) {
      const entries = a.get("entries");
      if (
        typeof entries !== "object" || entries === null ||
        Array.isArray(entries)
      ) {
        invalid(
          "mset",
          "entries",
          `must be an object: got ${typeName(entries)}`,
        );
      }
      const pairs = Object.entries(entries);
      if (pairs.length > BATCH_KEYS_MAX) {
        invalid("mset", "entries", `must hold at most ${BATCH_KEYS_MAX} keys`);
      }
      for (const [key, value] of pairs) {
        asKey("mset", "key", key);
        checkValueSize("mset", value, bodyBytes);
      }
      const ttl = a.get("ttl");
      const options = {
        ...writeQuorumOf("mset", a),
        ...(ttl === undefined || ttl === null
          ? {}
          : { ttlSeconds: asTtl("mset", "ttl", ttl) }),
      };
      const failed = await ctx.coordinator.setMany(pairs, options);
      if (failed > 0) {
        throw new UnavailableError(
          `mset: ${failed} of ${pairs.length} writes did not reach a write quorum`,
        );
      }
      return null;
    },
  },
};

const FUNCTIONS: ReadonlyMap<string, FunctionSpec> = new Map(
  FUNCTION_TABLE.map((f) => [f.name, {
    params: f.params.map((p) => p.name),
    required: f.required,
    kwargs: f.kwargs.map((k) => k.name),
    run: RUNNERS[f.name].run,
  }]),
);

/**
 * Binds arguments as Python would for `f(*args, **kwargs)`: positional
 * first, then by name; unknown names, missing and doubled arguments are
 * errors.
 */
function bind(
  fn: string,
  spec: FunctionSpec,
  args: readonly unknown[],
  kwargs: Record<string, unknown>,
): Bound {
  if (args.length > spec.params.length) {
    throw new BadRequestError(
      `${fn}: takes at most ${spec.params.length} arguments (${args.length} given)`,
    );
  }
  const bound: Bound = new Map();
  args.forEach((value, i) => bound.set(spec.params[i]!, value));
  for (const name of Object.keys(kwargs)) {
    if (!spec.params.includes(name) && !spec.kwargs.includes(name)) {
      throw new BadRequestError(
        `${fn}: unknown argument '${name.slice(0, 64)}'`,
      );
    }
    if (bound.has(name)) {
      throw new BadRequestError(`${fn}: got two values for '${name}'`);
    }
    bound.set(name, kwargs[name]);
  }
  for (const name of spec.params.slice(0, spec.required)) {
    if (!bound.has(name)) {
      throw new BadRequestError(`${fn}: missing argument '${name}'`);
    }
  }
  return bound;
}

/**
 * Runs function `fn`; throws a KvdbError for anything the caller got wrong.
 * `bodyBytes` bounds the request body in UTF-8 bytes (for the value limit).
 */
export async function callFunction(
  ctx: ApiContext,
  fn: string,
  args: readonly unknown[],
  kwargs: Record<string, unknown>,
  bodyBytes = 0,
): Promise<unknown> {
  const spec = FUNCTIONS.get(fn);
  if (spec === undefined) throw new UnknownFunctionError(fn.slice(0, 64));
  return await spec.run(ctx, bind(fn, spec, args, kwargs), bodyBytes);
}
