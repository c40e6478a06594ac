/** Structured logs from real nodes: JSON lines, events logged once. */

import { assert, assertEquals } from "@std/assert";
import { freePorts, NodeProcess, rpcRaw, waitFor } from "./_helpers.ts";

const TOKEN = "logs-test-token-0123456789abcdef";
const SECRET = "logs-test-secret-0123456789abcdef";

function events(log: string): Record<string, unknown>[] {
  return log.split("\n").filter((l) => l.startsWith("{")).map((l) =>
    JSON.parse(l)
  );
}

Deno.test("logs: --log-format json writes one event a line; a member's death and auth refusals are logged once", async () => {
  const [pa, pb] = freePorts(2);
  const members = `127.0.0.1:${pa},127.0.0.1:${pb}`;
  const args = [
    "-C",
    members,
    "--log-format",
    "json",
    "--probe-interval",
    "100",
    "--auth-token",
    TOKEN,
    "--cluster-secret",
    SECRET,
  ];
  const a = new NodeProcess(pa!, args);
  const b = new NodeProcess(pb!, args);
  try {
    await Promise.all([a.ready(), b.ready()]);
    await waitFor(
      "a's start event",
      () => events(a.log).some((e) => e.event === "node.serving"),
    );
    for (const line of a.log.trim().split("\n")) {
      const event = JSON.parse(line);
      assertEquals(typeof event.ts, "string");
      assert(["debug", "info", "warn", "error"].includes(event.level));
      assertEquals(event.node, a.address);
      assertEquals(typeof event.event, "string");
    }
    const serving = events(a.log).find((e) => e.event === "node.serving")!;
    assertEquals(serving.members, 2);
    assertEquals(serving.engine, "memory");

    // Twenty refused requests are one line, with their count.
    for (let i = 0; i < 20; i++) {
      const { status } = await rpcRaw(a.address, '{"function":"ping"}', {
        headers: { authorization: "Bearer wrong-token-0123456789abcdef" },
      });
      assertEquals(status, 401);
    }
    await waitFor(
      "the refusal event",
      () => events(a.log).some((e) => e.event === "auth.refused"),
    );
    const refusals = events(a.log).filter((e) => e.event === "auth.refused");
    assertEquals(refusals.length, 1);
    assertEquals(refusals[0]!.reason, "wrong");
    assert(!a.log.includes("wrong-token"), "a token is never logged");

    await b.kill();
    const dead = () =>
      events(a.log).filter((e) =>
        e.event === "member.state" && e.member === b.address &&
        e.state === "dead"
      );
    await waitFor("b's death in a's log", () => dead().length > 0);
    // Probes go on failing; the change is logged once.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assertEquals(dead().length, 1);
  } finally {
    await Promise.all([a.kill(), b.kill()]);
  }
});
