/**
 * The one-shot commands (`kvdb get a`, `kvdb list-keys --prefix u:`): one
 * per function of the table (src/api/function_table.ts), its arguments
 * and kwargs turned into positional arguments and flags. Each prints its
 * result as the shell does, or as JSON with `--json`.
 *
 * @module
 */

import { type Command, Option } from "commander";
import { type KVClient, KVError, KVUnavailableError } from "../../client.ts";
import {
  type ArgDef,
  FUNCTION_TABLE,
  type FunctionDef,
} from "../api/function_table.ts";
import { clientSecurityOptions } from "../client_flags.ts";
import { ConfigError } from "../config.ts";
import { TTL_SECONDS_MAX } from "../limits.ts";
import { formatResult, textWriter } from "../shell/mod.ts";
import {
  clientFor,
  type ClientOptions,
  hostOption,
  integer,
  portOption,
  write,
} from "./common.ts";

/** `--consistency` and its kin: a kwarg's flag as the table names it. */
function kwargFlag(arg: ArgDef): string {
  return arg.flag ?? `--${arg.name.replaceAll("_", "-")}`;
}

/** The commander option for one kwarg. */
function kwargOption(arg: ArgDef): Option {
  const flag = kwargFlag(arg);
  switch (arg.type) {
    case "boolean":
      return new Option(flag, arg.doc);
    case "consistency":
      return new Option(`${flag} <level>`, arg.doc).choices(
        ["one", "quorum", "all"] as const,
      );
    case "seconds":
      return new Option(`${flag} <seconds>`, arg.doc).argParser(
        integer(1, TTL_SECONDS_MAX),
      );
    case "integer":
      return new Option(`${flag} <n>`, arg.doc).argParser(
        integer(1, Number.MAX_SAFE_INTEGER),
      );
    case "key":
    case "cursor":
    case "address":
    case "value":
      return new Option(`${flag} <${arg.label ?? arg.name}>`, arg.doc);
    case "keys":
    case "entries":
    case "records":
      // Not a kwarg type in the table; a row that makes it one needs a
      // way to spell it as a flag first.
      throw new Error(`Unreachable: kwarg '${arg.name}' of type ${arg.type}`);
  }
}

/** How a parameter reads on the command line. */
function argumentSpec(arg: ArgDef, optional: boolean): string {
  const name = arg.label ?? arg.name;
  if (arg.type === "keys") return "<keys...>";
  if (arg.type === "entries") return "<key-value-pairs...>";
  return optional ? `[${name}]` : `<${name}>`;
}

/** Parses a value word: a string, or JSON with `--json-value`. */
function valueOf(word: string, json: boolean): unknown {
  if (!json) return word;
  try {
    return JSON.parse(word);
  } catch {
    throw new ConfigError(`'${word.slice(0, 40)}' is not valid JSON`);
  }
}

