/**
 * The interactive shell: reads command lines, runs them against a
 * {@linkcode KVClient} and prints the results, like the seed's shell and
 * redis-cli. The loop takes its input and output as arguments, so tests
 * drive it with arrays and strings and only `main.ts` touches the terminal.
 *
 * @module
 */

import {
  executeKv,
  isKvCommand,
  KV_COMMANDS,
  type KvShellCommand,
} from "./kv_commands.ts";
import type { KVClient } from "../../client.ts";
import {
  type ArgDef,
  FUNCTION_TABLE,
  type FunctionDef,
  functionDef,
  type FunctionName,
} from "../api/function_table.ts";
import { formatResult } from "./format.ts";

/** Options of {@linkcode runShell}. */
export interface ShellOptions {
  /**
   * Written before each line is read.
   *
   * @default {">> "}
   */
  prompt?: string;
}

/**
 * A parsed shell command: a call of a function of the table
 * (src/api/function_table.ts) with its arguments as the wire takes them,
 * or one of the shell's own.
 */
export type ShellCommand =
  | { kind: "call"; fn: FunctionName; args: unknown[] }
  | { kind: "help" }
  | { kind: "exit" }
  | KvShellCommand;

/**
 * A line the shell cannot run: an unknown command, a wrong number of
 * arguments, an unterminated quote. Returned by {@linkcode parseCommand}
 * rather than thrown, as a typo is an everyday event in a shell.
 */
export class ShellSyntaxError extends Error {
  /** The class name, shown in stack traces and logs. */
  override name = "ShellSyntaxError";
}

const PROMPT_DEFAULT = ">> ";
/**
 * Longest line {@linkcode linesFrom} buffers, in UTF-16 code units: past
 * the server's 8 MiB body limit a line could never become a valid request.
 */
export const LINE_CHARS_MAX = 8 * 1024 * 1024;

/** A shell command: its usage, help line and argument counts. */
export interface CommandSpec {
  /** The name typed, lower case. */
  name: string;
  /** `get <key> [default]`. */
  usage: string;
  /** The argument words after the name, as the hint shows them. */
  argsUsage: string[];
  description: string;
  /** Argument counts accepted (a rest-of-line value counts as one). */
  argsMin: number;
  argsMax: number;
  /** The function it calls; absent for the shell's own commands. */
  def?: FunctionDef;
}

/** How an argument reads in a usage line. */
function argUsage(arg: ArgDef, optional: boolean): string {
  const name = arg.label ?? arg.name;
  if (arg.type === "keys") return "<key> [key ...]";
  if (arg.type === "entries") return "<key> <value> [key value ...]";
  return optional ? `[${name}]` : `<${name}>`;
}

/** Shell-only help for functions whose line maps in a way worth saying. */
const SHELL_NOTES: Readonly<Record<string, string>> = {
  set: "store <value>: the rest of the line, as a string",
  get: "print the key's value, else default, else (nil)",
  has: "print true if the key holds a value, else false",
  pop: "remove the key and print the value it held",
  mget: "print several keys' values, one per line",
  mset: "store several keys' values (strings)",
  list_keys: "print every key in the cluster, sorted",
  list_members: "print the cluster's members",
  locate: "print the node that owns the key",
  replicas: "print the nodes holding the key, primary first",
  cluster_info: "print the node's view of the cluster",
};

function specOf(def: FunctionDef): CommandSpec {
  const argsUsage = def.params.map((p, i) => argUsage(p, i >= def.required));
  const last = def.params[def.params.length - 1];
  const variadic = last?.type === "keys" || last?.type === "entries";
  const argsMin = def.params.slice(0, def.required).reduce(
    (n, p) => n + (p.type === "entries" ? 2 : 1),
    0,
  );
  return {
    name: def.name,
    usage: [def.name, ...argsUsage].join(" "),
    argsUsage,
    description: SHELL_NOTES[def.name] ?? def.summary,
    argsMin,
    argsMax: variadic ? Infinity : def.params.length,
    def,
  };
}

const OWN_COMMANDS: readonly CommandSpec[] = [
  {
    name: "help",
    usage: "help",
    argsUsage: [],
    description: "print this list",
    argsMin: 0,
    argsMax: 0,
  },
  {
    name: "exit",
    usage: "exit",
    argsUsage: [],
    description: "leave the shell (also exit; quit or Ctrl-D)",
    argsMin: 0,
    argsMax: 0,
  },
];

