/**
 * KV Connect under faults, with real processes: an unmodified Deno program
 * runs 20 concurrent loops of `kv.atomic().sum()` on one counter while
 * the KV database's leader is killed with kill -9 (the program talks to a
 * follower), and, through HAProxy (deploy/haproxy/kvconnect.cfg), while
 * the node behind the balancer that leads is killed. Every commit the
 * program saw acknowledged is in the counter and none is there twice: the
 * counter ends at exactly the number of acknowledged sums.
 */

import { assert, assertEquals } from "@std/assert";
import {
  canRun,
  freePorts,
  NodeProcess,
  rpc,
  stopAll,
  waitFor,
} from "./_helpers.ts";
import { kvReady, leaderOf } from "./kvconnect/_kvconnect.ts";

const SUM_LOOPS = new URL("./kvconnect/sum_loops.ts", import.meta.url)
  .pathname;
const HAPROXY_CFG = new URL("../deploy/haproxy/kvconnect.cfg", import.meta.url)
  .pathname;
const LOOPS = 20;
const SUMS = 150;

/** Three durable nodes (a killed node comes back with its log). */
async function cluster(): Promise<{ nodes: NodeProcess[]; dirs: string[] }> {
  const ports = freePorts(3);
  const members = ports.map((p) => `127.0.0.1:${p}`).join(",");
  const dirs = await Promise.all(ports.map(() => Deno.makeTempDir()));
  const nodes = ports.map((port, i) =>
    new NodeProcess(port, ["-C", members], { dataDir: dirs[i]! })
  );
  await Promise.all(nodes.map((n) => n.ready()));
  await kvReady(nodes[0]!.address);
  return { nodes, dirs };
}

async function counter(address: string, key: string): Promise<number> {
  const r = await rpc(address, "kv_get", [[key]]);
  const v = (r.body.result as { value: { value: string } | null })?.value;
  return v === null || v === undefined ? 0 : Number(v.value);
}

/** Starts the sum loops against `url`; `done` resolves with what they printed. */
function sumLoops(url: string, key: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-kv",
      SUM_LOOPS,
      url,
      key,
      String(LOOPS),
      String(SUMS),
    ],
    env: { DENO_KV_ACCESS_TOKEN: "open-node-any-token", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
  const done = child.output().then((out) => {
    clearTimeout(timer);
    const stdout = new TextDecoder().decode(out.stdout);
    const last = stdout.trim().split("\n").at(-1) ?? "";
    let result: { acked: number; counter: number; slowest_ms: number };
    try {
      result = JSON.parse(last);
    } catch {
      throw new Error(
        `sum loops ended with ${out.code}:\n${stdout}\n${
          new TextDecoder().decode(out.stderr).slice(-3000)
        }`,
      );
    }
    return result;
  });
  return { done };
}

/**
 * Kills the leader once the loops are well under way, waits for commits
 * to go on without it, restarts it; returns what the loops saw.
 */
async function killLeaderDuringLoops(
  nodes: NodeProcess[],
  url: string,
  observer: string,
  key: string,
) {
  const loops = sumLoops(url, key);
  const leader = await leaderOf(nodes);
  await waitFor(
    "the loops to commit",
    async () => await counter(observer, key) >= 300,
    60_000,
    20,
  );
  await leader.kill("SIGKILL");
  const atKill = await counter(observer, key).catch(() => 0);
  await waitFor(
    "commits to go on without the leader",
    async () => await counter(observer, key) >= atKill + 300,
    60_000,
    50,
  );
  await leader.restart();
  const result = await loops.done;
  return { result, leader };
}

Deno.test("kvconnect faults: 20 sum loops through a follower end at exactly the acknowledged count while the leader is killed with kill -9", async () => {
  const { nodes, dirs } = await cluster();
  try {
    const leader = await leaderOf(nodes);
    const follower = nodes.find((n) => n !== leader)!;
    const observer = nodes.find((n) => n !== leader && n !== follower)!;
    const key = `counter-${Date.now()}`;
    const { result } = await killLeaderDuringLoops(
      nodes,
      `http://${follower.address}/kv`,
      observer.address,
      key,
    );
    assertEquals(result.acked, LOOPS * SUMS);
    assertEquals(result.counter, result.acked);
    assertEquals(await counter(observer.address, key), LOOPS * SUMS);
    console.log(
      `kvconnect faults (leader killed): ${result.acked} acknowledged, counter ${result.counter}, slowest commit ${result.slowest_ms} ms`,
    );
  } finally {
    await stopAll(nodes);
    for (const d of dirs) await Deno.remove(d, { recursive: true });
  }
});

const haproxy = await canRun("haproxy", ["-v"]);
if (!haproxy) {
  console.warn(
    "kvconnect_faults_test: haproxy is not installed; the load balancer test is skipped (apt-get install -y haproxy)",
  );
}

/** deploy/haproxy/kvconnect.cfg with this test's addresses. */
async function haproxyConfig(port: number, nodes: NodeProcess[]) {
  let cfg = await Deno.readTextFile(HAPROXY_CFG);
  cfg = cfg.replace("bind 127.0.0.1:5870", `bind 127.0.0.1:${port}`);
  ["5878", "5879", "5880"].forEach((p, i) => {
    cfg = cfg.replace(`127.0.0.1:${p} `, `${nodes[i]!.address} `);
  });
  assert(!/:58(7[89]|80) /.test(cfg), "every server line was replaced");
  return cfg;
}

Deno.test({
  name:
    "kvconnect faults: through HAProxy, 20 sum loops end at exactly the acknowledged count while the node behind it that leads is killed",
  ignore: !haproxy,
  async fn() {
    const { nodes, dirs } = await cluster();
    const dir = await Deno.makeTempDir();
    const [port] = freePorts(1) as [number];
    await Deno.writeTextFile(
      `${dir}/haproxy.cfg`,
      await haproxyConfig(port, nodes),
    );
    const proxy = new Deno.Command("haproxy", {
      args: ["-f", `${dir}/haproxy.cfg`, "-db"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const proxyOut = proxy.output();
    try {
      await waitFor("haproxy to listen", async () => {
        const c = await Deno.connect({ hostname: "127.0.0.1", port });
        c.close();
        return true;
      });
      const leader = await leaderOf(nodes);
      const observer = nodes.find((n) => n !== leader)!;
      const key = `counter-${Date.now()}`;
      const { result } = await killLeaderDuringLoops(
        nodes,
        `http://127.0.0.1:${port}/kv`,
        observer.address,
        key,
      );
      assertEquals(result.acked, LOOPS * SUMS);
      assertEquals(result.counter, result.acked);
      assertEquals(await counter(observer.address, key), LOOPS * SUMS);
      console.log(
        `kvconnect faults (through HAProxy): ${result.acked} acknowledged, counter ${result.counter}, slowest commit ${result.slowest_ms} ms`,
      );
    } finally {
      proxy.kill("SIGKILL");
      await proxyOut;
      await stopAll(nodes);
      for (const d of [...dirs, dir]) await Deno.remove(d, { recursive: true });
    }
  },
});
