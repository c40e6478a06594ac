/**
 * KVDB's interactive shell, the `deno task shell` command: a read-eval-print
 * loop over a `KVClient`, with its parser, its output format and
 * the adapters that connect it to a terminal.
 *
 * @example Run the shell on the terminal
 * ```ts
 * import { KVClient } from "../../client.ts";
 * import { linesFrom, runShell, textWriter } from "./mod.ts";
 *
 * async function main(): Promise<void> {
 *   const client = new KVClient({ nodes: ["127.0.0.1:5878"] });
 *   await runShell(
 *     client,
 *     linesFrom(Deno.stdin.readable),
 *     textWriter(Deno.stdout),
 *   );
 * }
 * ```
 *
 * @module
 */

export {
  type CommandSpec,
  HELP_TEXT,
  LINE_CHARS_MAX,
  linesFrom,
  parseCommand,
  runShell,
  SHELL_COMMANDS,
  type ShellCommand,
  type ShellOptions,
  ShellSyntaxError,
  type SyncWriter,
  textWriter,
} from "./shell.ts";
export { formatResult } from "./format.ts";
export {
  complete,
  COMPLETION_KEYS_MAX,
  hintFor,
  quoteIfNeeded,
  ReverseSearch,
} from "./complete.ts";
export {
  appendHistory,
  HISTORY_LINES_MAX,
  historyPath,
  loadHistory,
} from "./history.ts";
export { runTerminalShell, type TerminalShellOptions } from "./terminal.ts";
