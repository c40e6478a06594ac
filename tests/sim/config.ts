/**
 * A run's parameters, all drawn from its seed: the cluster's shape, the
 * engines, the network's odds, the clocks, the faults and the workload.
 * The command line may fix some of them (`--nodes`, `--steps`).
 *
 * @module
 */

import { mulberry32 } from "../../src/cluster/mod.ts";
import type { NetworkOdds } from "./network.ts";

/** Kinds of fault, each with a weight in a run. */
export type FaultKind =
  | "split"
  | "asymmetric"
  | "isolate"
  | "bridge"
  | "flap"
  | "heal"
  | "crash"
  | "restart"
  | "pause"
  | "clock_step"
  | "join"
  | "leave"
  | "remove";

/**
 * A scripted fault instead of random ones, for the availability figures:
 * "split" cuts the first two nodes off the other three; "freeze" pauses
 * the last node. Clients then write (sloppy quorum) through the others.
 */
export type Scenario = "split" | "freeze";

/** Everything a run is made of. */
export interface SimConfig {
  seed: number;
  scenario?: Scenario;
  /** Members at start. */
  nodes: number;
  /** Addresses that may join later (up to 7 nodes in all). */
  spares: number;
  replicationFactor: number;
  readQuorum: number;
  writeQuorum: number;
  vnodes: number;
  /** Per node: "memory", or "sqlite" on a temporary file. */
  engines: ("memory" | "sqlite")[];
  odds: NetworkOdds;
  /** Clock offsets from true time, per node (ms, within the allowed skew). */
  offsetsMs: number[];
  /** Timer rates per node (a fast or slow oscillator). */
  rates: number[];
  maxClockOffsetMs: number;
  /** Client operations in the fault phase. */
  steps: number;
  clients: number;
  keys: number;
  /** Mean time between faults. */
  faultEveryMs: number;
  faults: Partial<Record<FaultKind, number>>;
  /** Chance that a crash loses the disk. */
  diskLossRate: number;
  hintCountMax: number;
  antiEntropyIntervalMs: number;
  hintIntervalMs: number;
  requestDeadlineMs: number;
  peerDeadlineMs: number;
  /** Chance that a write is strict (only its own replicas count). */
  strictRate: number;
  thinkMaxMs: number;
}

/** Options the command line may give. */
export interface ConfigOverrides {
  nodes?: number;
  steps?: number;
  /** Only these kinds of fault (each with weight 1). */
  faults?: readonly FaultKind[];
  scenario?: Scenario;
}

/** Every kind of fault. */
export const FAULT_KINDS: readonly FaultKind[] = [
  "split",
  "asymmetric",
  "isolate",
  "bridge",
  "flap",
  "heal",
  "crash",
  "restart",
  "pause",
  "clock_step",
  "join",
  "leave",
  "remove",
];

/** Draws a run's configuration from its seed. */
export function drawConfig(
  seed: number,
  overrides: ConfigOverrides = {},
): SimConfig {
  const r = mulberry32(seed ^ 0x5eed);
  const pick = <T>(items: readonly T[]): T =>
    items[Math.floor(r() * items.length)]!;
  const between = (lo: number, hi: number) => lo + r() * (hi - lo);
  const int = (lo: number, hi: number) => Math.floor(between(lo, hi + 1));
  const scenario = overrides.scenario;
  const nodes = scenario !== undefined ? 5 : overrides.nodes ?? int(5, 7);
  const spares = Math.max(0, Math.min(2, 7 - nodes));
  const n = scenario !== undefined ? 3 : pick([3, 3, 3, 2]);
  const majority = Math.floor(n / 2) + 1;
  const [readQuorum, writeQuorum] = scenario !== undefined ? [2, 2] : pick(
    [
      [majority, majority],
      [majority, majority],
      [majority, majority],
      [1, n],
      [n, 1],
    ] as const,
  );
  const engineMix = pick(["memory", "memory", "sqlite", "mixed", "mixed"]);
  const total = nodes + spares;
  const engines = Array.from(
    { length: total },
    () =>
      engineMix === "mixed"
        ? (r() < 0.5 ? "memory" : "sqlite")
        : engineMix as "memory" | "sqlite",
  );
  const maxClockOffsetMs = 500;
  const only = overrides.faults;
  const skew = pick([0, 50, 200]);
  const delayMinMs = int(1, 3);
  return {
    seed,
    ...(scenario !== undefined ? { scenario } : {}),
    nodes,
    spares,
    replicationFactor: n,
    readQuorum,
    writeQuorum,
    vnodes: pick([16, 64]),
    engines,
    odds: {
      dropRate: pick([0, 0.005, 0.02, 0.05]),
      dupRate: pick([0, 0.01, 0.05]),
      delayMinMs,
      delayMaxMs: delayMinMs + int(1, 30),
      slowRate: pick([0, 0.01, 0.03]),
      slowMaxMs: int(100, 1_500),
    },
    offsetsMs: Array.from(
      { length: total },
      () => Math.round(between(-skew, skew)),
    ),
    rates: Array.from({ length: total }, () => between(0.99, 1.01)),
    maxClockOffsetMs,
    steps: overrides.steps ?? 300,
    clients: int(2, 5),
    keys: pick([4, 10, 30]),
    faultEveryMs: pick([150, 400, 1_000]),
    faults: scenario !== undefined
      ? {}
      : only !== undefined
      ? Object.fromEntries([...only, "heal"].map((k) => [k, 1]))
      : {
        split: pick([0, 2, 4]),
        asymmetric: pick([0, 1, 2]),
        isolate: pick([0, 1, 2]),
        bridge: pick([0, 1]),
        flap: pick([0, 1]),
        heal: 3,
        crash: pick([0, 2, 4]),
        restart: 4,
        pause: pick([0, 1, 3]),
        clock_step: pick([0, 1]),
        join: spares > 0 ? pick([0, 1, 1]) : 0,
        leave: pick([0, 0, 1]),
        remove: pick([0, 0, 1]),
      },
    diskLossRate: pick([0, 0.2, 0.5]),
    hintCountMax: pick([100_000, 100_000, 50]),
    antiEntropyIntervalMs: pick([500, 1_000, 2_000]),
    hintIntervalMs: 500,
    requestDeadlineMs: 5_000,
    peerDeadlineMs: 2_000,
    strictRate: scenario !== undefined ? 0 : pick([0.3, 0.7, 1]),
    thinkMaxMs: pick([5, 20, 60]),
  };
}
