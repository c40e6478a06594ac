/**
 * The examples (examples/counter.ts, examples/chat.ts) against a
 * three-node cluster, each app instance on a different node: two counter
 * servers sum one count; a message posted through one chat server reaches
 * a client following the room through another.
 */

import { assertEquals } from "@std/assert";
import { freePorts, startCluster, stopAll, waitFor } from "./_helpers.ts";
import { kvReady } from "./kvconnect/_kvconnect.ts";

const EXAMPLES = new URL("../examples/", import.meta.url).pathname;

function app(file: string, url: string, port: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", `${EXAMPLES}${file}`, String(port)],
    env: { DENO_KV_URL: url, DENO_KV_ACCESS_TOKEN: "any-token", NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

async function get(port: number, path: string, init?: RequestInit) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return await r.text();
}

async function stop(apps: Deno.ChildProcess[]) {
  for (const a of apps) {
    try {
      a.kill("SIGKILL");
    } catch {
      // already ended
    }
    await a.output();
  }
}

Deno.test("examples: two counter servers on two nodes sum one count, and a chat message reaches a watcher on a third", async () => {
  const nodes = await startCluster(3);
  const apps: Deno.ChildProcess[] = [];
  try {
    await kvReady(nodes[0]!.address);
    const [c1, c2, chat1, chat2] = freePorts(4) as [
      number,
      number,
      number,
      number,
    ];
    apps.push(
      app("counter.ts", `http://${nodes[0]!.address}/kv/counter`, c1),
      app("counter.ts", `http://${nodes[1]!.address}/kv/counter`, c2),
      app("chat.ts", `http://${nodes[1]!.address}/kv/chat`, chat1),
      app("chat.ts", `http://${nodes[2]!.address}/kv/chat`, chat2),
    );
    for (const port of [c1, c2, chat1, chat2]) {
      await waitFor(
        `the app on ${port}`,
        async () => {
          await get(port, "/nope");
          return true;
        },
        30_000,
        100,
      );
    }
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => get(i % 2 ? c1 : c2, "/")),
    );
    assertEquals((await get(c1, "/count")).trim(), "20");
    assertEquals((await get(c2, "/count")).trim(), "20");

    const events = await fetch(`http://127.0.0.1:${chat2}/events`);
    const reader = events.body!.pipeThrough(new TextDecoderStream())
      .getReader();
    // The watch is open once the server has sent its headers; post until
    // the event shows (a message posted before the first frame is the
    // room as it was, not news).
    let seen = "";
    const poster = (async () => {
      for (let i = 0; i < 50 && !seen.includes("hello"); i++) {
        await get(chat1, "/messages", { method: "POST", body: "hello" });
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    while (!seen.includes("hello")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    await reader.cancel();
    await poster;
    assertEquals(seen.includes('"text":"hello"'), true, seen);
    const listed = JSON.parse(await get(chat2, "/messages"));
    assertEquals(listed.at(-1).text, "hello");
  } finally {
    await stop(apps);
    await stopAll(nodes);
  }
});
