/**
 * `deno task demo`: three nodes, a load, the dashboard's URL; SIGINT (as
 * Ctrl-C sends it) stops everything it started, leaving no process.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { freePort, waitFor } from "./_helpers.ts";

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

Deno.test("demo task: three nodes under load, a dashboard URL, and Ctrl-C leaves nothing behind", async () => {
  // Three consecutive free ports, as the demo takes them.
  let first = 0;
  for (let tries = 0; tries < 20 && first === 0; tries++) {
    const p = freePort();
    if (p > 65533) continue;
    const listeners: Deno.Listener[] = [];
    try {
      for (const port of [p + 1, p + 2]) {
        listeners.push(Deno.listen({ hostname: "127.0.0.1", port }));
      }
      first = p;
    } catch {
      // taken: try another
    } finally {
      for (const l of listeners) l.close();
    }
  }
  assert(first !== 0, "three consecutive free ports");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "demo", "--port", String(first)],
    cwd: new URL("..", import.meta.url).pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of child.stdout) out += decoder.decode(chunk);
  })();
  const errors = child.stderr.pipeTo(new WritableStream());
  try {
    await waitFor("the dashboard URL", () => out.includes("/ui/"), 60_000);
    assertMatch(
      out,
      new RegExp(`dashboard at http://127\\.0\\.0\\.1:${first}/ui/`),
    );
    const pids = /pids ([\d ]+)/.exec(out)![1]!.trim().split(" ").map(Number);
    assertEquals(pids.length, 3);
    // The load shows on the nodes.
    await waitFor(
      "requests from the load",
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${first}/metrics`))
          .text();
        const served = [...text.matchAll(/kvdb_requests_total\{[^}]*\} (\d+)/g)]
          .reduce((n, m) => n + Number(m[1]), 0);
        return served > 10;
      },
      30_000,
      200,
    );
    const view = await (await fetch(`http://127.0.0.1:${first}/ui/api/cluster`))
      .json();
    assertEquals(view.status.members.length, 3);

    child.kill("SIGINT");
    const status = await child.status;
    assertEquals(status.code, 0);
    await reading;
    assertMatch(out, /stopped the load and the nodes/);
    for (const pid of pids) assert(!alive(pid), `node ${pid} is still running`);
    for (const port of [first, first + 1, first + 2]) {
      // Nothing listens there any more.
      const listener = Deno.listen({ hostname: "127.0.0.1", port });
      listener.close();
    }
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // ended
    }
    await child.status;
    await errors.catch(() => {});
  }
});