/** The KV databases' commands (src/shell/kv_commands.ts). */
const KV_SHELL_COMMANDS: readonly CommandSpec[] = Object.entries(KV_COMMANDS)
  .map(([name, spec]) => ({
    name,
    usage: spec.usage,
    argsUsage: spec.usage.split(" ").slice(1),
    description: spec.description,
    argsMin: spec.argsMin,
    argsMax: spec.argsMax,
  }));

/** Every command, in the order `help` lists them: the table's, then ours. */
export const SHELL_COMMANDS: readonly CommandSpec[] = [
  ...FUNCTION_TABLE.filter((f) => f.shell !== false).map(specOf),
  ...KV_SHELL_COMMANDS,
  ...OWN_COMMANDS,
];

const COMMANDS: ReadonlyMap<string, CommandSpec> = new Map(
  SHELL_COMMANDS.map((c) => [c.name, c]),
);

/** Other spellings of a command: the seed's `exit;` and redis-cli's quit. */
export const ALIASES: Readonly<Record<string, string>> = {
  "exit;": "exit",
  quit: "exit",
  "quit;": "exit",
};

const USAGE_WIDTH = Math.max(
  ...SHELL_COMMANDS.map((spec) => spec.usage.length),
);

/** What `help` prints. */
export const HELP_TEXT: string = [
  "Commands (names are case-insensitive):",
  ...SHELL_COMMANDS.map((spec) =>
    `  ${spec.usage.padEnd(USAGE_WIDTH)}  ${spec.description}`
  ),
  'Keys with spaces go in double quotes: get "my key" (\\" and \\\\ escape).',
].join("\n");

const WHITESPACE = /\s/;

/**
 * Parses one input line. Returns `null` for a blank line, a
 * {@linkcode ShellSyntaxError} for a line that cannot run, else the
 * command.
 *
 * Tokens are separated by whitespace; a token in double quotes may hold
 * whitespace, with `\"` for a quote and `\\` for a backslash. `set`'s value
 * is the rest of the line after the key, verbatim (quotes included).
 *
 * @example
 * ```ts
 * import { parseCommand } from "./shell.ts";
 *
 * parseCommand("set greeting hello world");
 * // { kind: "set", key: "greeting", value: "hello world" }
 * parseCommand('GET "my key" fallback');
 * // { kind: "get", key: "my key", defaultValue: "fallback" }
 * ```
 */
export function parseCommand(
  line: string,
): ShellCommand | ShellSyntaxError | null {
  const text = line.trimStart();
  if (text === "") return null;
  const nameEnd = findWhitespace(text, 0);
  const word = text.slice(0, nameEnd).toLowerCase();
  if (isKvCommand(word)) return parseKv(word, text, nameEnd);
  const spec = COMMANDS.get(
    Object.hasOwn(ALIASES, word) ? ALIASES[word]! : word,
  );
  if (spec === undefined) {
    return new ShellSyntaxError(
      `unknown command '${text.slice(0, nameEnd)}'; type 'help' for the ` +
        "list of commands",
    );
  }
  let args: string[];
  try {
    args = spec.def?.shell === "rest"
      ? splitRestArgs(text, nameEnd, spec.def.params.length)
      : tokenize(text, nameEnd);
  } catch (error) {
    if (!(error instanceof ShellSyntaxError)) throw error;
    return new ShellSyntaxError(`${error.message}; usage: ${spec.usage}`);
  }
  if (args.length < spec.argsMin || args.length > spec.argsMax) {
    return new ShellSyntaxError(
      `wrong number of arguments for '${spec.name}'; usage: ${spec.usage}`,
    );
  }
  if (spec.def === undefined) {
    return { kind: spec.name === "help" ? "help" : "exit" };
  }
  return build(spec.def, args, spec.usage);
}

/** A KV command: its arguments, the last one the rest of the line if it says so. */
function parseKv(
  name: KvShellCommand["name"],
  text: string,
  nameEnd: number,
): ShellCommand | ShellSyntaxError {
  const spec = KV_COMMANDS[name];
  let args: string[];
  try {
    args = tokenize(text, nameEnd);
    if (spec.restOfLine && args.length > spec.argsMax) {
      // The fixed arguments, then the rest of the line verbatim.
      let i = nameEnd;
      const fixed: string[] = [];
      for (let n = 0; n < spec.argsMax - 1; n++) {
        const [token, end] = readToken(text, skipWhitespace(text, i));
        fixed.push(token);
        i = end;
      }
      args = [...fixed, text.slice(skipWhitespace(text, i))];
    }
  } catch (error) {
    if (!(error instanceof ShellSyntaxError)) throw error;
    return new ShellSyntaxError(`${error.message}; usage: ${spec.usage}`);
  }
  if (args.length < spec.argsMin || args.length > spec.argsMax) {
    return new ShellSyntaxError(
      `wrong number of arguments for '${name}'; usage: ${spec.usage}`,
    );
  }
  return { kind: "kv", name, args };
}