/** The wire arguments of `def` from the command line's words. */
function wireArgs(
  def: FunctionDef,
  words: readonly unknown[],
  json: boolean,
): unknown[] {
  const args: unknown[] = [];
  def.params.forEach((param, i) => {
    const word = words[i];
    if (word === undefined) return;
    switch (param.type) {
      case "value":
        args.push(valueOf(word as string, json));
        break;
      case "entries": {
        const pairs = word as string[];
        if (pairs.length % 2 !== 0) {
          throw new ConfigError(`'${def.name}' takes key value pairs`);
        }
        const entries: Record<string, unknown> = {};
        for (let j = 0; j < pairs.length; j += 2) {
          Object.defineProperty(entries, pairs[j]!, {
            value: valueOf(pairs[j + 1]!, json),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        args.push(entries);
        break;
      }
      default:
        args.push(word);
    }
  });
  return args;
}

/** The wire kwargs of `def` from the parsed options. */
function wireKwargs(
  def: FunctionDef,
  options: Record<string, unknown>,
): Record<string, unknown> {
  const kwargs: Record<string, unknown> = {};
  for (const arg of def.kwargs) {
    const name = kwargFlag(arg).replace(/^--/, "").replace(
      /-([a-z])/g,
      (_, c: string) => c.toUpperCase(),
    );
    const value = options[name];
    if (value === undefined) continue;
    kwargs[arg.name] = arg.type === "boolean"
      ? !(arg.defaultTrue ?? false)
      : value;
  }
  return kwargs;
}

/** What a command prints for its result. */
function render(def: FunctionDef, result: unknown, json: boolean): string {
  if (json) return JSON.stringify(result ?? null);
  return def.ack ? "OK" : formatResult(result);
}

interface TransferInfo {
  phase: string;
  keys_moved: number;
  bytes_moved: number;
  keys_remaining: number | null;
  waiting_for?: string | null;
}

/** A one-line progress bar on stderr (redrawn in place on a terminal). */
function progressLine(t: TransferInfo): string {
  const total = t.keys_moved + (t.keys_remaining ?? 0);
  const done = total === 0 ? 1 : t.keys_moved / total;
  const width = 30;
  const filled = Math.round(done * width);
  return `leave [${"#".repeat(filled)}${".".repeat(width - filled)}] ` +
    `${(done * 100).toFixed(0).padStart(3)}%  ${t.keys_moved} records, ` +
    `${(t.bytes_moved / 1024).toFixed(0)} KiB moved, ${
      t.keys_remaining ?? "?"
    } to go${t.waiting_for ? ` (waiting: ${t.waiting_for})` : ""}`;
}

/** Sends `leave` and follows the node's progress until it is gone. */
async function leave(client: KVClient): Promise<unknown> {
  await client.call("leave");
  const tty = Deno.stderr.isTerminal();
  const err = textWriter(Deno.stderr);
  let last: TransferInfo | undefined;
  let shown = "";
  for (;;) {
    let info: { self: string; transfer?: TransferInfo };
    try {
      info = await client.clusterInfo() as typeof info;
    } catch (error) {
      if (error instanceof KVError) break; // the node has gone
      throw error;
    }
    if (info.transfer !== undefined) {
      last = info.transfer;
      if (last.phase === "failed") {
        if (tty) err("\n");
        // The node rolled the leave back and stays a member.
        throw new KVUnavailableError(
          `leave failed and was rolled back: ${last.waiting_for ?? "?"}`,
          503,
          info.self,
        );
      }
      const line = progressLine(last);
      // On a terminal the bar redraws in place; piped, a line per change.
      if (line !== shown) err(tty ? `\r${line}` : `${line}\n`);
      shown = line;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  if (tty) err("\n");
  return { left: true, records_handed_over: last?.keys_moved ?? 0 };
}

/** Commands whose work is more than one call, and how they print. */
const SPECIAL: Readonly<
  Record<string, {
    run?: (client: KVClient) => Promise<unknown>;
    text?: (result: unknown, args: unknown[]) => string;
  }>
> = {
  leave: {
    run: leave,
    text: (r) =>
      `left the cluster: ${
        (r as { records_handed_over: number }).records_handed_over
      } records handed over`,
  },
  remove_member: { text: (_r, args) => `removed ${args[0]}` },
};

/** A command that talks to one node, with the client flags and `--json`. */
export function clientCommand(
  program: Command,
  name: string,
  description: string,
) {
  return clientSecurityOptions(
    program.command(name).description(description)
      .addOption(hostOption()).addOption(portOption())
      .option("--json", "print the result as JSON, for scripts"),
  );
}

/** Adds one command per function of the table that has one. */
export function registerOneShots(program: Command): void {
  for (const def of FUNCTION_TABLE as readonly FunctionDef[]) {
    if (def.cli === false) continue;
    const command = clientCommand(program, def.cli, def.summary);
    def.params.forEach((param, i) =>
      command.argument(argumentSpec(param, i >= def.required), param.doc)
    );
    for (const arg of def.kwargs) command.addOption(kwargOption(arg));
    const hasValues = def.params.some((p) =>
      p.type === "value" || p.type === "entries"
    );
    if (hasValues) {
      command.option("--json-value", "parse values as JSON, not as strings");
    }
    command.action(async () => {
      const options = command.opts() as Record<string, unknown>;
      const json = options.json === true;
      const args = wireArgs(
        def,
        command.processedArgs,
        options.jsonValue === true,
      );
      const client = clientFor(options as unknown as ClientOptions);
      const special = SPECIAL[def.name];
      const result = special?.run !== undefined
        ? await special.run(client)
        : await client.call(def.name, args, wireKwargs(def, options));
      write(
        (json || special?.text === undefined
          ? render(def, result, json)
          : special.text(result, args)) + "\n",
      );
    });
  }
}
