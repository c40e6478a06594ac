/**
 * bench/compare: one script, one run, one machine. Starts the minimal Deno
 * JSON-RPC server (the ceiling), KVDB (one node in memory, one on SQLite,
 * three nodes with N=3 W=2), Redis and etcd on 127.0.0.1, drives each with
 * the same workload from a C load generator (wrk, redis-benchmark),
 * interleaved over rounds, and writes the table to docs/performance.md.
 * The RESP rows drive the minimal Deno RESP server (the ceiling for a Deno
 * RESP server), KVDB's RESP port and Redis with redis-benchmark, with and
 * without pipelining.
 *
 * ```sh
 * bench/compare            # 10 s per measurement, 2 rounds
 * bench/compare --quick    # 3 s per measurement
 * ```
 *
 * See docs/benchmarking.md for what each number means.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import type { BenchReport } from "../src/bench/report.ts";
import { formatCount, formatTable, formatUs } from "../src/bench/report.ts";
import { freePort, PERMISSIONS } from "../tests/_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
/**
 * The project's shared workspace sits next to the repository (or, for a
 * git worktree under a folder of its own, one level further up).
 */
const SHARED_BENCH = [
  new URL("../../shared/bench", import.meta.url).pathname,
  new URL("../../../shared/bench", import.meta.url).pathname,
].find((dir) => {
  try {
    return Deno.statSync(dir).isDirectory;
  } catch {
    return false;
  }
}) ?? new URL("../../shared/bench", import.meta.url).pathname;
const SHARED_FILES = [
  "minimal_rpc.ts",
  "minimal_resp.ts",
  "preload.ts",
  "wrk/report.lua",
  "wrk/b64.lua",
  "wrk/rpc_get.lua",
  "wrk/rpc_set.lua",
  "wrk/etcd_range.lua",
  "wrk/etcd_put.lua",
];
const TOOLS = ["wrk", "redis-server", "redis-benchmark", "redis-cli", "etcd"];
const DEBIAN_PACKAGES = ["wrk", "redis-server", "redis-tools", "etcd-server"];
const MARKER =
  "<!-- bench/compare writes everything below this line; edit the text above it. -->";
const DEFAULT_INTRO = `# Performance

How fast KVDB is next to a minimal Deno JSON-RPC server (the ceiling for
any Deno HTTP server), Redis and etcd, measured by \`bench/compare\` on one
machine in one run. How the numbers are taken, and how to read them:
[benchmarking.md](benchmarking.md).

`;
/** A 100-byte value, the one ../shared/bench/preload.ts writes. */
const VALUE = "v".repeat(34) +
  "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123";
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

// ---------------------------------------------------------------- options

interface Options {
  durationS: number;
  /** Unmeasured run of each row before the first round: JITs and caches warm. */
  warmupS: number;
  rounds: number;
  connections: number;
  keys: number;
  batch: number;
  respKeys: number;
  only: Set<string> | null;
  out: string | null;
  install: boolean;
  command: string;
}

function usage(): never {
  console.log(`usage: bench/compare [--quick] [--duration S] [--rounds N]
                     [--connections N] [--keys N] [--batch N]
                     [--only id,id] [--out FILE | --no-write] [--no-install]

  --quick         3 s per measurement instead of 10
  --duration S    seconds per measurement (default 10)
  --warmup S      unmeasured seconds per row before round 1 (default 2, quick 1)
  --rounds N      rounds over every system; the table shows the median (default 2)
  --connections N wrk -c / redis-benchmark -c (default 50)
  --keys N        keys preloaded and read (default 10000)
  --batch N       keys per mget / mset call (default 100)
  --resp-keys N   keys preloaded for and read by the RESP rows (default 100000)
  --only ids      only these rows (ids: ${ROWS.map((r) => r.id).join(", ")})
  --out FILE      where the report goes (default docs/performance.md)
  --no-write      print the table only
  --no-install    do not apt-get install missing tools`);
  Deno.exit(0);
}

function fail(message: string): never {
  throw new CompareError(message);
}

class CompareError extends Error {}

function positive(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) {
    fail(`--${name} must be a positive integer: current value is ${value}`);
  }
  return n;
}

function parseOptions(args: string[]): Options {
  const a = parseArgs(args, {
    boolean: ["quick", "help", "write", "install"],
    string: [
      "duration",
      "warmup",
      "rounds",
      "connections",
      "keys",
      "batch",
      "resp-keys",
      "only",
      "out",
    ],
    default: { write: true, install: true },
    negatable: ["write", "install"],
    unknown: (arg: string) => fail(`unknown argument ${arg}; see --help`),
  });
  if (a.help) usage();
  const only = a.only === undefined
    ? null
    : new Set(String(a.only).split(",").map((s) => s.trim()));
  for (const id of only ?? []) {
    if (!ROWS.some((r) => r.id === id)) fail(`--only: unknown row '${id}'`);
  }
  return {
    durationS: positive("duration", a.duration, a.quick ? 3 : 10),
    warmupS: a.warmup === "0"
      ? 0
      : positive("warmup", a.warmup, a.quick ? 1 : 2),
    rounds: positive("rounds", a.rounds, 2),
    connections: positive("connections", a.connections, 50),
    keys: positive("keys", a.keys, 10_000),
    batch: positive("batch", a.batch, 100),
    respKeys: positive("resp-keys", a["resp-keys"], 100_000),
    only,
    out: a.write ? (a.out ?? `${ROOT}/docs/performance.md`) : null,
    install: a.install,
    command: ["bench/compare", ...args].join(" "),
  };
}

// -------------------------------------------------------------- processes

