/**
 * The KV databases' one-shot commands: `kvdb kv-get`, `kv-set`, `kv-list`,
 * `kv-cas`, `kv-incr` and `kv-delete`, the shell's `kv_*` commands run
 * once (src/shell/kv_commands.ts).
 *
 * @module
 */

import type { Command } from "commander";
import { executeKv, type KvCommandName } from "../shell/kv_commands.ts";
import { clientFor, type ClientOptions, write } from "./common.ts";
import { clientCommand } from "./one_shot.ts";

const COMMANDS: [
  cli: string,
  name: KvCommandName,
  args: string[],
  description: string,
][] = [
  [
    "kv-get",
    "kv_get",
    ["<key>"],
    "print a KV database entry; a key is a JSON array ('[\"users\",1]') or a word",
  ],
  [
    "kv-set",
    "kv_set",
    ["<key>", "<value>"],
    "store a value in the KV database (JSON, else a string)",
  ],
  [
    "kv-list",
    "kv_list",
    ["[prefix]", "[limit]"],
    "print the KV database entries under a prefix",
  ],
  [
    "kv-cas",
    "kv_cas",
    ["<key>", "<versionstamp>", "<value>"],
    "set a KV entry only if it is still at a versionstamp (null: absent)",
  ],
  [
    "kv-incr",
    "kv_incr",
    ["<key>", "[n]"],
    "add n (default 1) to a u64 counter in the KV database",
  ],
  ["kv-delete", "kv_delete", ["<key>"], "delete a KV database entry"],
];

/** Adds the `kv-*` commands. */
export function registerKvOneShots(program: Command): void {
  for (const [cli, name, args, description] of COMMANDS) {
    const command = clientCommand(program, cli, description);
    for (const a of args) command.argument(a);
    command.action(async () => {
      const options = command.opts() as Record<string, unknown>;
      const given = (command.processedArgs as (string | undefined)[])
        .filter((a): a is string => a !== undefined);
      const words = name === "kv_list" && given.length === 0 ? ["[]"] : given;
      const client = clientFor(options as unknown as ClientOptions);
      write(await executeKv(client, { kind: "kv", name, args: words }) + "\n");
    });
  }
}
