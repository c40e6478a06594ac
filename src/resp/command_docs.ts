/**
 * COMMAND INFO and COMMAND DOCS from the command table. redis-cli builds
 * its help and its inline hints from COMMAND DOCS, so the argument lists
 * follow Redis 7.0's shape: maps of `name`, `type`, `token`, `flags` and
 * nested `arguments`, derived here from each command's syntax line
 * (`key value [NX|XX] [EX seconds|PX milliseconds]`).
 *
 * @module
 */

import type { Command } from "./commands.ts";
import { MapReply, type Reply, SetReply, Simple } from "./protocol.ts";

/** A Redis 7.0 COMMAND INFO entry. */
export function commandInfo(cmd: Command): Reply {
  return [
    cmd.name,
    cmd.arity,
    new SetReply(cmd.flags.map((f) => new Simple(f))),
    cmd.keys[0],
    cmd.keys[1],
    cmd.keys[2],
    new SetReply([new Simple(`@${cmd.group}`)]),
    new SetReply([]),
    [],
    (cmd.subcommands ?? []).map((s) =>
      commandInfo({ ...s, name: `${cmd.name}|${s.name}` })
    ),
  ];
}

/** The COMMAND DOCS reply for some commands. */
export function commandDocs(commands: readonly Command[]): Reply {
  return new MapReply(commands.map((c) => [c.name, docOf(c, c.name)]));
}

function docOf(cmd: Command, fullName: string): Reply {
  const entries: [Reply, Reply][] = [
    ["summary", cmd.summary],
    ["since", cmd.since],
    ["group", cmd.group],
  ];
  const args = parseSyntax(cmd.syntax);
  if (args.length > 0) entries.push(["arguments", args]);
  if (cmd.subcommands !== undefined) {
    entries.push([
      "subcommands",
      new MapReply(
        cmd.subcommands.map((s) => {
          const name = `${fullName}|${s.name}`;
          return [name, docOf(s, name)];
        }),
      ),
    ]);
  }
  return new MapReply(entries);
}

type Token = string;

function tokenize(syntax: string): Token[] {
  return syntax.replace(/([[\]|])/g, " $1 ").split(/\s+/).filter((t) =>
    t !== ""
  );
}

const KEY_NAMES = new Set(["key", "newkey"]);

function isToken(word: string): boolean {
  return /^[A-Z][A-Z0-9-]*$/.test(word);
}

/** A single argument from its words: `EX seconds`, `NX`, `key`. */
function simpleArg(words: string[], optional: boolean): Reply {
  const flags = optional
    ? [["flags", new SetReply([new Simple("optional")])]] as [Reply, Reply][]
    : [];
  if (words.length === 1) {
    const w = words[0]!;
    if (isToken(w)) {
      return new MapReply([
        ["name", w.toLowerCase()],
        ["type", "pure-token"],
        ["token", w],
        ...flags,
      ]);
    }
    return new MapReply([
      ["name", w],
      ["type", KEY_NAMES.has(w) ? "key" : "string"],
      ...flags,
    ]);
  }
  if (words.length === 2 && isToken(words[0]!)) {
    return new MapReply([
      ["name", words[1]!],
      ["type", "string"],
      ["token", words[0]!],
      ...flags,
    ]);
  }
  return new MapReply([
    ["name", words.join("-").toLowerCase()],
    ["type", "block"],
    ...flags,
    ["arguments", words.map((w) => simpleArg([w], false))],
  ]);
}

/**
 * Parses a syntax line into COMMAND DOCS arguments: `[...]` is optional,
 * `a|b` one of, `x [x ...]` several.
 */
export function parseSyntax(syntax: string): Reply[] {
  const tokens = tokenize(syntax);
  let i = 0;

  function group(): { alternatives: string[][]; nested: boolean } {
    const alternatives: string[][] = [[]];
    let nested = false;
    while (i < tokens.length && tokens[i] !== "]") {
      const t = tokens[i++]!;
      if (t === "|") alternatives.push([]);
      else if (t === "[") {
        // A nested option inside a bracket: kept as words.
        nested = true;
        const inner = group();
        i++; // "]"
        alternatives.at(-1)!.push(...inner.alternatives.flat());
      } else alternatives.at(-1)!.push(t);
    }
    return { alternatives, nested };
  }

  const out: Reply[] = [];
  while (i < tokens.length) {
    const t = tokens[i++]!;
    if (t !== "[") {
      // "x [x ...]": one argument that repeats.
      if (
        tokens[i] === "[" && tokens[i + 1] === t && tokens[i + 2] === "..." &&
        tokens[i + 3] === "]"
      ) {
        i += 4;
        out.push(
          new MapReply([
            ["name", t],
            ["type", KEY_NAMES.has(t) ? "key" : "string"],
            ["flags", new SetReply([new Simple("multiple")])],
          ]),
        );
        continue;
      }
      if (
        isToken(t) && tokens[i] !== undefined && !isToken(tokens[i]!) &&
        tokens[i] !== "[" && tokens[i] !== "|"
      ) {
        out.push(simpleArg([t, tokens[i++]!], false));
      } else out.push(simpleArg([t], false));
      continue;
    }
    const { alternatives } = group();
    i++; // "]"
    const words = alternatives.map((a) => a.filter((w) => w !== "..."));
    const repeated = alternatives.some((a) => a.includes("..."));
    if (words.length === 1) {
      const arg = simpleArg(words[0]!, true);
      out.push(repeated ? withFlag(arg, "multiple") : arg);
    } else {
      out.push(
        new MapReply([
          ["name", words.map((w) => (w[0] ?? "").toLowerCase()).join("-")],
          ["type", "oneof"],
          ["flags", new SetReply([new Simple("optional")])],
          ["arguments", words.map((w) => simpleArg(w, false))],
        ]),
      );
    }
  }
  return out;
}

function withFlag(arg: Reply, flag: string): Reply {
  if (!(arg instanceof MapReply)) return arg;
  const entries = arg.entries.filter(([k]) => k !== "flags");
  return new MapReply([
    ...entries,
    ["flags", new SetReply([new Simple("optional"), new Simple(flag)])],
  ]);
}