/** A process this script started: stopped by PID at the end, whatever happens. */
interface Started {
  name: string;
  child: Deno.ChildProcess;
  log: string;
}

const started: Started[] = [];
const tempDirs: string[] = [];
let workDir = "";

async function spawn(
  name: string,
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Started> {
  const log = `${workDir}/${name.replace(/[^\w.-]+/g, "_")}.log`;
  const child = new Deno.Command(cmd, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const file = await Deno.open(log, {
    write: true,
    create: true,
    append: true,
  });
  // Both streams into one log; a full pipe would block the server.
  const sink = file.writable.getWriter();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) await sink.write(chunk).catch(() => {});
  };
  Promise.all([drain(child.stdout), drain(child.stderr)])
    .finally(() => sink.close().catch(() => {}));
  const proc = { name, child, log };
  started.push(proc);
  return proc;
}

async function tail(path: string, lines = 15): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trimEnd().split("\n").slice(-lines)
      .join("\n");
  } catch {
    return "(no log)";
  }
}

async function stopAll(): Promise<void> {
  // Newest first: a cluster's nodes before nothing else depends on them.
  for (const proc of started.splice(0).reverse()) {
    try {
      proc.child.kill("SIGTERM");
    } catch {
      continue; // already exited
    }
    const timer = setTimeout(() => {
      try {
        proc.child.kill("SIGKILL");
      } catch {
        // exited meanwhile
      }
    }, STOP_TIMEOUT_MS);
    await proc.child.status.catch(() => {});
    clearTimeout(timer);
  }
  for (const dir of tempDirs.splice(0)) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function waitReady(proc: Started, port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let exited = false;
  proc.child.status.then(() => exited = true);
  while (Date.now() < deadline) {
    if (exited) {
      fail(`${proc.name} exited at start:\n${await tail(proc.log)}`);
    }
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  fail(`${proc.name} did not listen on ${port}:\n${await tail(proc.log)}`);
}

async function run(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    env: options.env ?? {},
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const d = new TextDecoder();
  return {
    code: out.code,
    stdout: d.decode(out.stdout),
    stderr: d.decode(out.stderr),
  };
}

async function runOk(
  what: string,
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<string> {
  const out = await run(cmd, args, options);
  if (out.code !== 0) {
    fail(
      `${what} failed (exit ${out.code}):\n${
        (out.stderr || out.stdout).trim()
      }`,
    );
  }
  return out.stdout;
}

/** utime + stime of `pid`, in microseconds (/proc/<pid>/stat, in clock ticks). */
async function cpuUs(pid: number, ticksPerS: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // The command name may hold spaces: fields start after its ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks / ticksPerS) * 1e6;
}

// ---------------------------------------------------------------- systems

type Op = "get" | "set" | "mget" | "mset";

/** A running system under test. */
interface System {
  /** Processes whose CPU counts as the server's. */
  pids: number[];
  port: number;
  /** The RESP port of a KVDB system (its first node's). */
  respPort?: number;
}

/** What drives the load. */
type Driver =
  | "wrk"
  | "redis-benchmark"
  | "kvdb-bench-socket"
  | "kvdb-bench-fetch";

/** One row family of the table: a system driven by one load generator. */
interface Row {
  id: string;
  system: string;
  /** Which system's process this row measures (rows may share one). */
  server: string;
  driver: Driver;
  ops: Op[];
  /** What the row says, for the notes. */
  note: string;
  /** redis-benchmark -P: commands in flight per connection (RESP rows). */
  pipeline?: number;
  /** Drive the system's RESP port with redis-benchmark -r respKeys. */
  resp?: boolean;
  /** The row this one's "× ceiling" and "× Redis" compare with. */
  ceiling?: string;
  redis?: string;
}

/** The RESP rows: each system unpipelined and with -P 16. */
function respRows(): Row[] {
  const systems: [string, string, string, string][] = [
    [
      "resp-ceiling",
      "minimal Deno RESP (ceiling)",
      "resp-ceiling",
      "../shared/bench/minimal_resp.ts: Deno.listen and a Map",
    ],
    [
      "kvdb-memory-resp",
      "KVDB 1 node, memory, RESP",
      "kvdb-memory",
      "main.ts node --memory --resp-port",
    ],
    [
      "kvdb-sqlite-resp",
      "KVDB 1 node, SQLite, RESP",
      "kvdb-sqlite",
      "main.ts node --data-dir <tmp> --resp-port",
    ],
    [
      "kvdb-3-resp",
      "KVDB 3 nodes, N=3 W=2 R=2, RESP",
      "kvdb-3",
      "three nodes -R 3 (memory), redis-benchmark on the first's RESP port",
    ],
    [
      "redis-resp",
      "Redis",
      "redis",
      "redis-server --save '' --appendonly no",
    ],
  ];
  return [1, 16].flatMap((pipeline) =>
    systems.map(([id, system, server, note]) => {
      const suffix = pipeline === 1 ? "" : `-p${pipeline}`;
      return {
        id: `${id}${suffix}`,
        system: pipeline === 1 ? system : `${system}, -P ${pipeline}`,
        server,
        driver: "redis-benchmark" as const,
        ops: ["get", "set"] as Op[],
        note: `${note}; redis-benchmark -r <resp-keys> -d 100${
          pipeline === 1 ? "" : ` -P ${pipeline}`
        }`,
        pipeline,
        resp: true,
        ceiling: `resp-ceiling${suffix}`,
        redis: `redis-resp${suffix}`,
      };
    })
  );
}

const ROWS: Row[] = [
  {
    id: "ceiling",
    system: "minimal Deno JSON-RPC (ceiling)",
    server: "ceiling",
    driver: "wrk",
    ops: ["get", "set"],
    note: "../shared/bench/minimal_rpc.ts: Deno.serve and a Map, nothing else",
  },
  {
    id: "kvdb-memory",
    system: "KVDB 1 node, memory",
    server: "kvdb-memory",
    driver: "wrk",
    ops: ["get", "set"],
    note: "main.ts node --memory",
  },
  {
    id: "kvdb-sqlite",
    system: "KVDB 1 node, SQLite",
    server: "kvdb-sqlite",
    driver: "wrk",
    ops: ["get", "set"],
    note: "main.ts node --data-dir <tmp> (sync normal)",
  },
  {
    id: "kvdb-3",
    system: "KVDB 3 nodes, N=3 W=2 R=2",
    server: "kvdb-3",
    driver: "wrk",
    ops: ["get", "set"],
    note: "three nodes -R 3 (memory), wrk on the first; CPU of all three",
  },
  {
    id: "redis",
    system: "Redis",
    server: "redis",
    driver: "redis-benchmark",
    ops: ["get", "set"],
    note:
      "redis-server --save '' --appendonly no; redis-benchmark, no pipelining",
  },
  {
    id: "etcd",
    system: "etcd",
    server: "etcd",
    driver: "wrk",
    ops: ["get", "set"],
    note: "etcd v3 JSON gateway (/v3/kv/range linearizable, /v3/kv/put)",
  },
  {
    id: "kvdb-batch",
    system: "KVDB 1 node, memory",
    server: "kvdb-memory",
    driver: "kvdb-bench-socket",
    ops: ["mget", "mset"],
    note: "kvdb bench --mix mget|mset --batch <batch>",
  },
  {
    id: "ceiling-deno",
    system: "minimal Deno JSON-RPC (ceiling)",
    server: "ceiling",
    driver: "kvdb-bench-socket",
    ops: ["get", "set"],
    note: "the same server driven by kvdb bench instead of wrk",
  },
  {
    id: "ceiling-fetch",
    system: "minimal Deno JSON-RPC (ceiling)",
    server: "ceiling",
    driver: "kvdb-bench-fetch",
    ops: ["get"],
    note: "the same server driven by kvdb bench --client fetch",
  },
  ...respRows(),
];

interface Context {
  options: Options;
  ticksPerS: number;
  systems: Map<string, System>;
  /** KVDB node flags this tree supports. */
  kvdbFlags: { memory: boolean; dataDir: boolean; resp: boolean };
  /** redis-benchmark requests per row and op, sized from the last run. */
  redisRate: Map<string, number>;
}

function denoArgs(...rest: string[]): string[] {
  return ["run", ...PERMISSIONS, ...rest];
}

async function startKvdb(
  ctx: Context,
  name: string,
  nodes: number,
  engine: "memory" | "sqlite",
): Promise<System> {
  const ports = Array.from({ length: nodes }, freePort);
  const respPorts = Array.from({ length: nodes }, freePort);
  const members = ports.map((p) => `127.0.0.1:${p}`);
  const procs: Started[] = [];
  for (const [i, port] of ports.entries()) {
    const args = denoArgs(
      `${ROOT}/main.ts`,
      "node",
      "-H",
      "127.0.0.1",
      "-P",
      String(port),
      ...(ctx.kvdbFlags.resp ? ["--resp-port", String(respPorts[i])] : []),
    );
    if (nodes > 1) {
      args.push(
        "-C",
        members.join(","),
        "-R",
        String(nodes),
        "--write-quorum",
        "2",
        "--read-quorum",
        "2",
      );
    }
    if (engine === "memory" && ctx.kvdbFlags.memory) args.push("--memory");
    if (engine === "sqlite") {
      const dir = await Deno.makeTempDir({ prefix: "kvdb-compare-sqlite-" });
      tempDirs.push(dir);
      args.push("--data-dir", dir);
    }
    procs.push(await spawn(`${name}-${i}`, Deno.execPath(), args));
  }
  for (const [i, proc] of procs.entries()) await waitReady(proc, ports[i]!);
  await preloadRpc(`http://127.0.0.1:${ports[0]}/`, ctx.options.keys);
  if (!ctx.kvdbFlags.resp) {
    return { pids: procs.map((p) => p.child.pid), port: ports[0]! };
  }
  await waitReady(procs[0]!, respPorts[0]!);
  await preloadResp(respPorts[0]!, ctx.options.respKeys);
  return {
    pids: procs.map((p) => p.child.pid),
    port: ports[0]!,
    respPort: respPorts[0]!,
  };
}

/**
 * The RESP rows' keys, as redis-benchmark -r names them ("key:%012d"),
 * with preload.ts's 100-byte value: pipelined SETs a thousand at a time,
 * each answered "+OK" (the minimal server speaks nothing more).
 */
async function preloadResp(port: number, keys: number): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const enc = new TextEncoder();
  const ok = enc.encode("+OK\r\n");
  const chunk = new Uint8Array(65536);
  try {
    for (let from = 0; from < keys; from += 1000) {
      const to = Math.min(keys, from + 1000);
      let text = "";
      for (let i = from; i < to; i++) {
        const key = `key:${String(i).padStart(12, "0")}`;
        text +=
          `*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${VALUE.length}\r\n${VALUE}\r\n`;
      }
      const bytes = enc.encode(text);
      for (let w = 0; w < bytes.length;) {
        w += await conn.write(bytes.subarray(w));
      }
      let expected = (to - from) * ok.length;
      while (expected > 0) {
        const n = await conn.read(chunk);
        if (n === null) fail(`RESP preload of port ${port}: connection closed`);
        if (chunk[0] !== ok[0]) {
          fail(
            `RESP preload of port ${port}: ${
              new TextDecoder().decode(chunk.subarray(0, Math.min(n, 200)))
            }`,
          );
        }
        expected -= n;
      }
    }
  } finally {
    conn.close();
  }
}

async function preloadRpc(
  url: string,
  keys: number,
  mode = "rpc",
): Promise<void> {
  await runOk(`preload of ${url}`, Deno.execPath(), [
    "run",
    "--allow-net=127.0.0.1",
    `${SHARED_BENCH}/preload.ts`,
    mode,
    url,
    String(keys),
  ]);
}

async function startSystem(ctx: Context, id: string): Promise<System> {
  switch (id) {
    case "ceiling": {
      const port = freePort();
      const proc = await spawn("ceiling", Deno.execPath(), [
        "run",
        "--allow-net=127.0.0.1",
        `${SHARED_BENCH}/minimal_rpc.ts`,
        String(port),
      ]);
      await waitReady(proc, port);
      await preloadRpc(`http://127.0.0.1:${port}/`, ctx.options.keys);
      return { pids: [proc.child.pid], port };
    }
    case "kvdb-memory":
      return await startKvdb(ctx, "kvdb-memory", 1, "memory");
    case "kvdb-sqlite":
      return await startKvdb(ctx, "kvdb-sqlite", 1, "sqlite");
    case "kvdb-3":
      return await startKvdb(ctx, "kvdb-3", 3, "memory");
    case "redis": {
      const port = freePort();
      const proc = await spawn("redis", "redis-server", [
        "--save",
        "",
        "--appendonly",
        "no",
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--daemonize",
        "no",
      ]);
      await waitReady(proc, port);
      // The same keys and value as preload.ts writes to the others.
      let commands = "";
      for (let i = 0; i < ctx.options.keys; i++) {
        commands += `SET key:${String(i).padStart(12, "0")} ${VALUE}\r\n`;
      }
      await runOk(
        "redis preload",
        "redis-cli",
        ["-p", String(port), "--pipe"],
        {
          stdin: commands,
        },
      );
      await preloadResp(port, ctx.options.respKeys);
      return { pids: [proc.child.pid], port, respPort: port };
    }
    case "resp-ceiling": {
      const port = freePort();
      const proc = await spawn("resp-ceiling", Deno.execPath(), [
        "run",
        "--allow-net=127.0.0.1",
        "--allow-env",
        `${SHARED_BENCH}/minimal_resp.ts`,
        String(port),
      ]);
      await waitReady(proc, port);
      await preloadResp(port, ctx.options.respKeys);
      return { pids: [proc.child.pid], port, respPort: port };
    }
    case "etcd": {
      const port = freePort();
      const peerPort = freePort();
      const dir = await Deno.makeTempDir({ prefix: "kvdb-compare-etcd-" });
      tempDirs.push(dir);
      const peer = `http://127.0.0.1:${peerPort}`;
      const proc = await spawn("etcd", "etcd", [
        "--name",
        "bench",
        "--data-dir",
        dir,
        "--listen-client-urls",
        `http://127.0.0.1:${port}`,
        "--advertise-client-urls",
        `http://127.0.0.1:${port}`,
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        `bench=${peer}`,
      ]);
      await waitReady(proc, port);
      await preloadRpc(`http://127.0.0.1:${port}`, ctx.options.keys, "etcd");
      return { pids: [proc.child.pid], port };
    }
    default:
      return fail(`no system '${id}'`);
  }
}

// ----------------------------------------------------------- measurements

/** One measurement of one row and op. */
interface Sample {
  opsPerS: number;
  /** For mget/mset: keys per second. */
  keysPerS: number | null;
  p50Us: number;
  p99Us: number;
  cpuUsPerOp: number;
  errors: number;
}

interface WrkJson {
  requests: number;
  duration_us: number;
  rps: number;
  err_connect: number;
  err_read: number;
  err_write: number;
  err_status: number;
  err_timeout: number;
  p50_us: number;
  p99_us: number;
}

/** The shared wrk script for a row's op, and the URL path it expects. */
function wrkScript(row: Row, op: Op): { script: string; path: string } {
  // The etcd scripts set their own path (/v3/kv/...) on the base URL.
  if (row.server === "etcd") {
    return {
      script: op === "get" ? "etcd_range.lua" : "etcd_put.lua",
      path: "",
    };
  }
  return { script: op === "get" ? "rpc_get.lua" : "rpc_set.lua", path: "/" };
}

async function measureWrk(ctx: Context, row: Row, op: Op, system: System) {
  const { script, path } = wrkScript(row, op);
  // The get scripts read keys 0 .. NKEYS-1: the preloaded ones.
  const scriptArgs = op === "get" ? [String(ctx.options.keys)] : [];
  const out = await runOk(`wrk on ${row.id} ${op}`, "wrk", [
    "-t1",
    `-c${ctx.options.connections}`,
    `-d${ctx.options.durationS}s`,
    "--latency",
    "-s",
    `${SHARED_BENCH}/wrk/${script}`,
    `http://127.0.0.1:${system.port}${path}`,
    ...(scriptArgs.length > 0 ? ["--", ...scriptArgs] : []),
  ], { env: { BENCH_DIR: SHARED_BENCH } });
  const line = out.split("\n").find((l) => l.startsWith("WRKJSON "));
  if (line === undefined) fail(`wrk printed no WRKJSON line:\n${out}`);
  const j = JSON.parse(line.slice("WRKJSON ".length)) as WrkJson;
  const errors = j.err_connect + j.err_read + j.err_write + j.err_status +
    j.err_timeout;
  // wrk counts non-2xx answers in requests; they are errors, not throughput.
  const good = Math.max(0, j.requests - j.err_status);
  return {
    ops: good,
    opsPerS: good / (j.duration_us / 1e6),
    keysPerS: null,
    p50Us: j.p50_us,
    p99Us: j.p99_us,
    errors,
  };
}

async function measureRedis(
  ctx: Context,
  row: Row,
  op: Op,
  system: System,
) {
  // redis-benchmark runs a request count, not a duration: size it from the
  // last rate seen so that it runs about as long as the others.
  const rateKey = `${row.id}/${op}`;
  const rate = ctx.redisRate.get(rateKey) ?? 40_000;
  const n = Math.max(10_000, Math.round(rate * ctx.options.durationS));
  const keyspace = row.resp
    ? ctx.options.respKeys
    : op === "get"
    ? ctx.options.keys
    : 100_000_000;
  const port = row.resp ? system.respPort : system.port;
  if (port === undefined) fail(`${row.id}: the system has no RESP port`);
  const t0 = performance.now();
  const result = await run("redis-benchmark", [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    ...(row.pipeline !== undefined && row.pipeline > 1
      ? ["-P", String(row.pipeline)]
      : []),
    "-c",
    String(ctx.options.connections),
    "-n",
    String(n),
    "-r",
    String(keyspace),
    "-d",
    "100",
    "-t",
    op,
    "--csv",
  ]);
  const seconds = (performance.now() - t0) / 1000;
  if (result.code !== 0) {
    // redis-benchmark stops at the first error reply (a quorum that an
    // overloaded cluster missed): the row counts as failed, the run goes on.
    const why = (result.stderr || result.stdout).trim().split("\n").at(-1);
    if (!/Error from server/.test(result.stderr + result.stdout)) {
      fail(`redis-benchmark ${op} failed (exit ${result.code}):\n${why}`);
    }
    console.error(`  ${row.id} ${op}: redis-benchmark stopped: ${why}`);
    return {
      ops: 0,
      opsPerS: 0,
      keysPerS: null,
      p50Us: 0,
      p99Us: 0,
      errors: 1,
    };
  }
  const out = result.stdout;
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const line = out.split("\n").find((l) =>
    l.startsWith(`"${op.toUpperCase()}"`)
  );
  if (line === undefined) {
    fail(`redis-benchmark printed no ${op} line:\n${out}`);
  }
  const cells = line.split(",").map((c) => Number(c.replaceAll('"', "")));
  const opsPerS = cells[1]!;
  ctx.redisRate.set(rateKey, opsPerS);
  if (seconds < ctx.options.durationS / 3) {
    console.error(`  (redis-benchmark ran ${seconds.toFixed(1)} s; sizing up)`);
  }
  return {
    ops: n,
    opsPerS,
    keysPerS: null,
    p50Us: cells[4]! * 1000,
    p99Us: cells[6]! * 1000,
    errors: 0,
  };
}

async function measureKvdbBench(
  ctx: Context,
  row: Row,
  op: Op,
  system: System,
) {
  const out = `${workDir}/${row.id}-${op}.json`;
  const batched = op === "mget" || op === "mset";
  await runOk(
    `kvdb bench on ${row.id} ${op}`,
    Deno.execPath(),
    denoArgs(
      `${ROOT}/main.ts`,
      "bench",
      "-H",
      "127.0.0.1",
      "-P",
      String(system.port),
      "-c",
      String(ctx.options.connections),
      "-d",
      `${ctx.options.durationS}s`,
      "--mix",
      op,
      "--keys",
      String(ctx.options.keys),
      "--batch",
      String(ctx.options.batch),
      "--client",
      row.driver === "kvdb-bench-fetch" ? "fetch" : "socket",
      "-o",
      out,
    ),
  );
  const report = JSON.parse(await Deno.readTextFile(out)) as BenchReport;
  return {
    ops: report.total.requests,
    opsPerS: report.total.requestsPerS,
    keysPerS: batched ? report.total.keysPerS : null,
    p50Us: report.total.latencyUs.p50,
    p99Us: report.total.latencyUs.p99,
    errors: report.total.errors,
  };
}

async function measure(ctx: Context, row: Row, op: Op): Promise<Sample> {
  const system = ctx.systems.get(row.server)!;
  const before = await Promise.all(
    system.pids.map((p) => cpuUs(p, ctx.ticksPerS)),
  );
  const m = row.driver === "wrk"
    ? await measureWrk(ctx, row, op, system)
    : row.driver === "redis-benchmark"
    ? await measureRedis(ctx, row, op, system)
    : await measureKvdbBench(ctx, row, op, system);
  const after = await Promise.all(
    system.pids.map((p) => cpuUs(p, ctx.ticksPerS)),
  );
  const cpu = after.reduce((s, v, i) => s + v - before[i]!, 0);
  return {
    opsPerS: m.opsPerS,
    keysPerS: m.keysPerS,
    p50Us: m.p50Us,
    p99Us: m.p99Us,
    cpuUsPerOp: m.ops > 0 ? cpu / m.ops : 0,
    errors: m.errors,
  };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function medianSample(samples: Sample[]): Sample {
  const keys = samples.map((s) => s.keysPerS);
  return {
    opsPerS: median(samples.map((s) => s.opsPerS)),
    keysPerS: keys.every((k) => k !== null) ? median(keys as number[]) : null,
    p50Us: median(samples.map((s) => s.p50Us)),
    p99Us: median(samples.map((s) => s.p99Us)),
    cpuUsPerOp: median(samples.map((s) => s.cpuUsPerOp)),
    errors: samples.reduce((n, s) => n + s.errors, 0),
  };
}

// ----------------------------------------------------------------- report

interface Result {
  row: Row;
  op: Op;
  samples: Sample[];
  median: Sample;
}

const DRIVER_LABEL: Record<Driver, string> = {
  "wrk": "wrk",
  "redis-benchmark": "redis-benchmark",
  "kvdb-bench-socket": "kvdb bench",
  "kvdb-bench-fetch": "kvdb bench (fetch)",
};

function ratio(value: number, peer: number | undefined): string {
  if (peer === undefined || !(peer > 0)) return "–";
  return `${(value / peer).toFixed(2)}×`;
}

function tableRows(results: Result[], options: Options): string[][] {
  const peer = (rowId: string, op: Op) =>
    results.find((r) => r.row.id === rowId && r.op === op)?.median.opsPerS;
  return results.map(({ row, op, median: m }) => {
    const single = op === "get" || op === "set";
    const ops = m.keysPerS !== null
      ? `${formatCount(m.opsPerS)} (${formatCount(m.keysPerS)} keys/s)`
      : formatCount(m.opsPerS);
    return [
      row.system,
      DRIVER_LABEL[row.driver],
      op === "mget" || op === "mset" ? `${op} ×${options.batch}` : op,
      ops,
      formatUs(m.p50Us),
      formatUs(m.p99Us),
      m.cpuUsPerOp.toFixed(1),
      single ? ratio(m.opsPerS, peer(row.ceiling ?? "ceiling", op)) : "–",
      single ? ratio(m.opsPerS, peer(row.redis ?? "redis", op)) : "–",
      single ? ratio(m.opsPerS, peer("etcd", op)) : "–",
      m.errors > 0 ? String(m.errors) : "0",
    ];
  });
}

const HEADER = [
  "system",
  "load generator",
  "op",
  "ops/s",
  "p50",
  "p99",
  "server CPU µs/op",
  "× ceiling",
  "× Redis",
  "× etcd",
  "errors",
];

function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    line(header),
    line(header.map((_, i) => (i < 3 ? "---" : "---:"))),
    ...rows.map(line),
  ].join("\n");
}

interface Facts {
  date: string;
  cpus: number;
  cpuModel: string;
  kernel: string;
  deno: string;
  redis: string;
  etcd: string;
  wrk: string;
}

async function facts(): Promise<Facts> {
  const version = async (cmd: string, args: string[], pattern: RegExp) => {
    const out = await run(cmd, args).catch(() => ({ stdout: "", stderr: "" }));
    return pattern.exec(out.stdout + out.stderr)?.[1] ?? "unknown";
  };
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    cpus: navigator.hardwareConcurrency,
    cpuModel: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    redis: await version("redis-server", ["--version"], /v=(\S+)/),
    etcd: await version("etcd", ["--version"], /etcd Version: (\S+)/),
    wrk: await version("wrk", ["-v"], /wrk (\S+)/),
  };
}

