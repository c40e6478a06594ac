/**
 * What durability costs: set throughput of one node on the SQLite engine
 * against one node on the memory engine, same workload, same run; then the
 * start-up time of a node whose data directory holds 1,000,000 keys, and a
 * paged `list_keys` through all of them.
 *
 * Run (wrk is used when installed, else a fetch load generator):
 *
 * ```sh
 * deno run -A bench/durable_vs_memory.ts                # 3 rounds of 10 s, 1M keys
 * deno run -A bench/durable_vs_memory.ts --seconds 5 --rounds 1 --keys 100000
 * ```
 *
 * Each round starts a fresh node per engine (memory, sqlite sync=normal,
 * sqlite sync=full) and loads it with 50 keep-alive connections setting
 * random 16-byte keys to 100-byte values. The node's background repair
 * loops are slowed to once a day so that they do not compete with the
 * write path being measured.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { SqliteStore } from "../src/storage/mod.ts";
import { freePort, MAIN, PERMISSIONS, waitFor } from "../tests/_helpers.ts";

const VALUE = "v".repeat(34) +
  "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123";
const QUIET = ["--anti-entropy-interval", "86400000"];

const flags = parseArgs(Deno.args, {
  string: ["seconds", "rounds", "connections", "keys", "engines", "workload"],
  boolean: ["no-startup", "no-throughput", "fetch"],
  default: {
    seconds: "10",
    rounds: "3",
    connections: "50",
    keys: "1000000",
    engines: "memory,normal,full",
    workload: "random,sequential",
  },
});
const SECONDS = Number(flags.seconds);
const ROUNDS = Number(flags.rounds);
const CONNECTIONS = Number(flags.connections);
const KEYS = Number(flags.keys);

interface Engine {
  name: string;
  args: (dir: string) => string[];
}

const ALL_ENGINES: Engine[] = [
  { name: "memory", args: () => ["--memory"] },
  { name: "sqlite sync=normal", args: (dir) => ["--data-dir", dir] },
  {
    name: "sqlite sync=full",
    args: (dir) => ["--data-dir", dir, "--sync", "full"],
  },
];
const ENGINES = ALL_ENGINES.filter((e) =>
  String(flags.engines).split(",").includes(e.name.replace(/.*=/, ""))
);
/**
 * random: 16 random hex characters per key, the worst case for a B-tree
 * (each insert dirties its own page). sequential: keys in increasing order,
 * as time-ordered ids are, so consecutive inserts share pages.
 */
const WORKLOADS = String(flags.workload).split(",") as (
  | "random"
  | "sequential"
)[];

/** A node process; resolves once /health answers, with the time that took. */
async function startNode(args: string[]) {
  const port = freePort();
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...PERMISSIONS,
      MAIN,
      "node",
      "-H",
      "127.0.0.1",
      "-P",
      String(port),
      ...QUIET,
      ...args,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    "the node to start",
    async () => {
      const response = await fetch(`${url}/health`);
      await response.body?.cancel();
      return response.ok;
    },
    60_000,
    5,
  );
  const readyMs = performance.now() - started;
  return {
    url,
    pid: child.pid,
    readyMs,
    async stop(signal: Deno.Signal = "SIGTERM") {
      child.kill(signal);
      await child.status;
    },
  };
}

async function hasWrk(): Promise<boolean> {
  try {
    // `wrk --version` exits with 1; that it runs at all is the answer.
    await new Deno.Command("wrk", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return true;
  } catch {
    return false;
  }
}

type Workload = (typeof WORKLOADS)[number];

function wrkScript(workload: Workload): string {
  const key = workload === "random"
    ? `string.format("%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))`
    : `string.format("key:%012d", counter)`;
  return `
local headers = { ["Content-Type"] = "application/json" }
local prefix = '{"function":"set","args":["'
local suffix = '","${VALUE}"],"kwargs":{}}'
local counter = 0
init = function(args) math.randomseed(os.time() + os.clock() * 1e6) end
request = function()
  counter = counter + 1
  return wrk.format("POST", "/", headers, prefix .. ${key} .. suffix)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d\\n", summary.requests, summary.duration,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(99)))
end
`;
}

/** Sets per second against `url` for SECONDS, and the p99 latency in ms. */
async function load(url: string, workload: Workload, useWrk: boolean) {
  if (useWrk) {
    const script = await Deno.makeTempFile({ suffix: ".lua" });
    await Deno.writeTextFile(script, wrkScript(workload));
    const out = await new Deno.Command("wrk", {
      args: [
        "-t1",
        `-c${CONNECTIONS}`,
        `-d${SECONDS}s`,
        "-s",
        script,
        `${url}/`,
      ],
    }).output();
    await Deno.remove(script);
    const text = new TextDecoder().decode(out.stdout);
    const match = /RESULT (\d+) (\d+) (\d+) (\d+)/.exec(text);
    if (match === null) throw new Error(`wrk failed: ${text}`);
    const [, requests, durationUs, errors, p99Us] = match.map(Number);
    if (errors! > 0) throw new Error(`${errors} requests failed`);
    return { opsPerS: requests! / (durationUs! / 1e6), p99Ms: p99Us! / 1000 };
  }
  const deadline = performance.now() + SECONDS * 1000;
  let done = 0;
  let counter = 0;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < deadline) {
        const key = workload === "random"
          ? crypto.randomUUID().replaceAll("-", "").slice(0, 16)
          : `key:${String(++counter).padStart(12, "0")}`;
        const t0 = performance.now();
        const response = await fetch(url, {
          method: "POST",
          body: JSON.stringify({ function: "set", args: [key, VALUE] }),
        });
        const body = await response.json();
        if (body.status !== "OK.") throw new Error(JSON.stringify(body));
        latencies.push(performance.now() - t0);
        done++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    opsPerS: done / SECONDS,
    p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
  };
}

