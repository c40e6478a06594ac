import { assertEquals } from "@std/assert";
import {
  appendHistory,
  HISTORY_LINES_MAX,
  historyPath,
  loadHistory,
} from "./mod.ts";

Deno.test("historyPath() is $KVDB_HISTFILE, else ~/.kvdb_history, else none", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assertEquals(
    historyPath(env({ HOME: "/home/u", KVDB_HISTFILE: "/tmp/h" }), true),
    "/tmp/h",
  );
  assertEquals(
    historyPath(env({ HOME: "/home/u/" }), true),
    "/home/u/.kvdb_history",
  );
  assertEquals(historyPath(env({ HOME: "/home/u" }), false), null);
  assertEquals(historyPath(env({}), true), null);
});

Deno.test("appendHistory() keeps lines in order and the newest when it grows", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/h`;
    assertEquals(loadHistory(path), []);
    appendHistory(path, "get a");
    appendHistory(path, "   ");
    appendHistory(path, "set a 1");
    assertEquals(loadHistory(path), ["get a", "set a 1"]);
    for (let i = 0; i < 2 * HISTORY_LINES_MAX + 1; i++) {
      appendHistory(path, `ping ${i}`);
    }
    const lines = loadHistory(path);
    assertEquals(lines.length, HISTORY_LINES_MAX);
    assertEquals(lines.at(-1), `ping ${2 * HISTORY_LINES_MAX}`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
