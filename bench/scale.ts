/**
 * What a node costs against the data it holds: the scenario of a new user
 * loading a durable three-node cluster with many keys, then leaving it
 * idle, then joining a fourth node.
 *
 * deno task bench:scale [--keys 1000000] [--nodes 3] [--value-bytes 100]
 *   [--batch 500] [--clients 8] [--idle 10] [--tree DIR] [--no-join]
 *   [--stream-mb-per-s N] [--keep DIR | --data DIR] [--json FILE]
 *
 * Steps, each measured:
 * 1. start `--nodes` nodes on the SQLite engine (temporary data
 *    directories), N = 3, default quorums and timings;
 * 2. load `--keys` keys of `--value-bytes` through `mset` in batches of
 *    `--batch` from `--clients` concurrent clients (a batch answered 429 or
 *    503 with Retry-After is retried after the wait, as KVClient does; one
 *    answered otherwise, or not at all, is a failed batch); count the
 *    members' transitions to `suspect` logged meanwhile;
 * 3. once the hints are handed over, idle for `--idle` seconds: CPU per
 *    node (share of a core), and anti-entropy rounds in that time (so the
 *    CPU of one round with nothing to repair, at most);
 * 4. RSS per node;
 * 5. a node joins through the first one while a light load (reads and
 *    writes, four clients) runs: its transfer's MB/s (over the whole join,
 *    from the joiner's start, and over its streaming alone, by the
 *    joiner's `transfer.elapsed_ms`) and the load's p99 during the join
 *    (and, for reference, over as long just before it); with
 *    `--stream-mb-per-s N`, every node streams at most N MB/s;
 * 6. one node is killed (kill -9) and started again: time to serving.
 *
 * `--tree DIR` runs the nodes of another checkout of KVDB (its main.ts), to
 * compare a change against the code before it in the same run.
 *
 * `--keep DIR` stops after step 2 (and the hints' delivery) and keeps the
 * loaded nodes' data directories in DIR; `--data DIR` starts from a copy of
 * them (on the same ports) instead of loading, so that A/B runs of the
 * later steps, interleaved, start from the same data.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { Http1Client } from "../src/transport/http1.ts";
import { freePorts, waitFor } from "../tests/_helpers.ts";

const args = parseArgs(Deno.args, {
  string: [
    "keys",
    "nodes",
    "value-bytes",
    "batch",
    "clients",
    "idle",
    "tree",
    "json",
    "stream-mb-per-s",
    "keep",
    "data",
  ],
  boolean: ["join"],
  default: {
    keys: "1000000",
    nodes: "3",
    "value-bytes": "100",
    batch: "500",
    clients: "8",
    idle: "10",
    join: true,
  },
});
const KEYS = Number(args.keys);
const NODES = Number(args.nodes);
const VALUE_BYTES = Number(args["value-bytes"]);
const BATCH = Number(args.batch);
const CLIENTS = Number(args.clients);
const IDLE_S = Number(args.idle);
const TREE = args.tree ?? new URL("..", import.meta.url).pathname;
const MAIN = `${TREE.replace(/\/$/, "")}/main.ts`;
const TICKS_PER_S = 100;
const STREAM_ARGS = args["stream-mb-per-s"] === undefined
  ? []
  : ["--stream-mb-per-s", args["stream-mb-per-s"]];

/** A node process of the tree under test, its log kept. */
class Node {
  readonly address: string;
  #child!: Deno.ChildProcess;
  log = "";
  constructor(
    readonly port: number,
    readonly dataDir: string,
    readonly args: string[],
  ) {
    this.address = `127.0.0.1:${port}`;
    this.start();
  }