interface Check {
  target: string;
  measured: string;
  met: boolean | null;
}

/** The issue's targets, checked against this run's medians. */
function checks(results: Result[], options: Options): Check[] {
  const get = (id: string, op: Op) =>
    results.find((r) => r.row.id === id && r.op === op)?.median;
  const out: Check[] = [];
  const versus = (
    target: string,
    id: string,
    op: Op,
    peerId: string,
    min: number,
  ) => {
    const a = get(id, op);
    const b = get(peerId, op);
    if (a === undefined || b === undefined) return;
    const r = a.opsPerS / b.opsPerS;
    out.push({ target, measured: `${r.toFixed(2)}×`, met: r >= min });
  };
  versus(
    "one node get ≥ 0.9× the minimal server",
    "kvdb-memory",
    "get",
    "ceiling",
    0.9,
  );
  versus(
    "one node set ≥ 0.85× the minimal server",
    "kvdb-memory",
    "set",
    "ceiling",
    0.85,
  );
  versus(
    "one node get ≥ 0.95× Redis GET (no pipelining)",
    "kvdb-memory",
    "get",
    "redis",
    0.95,
  );
  for (const suffix of ["", "-p16"]) {
    const how = suffix === "" ? "unpipelined" : "-P 16";
    for (const op of ["get", "set"] as const) {
      versus(
        `RESP one node memory ${op} ≥ 0.9× the minimal RESP server (${how})`,
        `kvdb-memory-resp${suffix}`,
        op,
        `resp-ceiling${suffix}`,
        0.9,
      );
      const a = get(`kvdb-memory-resp${suffix}`, op);
      const r = get(`redis-resp${suffix}`, op);
      if (a !== undefined && r !== undefined) {
        out.push({
          target: `RESP one node memory ${op} next to Redis (${how})`,
          measured: `${(a.opsPerS / r.opsPerS).toFixed(2)}×`,
          met: null,
        });
      }
    }
  }
  versus("one node get ≥ 5× etcd", "kvdb-memory", "get", "etcd", 5);
  versus("one node set ≥ 5× etcd", "kvdb-memory", "set", "etcd", 5);
  for (const op of ["mget", "mset"] as const) {
    const m = get("kvdb-batch", op);
    if (m?.keysPerS != null) {
      out.push({
        target: `${op} of ${options.batch} keys per call ≥ 400k keys/s`,
        measured: `${formatCount(m.keysPerS)} keys/s`,
        met: options.batch === 100 ? m.keysPerS >= 400_000 : null,
      });
    }
  }
  const one = get("kvdb-memory", "set");
  const three = get("kvdb-3", "set");
  if (one !== undefined && three !== undefined && one.cpuUsPerOp > 0) {
    const r = three.cpuUsPerOp / one.cpuUsPerOp;
    out.push({
      target: "3 nodes N=3 W=2: CPU per write ≤ 2.5× N=1",
      measured: `${r.toFixed(2)}× (${three.cpuUsPerOp.toFixed(1)} vs ${
        one.cpuUsPerOp.toFixed(1)
      } µs)`,
      met: r <= 2.5,
    });
  }
  for (const id of ["kvdb-memory", "kvdb-3"]) {
    for (const op of ["get", "set"] as const) {
      const m = get(id, op);
      if (m === undefined) continue;
      out.push({
        target: `${id} ${op}: p99 ≤ 5 ms at ${options.connections} connections`,
        measured: formatUs(m.p99Us),
        met: options.connections === 50 ? m.p99Us <= 5000 : null,
      });
    }
  }
  return out;
}

