/**
 * The interactive shell: reads command lines, runs them against a
 * {@linkcode KVClient} and prints the results, like the seed's shell and
 * redis-cli. The loop takes its input and output as arguments, so tests
 * drive it with arrays and strings and only `main.ts` touches the terminal.
 *
 * @module
 */

import type { KVClient } from "../../client.ts";
import { formatResult } from "./format.ts";
import {
  executeKv,
  isKvCommand,
  KV_COMMANDS,
  type KvShellCommand,
} from "./kv_commands.ts";

/** Options of {@linkcode runShell}. */
export interface ShellOptions {
  /**
   * Written before each line is read.
   *
   * @default {">> "}
   */
  prompt?: string;
}

/** A parsed shell command; `kind` is the command's canonical name. */
export type ShellCommand =
  | { kind: "set"; key: string; value: string }
  | { kind: "get" | "pop"; key: string; defaultValue?: string }
  | { kind: "has" | "locate" | "replicas"; key: string }
  | { kind: "mget"; keys: string[] }
  | {
    kind:
      | "list_keys"
      | "list_members"
      | "cluster_info"
      | "ping"
      | "help";
  }
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

interface Spec {
  usage: string;
  description: string;
  /** Argument counts accepted (`set`'s value counts as one). */
  argsMin: number;
  argsMax: number;
}

/** Every command, in the order `help` lists them. */
const COMMANDS: Readonly<Record<Exclude<ShellCommand["kind"], "kv">, Spec>> = {
  set: {
    usage: "set <key> <value>",
    description: "store <value>: the rest of the line, as a string",
    argsMin: 2,
    argsMax: 2,
  },
  get: {
    usage: "get <key> [default]",
    description: "print the key's value, else default, else (nil)",
    argsMin: 1,
    argsMax: 2,
  },
  has: {
    usage: "has <key>",
    description: "print true if the key holds a value, else false",
    argsMin: 1,
    argsMax: 1,
  },
  pop: {
    usage: "pop <key> [default]",
    description: "remove the key and print the value it held",
    argsMin: 1,
    argsMax: 2,
  },
  mget: {
    usage: "mget <key> [key ...]",
    description: "print several keys' values, one per line",
    argsMin: 1,
    argsMax: Infinity,
  },
  list_keys: {
    usage: "list_keys",
    description: "print every key in the cluster, sorted",
    argsMin: 0,
    argsMax: 0,
  },
  list_members: {
    usage: "list_members",
    description: "print the cluster's members",
    argsMin: 0,
    argsMax: 0,
  },
  locate: {
    usage: "locate <key>",
    description: "print the node that owns the key",
    argsMin: 1,
    argsMax: 1,
  },
  replicas: {
    usage: "replicas <key>",
    description: "print the nodes holding the key, primary first",
    argsMin: 1,
    argsMax: 1,
  },
  cluster_info: {
    usage: "cluster_info",
    description: "print the node's view of the cluster",
    argsMin: 0,
    argsMax: 0,
  },
  ping: {
    usage: "ping",
    description: "check that the node answers",
    argsMin: 0,
    argsMax: 0,
  },
  help: {
    usage: "help",
    description: "print this list",
    argsMin: 0,
    argsMax: 0,
  },
  exit: {
    usage: "exit",
    description: "leave the shell (also exit; quit or Ctrl-D)",
    argsMin: 0,
    argsMax: 0,
  },
};

/** Other spellings of a command: the seed's `exit;` and redis-cli's quit. */
const ALIASES: Readonly<
  Record<string, Exclude<ShellCommand["kind"], "kv">>
> = {
  "exit;": "exit",
  quit: "exit",
  "quit;": "exit",
};

const USAGE_WIDTH = Math.max(
  ...[...Object.values(COMMANDS), ...Object.values(KV_COMMANDS)].map((spec) =>
    spec.usage.length
  ),
);

/** What `help` prints. */
export const HELP_TEXT: string = [
  "Commands (names are case-insensitive):",
  ...[...Object.values(COMMANDS), ...Object.values(KV_COMMANDS)].map((spec) =>
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
  const kind = ALIASES[word] ??
    (Object.hasOwn(COMMANDS, word)
      ? word as Exclude<ShellCommand["kind"], "kv">
      : undefined);
  if (kind === undefined) {
    return new ShellSyntaxError(
      `unknown command '${text.slice(0, nameEnd)}'; type 'help' for the ` +
        "list of commands",
    );
  }
  const spec = COMMANDS[kind];
  let args: string[];
  try {
    args = kind === "set"
      ? splitSetArgs(text, nameEnd)
      : tokenize(text, nameEnd);
  } catch (error) {
    if (!(error instanceof ShellSyntaxError)) throw error;
    return new ShellSyntaxError(`${error.message}; usage: ${spec.usage}`);
  }
  if (args.length < spec.argsMin || args.length > spec.argsMax) {
    return new ShellSyntaxError(
      `wrong number of arguments for '${kind}'; usage: ${spec.usage}`,
    );
  }
  return build(kind, args);
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
      // Re-split: the fixed arguments, then the rest verbatim.
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

/** Assembles a command from arguments whose count was checked. */
function build(
  kind: Exclude<ShellCommand["kind"], "kv">,
  args: string[],
): ShellCommand {
  const first = () => args[0]!;
  switch (kind) {
    case "set":
      return { kind, key: first(), value: args[1]! };
    case "get":
    case "pop":
      return args[1] === undefined
        ? { kind, key: first() }
        : { kind, key: first(), defaultValue: args[1] };
    case "has":
    case "locate":
    case "replicas":
      return { kind, key: first() };
    case "mget":
      return { kind, keys: args };
    case "list_keys":
    case "list_members":
    case "cluster_info":
    case "ping":
    case "help":
    case "exit":
      return { kind };
    default:
      return unreachable(kind);
  }
}

/**
 * `set`'s arguments: the key token, then everything after the whitespace
 * that follows it, kept as typed, since the seed's shell stored the rest of
 * the line as one string.
 */
function splitSetArgs(text: string, from: number): string[] {
  const start = skipWhitespace(text, from);
  if (start === text.length) return [];
  const [key, end] = readToken(text, start);
  const valueStart = skipWhitespace(text, end);
  if (valueStart === text.length) return [key];
  return [key, text.slice(valueStart)];
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
  switch (command.kind) {
    case "set":
      await client.set(command.key, command.value);
      return "OK";
    case "get":
    case "pop": {
      const options = command.defaultValue === undefined
        ? {}
        : { defaultValue: command.defaultValue };
      const value = command.kind === "get"
        ? await client.get(command.key, options)
        : await client.pop(command.key, options);
      return formatResult(value);
    }
    case "has":
      return formatResult(await client.has(command.key));
    case "locate":
      return formatResult(await client.locate(command.key));
    case "replicas":
      return formatResult(await client.replicas(command.key));
    case "mget":
      return formatResult(await client.mget(command.keys));
    case "list_keys":
      return formatResult(await client.listKeys());
    case "list_members":
      return formatResult(await client.listMembers());
    case "cluster_info":
      return formatResult(await client.clusterInfo());
    case "ping":
      return formatResult(await client.ping());
    case "help":
      return HELP_TEXT;
    case "kv":
      return await executeKv(client, command);
    default:
      return unreachable(command);
  }
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

function unreachable(value: never): never {
  throw new Error(`Unreachable: ${JSON.stringify(value)}`);
}