  start(): void {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "node",
        "-H",
        "127.0.0.1",
        "-P",
        String(this.port),
        "--data-dir",
        this.dataDir,
        ...this.args,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const decoder = new TextDecoder();
    for (const stream of [this.#child.stdout, this.#child.stderr]) {
      (async () => {
        for await (const chunk of stream) this.log += decoder.decode(chunk);
      })().catch(() => {});
    }
  }

  get pid(): number {
    return this.#child.pid;
  }

  async ready(timeoutMs = 120_000): Promise<void> {
    await waitFor(
      `${this.address} to serve`,
      async () => {
        const response = await fetch(`http://${this.address}/health`);
        await response.body?.cancel();
        return response.ok;
      },
      timeoutMs,
      20,
    );
  }

  /** Stops it as an operator would (SIGTERM), for its data to be reused. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // gone
    }
    await this.#child.status;
  }

  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // gone
    }
    await this.#child.status;
  }

  /** CPU ticks (user + system) so far. */
  cpuTicks(): number {
    const stat = Deno.readTextFileSync(`/proc/${this.pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  }

  rssBytes(): number {
    const status = Deno.readTextFileSync(`/proc/${this.pid}/status`);
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
  }

  /** Members' transitions to suspect in its log (either log format). */
  suspicions(): number {
    return (this.log.match(/is suspect|state=suspect/g) ?? []).length;
  }
}

async function rpc(
  client: Http1Client,
  fn: string,
  fnArgs: unknown[],
): Promise<{ status: number; retryAfterS: number | null; body: string }> {
  const answer = await client.post(
    JSON.stringify({ function: fn, args: fnArgs, kwargs: {} }),
  );
  const retry = answer.headers.get("retry-after");
  return {
    status: answer.status,
    retryAfterS: retry === undefined ? null : Number(retry),
    body: answer.text,
  };
}

async function info(address: string): Promise<Record<string, unknown>> {
  const response = await fetch(`http://${address}/`, {
    method: "POST",
    body: JSON.stringify({ function: "cluster_info" }),
  });
  return (await response.json()).result;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

const root = await Deno.makeTempDir({ prefix: "kvdb-scale-" });
let ports = freePorts(NODES + 1);
if (args.data !== undefined) {
  // The loaded nodes' ports (their names in the ring and in the data).
  const kept = JSON.parse(await Deno.readTextFile(`${args.data}/ports.json`));
  ports = [...kept, ports.find((p) => !kept.includes(p))!];
  const copy = new Deno.Command("cp", {
    args: ["-a", ...kept.map((p: number) => `${args.data}/${p}`), root],
  });
  if (!(await copy.output()).success) throw new Error("cannot copy --data");
}
const members = ports.slice(0, NODES).map((p) => `127.0.0.1:${p}`).join(",");
const nodes = ports.slice(0, NODES).map((port) =>
  new Node(port, `${root}/${port}`, [
    "-C",
    members,
    "-R",
    "3",
    ...STREAM_ARGS,
  ])
);
const result: Record<string, unknown> = {
  tree: TREE,
  keys: KEYS,
  nodes: NODES,
  valueBytes: VALUE_BYTES,
  batch: BATCH,
  clients: CLIENTS,
};
try {
  await Promise.all(nodes.map((n) => n.ready()));
  console.error(`${NODES} nodes up; loading ${KEYS} keys`);
  if (args.data === undefined) await load();
  else await digestsReady();
  if (args.keep !== undefined) {
    await Promise.all(nodes.map((n) => n.stop()));
    await Deno.mkdir(args.keep, { recursive: true });
    const copy = new Deno.Command("cp", {
      args: [
        "-a",
        ...ports.slice(0, NODES).map((p) => `${root}/${p}`),
        args.keep,
      ],
    });
    if (!(await copy.output()).success) {
      throw new Error("cannot copy to --keep");
    }
    await Deno.writeTextFile(
      `${args.keep}/ports.json`,
      JSON.stringify(ports.slice(0, NODES)),
    );
    console.error(`loaded data kept in ${args.keep}`);
  } else {
    await afterLoad();
  }
} finally {
  await Promise.all(nodes.map((n) => n.kill()));
  await Deno.remove(root, { recursive: true });
}

/** Nodes started on kept data count their digests first: not part of the steps. */
async function digestsReady(): Promise<void> {
  const started = performance.now();
  await waitFor(
    "the digests to be counted",
    async () => {
      for (const node of nodes) {
        const ae = (await info(node.address)).anti_entropy as {
          digests?: { ready: boolean };
        };
        if (ae.digests?.ready === false) return false;
      }
      return true;
    },
    600_000,
    500,
  );
  console.error(
    `digests counted in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

/** Step 2: the load, then the hints' delivery. */
async function load(): Promise<void> {
  // 2. The load.
  const value = "v".repeat(VALUE_BYTES);
  const batches = Math.ceil(KEYS / BATCH);
  let next = 0;
  let failed = 0;
  let retried = 0;
  const failures: string[] = [];
  const suspectBefore = nodes.reduce((n, node) => n + node.suspicions(), 0);
  const loadStart = performance.now();
  let lastReport = loadStart;
  await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
    const node = nodes[c % nodes.length]!;
    const client = new Http1Client(`http://${node.address}/`);
    try {
      while (next < batches) {
        const b = next++;
        const entries: Record<string, string> = {};
        for (let i = b * BATCH; i < Math.min(KEYS, (b + 1) * BATCH); i++) {
          entries[`key${String(i).padStart(10, "0")}`] = value;
        }
        for (let attempt = 0;; attempt++) {
          let answer;
          try {
            answer = await rpc(client, "mset", [entries]);
          } catch (error) {
            failed++;
            if (failures.length < 5) failures.push(String(error));
            break;
          }
          if (answer.status === 200) break;
          if (
            (answer.status === 429 || answer.status === 503) &&
            answer.retryAfterS !== null && attempt < 100
          ) {
            retried++;
            await sleep(Math.max(10, answer.retryAfterS * 1000));
            continue;
          }
          failed++;
          if (failures.length < 5) {
            failures.push(`${answer.status} ${answer.body.slice(0, 160)}`);
          }
          break;
        }
        const now = performance.now();
        if (now - lastReport > 10_000) {
          lastReport = now;
          console.error(
            `  ${Math.min(KEYS, next * BATCH)} keys, ${
              Math.round(next * BATCH / ((now - loadStart) / 1000))
            } keys/s, ${failed} failed batches`,
          );
        }
      }
    } finally {
      client.close();
    }
  }));
  const loadS = (performance.now() - loadStart) / 1000;
  result.loadKeysPerSecond = Math.round(KEYS / loadS);
  result.loadSeconds = Math.round(loadS * 10) / 10;
  result.failedBatches = failed;
  result.retriedBatches = retried;
  result.failures = failures;
  result.suspectTransitions =
    nodes.reduce((n, node) => n + node.suspicions(), 0) - suspectBefore;
  console.error(
    `loaded in ${loadS.toFixed(1)} s: ${result.loadKeysPerSecond} keys/s, ` +
      `${failed} failed batches, ${result.suspectTransitions} suspect transitions`,
  );

