/**
 * The shell's KV database commands (`kv_get`, `kv_set`, `kv_list`,
 * `kv_cas`, `kv_incr`, `kv_delete`): Deno KV's operations typed at a
 * prompt. A key is a JSON array of parts (`["users",1]`) or a bare word
 * for a one-part string key; a value is JSON when it parses, else the
 * rest of the line as a string, as `set` stores it.
 *
 * @module
 */

import type { KVClient } from "../../client.ts";
import { KvU64 } from "../client/kv.ts";
import { formatResult } from "./format.ts";

/** A parsed KV command. */
export type KvShellCommand = {
  kind: "kv";
  name: KvCommandName;
  args: string[];
};

/** The KV commands' names. */
export type KvCommandName =
  | "kv_get"
  | "kv_set"
  | "kv_list"
  | "kv_cas"
  | "kv_incr"
  | "kv_delete";

interface KvSpec {
  usage: string;
  description: string;
  argsMin: number;
  argsMax: number;
  /** The last argument is the rest of the line, verbatim. */
  restOfLine?: boolean;
}

/** Every KV command, in the order `help` lists them. */
export const KV_COMMANDS: Readonly<Record<KvCommandName, KvSpec>> = {
  kv_get: {
    usage: "kv_get <key>",
    description: 'KV database: print the entry, e.g. kv_get ["users",1]',
    argsMin: 1,
    argsMax: 1,
  },
  kv_set: {
    usage: "kv_set <key> <value>",
    description: "KV database: store a value (JSON, else a string)",
    argsMin: 2,
    argsMax: 2,
    restOfLine: true,
  },
  kv_list: {
    usage: "kv_list [prefix] [limit]",
    description: "KV database: print the entries under a prefix",
    argsMin: 0,
    argsMax: 2,
  },
  kv_cas: {
    usage: "kv_cas <key> <versionstamp|null> <value>",
    description: "KV database: set only if the key is still at that version",
    argsMin: 3,
    argsMax: 3,
    restOfLine: true,
  },
  kv_incr: {
    usage: "kv_incr <key> [n]",
    description: "KV database: add n (default 1) to a u64 counter",
    argsMin: 1,
    argsMax: 2,
  },
  kv_delete: {
    usage: "kv_delete <key>",
    description: "KV database: delete the key",
    argsMin: 1,
    argsMax: 1,
  },
};

/** Whether `word` names a KV command. */
export function isKvCommand(word: string): word is KvCommandName {
  return Object.hasOwn(KV_COMMANDS, word);
}

function parseKey(text: string): unknown[] {
  if (text.startsWith("[")) {
    let key: unknown;
    try {
      key = JSON.parse(text);
    } catch {
      throw new Error(`a key is a JSON array of parts: got ${text}`);
    }
    if (!Array.isArray(key)) throw new Error("a key is a JSON array of parts");
    return key;
  }
  return [text];
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function plain(value: unknown): unknown {
  if (value instanceof KvU64) return `${value.value} (u64)`;
  if (value instanceof Uint8Array) return `bytes ${[...value].join(",")}`;
  return value;
}

/** Runs one KV command; resolves to its output. */
export async function executeKv(
  client: KVClient,
  command: KvShellCommand,
): Promise<string> {
  const kv = client.kv;
  const [a, b, c] = command.args;
  switch (command.name) {
    case "kv_get": {
      const e = await kv.get(parseKey(a!) as never);
      return e.versionstamp === null
        ? "(nil)"
        : `${formatResult(plain(e.value))}  (versionstamp ${e.versionstamp})`;
    }
    case "kv_set": {
      const r = await kv.set(parseKey(a!) as never, parseValue(b!));
      return `OK ${r.versionstamp}`;
    }
    case "kv_list": {
      const lines: string[] = [];
      const limit = b === undefined ? 100 : Number(b);
      if (!Number.isSafeInteger(limit) || limit < 1) {
        throw new Error("the limit is a positive integer");
      }
      const prefix = a === undefined ? [] : parseKey(a);
      for await (
        const e of kv.list({ prefix: prefix as never }, { limit })
      ) {
        lines.push(
          `${
            JSON.stringify(
              e.key,
              (_k, v) => typeof v === "bigint" ? `${v}n` : v,
            )
          } = ${formatResult(plain(e.value))}`,
        );
      }
      return lines.length === 0 ? "(empty)" : lines.join("\n");
    }
    case "kv_cas": {
      const r = await kv.atomic()
        .check({
          key: parseKey(a!) as never,
          versionstamp: b === "null" ? null : b!,
        })
        .set(parseKey(a!) as never, parseValue(c!))
        .commit();
      return r.ok ? `OK ${r.versionstamp}` : "FAILED: the key changed";
    }
    case "kv_incr": {
      const n = b === undefined ? 1n : BigInt(b);
      const key = parseKey(a!) as never;
      await kv.atomic().sum(key, n).commit();
      const e = await kv.get<KvU64>(key);
      return String(e.value?.value ?? 0n);
    }
    case "kv_delete":
      await kv.delete(parseKey(a!) as never);
      return "OK";
  }
}
