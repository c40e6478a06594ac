/**
 * What the interactive shell offers as you type: Tab completion of
 * command names and keys, the grey hint of the arguments still to type
 * (as redis-cli shows), and Ctrl-R's search through history. Pure
 * functions of the line, so they are tested without a terminal.
 *
 * @module
 */

import { ALIASES, SHELL_COMMANDS } from "./shell.ts";

/** Most keys offered by one Tab. */
export const COMPLETION_KEYS_MAX = 50;

/** The words of a line as typed, and whether the last one is finished. */
function words(line: string): { done: string[]; current: string } {
  const parts = line.trimStart().split(/\s+/);
  const current = parts.pop() ?? "";
  return { done: parts, current };
}

function commandOf(name: string) {
  const lower = name.toLowerCase();
  const canonical = Object.hasOwn(ALIASES, lower) ? ALIASES[lower]! : lower;
  return SHELL_COMMANDS.find((c) => c.name === canonical);
}

/**
 * What Tab completes in `line`, readline's way: the candidates and the
 * part of the line they replace. A command name completes from the
 * commands; an argument that is a key asks `keysWithPrefix`.
 */
export async function complete(
  line: string,
  keysWithPrefix: (prefix: string) => Promise<string[]>,
): Promise<[string[], string]> {
  const { done, current } = words(line);
  if (done.length === 0) {
    const lower = current.toLowerCase();
    const names = SHELL_COMMANDS.map((c) => c.name).filter((n) =>
      n.startsWith(lower)
    );
    // One match completes with the space its arguments need, if any.
    const only = names.length === 1
      ? SHELL_COMMANDS.find((c) => c.name === names[0])
      : undefined;
    if (only !== undefined && only.argsUsage.length > 0) {
      return [[`${only.name} `], current];
    }
    return [names, current];
  }
  const command = commandOf(done[0]!);
  if (command?.def === undefined) return [[], current];
  const index = done.length - 1;
  const params = command.def.params;
  const param = params[Math.min(index, params.length - 1)];
  const isKey = param !== undefined &&
    (param.type === "key" || param.type === "keys") &&
    (index < params.length || param.type === "keys");
  if (!isKey || current.startsWith('"')) return [[], current];
  const keys = (await keysWithPrefix(current)).filter((k) =>
    k.startsWith(current)
  );
  // A key that holds whitespace or a quote goes in quotes to stay one word.
  return [keys.slice(0, COMPLETION_KEYS_MAX).map(quoteIfNeeded), current];
}

/** A key as the shell's parser reads it back as one word. */
export function quoteIfNeeded(key: string): string {
  if (key !== "" && !/[\s"]/.test(key)) return key;
  return `"${key.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/**
 * The arguments still to type after `line`, as the grey hint shows them
 * (`get ` hints `<key> [default]`); "" when there is nothing to hint.
 */
export function hintFor(line: string): string {
  if (line.trim() === "" || line.includes('"')) return "";
  const { done, current } = words(line);
  const name = done.length === 0 ? current : done[0]!;
  const command = commandOf(name);
  if (command === undefined) return "";
  if (done.length === 0) {
    // The name as typed: hint the arguments after a space.
    return command.argsUsage.length === 0
      ? ""
      : ` ${command.argsUsage.join(" ")}`;
  }
  const typed = done.length - 1 + (current === "" ? 0 : 1);
  if (command.def?.shell === "rest" && typed >= command.argsUsage.length) {
    return "";
  }
  const rest = command.argsUsage.slice(typed);
  const last = command.argsUsage.at(-1);
  // A list's usage goes on for ever: keep hinting its tail.
  if (rest.length === 0 && last?.includes("...")) return "";
  if (rest.length === 0) return "";
  return (current === "" ? "" : " ") + rest.join(" ");
}

/**
 * Ctrl-R: a search backwards through history for lines holding the query,
 * newest first, as bash and redis-cli do it.
 */
export class ReverseSearch {
  readonly #history: readonly string[];
  #query = "";
  /** Index in `history` (oldest first) of the match shown, or -1. */
  #at: number;

  /** Searches `history`, oldest line first. */
  constructor(history: readonly string[]) {
    this.#history = history;
    this.#at = history.length;
    this.#at = this.#find(history.length - 1);
  }

  /** What has been typed to search for. */
  get query(): string {
    return this.#query;
  }

  /** The line found, or "" when none holds the query. */
  get match(): string {
    return this.#at === -1 ? "" : this.#history[this.#at] ?? "";
  }

  /** Whether a line holds the query. */
  get found(): boolean {
    return this.#at !== -1;
  }

  /** Adds to the query; the match is the newest line holding it. */
  type(text: string): void {
    this.#query += text;
    const from = this.#at === -1 ? this.#history.length - 1 : this.#at;
    this.#at = this.#find(from);
  }

  /** Removes the query's last character and searches again from the newest. */
  backspace(): void {
    this.#query = this.#query.slice(0, -1);
    this.#at = this.#find(this.#history.length - 1);
  }

  /** Ctrl-R again: the next older line holding the query, if any. */
  older(): void {
    // The same line again is no new match: skip its older copies.
    const shown = this.match;
    for (let from = this.#at - 1; from >= 0;) {
      const next = this.#find(from);
      if (next === -1) return;
      if (this.#history[next] !== shown) {
        this.#at = next;
        return;
      }
      from = next - 1;
    }
  }

  #find(from: number): number {
    for (let i = from; i >= 0; i--) {
      if (this.#history[i]!.includes(this.#query)) return i;
    }
    return -1;
  }
}
