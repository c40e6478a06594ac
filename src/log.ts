/**
 * Structured logs: every line has a timestamp, a level, the node's
 * address, an event name and its fields, as text for people (the
 * default) or as one JSON object a line (`--log-format json`) for log
 * pipelines. The core reports events through an {@link EventLog} it is
 * handed; only the node's wiring decides where lines go.
 *
 * @module
 */

/** How much is logged: each level includes the ones after it. */
export type LogLevel = "debug" | "info" | "warn" | "error";
/** The levels, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = [
  "debug",
  "info",
  "warn",
  "error",
];
/** `text` for people, `json` for machines. */
export type LogFormat = "text" | "json";
/** The log formats. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** An event's fields: names to values (strings, numbers, booleans). */
export type LogFields = Readonly<Record<string, unknown>>;

/**
 * Reports an event: a dotted name (`member.state`), its fields, and a
 * level (default "info").
 */
export type EventLog = (
  event: string,
  fields?: LogFields,
  level?: LogLevel,
) => void;

/** An {@link EventLog} that drops everything. */
export const NO_LOG: EventLog = () => {};

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** The node's address, on every line. */
  node: string;
  /** @default {"text"} */
  format?: LogFormat;
  /** @default {"info"} */
  level?: LogLevel;
  /** Where lines go, without their newline. Default: stderr. */
  write?: (line: string) => void;
  /** Wall time in ms. Default `Date.now`. */
  now?: () => number;
}

/** A value in the text format: bare if it can be, else JSON-quoted. */
function textValue(value: unknown): string {
  if (typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  if (value === null || value === undefined) return "null";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return /^[A-Za-z0-9_.:/@+\-[\]]+$/.test(text) ? text : JSON.stringify(text);
}

/**
 * An {@link EventLog} that writes lines at `level` and above:
 *
 * - text: `2026-12-01T10:19:31.123Z INFO  127.0.0.1:5878 member.state member=127.0.0.1:5879 state=dead`
 * - json: `{"ts":"2026-12-01T10:19:31.123Z","level":"info","node":"127.0.0.1:5878","event":"member.state","member":"127.0.0.1:5879","state":"dead"}`
 */
export function createLogger(options: LoggerOptions): EventLog {
  const format = options.format ?? "text";
  const threshold = LOG_LEVELS.indexOf(options.level ?? "info");
  const write = options.write ?? ((line) => console.error(line));
  const now = options.now ?? Date.now;
  return (event, fields = {}, level = "info") => {
    if (LOG_LEVELS.indexOf(level) < threshold) return;
    const ts = new Date(now()).toISOString();
    if (format === "json") {
      // The fixed keys first; a field cannot overwrite them.
      write(JSON.stringify({
        ...fields,
        ts,
        level,
        node: options.node,
        event,
      }, (_key, value) => value instanceof Error ? value.message : value));
      return;
    }
    const pairs = Object.entries(fields).map(([k, v]) =>
      `${k}=${textValue(v instanceof Error ? v.message : v)}`
    );
    write(
      [ts, level.toUpperCase().padEnd(5), options.node, event, ...pairs]
        .join(" "),
    );
  };
}

/**
 * Logs `event` at most once per `intervalMs`, with how many times it
 * happened since the last line (`count`): for what can happen per
 * request (auth refusals, lost quorums), so that a flood of them is one
 * line every few seconds, not one per request.
 */
export function rateLimited(
  log: EventLog,
  event: string,
  intervalMs: number,
  now: () => number = Date.now,
): (fields?: LogFields, level?: LogLevel) => void {
  let lastAt = -Infinity;
  let count = 0;
  return (fields = {}, level = "warn") => {
    count++;
    const t = now();
    if (t - lastAt < intervalMs) return;
    lastAt = t;
    log(event, { ...fields, count }, level);
    count = 0;
  };
}