  // Hints delivered: the load is over.
  await waitFor(
    "hints to be handed over",
    async () => {
      for (const node of nodes) {
        const hints = (await info(node.address)).hints as { count: number };
        if (hints.count > 0) return false;
      }
      return true;
    },
    300_000,
    500,
  );
}

/** Steps 3 to 6, and the table. */
async function afterLoad(): Promise<void> {
  const value = "v".repeat(VALUE_BYTES);
  // 3. Idle.
  await sleep(5_000);
  const rounds0 = await Promise.all(
    nodes.map(async (n) =>
      ((await info(n.address)).anti_entropy as { rounds: number }).rounds
    ),
  );
  const ticks0 = nodes.map((n) => n.cpuTicks());
  await sleep(IDLE_S * 1000);
  const ticks1 = nodes.map((n) => n.cpuTicks());
  const rounds1 = await Promise.all(
    nodes.map(async (n) =>
      ((await info(n.address)).anti_entropy as { rounds: number }).rounds
    ),
  );
  const idle = nodes.map((_, i) =>
    (ticks1[i]! - ticks0[i]!) / TICKS_PER_S / IDLE_S
  );
  result.idleCpuShare = idle.map((x) => Math.round(x * 1000) / 1000);
  // Rounds a node ran plus those it answered: each round costs both sides.
  const rounds = rounds1.reduce((n, r, i) => n + r - rounds0[i]!, 0);
  const idleTicks = ticks1.reduce((n, t, i) => n + t - ticks0[i]!, 0);
  result.aeRoundsIdle = rounds;
  result.aeRoundCpuMsAtMost = rounds === 0
    ? null
    : Math.round(idleTicks / TICKS_PER_S * 1000 / rounds * 10) / 10;

  // 4. Memory.
  result.rssMiB = nodes.map((n) => Math.round(n.rssBytes() / 2 ** 20));
  console.error(
    `idle CPU ${result.idleCpuShare} of a core; RSS ${result.rssMiB} MiB`,
  );

  // 5. A join under a light load.
  if (args.join) {
    let phase: "before" | "joining" | "over" = "before";
    const latencies = { before: [] as number[], joining: [] as number[] };
    const load = Promise.all(Array.from({ length: 4 }, async (_, c) => {
      const client = new Http1Client(
        `http://${nodes[c % nodes.length]!.address}/`,
      );
      try {
        for (let i = 0; phase !== "over"; i++) {
          const key = `key${
            String(Math.floor(Math.random() * KEYS)).padStart(10, "0")
          }`;
          const during = phase;
          const started = performance.now();
          await (i % 2 === 0
            ? rpc(client, "get", [key])
            : rpc(client, "set", [key, value]));
          latencies[during].push(performance.now() - started);
          await sleep(10);
        }
      } finally {
        client.close();
      }
    }));
    // The same load, as long, before the join: what the join adds to it.
    await sleep(5_000);
    phase = "joining";
    const joiner = new Node(ports[NODES]!, `${root}/${ports[NODES]}`, [
      "--join",
      nodes[0]!.address,
      "-R",
      "3",
      ...STREAM_ARGS,
    ]);
    const joinStart = performance.now();
    const sourceTicks0 = nodes.map((n) => n.cpuTicks());
    await joiner.ready();
    let moved = 0;
    let streamingMs = 0;
    await waitFor(
      "the join to finish",
      async () => {
        const transfer = (await info(joiner.address)).transfer as {
          phase: string;
          bytes_moved: number;
          elapsed_ms?: number | null;
        };
        moved = transfer.bytes_moved;
        streamingMs = transfer.elapsed_ms ?? 0;
        return transfer.phase === "done";
      },
      3_600_000,
      100,
    );
    const joinS = (performance.now() - joinStart) / 1000;
    // CPU, not wall time, is what a shared machine does not distort: the
    // joiner's (its start included) and the busiest source's.
    const joinerCpuS = joiner.cpuTicks() / TICKS_PER_S;
    const sourceCpuS = Math.max(
      ...nodes.map((n, i) => (n.cpuTicks() - sourceTicks0[i]!) / TICKS_PER_S),
    );
    phase = "over";
    await load;
    for (const list of Object.values(latencies)) list.sort((a, b) => a - b);
    const p99 = (list: number[]) =>
      Math.round(percentile(list, 0.99) * 10) / 10;
    result.joinSeconds = Math.round(joinS * 10) / 10;
    result.joinMBPerSecond = Math.round(moved / 1e6 / joinS * 100) / 100;
    result.joinStreamingMBPerSecond = streamingMs > 0
      ? Math.round(moved / 1e3 / streamingMs * 100) / 100
      : null;
    result.joinMB = Math.round(moved / 1e5) / 10;
    result.joinerCpuSeconds = Math.round(joinerCpuS * 10) / 10;
    result.joinBusiestSourceCpuSeconds = Math.round(sourceCpuS * 10) / 10;
    result.joinMBPerJoinerCpuSecond =
      Math.round(moved / 1e6 / joinerCpuS * 100) /
      100;
    result.joinClientP99Ms = p99(latencies.joining);
    result.beforeJoinClientP99Ms = p99(latencies.before);
    result.joinClientRequests = latencies.joining.length;
    result.joinSourcesSkipped =
      (joiner.log.match(/join\.source_skipped/g) ?? []).length;
    console.error(
      `join: ${(moved / 1e6).toFixed(1)} MB in ${joinS.toFixed(1)} s, ` +
        `client p99 ${result.joinClientP99Ms} ms (before: ` +
        `${result.beforeJoinClientP99Ms} ms)`,
    );
    nodes.push(joiner);
  }

  // 6. Start-up after kill -9.
  const victim = nodes[1]!;
  await victim.kill();
  const started = performance.now();
  victim.start();
  await victim.ready();
  result.startupSeconds = Math.round((performance.now() - started) / 100) / 10;

  const line = (k: string, v: unknown) =>
    console.log(`| ${k.padEnd(44)} | ${String(v).padEnd(30)} |`);
  console.log(`| ${"what".padEnd(44)} | ${"measured".padEnd(30)} |`);
  console.log(`| ${"-".repeat(44)} | ${"-".repeat(30)} |`);
  line(
    `load keys/s (${KEYS} keys, ${CLIENTS} clients)`,
    result.loadKeysPerSecond,
  );
  line(
    "failed batches (retried after Retry-After)",
    `${result.failedBatches} (${result.retriedBatches})`,
  );
  line("suspect transitions during the load", result.suspectTransitions);
  line(
    "idle CPU per node (share of a core)",
    (result.idleCpuShare as number[]).join(", "),
  );
  line("RSS per node (MiB)", (result.rssMiB as number[]).join(", "));
  line(
    "one anti-entropy round, nothing to repair (CPU ms, at most)",
    result.aeRoundCpuMsAtMost,
  );
  if (args.join) {
    line("join (MB/s, from the joiner's start)", result.joinMBPerSecond);
    line("join streaming alone (MB/s)", result.joinStreamingMBPerSecond);
    line(
      "join: MB per CPU second of the joiner (its CPU s; busiest source's)",
      `${result.joinMBPerJoinerCpuSecond} (${result.joinerCpuSeconds}; ${result.joinBusiestSourceCpuSeconds})`,
    );
    line(
      "client p99 during the join (ms; just before it)",
      `${result.joinClientP99Ms} (${result.beforeJoinClientP99Ms})`,
    );
  }
  line("start-up after kill -9 (s)", result.startupSeconds);
  if (args.json !== undefined) {
    await Deno.writeTextFile(args.json, JSON.stringify(result, null, 2) + "\n");
  }
}