/**
 * The wire arguments of `def` from words whose count was checked: one
 * word per parameter, a list for `keys`, an object of pairs for
 * `entries`. Values stay strings, as the seed's shell sent them.
 */
function build(
  def: FunctionDef,
  words: string[],
  usage: string,
): ShellCommand | ShellSyntaxError {
  const args: unknown[] = [];
  for (const [i, param] of def.params.entries()) {
    if (i >= words.length) break;
    if (param.type === "keys") {
      args.push(words.slice(i));
      break;
    }
    if (param.type === "entries") {
      const pairs = words.slice(i);
      if (pairs.length % 2 !== 0) {
        return new ShellSyntaxError(
          `'${def.name}' takes key value pairs; usage: ${usage}`,
        );
      }
      const entries: Record<string, string> = {};
      for (let j = 0; j < pairs.length; j += 2) {
        Object.defineProperty(entries, pairs[j]!, {
          value: pairs[j + 1]!,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      args.push(entries);
      break;
    }
    args.push(words[i]);
  }
  return { kind: "call", fn: def.name as FunctionName, args };
}

/**
 * Arguments of a command whose last parameter is the rest of the line
 * (`set`): the tokens before it, then everything after the whitespace that
 * follows them, kept as typed, since the seed's shell stored the rest of
 * the line as one string.
 */
function splitRestArgs(text: string, from: number, count: number): string[] {
  const args: string[] = [];
  let i = skipWhitespace(text, from);
  while (i < text.length && args.length < count - 1) {
    const [token, end] = readToken(text, i);
    args.push(token);
    i = skipWhitespace(text, end);
  }
  if (i < text.length) args.push(text.slice(i));
  return args;
}

function tokenize(text: string, from: number): string[] {
  const tokens: string[] = [];
  let i = skipWhitespace(text, from);
  while (i < text.length) {
    const [token, end] = readToken(text, i);
    tokens.push(token);
    i = skipWhitespace(text, end);
  }
  return tokens;
}

/** Reads the token starting at `start`; returns it and the index after it. */
function readToken(text: string, start: number): [string, number] {
  if (text[start] !== '"') {
    const end = findWhitespace(text, start);
    return [text.slice(start, end), end];
  }
  let token = "";
  let i = start + 1;
  while (i < text.length) {
    const char = text[i]!;
    if (char === '"') {
      const next = text[i + 1];
      if (next !== undefined && !WHITESPACE.test(next)) {
        throw new ShellSyntaxError("expected whitespace after closing quote");
      }
      return [token, i + 1];
    }
    const escaped = text[i + 1];
    if (char === "\\" && (escaped === '"' || escaped === "\\")) {
      token += escaped;
      i += 2;
    } else {
      // Other backslashes stay literal, so Windows-style paths need no
      // doubling.
      token += char;
      i += 1;
    }
  }
  throw new ShellSyntaxError("unterminated quote");
}

function skipWhitespace(text: string, from: number): number {
  let i = from;
  while (i < text.length && WHITESPACE.test(text[i]!)) i++;
  return i;
}

function findWhitespace(text: string, from: number): number {
  let i = from;
  while (i < text.length && !WHITESPACE.test(text[i]!)) i++;
  return i;
}

/** Runs one command; resolves to its output, without a trailing newline. */
async function execute(
  client: KVClient,
  command: Exclude<ShellCommand, { kind: "exit" }>,
): Promise<string> {
  if (command.kind === "help") return HELP_TEXT;
  if (command.kind === "kv") return await executeKv(client, command);
  const result = await client.call(command.fn, command.args);
  return functionDef(command.fn)?.ack ? "OK" : formatResult(result);
}

/**
 * Reads lines from `input`, runs each command against `client` and writes
 * the output to `write`. The prompt is written before each line is read,
 * also when input is piped (as the seed's shell did), and a final newline
 * if the output does not end with one.
 *
 * Resolves when input ends (Ctrl-D) or on `exit`, `exit;` or `quit`. Never
 * rejects for a bad command or a failed call: it prints `ERROR: <message>`
 * and reads the next line. Errors from `input` or `write` propagate.
 *
 * @example Run a scripted session
 * ```ts
 * import { KVClient } from "../../client.ts";
 * import { runShell } from "./shell.ts";
 *
 * async function* script() {
 *   yield "set a 1";
 *   yield "get a";
 * }
 * const client = new KVClient({ nodes: ["127.0.0.1:5878"] });
 * async function demo(): Promise<void> {
 *   let output = "";
 *   await runShell(client, script(), (text) => output += text);
 *   console.log(output); // ">> OK\n>> 1\n>> \n"
 * }
 * ```
 */
export async function runShell(
  client: KVClient,
  input: AsyncIterable<string>,
  write: (text: string) => void,
  options: ShellOptions = {},
): Promise<void> {
  const prompt = options.prompt ?? PROMPT_DEFAULT;
  let atLineStart = true;
  const print = (text: string) => {
    if (text === "") return;
    write(text);
    atLineStart = text.endsWith("\n");
  };
  const lines = input[Symbol.asyncIterator]();
  try {
    while (true) {
      print(prompt);
      const next = await lines.next();
      if (next.done) break;
      const command = parseCommand(next.value);
      if (command === null) continue;
      if (command instanceof ShellSyntaxError) {
        print(`ERROR: ${command.message}\n`);
        continue;
      }
      if (command.kind === "exit") break;
      print(`${await outputOf(client, command)}\n`);
    }
  } finally {
    // Stops reading (and lets stdin go) when we leave before input ends.
    await lines.return?.();
  }
  if (!atLineStart) write("\n");
}

async function outputOf(
  client: KVClient,
  command: Exclude<ShellCommand, { kind: "exit" }>,
): Promise<string> {
  try {
    return await execute(client, command);
  } catch (error) {
    // A shell outlives its mistakes: whatever a call throws (a server
    // error, an unreachable node, a value JSON cannot carry) is reported.
    return `ERROR: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/**
 * Splits a byte stream (such as `Deno.stdin.readable`) into lines of text:
 * UTF-8 decoded (a character split across chunks is kept whole), without
 * the `\n` or `\r\n` ending; a last line without a newline is yielded too.
 * Stopping the iteration early cancels the stream.
 *
 * @throws {RangeError} if a line is longer than `LINE_CHARS_MAX`.
 *
 * @example
 * ```ts
 * import { linesFrom } from "./shell.ts";
 *
 * async function demo(): Promise<void> {
 *   for await (const line of linesFrom(Deno.stdin.readable)) {
 *     console.log(line.length);
 *   }
 * }
 * ```
 */
export async function* linesFrom(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<string, void, undefined> {
  // A streaming TextDecoder rather than a TextDecoderStream: with no pipe
  // in between, stopping early cancels the source at once.
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  let done = false;
  let pending = "";
  try {
    while (true) {
      const chunk = await reader.read();
      done = chunk.done;
      // Keeps a character split across chunks whole until its last byte.
      const text = done
        ? decoder.decode()
        : decoder.decode(chunk.value, { stream: true });
      // Search only the new text: the pending part holds no newline.
      let searchFrom = pending.length;
      pending += text;
      let lineStart = 0;
      let newline: number;
      while ((newline = pending.indexOf("\n", searchFrom)) !== -1) {
        yield stripCarriageReturn(pending.slice(lineStart, newline));
        lineStart = newline + 1;
        searchFrom = lineStart;
      }
      pending = pending.slice(lineStart);
      if (pending.length > LINE_CHARS_MAX) {
        throw new RangeError(
          `Cannot read input as a line is longer than ${LINE_CHARS_MAX} ` +
            "characters",
        );
      }
      if (done) break;
    }
    if (pending !== "") yield stripCarriageReturn(pending);
  } finally {
    if (!done) await reader.cancel();
    reader.releaseLock();
  }
}

function stripCarriageReturn(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

/** Anything with a `writeSync` like `Deno.stdout`'s. */
export interface SyncWriter {
  /** Writes some of `bytes`; returns how many were written. */
  writeSync(bytes: Uint8Array): number;
}

/**
 * Makes a `write` for {@linkcode runShell} from a synchronous writer such
 * as `Deno.stdout`, writing each text whole (`writeSync` may write only
 * part of a buffer).
 *
 * @example
 * ```ts
 * import { KVClient } from "../../client.ts";
 * import { linesFrom, runShell, textWriter } from "./shell.ts";
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
 */
export function textWriter(writer: SyncWriter): (text: string) => void {
  const encoder = new TextEncoder();
  return (text) => {
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) {
      written += writer.writeSync(bytes.subarray(written));
    }
  };
}