function renderMarkdown(
  intro: string,
  results: Result[],
  options: Options,
  f: Facts,
  skipped: string[],
): string {
  const rows = tableRows(results, options);
  const mark = (met: boolean | null) =>
    met === null ? "n/a" : met ? "yes" : "**no**";
  const rounds = results.flatMap(({ row, op, samples }) =>
    samples.map((s, i) => [
      row.system,
      DRIVER_LABEL[row.driver],
      op,
      String(i + 1),
      formatCount(s.opsPerS),
      formatUs(s.p50Us),
      formatUs(s.p99Us),
      s.cpuUsPerOp.toFixed(1),
    ])
  );
  const drivers = ["get", "set"].flatMap((op) => {
    const wrk = results.find((r) => r.row.id === "ceiling" && r.op === op);
    const socket = results.find((r) =>
      r.row.id === "ceiling-deno" && r.op === op
    );
    const fetch = results.find((r) =>
      r.row.id === "ceiling-fetch" && r.op === op
    );
    if (wrk === undefined) return [];
    const line = (name: string, r: Result | undefined) =>
      r === undefined ? [] : [[
        name,
        op,
        formatCount(r.median.opsPerS),
        `${(r.median.opsPerS / wrk.median.opsPerS).toFixed(2)}×`,
        formatUs(r.median.p99Us),
      ]];
    return [
      ...line("wrk (C, 1 thread)", wrk),
      ...line("kvdb bench (socket client)", socket),
      ...line("kvdb bench --client fetch", fetch),
    ];
  });
  return [
    intro.trimEnd(),
    "",
    MARKER,
    "",
    "## Results",
    "",
    `Measured ${f.date} with:`,
    "",
    "```sh",
    options.command,
    "```",
    "",
    `Machine: ${f.cpus} logical CPUs (${f.cpuModel}), Linux ${f.kernel}; ` +
    `Deno ${f.deno}, Redis ${f.redis}, etcd ${f.etcd}, wrk ${f.wrk}. ` +
    "Servers and load generators share the same CPUs.",
    "",
    `Each measurement: ${options.durationS} s, ${options.connections} ` +
    `connections, ${formatCount(options.keys)} preloaded keys of 16 bytes, ` +
    `100-byte values; get reads a random preloaded key, set writes a random ` +
    `new key (wrk, redis-benchmark) or a random preloaded key (kvdb bench). ` +
    `${options.rounds} rounds, systems interleaved (the order reversed every ` +
    `other round); the table shows the median of the rounds. Server CPU is ` +
    `utime + stime from /proc/<pid>/stat over the measurement (all three ` +
    `processes for the 3-node cluster) divided by the requests served. ` +
    `The RESP rows run redis-benchmark -t get,set -r ` +
    `${formatCount(options.respKeys)} -d 100 -c ${options.connections} ` +
    `against ${formatCount(options.respKeys)} preloaded keys, unpipelined ` +
    `and with -P 16; their × ceiling is against the minimal Deno RESP ` +
    `server and × Redis against Redis, each at the same pipelining.`,
    "",
    markdownTable(HEADER, rows),
    "",
    ...(skipped.length > 0 ? [`Not measured: ${skipped.join("; ")}.`, ""] : []),
    "### Against the targets (issues 5 and 15)",
    "",
    markdownTable(
      ["target", "measured", "met"],
      checks(results, options).map((c) => [c.target, c.measured, mark(c.met)]),
    ),
    "",
    "Memory per key (≤ 200 bytes overhead at 1M keys) is not measured by this " +
    "script.",
    "",
    "### Load generators on the ceiling server",
    "",
    "The same minimal server under three load generators; a generator that " +
    "reaches less than wrk measures itself, not the server.",
    "",
    markdownTable(["load generator", "op", "ops/s", "× wrk", "p99"], drivers),
    "",
    "### Systems",
    "",
    ...ROWS.filter((r) => results.some((x) => x.row.id === r.id)).map((r) =>
      `- **${r.system}** (${DRIVER_LABEL[r.driver]}): ${r.note}.`
    ),
    "",
    "### Every round",
    "",
    markdownTable(
      [
        "system",
        "load generator",
        "op",
        "round",
        "ops/s",
        "p50",
        "p99",
        "CPU µs/op",
      ],
      rounds,
    ),
    "",
  ].join("\n");
}

