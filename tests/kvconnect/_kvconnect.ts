/**
 * Helpers for the KV Connect tests: run a Deno (or Node) program against a
 * cluster, wait for a KV database's leader, find it.
 *
 * @module
 */

import { type NodeProcess, rpc, waitFor } from "../_helpers.ts";

/** The scenarios program (tests/kvconnect/scenarios.mjs). */
export const SCENARIOS = new URL("./scenarios.mjs", import.meta.url).pathname;

/** What a program printed and how it ended. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run -A <args>` (a program as a user runs it, with the
 * project's deno.json for its npm imports) with `env`; killed after
 * `timeoutMs`.
 */
export async function runDeno(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<Ran> {
  return await runProgram(
    Deno.execPath(),
    ["run", "-A", "--unstable-kv", ...args],
    env,
    {
      timeoutMs,
    },
  );
}

/** Runs any program; killed after `timeoutMs`. */
export async function runProgram(
  command: string,
  args: string[],
  env: Record<string, string> = {},
  options: { timeoutMs?: number; cwd?: string } = {},
): Promise<Ran> {
  const child = new Deno.Command(command, {
    args,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already ended
    }
  }, options.timeoutMs ?? 120_000);
  const out = await child.output();
  clearTimeout(timer);
  const d = new TextDecoder();
  return {
    code: out.code,
    stdout: d.decode(out.stdout),
    stderr: d.decode(out.stderr),
  };
}

/** A program's output for an assertion message. */
export function shown(r: Ran): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${
    r.stderr.slice(-4000)
  }`;
}

/** Waits until database `db` answers a linearizable read through `address`. */
export async function kvReady(
  address: string,
  db = "default",
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(
    `KV database '${db}' on ${address}`,
    async () => {
      const r = await rpc(address, "kv_get", [["ready"]], { db });
      return r.status === 200;
    },
    timeoutMs,
    100,
  );
}

/** The node that leads database `db`, as `address`'s `cluster_info` says. */
export async function leaderOf(
  nodes: NodeProcess[],
  db = "default",
): Promise<NodeProcess> {
  let leader: NodeProcess | undefined;
  await waitFor(
    `a leader of '${db}'`,
    async () => {
      for (const n of nodes) {
        const r = await rpc(n.address, "cluster_info").catch(() => undefined);
        const info = r?.body.result as Record<string, unknown> | undefined;
        const list = (info?.kv as { databases?: Record<string, unknown>[] })
          ?.databases ?? [];
        for (const d of list) {
          if (d.name === db && d.role === "leader") {
            leader = nodes.find((x) => x.address === n.address);
          }
        }
      }
      return leader !== undefined;
    },
    30_000,
    100,
  );
  return leader!;
}
