/**
 * KV databases under real faults, with real processes: the leader killed
 * with SIGKILL and restarted, stopped with SIGSTOP, and cut off from the
 * other voters by iptables in network namespaces (root only). While it
 * happens, 50 clients sum into one counter through all three nodes and a
 * few more run a register workload; afterwards the counter must equal
 * the acknowledged sums plus at most those of unknown outcome, the
 * versionstamps must follow real time, and the register history must be
 * linearizable (the simulator's checker).
 */

import { assert, assertEquals } from "@std/assert";
import {
  checkPerKey,
  type Operation,
  type RegisterInput,
  registerModel,
  type RegisterOutput,
} from "./raft_sim/linearizability.ts";
import { freePorts, NodeProcess, waitFor } from "./_helpers.ts";
import { NamespacedCluster, namespacesUnavailable } from "./_netns.ts";

type Op = Operation<RegisterInput, RegisterOutput> & { key: string };

const COUNTER_CLIENTS = 50;
const SUMS_PER_CLIENT = 100;
const REGISTER_CLIENTS = 4;
const REQUEST_MS = 10_000;

/** One JSON-RPC call with a deadline; the result, or undefined on any failure. */
async function call(
  address: string,
  fn: string,
  args: unknown[],
): Promise<Record<string, unknown> | undefined> {
  try {
    const response = await fetch(`http://${address}/`, {
      method: "POST",
      body: JSON.stringify({ function: fn, args }),
      signal: AbortSignal.timeout(REQUEST_MS),
    });
    const body = await response.json();
    return response.ok ? body.result : undefined;
  } catch {
    return undefined;
  }
}

interface Commit {
  call: number;
  ret: number;
  vs: string;
}

/** The load, started at once; `done()` waits for it and returns what it saw. */
function load(addresses: string[]) {
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const commits: Commit[] = [];
  const history: Op[] = [];
  let acked = 0;
  let unknown = 0;
  let running = true;
  const counter = Array.from({ length: COUNTER_CLIENTS }, async (_, c) => {
    let node = c % addresses.length;
    for (let i = 0; i < SUMS_PER_CLIENT; i++) {
      const start = now();
      const r = await call(addresses[node]!, "kv_atomic", [[], [
        { type: "sum", key: ["counter"], value: 1 },
      ]]);
      if (r?.ok === true) {
        acked++;
        commits.push({ call: start, ret: now(), vs: r.versionstamp as string });
      } else {
        unknown++;
        node = (node + 1) % addresses.length; // try another node next
      }
    }
  });
  let nextValue = 1;
  const register = Array.from({ length: REGISTER_CLIENTS }, async (_, c) => {
    let node = c % addresses.length;
    while (running) {
      const key = `r${Math.floor(Math.random() * 3)}`;
      const start = now();
      const dice = Math.random();
      if (dice < 0.5) {
        const r = await call(addresses[node]!, "kv_get", [[key]]);
        if (r === undefined) {
          node = (node + 1) % addresses.length;
          continue;
        }
        history.push({
          client: c,
          key,
          call: start,
          ret: now(),
          input: { op: "read" },
          output: { op: "read", value: r.value as number | null },
        });
        if (dice < 0.25) {
          // Compare-and-set against what was just read.
          const value = nextValue++;
          const op: Op = {
            client: c,
            key,
            call: now(),
            ret: Infinity,
            input: { op: "cas", expected: r.value as number | null, value },
            output: undefined,
          };
          history.push(op);
          const w = await call(addresses[node]!, "kv_atomic", [
            [{ key: [key], versionstamp: r.versionstamp }],
            [{ type: "set", key: [key], value }],
          ]);
          if (w !== undefined) {
            op.ret = now();
            op.output = { op: "cas", ok: w.ok === true };
            if (w.ok) {
              commits.push({
                call: op.call,
                ret: op.ret,
                vs: w.versionstamp as string,
              });
            }
          }
        }
      } else {
        const value = nextValue++;
        const op: Op = {
          client: c,
          key,
          call: start,
          ret: Infinity,
          input: { op: "write", value },
          output: undefined,
        };
        history.push(op);
        const w = await call(addresses[node]!, "kv_set", [[key], value]);
        if (w?.ok === true) {
          op.ret = now();
          op.output = { op: "write" };
          commits.push({
            call: start,
            ret: op.ret,
            vs: w.versionstamp as string,
          });
        } else {
          node = (node + 1) % addresses.length;
        }
      }
    }
  });
  return {
    now,
    commits,
    async done() {
      await Promise.all(counter);
      running = false;
      await Promise.all(register);
      return { acked, unknown, commits, history };
    },
  };
}

async function leaderOf(addresses: string[]): Promise<string> {
  let leader = "";
  await waitFor("a leader", async () => {
    for (const a of addresses) {
      const info = await call(a, "cluster_info", []);
      const db = (info?.kv as { databases: { role: string; leader: string }[] })
        ?.databases[0];
      if (db?.role === "leader") {
        leader = a;
        return true;
      }
    }
    return false;
  });
  return leader;
}