async function readIntro(path: string): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    const at = text.indexOf(MARKER);
    // No marker yet: the whole file is hand-written, and all of it stays.
    return at >= 0 ? text.slice(0, at) : text;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return DEFAULT_INTRO;
    throw error;
  }
}

// ------------------------------------------------------------------- main

async function which(tool: string): Promise<boolean> {
  const out = await run("sh", ["-c", `command -v ${tool}`]).catch(() => null);
  return out?.code === 0;
}

async function ensureTools(install: boolean): Promise<void> {
  const missing = [];
  for (const tool of TOOLS) if (!await which(tool)) missing.push(tool);
  if (missing.length === 0) return;
  if (!install) fail(`missing ${missing.join(", ")} (and --no-install given)`);
  if (Deno.uid() !== 0) {
    fail(
      `missing ${missing.join(", ")}; install them with: ` +
        `sudo apt-get install -y ${DEBIAN_PACKAGES.join(" ")}`,
    );
  }
  console.error(
    `installing ${DEBIAN_PACKAGES.join(" ")} (missing ${missing.join(", ")})`,
  );
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await runOk("apt-get update", "apt-get", ["update"], { env });
  await runOk("apt-get install", "apt-get", [
    "install",
    "-y",
    ...DEBIAN_PACKAGES,
  ], { env });
  for (const tool of TOOLS) {
    if (!await which(tool)) fail(`${tool} still missing after apt-get install`);
  }
}

