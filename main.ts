/**
 * The `kvdb` command line: `node` runs a node, `shell` opens the
 * interactive shell, and one-shot commands (`get`, `set`, ...) talk to a
 * running node once.
 *
 * ```sh
 * deno task node -H 127.0.0.1 -P 5879 -C 127.0.0.1:5878,127.0.0.1:5880 -R 3
 * deno task shell -H 127.0.0.1 -P 5879
 * deno task kvdb get a -H 127.0.0.1 -P 5879
 * ```
 *
 * @module
 */

import { Command, CommanderError } from "commander";
import { KVError } from "./client.ts";
import { ConfigError } from "./src/config.ts";
import { registerBench } from "./src/bench/mod.ts";
import { clientSecurityOptions } from "./src/client_flags.ts";
import {
  clientFor,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  hostOption,
  portOption,
  write,
} from "./src/cli/common.ts";
import { registerBackup } from "./src/cli/backup_command.ts";
import { registerNode } from "./src/cli/node_command.ts";
import { registerOneShots } from "./src/cli/one_shot.ts";
import { registerKvOneShots } from "./src/cli/kv_one_shot.ts";
import { ExitCode, registerStatus } from "./src/cli/status_command.ts";
import { StorageError } from "./src/errors.ts";
import {
  historyPath,
  linesFrom,
  runShell,
  runTerminalShell,
} from "./src/shell/mod.ts";
import { VERSION } from "./src/version.ts";

function buildProgram(): Command {
  const program = new Command()
    .name("kvdb")
    .description("KVDB: a distributed key-value store.")
    .version(VERSION)
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({
      // One line per error: the message names the flag or value.
      outputError: (text, writeErr) => writeErr(text.trimEnd() + "\n"),
    });

  registerNode(program as unknown as Command);

  clientSecurityOptions(
    program.command("shell")
      .description("interactive shell (reads commands from stdin)")
      .addOption(hostOption())
      .addOption(portOption())
      .option(
        "--no-history",
        "keep no history file (default: ~/.kvdb_history, or $KVDB_HISTFILE)",
      ),
  )
    .action(async (o) => {
      const client = clientFor(o);
      // On a terminal: line editing, history, completion. Piped: the
      // seed's plain loop, no history file, no escape codes.
      if (Deno.stdin.isTerminal() && Deno.stdout.isTerminal()) {
        await runTerminalShell(client, {
          historyPath: historyPath((n) => Deno.env.get(n), o.history),
        });
      } else {
        await runShell(client, linesFrom(Deno.stdin.readable), write);
      }
    });

  registerOneShots(program as unknown as Command);
  registerKvOneShots(program as unknown as Command);
  registerStatus(program as unknown as Command);
  registerBackup(program as unknown as Command);
  registerBench(program);
  return program;
}

/** Runs the CLI with `args` and returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(args, { from: "user" });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof ExitCode) return error.code;
    if (error instanceof CommanderError) {
      // Help and version "errors" are successes.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (error instanceof ConfigError) {
      console.error(`error: ${error.message}`);
      return EXIT_USAGE;
    }
    if (error instanceof KVError) {
      console.error(`ERROR: ${error.message}`);
      return EXIT_FAILURE;
    }
    if (error instanceof StorageError) {
      // One line, no stack: the message names the directory and the fault.
      console.error(`error: ${error.message}`);
      return EXIT_FAILURE;
    }
    if (error instanceof Deno.errors.AddrInUse) {
      console.error(`error: cannot listen: the address is already in use`);
      return EXIT_FAILURE;
    }
    console.error(`error: ${(error as Error)?.message ?? error}`);
    return EXIT_FAILURE;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
