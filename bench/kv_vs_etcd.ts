/**
 * bench/kv_vs_etcd: KV databases beside etcd, on this machine, in one
 * interleaved run, with the same load from wrk (50 connections):
 * commits (`kv_atomic` setting a new key; etcd's `/v3/kv/put`) and
 * linearizable reads (`kv_get` after ReadIndex; etcd's `/v3/kv/range`,
 * which is ReadIndex too) of 10,000 preloaded keys, each system as one
 * node and as three nodes on loopback, load sent to the leader.
 *
 * ```sh
 * deno run -A bench/kv_vs_etcd.ts              # 10 s per measurement, 2 rounds
 * deno run -A bench/kv_vs_etcd.ts --quick      # 3 s, 1 round
 * ```
 *
 * Needs `etcd` (Debian's etcd-server) and `wrk`; it installs them with
 * apt-get when it can. Prints a Markdown table; figures are ratios taken
 * in one run (the machine may be shared).
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { freePorts, MAIN, PERMISSIONS } from "../tests/_helpers.ts";
import { rankMembers } from "../src/kv/mod.ts";

const args = parseArgs(Deno.args, {
  boolean: ["quick"],
  string: ["duration", "rounds"],
});
const DURATION_S = Number(args.duration ?? (args.quick ? 3 : 10));
const ROUNDS = Number(args.rounds ?? (args.quick ? 1 : 2));
const CONNECTIONS = 50;
const KEYS = 10_000;
/** The shared wrk hooks (report.lua, b64.lua, etcd_*.lua) sit beside the repository. */
const SHARED = [
  Deno.env.get("KVDB_SHARED_BENCH"),
  new URL("../../shared/bench", import.meta.url).pathname,
  new URL("../../../shared/bench", import.meta.url).pathname,
].find((d) => {
  try {
    return d !== undefined && Deno.statSync(`${d}/wrk/report.lua`).isFile;
  } catch {
    return false;
  }
}) ?? "../shared/bench";
const HERE = new URL(".", import.meta.url).pathname;

async function have(tool: string): Promise<boolean> {
  try {
    return (await new Deno.Command(tool, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output()).success ||
      true;
  } catch {
    return false;
  }
}

for (const [tool, pkg] of [["etcd", "etcd-server"], ["wrk", "wrk"]]) {
  if (!(await have(tool!))) {
    console.error(`installing ${pkg}`);
    await new Deno.Command("apt-get", { args: ["install", "-y", "-qq", pkg!] })
      .output();
  }
}

/** A directory with wrk's scripts: the shared hooks and ours. */
const WRK_DIR = Deno.makeTempDirSync({ prefix: "kvdb-bench-wrk-" });
Deno.mkdirSync(`${WRK_DIR}/wrk`);
for (const f of ["report.lua", "b64.lua", "etcd_put.lua", "etcd_range.lua"]) {
  Deno.copyFileSync(`${SHARED}/wrk/${f}`, `${WRK_DIR}/wrk/${f}`);
}
for (const f of ["kv_atomic.lua", "kv_get.lua"]) {
  Deno.copyFileSync(`${HERE}/wrk/${f}`, `${WRK_DIR}/wrk/${f}`);
}

interface System {
  name: string;
  /** The URL load goes to (the leader). */
  url: string;
  /** Finds the leader again: leadership may move (KVDB hands it to a database's preferred voter). */
  leader: () => Promise<string>;
  pids: Deno.ChildProcess[];
  dirs: string[];
  put: string;
  get: string;
}

async function poll(what: string, check: () => Promise<boolean>, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function post(
  url: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  const r = await fetch(url, { method: "POST", body: JSON.stringify(body) });
  const j = await r.json();
  if (!r.ok) throw new Error(`${url}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}

async function startKvdb(count: number): Promise<System> {
  const ports = freePorts(count);
  const members = ports.map((p) => `127.0.0.1:${p}`).join(",");
  const dirs = ports.map(() =>
    Deno.makeTempDirSync({ prefix: "kvdb-bench-kv-" })
  );
  const pids = ports.map((p, i) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...PERMISSIONS,
        MAIN,
        "node",
        "-H",
        "127.0.0.1",
        "-P",
        String(p),
        "-C",
        members,
        "--data-dir",
        dirs[i]!,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn()
  );
  const findLeader = async () => {
    let found = "";
    await poll("a KV leader", async () => {
      for (const p of ports) {
        const info = await post(`http://127.0.0.1:${p}/`, {
          function: "cluster_info",
        });
        const db = ((info.result as Record<string, unknown>).kv as {
          databases: { role: string }[];
        }).databases[0];
        if (db?.role === "leader") found = `http://127.0.0.1:${p}/`;
      }
      return found !== "";
    });
    return found;
  };
  // A database's leadership moves to its preferred voter once that voter
  // has caught up: wait for it, so that no hand-over falls in a measurement.
  const preferred = `http://${
    rankMembers("default", ports.map((p) => `127.0.0.1:${p}`))[0]
  }/`;
  await poll(
    "the preferred leader",
    async () => (await findLeader()) === preferred,
    60_000,
  );
  const leader = await findLeader();
  for (let i = 0; i < KEYS; i += 1000) {
    const muts = [];
    for (let j = i; j < Math.min(KEYS, i + 1000); j++) {
      muts.push({ type: "set", key: ["key", j], value: "v".repeat(100) });
    }
    await post(leader, { function: "kv_atomic", args: [[], muts] });
  }
  return {
    name: `KVDB, ${count} node${count > 1 ? "s" : ""}`,
    url: leader,
    leader: findLeader,
    pids,
    dirs,
    put: "kv_atomic.lua",
    get: "kv_get.lua",
  };
}

