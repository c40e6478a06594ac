/**
 * `deno task demo`: three local nodes (ports 5878-5880, or `--port N` and
 * the next two), a light read/write load, and the dashboard's URL. Ctrl-C
 * (or SIGTERM) stops the load and the nodes, removes their data and
 * leaves no process behind.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { KVClient } from "../client.ts";

const NODES = 3;
/** Writes and reads per second the load aims at, all nodes together. */
const LOAD_OPS_PER_SECOND = 60;
const KEYS = 500;

function nodeCommand(port: number, members: string, dataDir: string) {
  const main = new URL("../main.ts", import.meta.url).pathname;
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      main,
      "node",
      "-H",
      "127.0.0.1",
      "-P",
      String(port),
      "-C",
      members,
      "-R",
      "2",
      "--data-dir",
      dataDir,
      "--log-level",
      "warn",
    ],
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  });
}

async function waitUntilServing(address: string, deadlineMs: number) {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      const response = await fetch(`http://${address}/health`);
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not yet
    }
    if (Date.now() > until) throw new Error(`${address} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

if (import.meta.main) {
  const flags = parseArgs(Deno.args, { string: ["port"] });
  const first = Number(flags.port ?? 5878);
  if (!Number.isInteger(first) || first < 1 || first > 65533) {
    console.error("demo: --port must be a port from 1 to 65533");
    Deno.exit(2);
  }
  const ports = Array.from({ length: NODES }, (_, i) => first + i);
  const addresses = ports.map((p) => `127.0.0.1:${p}`);
  const dir = await Deno.makeTempDir({ prefix: "kvdb-demo-" });
  const children = ports.map((port, i) =>
    nodeCommand(port, addresses.join(","), `${dir}/node${i}`).spawn()
  );
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const child of children) {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
    }
    await Promise.all(children.map((c) => c.status));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    console.log("demo: stopped the load and the nodes");
    Deno.exit(code);
  };
  Deno.addSignalListener("SIGINT", () => stop(0));
  Deno.addSignalListener("SIGTERM", () => stop(0));
  // A node that dies on its own ends the demo, with everything else.
  children.forEach((child, i) =>
    child.status.then((s) => {
      if (!stopping) {
        console.error(`demo: node ${addresses[i]} exited (${s.code})`);
        stop(1);
      }
    })
  );
  try {
    await Promise.all(addresses.map((a) => waitUntilServing(a, 30_000)));
  } catch (error) {
    console.error(`demo: ${(error as Error).message}`);
    await stop(1);
  }
  console.log(
    [
      `demo: three nodes on ${addresses.join(", ")} (N=2), data in ${dir}`,
      `demo: pids ${children.map((c) => c.pid).join(" ")}`,
      `demo: dashboard at http://${addresses[0]}/ui/`,
      `demo: shell: deno task shell -P ${first}; status: deno task kvdb status -P ${first}`,
      "demo: a light load is running; Ctrl-C stops everything",
    ].join("\n"),
  );
  const client = new KVClient({ nodes: addresses, timeoutMs: 2_000 });
  let i = 0;
  const pause = 1000 / LOAD_OPS_PER_SECOND;
  while (!stopping) {
    const key = `demo:${Math.floor(Math.random() * KEYS)}`;
    try {
      if (i++ % 4 === 0) {
        await client.set(key, { n: i, at: new Date().toISOString() });
      } else {
        await client.get(key);
      }
    } catch {
      // A node restarting under the demo is part of the demo.
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
