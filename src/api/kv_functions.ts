/**
 * The JSON-RPC functions of the KV databases (`kv_*`): Deno KV's
 * operations with its JSON shapes (docs/protocol.md). Validation and the
 * limits live in src/kv/service.ts; here only the binding.
 *
 * @module
 */

import { UnavailableError } from "../errors.ts";
import type { KvService } from "../kv/mod.ts";
import type { ApiContext, Bound, Runner } from "./functions.ts";

function kv(ctx: ApiContext): KvService {
  if (ctx.kv === undefined) {
    throw new UnavailableError("this node serves no KV databases");
  }
  return ctx.kv;
}

function readOptions(a: Bound) {
  return { db: a.get("db"), consistency: a.get("consistency") } as {
    db?: string;
    consistency?: "strong" | "eventual";
  };
}

type KvName =
  | "kv_get"
  | "kv_get_many"
  | "kv_list"
  | "kv_atomic"
  | "kv_set"
  | "kv_delete";

/** The `kv_*` functions' runners; their rows are in function_table.ts. */
export const KV_RUNNERS: Record<KvName, { run: Runner }> = {
  kv_get: {
    run: (ctx, a) => kv(ctx).get(a.get("key"), readOptions(a)),
  },

  kv_get_many: {
    run: (ctx, a) => kv(ctx).getMany(a.get("keys"), readOptions(a)),
  },

  kv_list: {
    run(ctx, a) {
      const selector = a.get("selector") ?? {
        prefix: a.get("prefix"),
        start: a.get("start"),
        end: a.get("end"),
      };
      return kv(ctx).list(selector as Record<string, unknown>, {
        ...readOptions(a),
        limit: a.get("limit"),
        reverse: a.get("reverse"),
        cursor: a.get("cursor"),
      });
    },
  },

  kv_atomic: {
    run: (ctx, a) =>
      kv(ctx).atomic(a.get("checks"), a.get("mutations"), {
        db: a.get("db") as string | undefined,
        id: a.get("id"),
      }),
  },

  kv_set: {
    run: (ctx, a) =>
      kv(ctx).atomic([], [{
        type: "set",
        key: a.get("key"),
        value: a.get("value"),
        expireIn: a.get("expireIn"),
      }], { db: a.get("db") as string | undefined, id: a.get("id") }),
  },

  kv_delete: {
    run: (ctx, a) =>
      kv(ctx).atomic([], [{ type: "delete", key: a.get("key") }], {
        db: a.get("db") as string | undefined,
        id: a.get("id"),
      }),
  },
};