/** The checks every fault test ends with. */
async function verify(
  addresses: string[],
  result: Awaited<ReturnType<ReturnType<typeof load>["done"]>>,
) {
  let final = -1;
  await waitFor("the counter to be read", async () => {
    for (const a of addresses) {
      const r = await call(a, "kv_get", [["counter"]]);
      if (r !== undefined) {
        final = Number((r.value as { value: string }).value);
        return true;
      }
    }
    return false;
  }, 30_000);
  assert(
    final >= result.acked && final <= result.acked + result.unknown,
    `counter ${final}: ${result.acked} acknowledged, ${result.unknown} unknown`,
  );
  // Versionstamps follow real time.
  const byRet = [...result.commits].sort((a, b) => a.ret - b.ret);
  const byCall = [...result.commits].sort((a, b) => a.call - b.call);
  let maxVs = "";
  let j = 0;
  for (const b of byCall) {
    while (j < byRet.length && byRet[j]!.ret < b.call) {
      if (byRet[j]!.vs > maxVs) maxVs = byRet[j]!.vs;
      j++;
    }
    assert(b.vs > maxVs, `versionstamp ${b.vs} after ${maxVs} went backwards`);
  }
  assertEquals(checkPerKey(registerModel, result.history), []);
  return final;
}

function nodesOnLoopback(dirs: string[]) {
  const ports = freePorts(3);
  const members = ports.map((p) => `127.0.0.1:${p}`).join(",");
  return ports.map((p, i) =>
    new NodeProcess(p, ["-C", members], { dataDir: dirs[i]! })
  );
}

Deno.test("faults: the leader killed with SIGKILL and restarted: no acknowledged sum lost, none doubled", async () => {
  const dirs = [0, 1, 2].map(() =>
    Deno.makeTempDirSync({ prefix: "kvdb-fault-" })
  );
  const nodes = nodesOnLoopback(dirs);
  try {
    await Promise.all(nodes.map((n) => n.ready()));
    const addresses = nodes.map((n) => n.address);
    const leader = await leaderOf(addresses);
    const running = load(addresses);
    await waitFor("load to start", () => running.commits.length > 200);
    const victim = nodes.find((n) => n.address === leader)!;
    const killedAt = running.now();
    await victim.kill("SIGKILL");
    await waitFor(
      "a commit started after the kill",
      () => running.commits.some((c) => c.call > killedAt),
      20_000,
    );
    const resumed = Math.min(
      ...running.commits.filter((c) => c.call > killedAt).map((c) => c.ret),
    ) - killedAt;
    console.log(
      `writes resumed ${Math.round(resumed)} ms after the leader's kill`,
    );
    await victim.restart();
    const result = await running.done();
    const final = await verify(addresses, result);
    console.log(
      `counter ${final}: ${result.acked} acknowledged, ${result.unknown} unknown`,
    );
  } finally {
    await Promise.all(nodes.map((n) => n.kill()));
    for (const d of dirs) Deno.removeSync(d, { recursive: true });
  }
});

Deno.test("faults: the leader stopped with SIGSTOP and resumed: the others go on, it steps down", async () => {
  const dirs = [0, 1, 2].map(() =>
    Deno.makeTempDirSync({ prefix: "kvdb-fault-" })
  );
  const nodes = nodesOnLoopback(dirs);
  try {
    await Promise.all(nodes.map((n) => n.ready()));
    const addresses = nodes.map((n) => n.address);
    const leader = await leaderOf(addresses);
    const running = load(addresses);
    await waitFor("load to start", () => running.commits.length > 200);
    const victim = nodes.find((n) => n.address === leader)!;
    victim.signal("SIGSTOP");
    const stoppedAt = running.now();
    await waitFor(
      "commits without the stopped leader",
      () => running.commits.filter((c) => c.call > stoppedAt).length > 50,
      20_000,
    );
    victim.signal("SIGCONT");
    const result = await running.done();
    await verify(addresses, result);
    assert((await leaderOf(addresses)) !== "");
  } finally {
    for (const n of nodes) {
      try {
        n.signal("SIGCONT");
      } catch { /* already gone */ }
    }
    await Promise.all(nodes.map((n) => n.kill()));
    for (const d of dirs) Deno.removeSync(d, { recursive: true });
  }
});

// ------------------------------------------------------------ namespaces

const nsUnavailable = await namespacesUnavailable();

Deno.test({
  name:
    "faults: the leader cut off from the other voters by iptables, in network namespaces",
  ignore: nsUnavailable !== undefined,
  async fn() {
    const cluster = new NamespacedCluster(3, "kv");
    const { addresses } = cluster;
    try {
      await cluster.create();
      for (let i = 0; i < 3; i++) cluster.start(i, []);
      await waitFor(
        "the nodes to serve",
        async () =>
          (await Promise.all(addresses.map((a) => call(a, "ping", []))))
            .every((r) => (r as unknown) === "pong"),
        30_000,
      );
      const leader = await leaderOf(addresses);
      const li = addresses.indexOf(leader);
      const running = load(addresses);
      await waitFor(
        "load to start",
        () => running.commits.length > 200,
        30_000,
      );
      // Cut the leader off from the other nodes; clients (the bridge's
      // address) still reach it: it must neither commit nor serve stale reads.
      await cluster.cut(li, [0, 1, 2].filter((i) => i !== li));
      const cutAt = running.now();
      await waitFor(
        "commits on the majority side",
        () => running.commits.filter((c) => c.call > cutAt).length > 50,
        30_000,
      );
      await cluster.heal();
      const result = await running.done();
      await verify(addresses, result);
    } finally {
      await cluster.destroy();
    }
  },
});