async function checkShared(): Promise<void> {
  for (const file of SHARED_FILES) {
    try {
      await Deno.stat(`${SHARED_BENCH}/${file}`);
    } catch {
      fail(
        `cannot find ${SHARED_BENCH}/${file}: bench/compare needs the ` +
          "project's shared workspace next to the repository (../shared/bench " +
          "holds minimal_rpc.ts, preload.ts and the wrk scripts)",
      );
    }
  }
}

async function compare(options: Options): Promise<void> {
  await checkShared();
  await ensureTools(options.install);
  workDir = await Deno.makeTempDir({ prefix: "kvdb-compare-" });
  tempDirs.push(workDir);
  const help = await run(
    Deno.execPath(),
    denoArgs(`${ROOT}/main.ts`, "node", "--help"),
  );
  const ticks = Number((await run("getconf", ["CLK_TCK"])).stdout.trim()) ||
    100;
  const ctx: Context = {
    options,
    ticksPerS: ticks,
    systems: new Map(),
    kvdbFlags: {
      memory: help.stdout.includes("--memory"),
      dataDir: help.stdout.includes("--data-dir"),
      resp: help.stdout.includes("--resp-port"),
    },
    redisRate: new Map(),
  };
  const skipped: string[] = [];
  let rows = ROWS.filter((r) =>
    options.only === null || options.only.has(r.id)
  );
  if (!ctx.kvdbFlags.dataDir) {
    rows = rows.filter((r) => r.server !== "kvdb-sqlite");
    skipped.push("KVDB on SQLite (this tree's `node` has no --data-dir)");
  }
  if (!ctx.kvdbFlags.resp) {
    rows = rows.filter((r) =>
      !r.resp || r.server === "resp-ceiling" ||
      r.server === "redis"
    );
    skipped.push("KVDB over RESP (this tree's `node` has no --resp-port)");
  }
  if (!ctx.kvdbFlags.memory) {
    for (const r of rows) r.note = r.note.replace(" --memory", "");
  }
  for (const server of new Set(rows.map((r) => r.server))) {
    console.error(`starting ${server}`);
    ctx.systems.set(server, await startSystem(ctx, server));
  }

  const ops: Op[] = ["get", "set", "mget", "mset"];
  const plan = ops.flatMap((op) =>
    rows.filter((r) => r.ops.includes(op)).map((row) => ({ row, op }))
  );
  if (options.warmupS > 0) {
    console.error(`warming up: ${options.warmupS} s per row`);
    for (const { row, op } of plan) {
      await measure(
        { ...ctx, options: { ...options, durationS: options.warmupS } },
        row,
        op,
      );
    }
  }
  const samples = new Map<string, Sample[]>();
  for (let round = 1; round <= options.rounds; round++) {
    // Reversed every other round so that drift in the machine's load does
    // not always favour the same system.
    const order = round % 2 === 1 ? plan : [...plan].reverse();
    for (const { row, op } of order) {
      const sample = await measure(ctx, row, op);
      const key = `${row.id}/${op}`;
      samples.set(key, [...(samples.get(key) ?? []), sample]);
      console.error(
        `round ${round}/${options.rounds}  ${row.system} via ${
          DRIVER_LABEL[row.driver]
        }, ${op}: ` +
          `${formatCount(sample.opsPerS)} ops/s  p50 ${
            formatUs(sample.p50Us)
          }  ` +
          `p99 ${formatUs(sample.p99Us)}  ${
            sample.cpuUsPerOp.toFixed(1)
          } µs CPU/op` +
          (sample.errors > 0 ? `  ${sample.errors} errors` : ""),
      );
    }
  }
  const results: Result[] = plan.map(({ row, op }) => {
    const s = samples.get(`${row.id}/${op}`)!;
    return { row, op, samples: s, median: medianSample(s) };
  });
  console.log(formatTable(HEADER, tableRows(results, options)));
  if (options.out !== null) {
    const f = await facts();
    const intro = await readIntro(options.out);
    await Deno.writeTextFile(
      options.out,
      renderMarkdown(intro, results, options, f, skipped),
    );
    // The project's formatter owns the layout of its Markdown: format the
    // file so that `deno fmt --check` stays clean after every run.
    await runOk("deno fmt", Deno.execPath(), ["fmt", "--quiet", options.out]);
    console.error(`wrote ${options.out}`);
  }
}

if (import.meta.main) {
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    console.error("interrupted: stopping every process started");
    stopAll().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  let code = 0;
  try {
    await compare(parseOptions(Deno.args));
  } catch (error) {
    if (!interrupted) {
      console.error(
        `bench/compare: ${
          error instanceof CompareError
            ? error.message
            : (error as Error)?.stack ?? error
        }`,
      );
    }
    code = 1;
  } finally {
    await stopAll();
  }
  Deno.exit(code);
}
