import { assertEquals } from "@std/assert";
import { createLogger, rateLimited } from "./log.ts";

const NOW = Date.UTC(2026, 11, 1, 10, 19, 31, 123);

function capture(format: "text" | "json", level?: "warn") {
  const lines: string[] = [];
  const log = createLogger({
    node: "127.0.0.1:5878",
    format,
    ...(level !== undefined ? { level } : {}),
    write: (line) => lines.push(line),
    now: () => NOW,
  });
  return { log, lines };
}

Deno.test("createLogger() writes text: time, level, node, event, fields", () => {
  const { log, lines } = capture("text");
  log("member.state", { member: "127.0.0.1:5879", state: "dead" });
  log("purge.failed", { error: new Error("disk I/O error") }, "error");
  log("debug.noise", {}, "debug");
  assertEquals(lines, [
    "2026-12-01T10:19:31.123Z INFO  127.0.0.1:5878 member.state member=127.0.0.1:5879 state=dead",
    '2026-12-01T10:19:31.123Z ERROR 127.0.0.1:5878 purge.failed error="disk I/O error"',
  ]);
});

Deno.test("createLogger() writes one JSON object a line, fixed keys winning", () => {
  const { log, lines } = capture("json");
  log("quorum.lost", { op: "read", count: 3, event: "spoofed" }, "warn");
  assertEquals(JSON.parse(lines[0]!), {
    ts: "2026-12-01T10:19:31.123Z",
    level: "warn",
    node: "127.0.0.1:5878",
    event: "quorum.lost",
    op: "read",
    count: 3,
  });
});

Deno.test("createLogger() drops events below its level", () => {
  const { log, lines } = capture("text", "warn");
  log("node.serving", {});
  log("quorum.lost", {}, "warn");
  assertEquals(lines.length, 1);
});

Deno.test("rateLimited() logs once per interval with the count since", () => {
  const { log, lines } = capture("json");
  let t = 0;
  const refused = rateLimited(log, "auth.refused", 10_000, () => t);
  for (let i = 0; i < 5; i++) refused({ reason: "wrong" });
  t = 10_000;
  refused({ reason: "wrong" });
  const counts = lines.map((l) => JSON.parse(l).count);
  assertEquals(counts, [1, 5]);
});
