/**
 * The shell's history file, as redis-cli keeps `~/.rediscli_history`: one
 * line per command, oldest first, kept across sessions.
 *
 * @module
 */

/** Most lines kept (and loaded); older ones are dropped. */
export const HISTORY_LINES_MAX = 1000;

/**
 * Where the history lives: `$KVDB_HISTFILE`, else `~/.kvdb_history`;
 * `null` with `--no-history`, or when there is no home to keep it in.
 */
export function historyPath(
  env: (name: string) => string | undefined,
  enabled: boolean,
): string | null {
  if (!enabled) return null;
  const file = env("KVDB_HISTFILE");
  if (file !== undefined && file !== "") return file;
  const home = env("HOME") ?? env("USERPROFILE");
  if (home === undefined || home === "") return null;
  return `${home.replace(/\/+$/, "")}/.kvdb_history`;
}

/**
 * The lines of the history file, oldest first, at most
 * {@link HISTORY_LINES_MAX}; none when it does not exist yet.
 */
export function loadHistory(path: string): string[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return text.split("\n").filter((line) => line.trim() !== "").slice(
    -HISTORY_LINES_MAX,
  );
}

/**
 * Appends a line to the history; once the file holds twice the limit it
 * is rewritten with the newest {@link HISTORY_LINES_MAX}. The file is
 * made readable by its owner only: keys and values are typed into it.
 */
export function appendHistory(path: string, line: string): void {
  if (line.trim() === "" || line.includes("\n")) return;
  Deno.writeTextFileSync(path, line + "\n", { append: true, mode: 0o600 });
  const lines = loadAll(path);
  if (lines.length > 2 * HISTORY_LINES_MAX) {
    Deno.writeTextFileSync(
      path,
      lines.slice(-HISTORY_LINES_MAX).join("\n") + "\n",
      { mode: 0o600 },
    );
  }
}

function loadAll(path: string): string[] {
  return Deno.readTextFileSync(path).split("\n").filter((l) => l !== "");
}
