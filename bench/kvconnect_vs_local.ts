/**
 * bench/kvconnect_vs_local: `Deno.openKv` against a three-node KVDB cluster
 * (KV Connect: h2c, Raft, linearizable reads) beside `Deno.openKv(":memory:")`
 * in the same process (Deno's own SQLite in memory: no network, no
 * replication, the ceiling), in one interleaved run: gets of preloaded keys
 * and atomic sets of new keys per second, from 50 concurrent loops on one
 * `Deno.Kv`, and the ratio cluster / local.
 *
 * ```sh
 * deno run -A --unstable-kv bench/kvconnect_vs_local.ts           # 10 s each, 2 rounds
 * deno run -A --unstable-kv bench/kvconnect_vs_local.ts --quick   # 3 s, 1 round
 * ```
 *
 * The cluster's nodes are durable (SQLite, `--sync normal`) and on this
 * machine: their CPU competes with the client's. The client talks to a
 * follower (a commit is forwarded to the leader, as most clients' are).
 * Figures are ratios taken in one run; the machine may be shared.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { freePorts, NodeProcess } from "../tests/_helpers.ts";
import { kvReady, leaderOf } from "../tests/kvconnect/_kvconnect.ts";

const args = parseArgs(Deno.args, {
  boolean: ["quick"],
  string: ["duration", "rounds", "loops"],
});
const DURATION_MS = 1000 * Number(args.duration ?? (args.quick ? 3 : 10));
const ROUNDS = Number(args.rounds ?? (args.quick ? 1 : 2));
const LOOPS = Number(args.loops ?? 50);
const KEYS = 1_000;

/** Operations per second of `op`, from LOOPS loops for DURATION_MS. */
async function rate(op: (loop: number, i: number) => Promise<unknown>) {
  const end = performance.now() + DURATION_MS;
  let count = 0;
  await Promise.all(Array.from({ length: LOOPS }, async (_, loop) => {
    for (let i = 0; performance.now() < end; i++) {
      await op(loop, i);
      count++;
    }
  }));
  return count / (DURATION_MS / 1000);
}

async function preload(kv: Deno.Kv) {
  for (let i = 0; i < KEYS; i += 100) {
    const op = kv.atomic();
    for (let j = i; j < i + 100; j++) {
      op.set(["k", j], { n: j, pad: "x".repeat(64) });
    }
    await op.commit();
  }
}

const ports = freePorts(3);
const members = ports.map((p) => `127.0.0.1:${p}`).join(",");
const dirs = await Promise.all(ports.map(() => Deno.makeTempDir()));
const nodes = ports.map((port, i) =>
  new NodeProcess(port, ["-C", members], { dataDir: dirs[i]! })
);
try {
  await Promise.all(nodes.map((n) => n.ready()));
  await kvReady(nodes[0]!.address);
  const leader = await leaderOf(nodes);
  const follower = nodes.find((n) => n !== leader)!;
  Deno.env.set("DENO_KV_ACCESS_TOKEN", "bench-open-node-token");
  const targets: [string, Deno.Kv][] = [
    ["cluster", await Deno.openKv(`http://${follower.address}/kv`)],
    ["local", await Deno.openKv(":memory:")],
  ];
  for (const [, kv] of targets) await preload(kv);
  const results: Record<string, Record<string, number[]>> = {};
  const record = (target: string, what: string, value: number) => {
    ((results[what] ??= {})[target] ??= []).push(value);
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, kv] of targets) {
      record(
        name,
        "get/s",
        await rate((loop, i) => kv.get(["k", (loop * 7919 + i) % KEYS])),
      );
      record(
        name,
        "atomic set/s",
        await rate((loop, i) =>
          kv.set(["w", round, loop, i], { loop, i, pad: "x".repeat(64) })
        ),
      );
    }
  }
  for (const [, kv] of targets) kv.close();
  const median = (xs: number[]) =>
    [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  console.log(
    `\nDeno.openKv, ${LOOPS} concurrent loops on one Deno.Kv, ${
      DURATION_MS / 1000
    } s per measurement, ${ROUNDS} round(s), interleaved\n`,
  );
  console.log(
    "| operation | three-node cluster (KV Connect) | local :memory: | cluster / local |",
  );
  console.log("|---|---:|---:|---:|");
  for (const [what, by] of Object.entries(results)) {
    const c = median(by.cluster!);
    const l = median(by.local!);
    console.log(
      `| ${what} | ${Math.round(c)} | ${Math.round(l)} | ${
        (c / l).toFixed(3)
      } |`,
    );
  }
} finally {
  await Promise.all(nodes.map((n) => n.kill()));
  for (const d of dirs) await Deno.remove(d, { recursive: true });
}
