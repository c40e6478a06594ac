/**
 * The Markdown tables the docs show, rendered from the function table, the
 * settings table and the error codes. `deno task docs` writes them into
 * the docs between markers; tests/tables_test.ts checks that the docs hold
 * them as they are now.
 *
 * @module
 */

import { type ArgDef, FUNCTION_TABLE } from "../api/function_table.ts";
import { ERROR_CODES, type ErrorCode } from "../errors.ts";
import { httpStatus } from "../server/status.ts";
import { type SettingDef, SETTINGS } from "../settings.ts";
import { SHELL_COMMANDS } from "../shell/mod.ts";

/** A table as rows of cells, the header first. */
export type Table = string[][];

/** Where a generated table sits: a file and the marker's name. */
export interface Placement {
  file: string;
  name: string;
  table: () => Table;
}

function argsCell(params: readonly ArgDef[], required: number): string {
  return params.map((p, i) => {
    const name = p.label === "object" ? "object" : p.name;
    return i < required ? name : `[${name}]`;
  }).join(", ");
}

/**
 * The functions: name, args, kwargs, result; with `links`, the result
 * links to where docs/ says more.
 */
export function functionTable(links = false): Table {
  return [
    ["function", "args", "kwargs", "result"],
    ...FUNCTION_TABLE.map((f) => [
      `\`${f.name}\``,
      argsCell(f.params, f.required),
      f.kwargs.map((k) => `\`${k.name}\``).join(", "),
      links && "more" in f && f.more !== undefined
        ? `${f.result} (${f.more})`
        : f.result,
    ]),
  ];
}

function number(n: number): string {
  return String(n);
}

function defaultCell(s: SettingDef): string {
  if (s.defaultDoc !== undefined) return s.defaultDoc;
  if (s.default === undefined) return "none";
  if (Array.isArray(s.default)) return "none";
  return `\`${s.default}\`${s.unit !== undefined ? ` ${s.unit}` : ""}`;
}

function rangeCell(s: SettingDef): string {
  if (s.kind === "integer") {
    return `${number(s.min!)} to ${number(s.max!)}${
      s.unit !== undefined ? ` ${s.unit}` : ""
    }`;
  }
  if (s.kind === "choice") {
    return s.choices!.map((c) => `\`${c}\``).join(", ");
  }
  return "";
}

/** The node's flags: flag, default, range, meaning. */
export function settingsTable(): Table {
  return [
    ["flag", "default", "range", "meaning"],
    ...SETTINGS.map((s) => [
      `\`${[s.short, s.flag].filter(Boolean).join(", ")}\``,
      defaultCell(s),
      rangeCell(s),
      s.doc !== undefined ? `${s.description} ${s.doc}` : s.description,
    ]),
  ];
}

/** The shell's commands: usage, what it does. */
export function shellTable(): Table {
  return [
    ["command", "what it does"],
    ...SHELL_COMMANDS.map((c) => [`\`${c.usage}\``, c.description]),
  ];
}

/** The core's error codes: code, the HTTP status it is answered with, meaning. */
export function errorCodeTable(): Table {
  return [
    ["code", "HTTP", "meaning"],
    ...(Object.entries(ERROR_CODES) as [ErrorCode, string][]).map((
      [code, meaning],
    ) => [`\`${code}\``, String(httpStatus(code)), meaning]),
  ];
}

/** Every generated table and where it goes. */
export const PLACEMENTS: readonly Placement[] = [
  { file: "README.md", name: "functions", table: () => functionTable() },
  { file: "README.md", name: "settings", table: settingsTable },
  {
    file: "docs/protocol.md",
    name: "functions",
    table: () => functionTable(true),
  },
  { file: "docs/shell.md", name: "commands", table: shellTable },
  { file: "docs/architecture.md", name: "error-codes", table: errorCodeTable },
];

/** `|` inside a cell would end it. */
function escapeCell(cell: string): string {
  return cell.replaceAll("|", "\\|");
}

/** The table as Markdown (unpadded: `deno fmt` aligns it). */
export function renderTable(table: Table): string {
  const [header, ...rows] = table;
  const line = (cells: string[]) => `| ${cells.map(escapeCell).join(" | ")} |`;
  return [
    line(header!),
    line(header!.map(() => "---")),
    ...rows.map(line),
  ].join("\n");
}

/** The markers around the table `name` in a file. */
export function markers(name: string): [string, string] {
  return [
    `<!-- table:${name} (generated: deno task docs) -->`,
    `<!-- end table:${name} -->`,
  ];
}

/** The table between `name`'s markers in `text`, as rows of cells. */
export function tableIn(text: string, name: string): Table | undefined {
  const [begin, end] = markers(name);
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from === -1 || to === -1 || to < from) return undefined;
  return text.slice(from + begin.length, to).trim().split("\n")
    .filter((line) => line.startsWith("|") && !/^\|[\s|:-]+\|$/.test(line))
    .map((line) =>
      line.slice(1, -1).split(/(?<!\\)\|/).map((cell) =>
        cell.trim().replaceAll("\\|", "|")
      )
    );
}

/** `text` with the table `name` replaced by `table` (unpadded). */
export function replaceTable(text: string, name: string, table: Table): string {
  const [begin, end] = markers(name);
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from === -1 || to === -1 || to < from) {
    throw new Error(`Cannot find the markers of table '${name}'`);
  }
  return text.slice(0, from + begin.length) + "\n\n" + renderTable(table) +
    "\n\n" + text.slice(to);
}
