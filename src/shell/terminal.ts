/**
 * The shell on a terminal: line editing, history and Tab completion from
 * `node:readline`, with Ctrl-R search and a grey hint of the arguments
 * still to type on top. Keys are read from stdin here and handed to
 * readline (`rl.write(data, key)`), so that Ctrl-R can take them over
 * while it searches; everything else is readline's own editing.
 *
 * Only `main.ts` calls this, and only when stdin is a terminal: piped
 * input goes through {@link linesFrom} unchanged.
 *
 * @module
 */

import process from "node:process";
import * as readline from "node:readline";
import { PassThrough } from "node:stream";
import type { KVClient } from "../../client.ts";
import { complete, hintFor, ReverseSearch } from "./complete.ts";
import { appendHistory, HISTORY_LINES_MAX, loadHistory } from "./history.ts";
import { runShell } from "./shell.ts";

/** Options of {@link runTerminalShell}. */
export interface TerminalShellOptions {
  /** The history file, or null for none (`--no-history`). */
  historyPath: string | null;
  /** @default {">> "} */
  prompt?: string;
}

/** A key as readline's keypress events describe it. */
interface Key {
  sequence?: string;
  name?: string;
  ctrl?: boolean;
  meta?: boolean;
  shift?: boolean;
}

const GREY = "\x1b[90m";
const RESET = "\x1b[0m";
const CLEAR_TO_END = "\x1b[K";

/** The parts of readline's Interface used here beyond its typings. */
interface Editor extends readline.Interface {
  readonly cursor: number;
}

/**
 * Runs the shell on the terminal until `exit`, Ctrl-D on an empty line or
 * Ctrl-C on an empty line.
 */
export async function runTerminalShell(
  client: KVClient,
  options: TerminalShellOptions,
): Promise<void> {
  const prompt = options.prompt ?? ">> ";
  const path = options.historyPath;
  const history = path === null ? [] : loadHistory(path);
  const stdin = process.stdin;
  const stdout = process.stdout;
  const keysWithPrefix = async (prefix: string) =>
    (await client.listKeysPage({ prefix, limit: 50 })).keys;
  const rl = readline.createInterface({
    // Keys come from stdin through rl.write(); readline's own input stays
    // silent, so that Ctrl-R can take keys over.
    input: new PassThrough(),
    output: stdout,
    terminal: true,
    prompt,
    // readline wants the newest line first.
    history: [...history].reverse(),
    historySize: HISTORY_LINES_MAX,
    removeHistoryDuplicates: false,
    completer: (
      line: string,
      done: (error: null | Error, result: [string[], string]) => void,
    ) => {
      complete(line, keysWithPrefix).then(
        (result) => done(null, result),
        // A node that cannot list keys completes nothing; the command
        // itself will say what is wrong.
        () => done(null, [[], line]),
      );
    },
  }) as Editor;

  let hintShown = false;
  let search: ReverseSearch | undefined;
  let busy = true;
  const queued: [string | undefined, Key | undefined][] = [];
  let waiting: ((line: string | null) => void) | undefined;
  let closed = false;

  const clearHint = () => {
    if (hintShown) stdout.write(CLEAR_TO_END);
    hintShown = false;
  };
  const showHint = () => {
    if (search !== undefined || rl.cursor !== rl.line.length) return;
    const hint = hintFor(rl.line);
    const width = stdout.columns ?? 80;
    if (hint === "" || prompt.length + rl.line.length + hint.length >= width) {
      return;
    }
    stdout.write(`${GREY}${hint}${RESET}\x1b[${hint.length}D`);
    hintShown = true;
  };
  /** Replaces the line being edited (readline has no setter for it). */
  const setLine = (text: string) => {
    rl.write(null as unknown as string, { ctrl: true, name: "e" });
    rl.write(null as unknown as string, { ctrl: true, name: "u" });
    if (text !== "") rl.write(text);
  };
  const showSearch = () => {
    const s = search!;
    rl.setPrompt(
      `(${s.found ? "" : "failing "}reverse-i-search)'${s.query}': `,
    );
    setLine(s.match);
    rl.prompt(true);
  };
  const endSearch = (keep: boolean, original: string) => {
    const line = search!.match;
    search = undefined;
    rl.setPrompt(prompt);
    setLine(keep ? line : original);
    rl.prompt(true);
  };

  let beforeSearch = "";
  const onKey = (data: string | undefined, key: Key | undefined) => {
    if (busy) {
      queued.push([data, key]);
      return;
    }
    clearHint();
    if (search !== undefined) {
      if (key?.ctrl && key.name === "r") {
        search.older();
        showSearch();
        return;
      }
      if (key?.name === "backspace") {
        search.backspace();
        showSearch();
        return;
      }
      if ((key?.ctrl && key.name === "g") || key?.name === "escape") {
        endSearch(false, beforeSearch);
        return;
      }
      const printable = data !== undefined && data.length > 0 &&
        !key?.ctrl && !key?.meta && data >= " " && key?.name !== "return" &&
        key?.name !== "enter" && key?.name !== "tab";
      if (printable) {
        search.type(data);
        showSearch();
        return;
      }
      // Any other key takes the match and then does what it does.
      endSearch(true, beforeSearch);
    } else if (key?.ctrl && key.name === "r") {
      beforeSearch = rl.line;
      search = new ReverseSearch(history);
      showSearch();
      return;
    }
    rl.write(data as string, key);
    if (!busy && !closed) showHint();
  };

  readline.emitKeypressEvents(stdin);
  const raw = (on: boolean) => {
    if (stdin.isTTY) stdin.setRawMode(on);
  };
  stdin.on("keypress", onKey);

  rl.on("line", (line: string) => {
    busy = true;
    hintShown = false;
    // While a command runs the terminal is cooked: Ctrl-C interrupts it.
    raw(false);
    if (path !== null && line.trim() !== "") {
      history.push(line);
      try {
        appendHistory(path, line);
      } catch {
        // A history that cannot be written loses nothing but history.
      }
    }
    waiting?.(line);
  });
  rl.on("SIGINT", () => {
    if (rl.line === "") {
      rl.close();
      return;
    }
    // As in bash: Ctrl-C drops the line being typed.
    stdout.write("^C\n");
    setLine("");
    rl.prompt();
  });
  rl.on("close", () => {
    closed = true;
    waiting?.(null);
  });

  async function* lines(): AsyncGenerator<string, void, undefined> {
    while (!closed) {
      const next = new Promise<string | null>((resolve) => waiting = resolve);
      raw(true);
      busy = false;
      rl.prompt();
      showHint();
      for (const [data, key] of queued.splice(0)) onKey(data, key);
      const line = await next;
      waiting = undefined;
      if (line === null) return;
      yield line;
    }
  }

  try {
    await runShell(client, lines(), (text) => stdout.write(text), {
      prompt: "",
    });
  } finally {
    stdin.off("keypress", onKey);
    raw(false);
    rl.close();
    stdin.pause();
  }
}