async function throughput(workload: Workload): Promise<void> {
  const useWrk = !flags.fetch && await hasWrk();
  console.log(
    `set throughput, ${workload} keys: ${ROUNDS} round(s) of ${SECONDS} s ` +
      `per engine, ${CONNECTIONS} connections, load from ${
        useWrk ? "wrk" : "fetch"
      }`,
  );
  const totals = new Map<string, number[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    // Engines take turns within a round, so that a noisy neighbour slows
    // each of them alike.
    for (const engine of ENGINES) {
      const dir = await Deno.makeTempDir({ prefix: "kvdb-bench-" });
      const node = await startNode(engine.args(dir));
      const { opsPerS, p99Ms } = await load(node.url, workload, useWrk);
      await node.stop();
      await Deno.remove(dir, { recursive: true });
      totals.set(engine.name, [...(totals.get(engine.name) ?? []), opsPerS]);
      console.log(
        `  round ${round} ${engine.name.padEnd(20)} ${
          opsPerS.toFixed(0).padStart(7)
        } sets/s  p99 ${p99Ms.toFixed(1)} ms`,
      );
    }
  }
  const mean = (name: string) => {
    const xs = totals.get(name)!;
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const memory = totals.has("memory") ? mean("memory") : NaN;
  for (const engine of ENGINES) {
    console.log(
      `${workload.padEnd(10)} ${engine.name.padEnd(20)} ${
        mean(engine.name).toFixed(0).padStart(7)
      } sets/s  durable/memory = ${(mean(engine.name) / memory).toFixed(2)}`,
    );
  }
}

function procStatusMiB(pid: number, field: string): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]);
  return kib / 1024;
}
const peakRssMiB = (pid: number) => procStatusMiB(pid, "VmHWM");
const rssMiB = (pid: number) => procStatusMiB(pid, "VmRSS");

async function startup(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kvdb-bench-startup-" });
  try {
    const t0 = performance.now();
    const store = SqliteStore.open(`${dir}/kvdb.sqlite`);
    const batch = 10_000;
    for (let i = 0; i < KEYS; i += batch) {
      const writes = [];
      for (let j = i; j < Math.min(KEYS, i + batch); j++) {
        writes.push(store.apply({
          key: `key:${String(j).padStart(12, "0")}`,
          value: VALUE,
          version: [1_700_000_000_000 + j, 0, "bench:1"],
          tombstone: false,
          expiresAtMs: null,
        }));
      }
      await Promise.all(writes);
    }
    await store.close();
    const bytes = [...Deno.readDirSync(dir)]
      .reduce((sum, f) => sum + Deno.statSync(`${dir}/${f.name}`).size, 0);
    console.log(
      `prefilled ${KEYS} keys through SqliteStore in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s; data directory ${(bytes / 2 ** 20).toFixed(0)} MiB`,
    );

    const empty = await startNode(["--memory"]);
    await empty.stop();
    console.log(
      `start-up, empty memory node (process and runtime start): ${
        empty.readyMs.toFixed(0)
      } ms`,
    );
    for (let attempt = 1; attempt <= 2; attempt++) {
      const node = await startNode(["--data-dir", dir]);
      console.log(
        `start-up with ${KEYS} keys, attempt ${attempt}: ${
          node.readyMs.toFixed(0)
        } ms to /health 200`,
      );
      if (attempt === 2) {
        const rssBefore = peakRssMiB(node.pid);
        const t1 = performance.now();
        let cursor: string | null = null;
        let keys = 0;
        let pages = 0;
        do {
          const response: Response = await fetch(node.url, {
            method: "POST",
            body: JSON.stringify({
              function: "list_keys",
              kwargs: { limit: 10_000, ...(cursor ? { cursor } : {}) },
            }),
          });
          const body = await response.json() as {
            result: { keys: string[]; cursor: string | null };
          };
          keys += body.result.keys.length;
          cursor = body.result.cursor;
          pages++;
        } while (cursor !== null);
        console.log(
          `list_keys paged through ${keys} keys in ${pages} pages of 10,000: ${
            ((performance.now() - t1) / 1000).toFixed(1)
          } s; node RSS peak ${rssBefore.toFixed(0)} MiB before, ${
            peakRssMiB(node.pid).toFixed(0)
          } MiB after (now ${rssMiB(node.pid).toFixed(0)} MiB)`,
        );
      }
      await node.stop();
    }

    // Recovery after a crash: the WAL holds the writes since the last
    // checkpoint and is replayed on open.
    const crashing = await startNode(["--data-dir", dir]);
    await load(crashing.url, "random", !flags.fetch && await hasWrk());
    await crashing.stop("SIGKILL");
    const wal = (() => {
      try {
        return Deno.statSync(`${dir}/kvdb.sqlite-wal`).size;
      } catch {
        return 0;
      }
    })();
    const recovered = await startNode(["--data-dir", dir]);
    console.log(
      `start-up after kill -9 during random sets (WAL ${
        (wal / 2 ** 20).toFixed(0)
      } MiB to replay): ${recovered.readyMs.toFixed(0)} ms to /health 200`,
    );
    await recovered.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (!flags["no-throughput"]) {
  for (const workload of WORKLOADS) await throughput(workload);
}
if (!flags["no-startup"]) await startup();