async function startEtcd(count: number): Promise<System> {
  const ports = freePorts(count * 2);
  const names = Array.from({ length: count }, (_, i) => `e${i}`);
  const cluster = names.map((n, i) =>
    `${n}=http://127.0.0.1:${ports[2 * i + 1]}`
  ).join(",");
  const dirs = names.map(() =>
    Deno.makeTempDirSync({ prefix: "kvdb-bench-etcd-" })
  );
  const pids = names.map((n, i) =>
    new Deno.Command("etcd", {
      args: [
        "--name",
        n,
        "--data-dir",
        dirs[i]!,
        "--listen-client-urls",
        `http://127.0.0.1:${ports[2 * i]}`,
        "--advertise-client-urls",
        `http://127.0.0.1:${ports[2 * i]}`,
        "--listen-peer-urls",
        `http://127.0.0.1:${ports[2 * i + 1]}`,
        "--initial-advertise-peer-urls",
        `http://127.0.0.1:${ports[2 * i + 1]}`,
        "--initial-cluster",
        cluster,
        "--initial-cluster-state",
        "new",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn()
  );
  const findLeader = async () => {
    let found = "";
    await poll("an etcd leader", async () => {
      for (let i = 0; i < count; i++) {
        const url = `http://127.0.0.1:${ports[2 * i]}`;
        const s = await post(`${url}/v3/maintenance/status`, {});
        const header = s.header as { member_id: string };
        if (s.leader !== undefined && s.leader === header.member_id) {
          found = url;
        }
      }
      return found !== "";
    });
    return found;
  };
  const leader = await findLeader();
  const b64 = (s: string) => btoa(s);
  const queue = Array.from({ length: KEYS }, (_, i) => i);
  await Promise.all(Array.from({ length: 50 }, async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
      await post(`${leader}/v3/kv/put`, {
        key: b64(`key:${String(i).padStart(12, "0")}`),
        value: b64("v".repeat(100)),
      });
    }
  }));
  return {
    name: `etcd, ${count} member${count > 1 ? "s" : ""}`,
    url: leader,
    leader: findLeader,
    pids,
    dirs,
    put: "etcd_put.lua",
    get: "etcd_range.lua",
  };
}

async function wrk(
  url: string,
  script: string,
): Promise<{ rps: number; p99: number; errors: number }> {
  const out = await new Deno.Command("wrk", {
    args: [
      "-t1",
      `-c${CONNECTIONS}`,
      `-d${DURATION_S}s`,
      "--latency",
      "-s",
      `${WRK_DIR}/wrk/${script}`,
      url,
      "--",
      String(KEYS),
    ],
    env: { BENCH_DIR: WRK_DIR },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const line = text.split("\n").find((l) => l.startsWith("WRKJSON "));
  if (line === undefined) throw new Error(`wrk printed no report: ${text}`);
  const j = JSON.parse(line.slice(8));
  return {
    rps: j.rps,
    p99: j.p99_us,
    errors: j.err_connect + j.err_read + j.err_write + j.err_status +
      j.err_timeout,
  };
}

async function stop(s: System) {
  for (const p of s.pids) {
    try {
      p.kill("SIGKILL");
    } catch { /* gone */ }
    await p.status;
  }
  for (const d of s.dirs) Deno.removeSync(d, { recursive: true });
}

const results = new Map<
  string,
  {
    put: number[];
    get: number[];
    p99put: number[];
    p99get: number[];
    errors: number;
  }
>();
for (const count of [1, 3]) {
  const systems = [await startKvdb(count), await startEtcd(count)];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Interleaved: each system in turn, the order swapped every round.
      const order = round % 2 === 0 ? systems : [...systems].reverse();
      for (const s of order) {
        const r = results.get(s.name) ??
          { put: [], get: [], p99put: [], p99get: [], errors: 0 };
        const put = await wrk(await s.leader(), s.put);
        const get = await wrk(await s.leader(), s.get);
        r.put.push(put.rps);
        r.get.push(get.rps);
        r.p99put.push(put.p99);
        r.p99get.push(get.p99);
        r.errors += put.errors + get.errors;
        results.set(s.name, r);
        console.error(
          `${s.name}: commits ${put.rps.toFixed(0)}/s, reads ${
            get.rps.toFixed(0)
          }/s`,
        );
      }
    }
  } finally {
    for (const s of systems) await stop(s);
  }
}
const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const lines = [
  `| system | commits/s | p99 commit | linearizable reads/s | p99 read | errors |`,
  `|---|---:|---:|---:|---:|---:|`,
];
for (const [name, r] of results) {
  lines.push(
    `| ${name} | ${median(r.put).toFixed(0)} | ${
      (median(r.p99put) / 1000).toFixed(1)
    } ms | ${median(r.get).toFixed(0)} | ${
      (median(r.p99get) / 1000).toFixed(1)
    } ms | ${r.errors} |`,
  );
}
for (const n of [1, 3]) {
  const k = results.get(`KVDB, ${n} node${n > 1 ? "s" : ""}`)!;
  const e = results.get(`etcd, ${n} member${n > 1 ? "s" : ""}`)!;
  lines.push(
    "",
    `${n} node(s): commits ${
      (median(k.put) / median(e.put)).toFixed(2)
    }x etcd's puts (target ≥ 1x); ` +
      `reads ${
        (median(k.get) / median(e.get)).toFixed(2)
      }x etcd's linearizable ranges (target ≥ 2x)`,
  );
}
console.log(lines.join("\n"));
Deno.removeSync(WRK_DIR, { recursive: true });
