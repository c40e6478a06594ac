/**
 * How the shell prints a result: readable first, like redis-cli, yet
 * unambiguous enough to pipe into other tools line by line.
 *
 * @module
 */

/**
 * Formats a function's result for the shell, without a trailing newline:
 *
 * - a string as it is (no quotes), `(nil)` for `null`;
 * - `true` / `false`, numbers as JSON writes them;
 * - a list one item per line (an item that is itself a list or an object
 *   as one-line JSON), `(empty list)` for `[]`;
 * - an object (such as `cluster_info`'s) as JSON indented by two spaces.
 *
 * @example
 * ```ts
 * import { formatResult } from "./format.ts";
 *
 * formatResult("hello"); // "hello"
 * formatResult(null); // "(nil)"
 * formatResult(["a", "b"]); // "a\nb"
 * ```
 */
export function formatResult(value: unknown): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return "(empty list)";
    return value.map(formatItem).join("\n");
  }
  if (isObject(value)) return JSON.stringify(value, null, 2);
  return formatItem(value);
}

/** One line's worth: containers stay on one line so that lists stay lists. */
function formatItem(value: unknown): string {
  if (value === null || value === undefined) return "(nil)";
  if (typeof value === "string") return value;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}
