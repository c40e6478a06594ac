/**
 * The simulator of the Dynamo keyspace: five to seven nodes of the real
 * core (`ClusterNode`: membership, coordinator, hints, read repair,
 * anti-entropy, join, leave and handoff) behind the real
 * `BatchingTransport` and `BreakerTransport`, on the memory engine or
 * SQLite on a temporary file, in one process, on one scheduler and one
 * simulated clock, every choice drawn from one seed.
 *
 * A run: the nodes start and find each other; clients write, read, pop,
 * mset and list keys through random nodes while faults strike (partitions
 * of every shape, lost, late, duplicated and reordered messages, crashes
 * with the disk kept or lost, restarts, freezes, clock steps, joins,
 * leaves and removals); then every fault heals, the nodes restart, and
 * the cluster must converge within a bounded time: every key on exactly
 * its N replicas with identical versions. The checks of `history.ts` run
 * as operations complete, the cheap invariants after every event, and
 * convergence at the end; the first broken one fails the run, and the
 * seed replays it exactly.
 *
 * @module
 */

import {
  type Clock,
  compareVersions,
  type Version,
} from "../../src/clock/mod.ts";
import {
  ClusterNode,
  type Consistency,
  mulberry32,
  seededRandom,
  shuffle,
} from "../../src/cluster/mod.ts";
import { KvdbError } from "../../src/errors.ts";
import { Ring } from "../../src/ring/mod.ts";
import {
  MemoryStore,
  SqliteStore,
  type Store,
  type StoredRecord,
} from "../../src/storage/mod.ts";
import {
  BatchingTransport,
  BreakerTransport,
  PeerError,
  type PeerHandler,
} from "../../src/transport/mod.ts";
import type { SimConfig } from "./config.ts";
import { History, type WriteOp } from "./history.ts";
import { type NetworkHost, SimNetwork } from "./network.ts";
import { Scheduler } from "./scheduler.ts";
import { show, SimStore } from "./store.ts";

/** Wall time at the start of every run. */
const EPOCH_MS = 1_800_000_000_000;
/** Time the nodes get to find each other before the load begins. */
const WARM_UP_MS = 1_500;
/** After the last fault: time for reads while all is well (read repair checked). */
const CALM_MS = 3_000;
/** The bound on convergence after the last fault. */
const CONVERGE_MS_MAX = 60_000;
/** How often convergence is looked at. */
const CONVERGE_POLL_MS = 250;
/** A scenario's fault strikes this long after the load begins. */
const SCENARIO_AFTER_MS = 1_000;
/** How often the hint stores are compared with their last snapshot. */
const HINT_CHECK_MS = 100;

/** Rings, shared by every node and run (building one digests with Web Crypto). */
const rings = new Map<string, Promise<Ring>>();
function ringOf(members: readonly string[], vnodes: number): Promise<Ring> {
  const key = `${vnodes}|${[...members].sort().join(",")}`;
  let ring = rings.get(key);
  if (ring === undefined) {
    ring = Ring.build(members, { vnodes });
    rings.set(key, ring);
  }
  return ring;
}

/** Counts for the run's summary. */
export interface RunStats {
  events: number;
  simulatedMs: number;
  writes: number;
  acknowledged: number;
  failed: number;
  unknown: number;
  reads: number;
  checkedReads: number;
  /** Reads through a coordinator with a stale ring (not checked for freshness). */
  staleViewReads: number;
  listings: number;
  crashes: number;
  diskLosses: number;
  partitions: number;
  pauses: number;
  clockSteps: number;
  joins: number;
  leaves: number;
  removals: number;
  messages: number;
  dropped: number;
  duplicated: number;
  /** Simulated ms from the last fault to convergence. */
  convergedInMs: number;
  /** With a scenario: the writes from its start on. */
  scenario?: ScenarioStats;
}

/** Writes during a scripted fault (all through nodes on the healthy side). */
export interface ScenarioStats {
  writes: number;
  acknowledged: number;
  /** Begun in the first simulated second of the fault. */
  firstSecondWrites: number;
  firstSecondAcknowledged: number;
  /** Simulated ms each acknowledged write took, ascending. */
  latenciesMs: number[];
}

/** The outcome of one run. */
export interface RunResult {
  seed: number;
  config: SimConfig;
  violation: string | undefined;
  stats: RunStats;
}

/** A broken invariant: the run stops there. */
class Violation extends Error {}

/** One node: its disk outlives its processes. */
class SimNode implements NetworkHost {
  readonly address: string;
  readonly index: number;
  readonly engine: "memory" | "sqlite";
  up = false;
  paused = false;
  incarnation = 0;
  held: (() => void)[] = [];
  handler: PeerHandler | undefined;
  /** "spare": not (or no longer) in the cluster; "member": in it. */
  status: "spare" | "member" = "spare";
  /** How this node is started (its command line). */
  seeds: string[] = [];
  join = false;
  core: ClusterNode | undefined;
  breaker: BreakerTransport | undefined;
  store: SimStore | undefined;
  /** The memory engine's "disk", handed back on restart. */
  memory: MemoryStore | undefined;
  sqlite: SqliteStore | undefined;
  sqlitePath: string | undefined;
  offsetMs: number;
  readonly rate: number;
  /** What the disk holds, as the stores told: key -> newest version. */
  shadow = new Map<string, Version>();
  /** Hints kept in the disk (SQLite): "target|key" -> version. */
  hintShadow = new Map<string, Version>();
  /** When the disk was last lost (ms), for the hint check. */
  diskLostAt = -1;
  /** When the node last left or was removed (ms), for the hint check. */
  leftAt = -1;
  /** When the process last crashed or lost its disk (ms). */
  crashedAt = -1;
  /** Total ms frozen, and since when (or -1). */
  pausedMs = 0;
  pausedSince = -1;
  leaving = false;
  /** Removed (`remove-member`): the operator repeats it where unheard. */
  removed = false;
  readonly #scheduler: Scheduler;

  constructor(
    scheduler: Scheduler,
    index: number,
    engine: "memory" | "sqlite",
    offsetMs: number,
    rate: number,
  ) {
    this.#scheduler = scheduler;
    this.index = index;
    this.address = `10.0.0.${index + 1}:5878`;
    this.engine = engine;
    this.offsetMs = offsetMs;
    this.rate = rate;
  }

  /** Wall time on this node's clock. */
  now(): number {
    return EPOCH_MS + this.#scheduler.now + this.offsetMs;
  }

  clockOf(incarnation: number): Clock {
    return {
      now: () => this.now(),
      after: (ms, fn) =>
        this.#scheduler.after(ms * this.rate, () => this.run(incarnation, fn)),
    };
  }

  run(incarnation: number, fn: () => void): void {
    if (!this.up || this.incarnation !== incarnation) return;
    if (this.paused) this.held.push(fn);
    else fn();
  }

  /** `promise`, delivered to incarnation `incarnation` only. */
  guard<T>(incarnation: number, promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      promise.then(
        (value) => this.run(incarnation, () => resolve(value)),
        (error) => this.run(incarnation, () => reject(error)),
      );
    });
  }

  /** Frozen ms so far, the current freeze included. */
  frozenMs(nowMs: number): number {
    return this.pausedMs + (this.paused ? nowMs - this.pausedSince : 0);
  }
}

/** One simulated run. */
export class World {
  readonly config: SimConfig;
  readonly scheduler = new Scheduler();
  readonly network: SimNetwork;
  readonly history: History;
  readonly nodes: SimNode[] = [];
  readonly #r: () => number;
  readonly #dir: string | undefined;
  /** Where a replay's trace goes (--trace); default: nowhere. */
  trace: ((line: string) => void) | undefined;
  #violation: string | undefined;
  #faulting = true;
  #lastFaultAt = 0;
  #clientsRunning = 0;
  #stepsLeft: number;
  #calm = false;
  #flapping = 0;
  readonly #hintSnapshots = new Map<
    string,
    { incarnation: number; hints: Map<string, Version> }
  >();
  readonly #reads: {
    key: string;
    version: Version;
    replicas: readonly string[];
    at: number;
  }[] = [];
  readonly stats: RunStats = {
    events: 0,
    simulatedMs: 0,
    writes: 0,
    acknowledged: 0,
    failed: 0,
    unknown: 0,
    reads: 0,
    checkedReads: 0,
    staleViewReads: 0,
    listings: 0,
    crashes: 0,
    diskLosses: 0,
    partitions: 0,
    pauses: 0,
    clockSteps: 0,
    joins: 0,
    leaves: 0,
    removals: 0,
    messages: 0,
    dropped: 0,
    duplicated: 0,
    convergedInMs: -1,
  };

  constructor(config: SimConfig) {
    this.config = config;
    this.#r = mulberry32(config.seed);
    this.#stepsLeft = config.steps;
    this.history = new History((what) => this.#fail(what));
    this.network = new SimNetwork(
      this.scheduler,
      mulberry32(config.seed * 7 + 1),
      { ...config.odds },
      { violation: (what) => this.#fail(what) },
    );
    const total = config.nodes + config.spares;
    this.#dir = config.engines.includes("sqlite")
      ? Deno.makeTempDirSync({ prefix: "kvdb-sim-" })
      : undefined;
    for (let i = 0; i < total; i++) {
      const node = new SimNode(
        this.scheduler,
        i,
        config.engines[i]!,
        config.offsetsMs[i]!,
        config.rates[i]!,
      );
      this.nodes.push(node);
      this.network.attach(node);
    }
  }

  #fail(what: string): void {
    this.#violation ??= `t=${this.scheduler.now} ms: ${what}`;
  }

  #log(line: string): void {
    this.trace?.(`${String(this.scheduler.now).padStart(7)} ${line}`);
  }

  #pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0
      ? undefined
      : items[Math.floor(this.#r() * items.length)];
  }

  // ------------------------------------------------------------ nodes

  #members(): SimNode[] {
    return this.nodes.filter((n) => n.status === "member");
  }

  #running(): SimNode[] {
    return this.#members().filter((n) =>
      n.up && n.core !== undefined && !n.leaving
    );
  }

  #openDisk(node: SimNode, clock: Clock): Store {
    if (node.engine === "memory") return node.memory ??= new MemoryStore();
    node.sqlitePath ??= `${this.#dir}/${node.index}.sqlite`;
    node.sqlite = SqliteStore.open(node.sqlitePath, {
      schedule: (fn) => void clock.after(0, fn),
      cacheBytes: 1 << 20,
    });
    return node.sqlite;
  }

  #start(node: SimNode): void {
    this.#log(`start ${node.address}${node.join ? " (join)" : ""}`);
    // Its seeds all left: the operator points it at the members.
    const members = this.#members().map((m) => m.address);
    if (!node.seeds.some((a) => a !== node.address && members.includes(a))) {
      node.seeds = members;
    }
    node.incarnation++;
    node.up = true;
    node.paused = false;
    node.held = [];
    node.handler = undefined;
    node.core = undefined;
    const incarnation = node.incarnation;
    const clock = node.clockOf(incarnation);
    const store = new SimStore(this.#openDisk(node, clock), node.address, {
      stored: (_address, record) => this.#stored(node, record),
      removed: (key, version) => {
        const held = node.shadow.get(key);
        if (held !== undefined && compareVersions(held, version) === 0) {
          node.shadow.delete(key);
        }
      },
      hinted: (target, record) =>
        this.#hinted(node, `${target}|${record.key}`, record.version),
      unhinted: (target, key, version) => {
        const id = `${target}|${key}`;
        const held = node.hintShadow.get(id);
        if (held !== undefined && compareVersions(held, version) === 0) {
          node.hintShadow.delete(id);
        }
      },
      violation: (what) => this.#fail(what),
    });
    node.store = store;
    const breaker = new BreakerTransport(
      this.network.transport(node, incarnation),
      clock,
    );
    const transport = new BatchingTransport(
      breaker,
      (fn) => void clock.after(0, fn),
    );
    const c = this.config;
    const created = ClusterNode.create({
      self: node.address,
      seeds: node.seeds,
      join: node.join,
      store,
      transport,
      clock,
      random: seededRandom(c.seed * 1_009 + node.index * 97 + incarnation),
      vnodes: c.vnodes,
      buildRing: (members) =>
        node.guard(
          incarnation,
          this.scheduler.external(ringOf(members, c.vnodes)),
        ),
      replicationFactor: c.replicationFactor,
      readQuorum: c.readQuorum,
      writeQuorum: c.writeQuorum,
      requestDeadlineMs: c.requestDeadlineMs,
      peerDeadlineMs: c.peerDeadlineMs,
      timing: {
        probeIntervalMs: 500,
        probeTimeoutMs: 250,
        indirectProbes: 3,
        suspicionTimeoutMs: 2_000,
        antiEntropyIntervalMs: c.antiEntropyIntervalMs,
        hintIntervalMs: c.hintIntervalMs,
        handOffIntervalMs: c.antiEntropyIntervalMs * 2,
      },
      hintCountMax: c.hintCountMax,
      hintBytesMax: 64 << 20,
      tombstoneGraceMs: 86_400_000,
      maxClockOffsetMs: c.maxClockOffsetMs,
      log: (event, fields) => {
        if (event === "join.seed_unreachable") {
          this.#repointSeeds(node, incarnation);
          return;
        }
        if (event !== "loop.failed" && event !== "join.source_skipped") return;
        const error = fields?.error;
        if (!(error instanceof KvdbError) && !(error instanceof PeerError)) {
          this.#fail(
            `${node.address}: ${event} ${String(fields?.loop ?? "")}: ${
              error instanceof Error ? error.stack : String(error)
            }`,
          );
        }
      },
    });
    node.guard(incarnation, created).then((core) => {
      node.core = core;
      node.breaker = breaker;
      node.handler = (request) => {
        // A probe from a peer proves it up (src/node.ts does the same).
        if (request.kind === "ping") breaker.reset(request.from);
        return core.handlePeer(request);
      };
      void core.start();
    }, (error) => this.#fail(`${node.address} did not start: ${error}`));
  }

  #stored(node: SimNode, record: StoredRecord): void {
    const held = node.shadow.get(record.key);
    if (held === undefined || compareVersions(record.version, held) > 0) {
      node.shadow.set(record.key, record.version);
    }
    this.history.stored(node.address, record, this.scheduler.now + EPOCH_MS);
  }

  #hinted(node: SimNode, id: string, version: Version): void {
    const held = node.hintShadow.get(id);
    if (held === undefined || compareVersions(version, held) > 0) {
      node.hintShadow.set(id, version);
    }
  }

  /** Kills the process: what it did not make durable is gone. */
  #crash(node: SimNode, loseDisk: boolean): void {
    if (!node.up) return;
    this.#log(`crash ${node.address}${loseDisk ? " losing its disk" : ""}`);
    this.stats.crashes++;
    node.crashedAt = this.scheduler.now;
    node.paused = false;
    node.held = [];
    node.leaving = false;
    // What it did not make durable is gone; the file stays, and a restart
    // opens it again.
    this.#stop(node);
    if (loseDisk) this.#loseDisk(node);
    this.#noteSurvivors();
  }

  #loseDisk(node: SimNode): void {
    this.stats.diskLosses++;
    node.memory = undefined;
    if (node.sqlitePath !== undefined) {
      for (const suffix of ["", "-wal", "-shm"]) {
        try {
          Deno.removeSync(node.sqlitePath + suffix);
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        }
      }
    }
    // What it held is what it loses: judged by its own copies, not by
    // whether some node's view of the ring calls it a replica (a view
    // can be stale, and a replica that never held a write loses nothing
    // of it).
    const shadow = node.shadow;
    this.history.lostHolder((key) => shadow.get(key));
    node.shadow = new Map();
    node.hintShadow.clear();
    node.diskLostAt = this.scheduler.now;
    node.crashedAt = this.scheduler.now;
  }

  /** After a loss: acknowledged writes with no copy left are lost (not a bug). */
  #noteSurvivors(): void {
    this.history.survivors((key) => {
      let best: Version | undefined;
      const better = (v: Version | undefined) => {
        if (
          v !== undefined &&
          (best === undefined || compareVersions(v, best) > 0)
        ) {
          best = v;
        }
      };
      // A node that left keeps its disk, but out of the cluster.
      for (const node of this.#members()) {
        better(node.shadow.get(key));
        if (node.up && node.core !== undefined) {
          better(node.core.hints.newest(key));
        } else {
          for (const [id, v] of node.hintShadow) {
            if (id.endsWith(`|${key}`)) better(v);
          }
        }
      }
      return best;
    });
  }

  #pause(node: SimNode, ms: number): void {
    if (!node.up || node.paused) return;
    this.#log(`pause ${node.address} for ${ms} ms`);
    this.stats.pauses++;
    node.paused = true;
    node.pausedSince = this.scheduler.now;
    const incarnation = node.incarnation;
    this.scheduler.after(ms, () => {
      if (node.incarnation === incarnation) this.#resume(node);
    });
  }

  #resume(node: SimNode): void {
    if (!node.paused) return;
    node.paused = false;
    node.pausedMs += this.scheduler.now - node.pausedSince;
    const held = node.held;
    node.held = [];
    for (const fn of held) fn();
  }

  // ----------------------------------------------------------- faults

  #fault(): void {
    const weights = Object.entries(this.config.faults).filter(([, w]) =>
      w! > 0
    ) as [string, number][];
    const total = weights.reduce((s, [, w]) => s + w, 0);
    let dice = this.#r() * total;
    let kind = weights[0]![0];
    for (const [k, w] of weights) {
      dice -= w;
      if (dice < 0) {
        kind = k;
        break;
      }
    }
    this.#lastFaultAt = this.scheduler.now;
    this.#log(`fault ${kind}`);
    const members = this.#members().map((n) => n.address);
    const running = this.#running();
    const down = this.#members().filter((n) => !n.up);
    switch (kind) {
      case "split": {
        this.network.heal();
        const side = members.filter(() => this.#r() < 0.5);
        this.network.split(side, members.filter((m) => !side.includes(m)));
        this.stats.partitions++;
        break;
      }
      case "asymmetric": {
        const a = this.#pick(members);
        const b = this.#pick(members.filter((m) => m !== a));
        if (a !== undefined && b !== undefined) {
          this.network.cutOneWay(a, b);
          this.stats.partitions++;
        }
        break;
      }
      case "isolate": {
        const a = this.#pick(members);
        if (a !== undefined) {
          this.network.split([a], members.filter((m) => m !== a));
          this.stats.partitions++;
        }
        break;
      }
      case "bridge": {
        // Two sides that cannot reach each other, one node that reaches both.
        this.network.heal();
        const [bridge, ...rest] = shuffle([...members], { next: this.#r });
        if (bridge === undefined) break;
        const side = rest.filter(() => this.#r() < 0.5);
        this.network.split(side, rest.filter((m) => !side.includes(m)));
        this.stats.partitions++;
        break;
      }
      case "flap": {
        // A split that comes and goes every few hundred ms for a while.
        const flaps = 4 + Math.floor(this.#r() * 8);
        const period = 100 + Math.floor(this.#r() * 600);
        const side = members.filter(() => this.#r() < 0.5);
        const other = members.filter((m) => !side.includes(m));
        const id = ++this.#flapping;
        for (let i = 0; i < flaps; i++) {
          this.scheduler.after(i * period, () => {
            if (!this.#faulting || id !== this.#flapping) return;
            if (i % 2 === 0) this.network.split(side, other);
            else this.network.heal();
          });
        }
        this.stats.partitions++;
        break;
      }
      case "heal":
        this.network.heal();
        this.#flapping++;
        break;
      case "crash": {
        const victim = this.#pick(running);
        // Keep two running: a cluster all down tells nothing.
        if (victim === undefined || running.length <= 2) break;
        this.#crash(victim, this.#r() < this.config.diskLossRate);
        break;
      }
      case "restart": {
        const node = this.#pick(down);
        if (node !== undefined) this.#start(node);
        break;
      }
      case "pause": {
        const node = this.#pick(running);
        if (node !== undefined) {
          this.#pause(node, 100 + Math.floor(this.#r() * 4_000));
        }
        break;
      }
      case "clock_step": {
        // NTP steps a clock, forwards or back, within the allowed skew.
        const node = this.#pick(this.#members());
        const bound = this.config.maxClockOffsetMs * 0.4;
        if (node !== undefined) {
          node.offsetMs = Math.round((this.#r() * 2 - 1) * bound);
          this.stats.clockSteps++;
        }
        break;
      }
      case "join": {
        const spare = this.#pick(
          this.nodes.filter((n) => n.status === "spare" && !n.up),
        );
        const seed = this.#pick(running);
        if (spare === undefined || seed === undefined) break;
        // A node that left comes back empty, as an operator would do it.
        if (spare.memory !== undefined || spare.sqlitePath !== undefined) {
          this.#loseDisk(spare);
        }
        spare.status = "member";
        spare.removed = false;
        spare.seeds = [seed.address];
        // The others list it from now on, as an operator would.
        for (const node of this.#members()) {
          if (!node.seeds.includes(spare.address)) {
            node.seeds.push(spare.address);
          }
        }
        spare.join = true;
        this.#start(spare);
        this.stats.joins++;
        break;
      }
      case "leave": {
        const ready = running.filter((n) =>
          n.core!.membership.me.phase === "ready"
        );
        const node = this.#pick(ready);
        if (
          node === undefined ||
          running.length <= this.config.replicationFactor + 1
        ) break;
        this.#leave(node);
        break;
      }
      case "remove": {
        const by = this.#pick(running);
        if (by === undefined) break;
        const dead = this.#members().filter((n) =>
          !n.up && by.core!.membership.get(n.address)?.state === "dead"
        );
        const victim = this.#pick(dead);
        if (victim === undefined) break;
        const core = by.core!;
        const replicaOf = (key: string) =>
          core.coordinator.replicas(key).includes(victim.address);
        void core.membership.remove(victim.address).then((refusal) => {
          this.#log(
            `remove ${victim.address} by ${by.address}: ${
              refusal ?? "announced"
            }`,
          );
        });
        // The removal takes effect at once on the remover (the announce
        // only spreads it): removed for good, it does not come back in
        // this run, and its copies are lost.
        if (core.membership.get(victim.address)?.state !== "left") break;
        this.#log(`removed ${victim.address} by ${by.address}`);
        this.stats.removals++;
        this.history.lostReplica(replicaOf);
        victim.status = "spare";
        victim.removed = true;
        victim.leftAt = this.scheduler.now;
        this.#loseDisk(victim);
        this.#forget(victim.address);
        // Its copies are gone: a write only it still held is lost with it.
        this.#noteSurvivors();
        break;
      }
    }
  }

  /** The scripted fault: from now on clients use the healthy side only. */
  #scenario(): void {
    const members = this.#members();
    this.#scenarioAt = this.scheduler.now;
    this.#lastFaultAt = this.scheduler.now;
    this.#log(`scenario ${this.config.scenario}`);
    if (this.config.scenario === "split") {
      const minority = members.slice(0, 2);
      this.network.split(
        minority.map((n) => n.address),
        members.slice(2).map((n) => n.address),
      );
      this.#healthy = members.slice(2);
      this.stats.partitions++;
    } else {
      const frozen = members.at(-1)!;
      // Frozen until the calm resumes it.
      this.#pause(frozen, 1e9);
      this.#healthy = members.slice(0, -1);
    }
  }

  /** Writes from the scenario's start on, for the figures. */
  #scenarioStats(): ScenarioStats | undefined {
    const at = this.#scenarioAt;
    if (at === undefined) return undefined;
    const from = EPOCH_MS + at;
    // A pop reads first: R replicas are needed, which a split may not leave.
    const writes = this.history.writes.filter((w) =>
      w.invokedAt >= from && w.outcome !== "pending" && w.kind !== "pop"
    );
    const first = writes.filter((w) => w.invokedAt < from + 1_000);
    const ok = (w: WriteOp) => w.outcome === "ok";
    return {
      writes: writes.length,
      acknowledged: writes.filter(ok).length,
      firstSecondWrites: first.length,
      firstSecondAcknowledged: first.filter(ok).length,
      latenciesMs: writes.filter(ok).map((w) => w.settledAt! - w.invokedAt)
        .sort((a, b) => a - b),
    };
  }

  /**
   * A removal whose remover crashed before anyone heard it is lost: the
   * operator runs `remove-member` again, through a node that still lists
   * the removed node dead (removing twice is not an error).
   */
  #repeatRemovals(): void {
    for (const gone of this.nodes.filter((n) => n.removed && !n.up)) {
      for (const node of this.#running()) {
        const m = node.core!.membership.get(gone.address);
        if (m?.state === "dead") {
          void node.core!.membership.remove(gone.address);
        }
      }
    }
  }

  #leave(node: SimNode): void {
    const core = node.core!;
    const incarnation = node.incarnation;
    node.leaving = true;
    this.stats.leaves++;
    this.#log(`leave ${node.address}`);
    node.guard(incarnation, core.repair.leave()).then(() => {
      this.#log(
        `left ${node.address} (incarnation ${core.membership.me.incarnation})`,
      );
      // Left: the process stops (src/node.ts lingers, then exits).
      core.stop();
      node.leaving = false;
      node.status = "spare";
      node.leftAt = this.scheduler.now;
      this.#stop(node);
      this.#forget(node.address);
      this.#noteSurvivors();
    }, (error) => {
      this.#log(`leave of ${node.address} failed: ${error}`);
      node.leaving = false;
      if (!(error instanceof KvdbError)) {
        this.#fail(`${node.address}: leave failed: ${error}`);
      }
    });
  }

  /**
   * The operator takes a node that left out of every node's member list
   * (`-C`): membership is not kept across restarts, so a node restarted
   * with it in its list would take it for a member again.
   */
  #forget(address: string): void {
    for (const node of this.nodes) {
      node.seeds = node.seeds.filter((a) => a !== address);
    }
  }

  /**
   * A node started with `--join` waits while no seed it was given answers
   * with a table (its seeds may be down, or waiting to join themselves):
   * the operator sees the warning and starts it again, pointed at the
   * members that run.
   */
  #repointSeeds(node: SimNode, incarnation: number): void {
    this.scheduler.after(0, () => {
      if (node.incarnation !== incarnation || !node.up || node.core) return;
      const running = this.#running().map((n) => n.address);
      if (running.length === 0) return;
      this.#log(`restart ${node.address} with seeds ${running.join(",")}`);
      this.#stop(node);
      node.seeds = running;
      this.#start(node);
    });
  }

  /** The process ends cleanly (after a leave). */
  #stop(node: SimNode): void {
    const incarnation = node.incarnation;
    node.up = false;
    node.handler = undefined;
    node.core = undefined;
    node.store?.fence();
    node.store = undefined;
    this.network.crashed(node.address, incarnation);
    void node.sqlite?.close();
    node.sqlite = undefined;
  }

  // ---------------------------------------------------------- clients

  async #client(id: number): Promise<void> {
    this.#clientsRunning++;
    const r = mulberry32(this.config.seed * 131 + id);
    let seq = 0;
    try {
      while (this.#stepsLeft > 0 || (this.#calm && !this.#calmOver)) {
        if (!this.#calm) this.#stepsLeft--;
        const node = this.#pickFrom(
          r,
          this.#calm ? this.#members() : this.#healthy ?? this.#members(),
        );
        if (node !== undefined) await this.#operate(id, r, node, () => ++seq);
        await this.#sleep(Math.floor(r() * this.config.thinkMaxMs));
        if (this.#violation !== undefined) return;
      }
    } finally {
      this.#clientsRunning--;
    }
  }

  #calmOver = false;
  /** During a scenario, the nodes clients use. */
  #healthy: SimNode[] | undefined;
  #scenarioAt: number | undefined;

  #pickFrom<T>(r: () => number, items: readonly T[]): T | undefined {
    return items.length === 0
      ? undefined
      : items[Math.floor(r() * items.length)];
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.scheduler.after(ms, resolve));
  }

  /**
   * Runs `fn` on `node` as a client request would: refused at once if
   * the process is down, held while it is frozen, abandoned (outcome
   * unknown) if it crashes. An operation that never settles while its
   * node runs is a bug.
   */
  #request<T>(
    node: SimNode,
    what: string,
    fn: (core: ClusterNode) => Promise<T>,
  ): Promise<
    { ok: true; value: T } | { ok: false; error: unknown } | undefined
  > {
    if (!node.up || node.core === undefined) {
      return Promise.resolve({
        ok: false,
        error: new PeerError(node.address, "refused"),
      });
    }
    const incarnation = node.incarnation;
    const started = this.scheduler.now;
    const frozenAtStart = node.frozenMs(started);
    const bound = 4 * this.config.requestDeadlineMs +
      2 * this.config.peerDeadlineMs;
    return new Promise((resolve) => {
      let done = false;
      const finish = (
        v: { ok: true; value: T } | { ok: false; error: unknown } | undefined,
      ) => {
        if (done) return;
        done = true;
        resolve(v);
      };
      const watch = () => {
        if (done) return;
        if (node.incarnation !== incarnation || !node.up) {
          return finish(undefined);
        }
        const ran = this.scheduler.now - started -
          (node.frozenMs(this.scheduler.now) - frozenAtStart);
        if (ran < bound || node.paused) {
          this.scheduler.after(Math.max(100, bound - ran), watch);
          return;
        }
        this.#fail(
          `${what} through ${node.address} did not settle in ${ran} ms`,
        );
        finish(undefined);
      };
      this.scheduler.after(bound, watch);
      node.run(incarnation, () => {
        const core = node.core;
        if (core === undefined) {
          return finish({
            ok: false,
            error: new PeerError(node.address, "starting"),
          });
        }
        let pending: Promise<T>;
        try {
          pending = fn(core);
        } catch (error) {
          pending = Promise.reject(error);
        }
        pending.then(
          (value) => finish({ ok: true, value }),
          (error) => {
            if (!(error instanceof KvdbError)) {
              this.#fail(
                `${what} through ${node.address} threw: ${
                  error instanceof Error ? error.stack : String(error)
                }`,
              );
            }
            finish({ ok: false, error });
          },
        );
      });
    });
  }

  async #operate(
    client: number,
    r: () => number,
    node: SimNode,
    nextSeq: () => number,
  ): Promise<void> {
    const dice = r();
    const key = () => `k${Math.floor(r() * this.config.keys)}`;
    const consistency: Consistency = this.config.scenario !== undefined
      ? "quorum"
      : r() < 0.1
      ? "one"
      : r() < 0.1
      ? "all"
      : "quorum";
    const strict = consistency === "all" || r() < this.config.strictRate;
    const settings = node.core?.coordinator.settings;
    if (settings === undefined) return;
    const n = settings.replicationFactor;
    const w = consistency === "one"
      ? 1
      : consistency === "all"
      ? n
      : settings.writeQuorum;
    const rq = consistency === "one"
      ? 1
      : consistency === "all"
      ? n
      : settings.readQuorum;
    const now = () => this.scheduler.now + EPOCH_MS;
    const write = (kind: WriteOp["kind"], k: string, value: string | null) =>
      this.history.begin({
        client,
        kind,
        key: k,
        value,
        coordinator: node.address,
        replicas: node.core?.coordinator.replicas(k) ?? [],
        strict,
        w,
        n,
        invokedAt: now(),
      });
    const settle = (
      op: WriteOp,
      outcome: WriteOp["outcome"],
      version?: Version,
      why?: unknown,
    ) => {
      op.outcome = outcome;
      op.settledAt = now();
      this.#log(
        `${op.kind} #${op.id} '${op.key}'=${op.value} via ${op.coordinator}${
          op.strict ? " strict" : ""
        } W=${op.w}: ${outcome}${version ? " " + show(version) : ""}${
          why instanceof Error ? ` (${why.message})` : ""
        }`,
      );
      this.stats.writes++;
      if (outcome === "ok") {
        op.version = version;
        this.stats.acknowledged++;
        this.#checkDurable(op, node);
        this.history.settled(op);
        // Every copy may have gone with a disk while the answer was on its
        // way (a W=1 write whose replica lost its disk before the
        // coordinator heard back): lost, not a bug.
        this.#noteSurvivors();
      } else if (outcome === "failed") this.stats.failed++;
      else this.stats.unknown++;
    };
    if (!this.#calm && dice < 0.4) {
      const k = key();
      const op = write("set", k, `c${client}.${nextSeq()}`);
      const out = await this.#request(
        node,
        "a set",
        (core) => core.coordinator.set(k, op.value, { consistency, strict }),
      );
      if (out === undefined) settle(op, "unknown");
      else if (out.ok) settle(op, "ok", out.value);
      else settle(op, "failed", undefined, out.error);
    } else if (!this.#calm && dice < 0.5) {
      const k = key();
      const op = write("pop", k, null);
      const invokedAt = now();
      const out = await this.#request(
        node,
        "a pop",
        (core) => core.coordinator.remove(k, { consistency, strict }),
      );
      if (out === undefined) settle(op, "unknown");
      else if (!out.ok) settle(op, "failed");
      else {
        this.#checkRead(node, k, rq, n, invokedAt, out.value.prior);
        if (out.value.version === undefined) settle(op, "failed");
        else settle(op, "ok", out.value.version);
      }
    } else if (!this.#calm && dice < 0.6) {
      const keys = [
        ...new Set(Array.from({ length: 1 + Math.floor(r() * 4) }, key)),
      ];
      const ops = keys.map((k) => write("mset", k, `c${client}.${nextSeq()}`));
      const out = await this.#request(
        node,
        "an mset",
        (core) =>
          core.coordinator.setEach(ops.map((op) => [op.key, op.value]), {
            consistency,
            strict,
          }),
      );
      ops.forEach((op, i) => {
        if (out === undefined) settle(op, "unknown");
        else if (!out.ok) settle(op, "failed");
        else {
          const result = out.value[i]!;
          if (result.status === "fulfilled") settle(op, "ok", result.value);
          else {
            if (!(result.reason instanceof KvdbError)) {
              this.#fail(`an mset write threw: ${result.reason}`);
            }
            settle(op, "failed");
          }
        }
      });
    } else if (dice < 0.95) {
      const k = key();
      const invokedAt = now();
      // Replicas up, alive to this coordinator and not failing fast to it,
      // as it began (a read asks only the replicas it holds up).
      const running = new Map(
        this.nodes.filter((m) =>
          m.up && m.core !== undefined && !m.paused &&
          node.breaker?.isOpen(m.address) !== true &&
          node.core?.membership.get(m.address)?.state === "alive"
        ).map((m) => [m.address, m.incarnation]),
      );
      // Whether its ring is stale as it places the read (it may run late:
      // a frozen node), as well as once it answers.
      let staleAtStart = false;
      const out = await this.#request(
        node,
        "a get",
        (core) => {
          staleAtStart = this.#staleRing(node);
          return core.coordinator.read(k, { consistency });
        },
      );
      if (out?.ok) {
        this.#checkRead(
          node,
          k,
          rq,
          n,
          invokedAt,
          out.value,
          running,
          staleAtStart,
        );
      }
    } else {
      const invokedAt = now();
      const out = await this.#request(
        node,
        "a listing",
        (core) => core.coordinator.allKeys(),
      );
      if (out?.ok) {
        this.history.listing(
          node.address,
          out.value,
          invokedAt,
          settings.readQuorum,
          n,
        );
      }
    }
  }

  /**
   * True when `node`'s ring (the one reads use) is not the ring most
   * running nodes have: cut off while a move completed, it still reads
   * from the replicas it last knew, outside what R + W > N promises.
   */
  #staleRing(node: SimNode): boolean {
    const rings = new Map<string, number>();
    for (const n of this.#running()) {
      const ring = n.core!.coordinator.ring.members.join(",");
      rings.set(ring, (rings.get(ring) ?? 0) + 1);
    }
    const [common] = [...rings].sort((a, b) => b[1] - a[1])[0] ?? [];
    const mine = node.core?.coordinator.ring.members.join(",");
    return common !== undefined && mine !== undefined && mine !== common;
  }

  #checkRead(
    node: SimNode,
    key: string,
    r: number,
    n: number,
    invokedAt: number,
    record: StoredRecord | undefined,
    wasRunning: ReadonlyMap<string, number> = new Map(),
    staleAtStart = false,
  ): void {
    this.#log(
      `read '${key}' via ${node.address} R=${r}: ${
        record === undefined
          ? "nothing"
          : `${JSON.stringify(record.value)} ${show(record.version)}`
      }`,
    );
    this.history.read({
      key,
      coordinator: node.address,
      r,
      n,
      invokedAt,
      settledAt: this.scheduler.now + EPOCH_MS,
      record,
      staleView: staleAtStart || this.#staleRing(node),
    });
    // While all is well, read repair must bring every replica up to it.
    if (
      this.#calm && record !== undefined && node.core !== undefined && r > 1
    ) {
      const coordinator = node.core.coordinator;
      const replicas = coordinator.replicas(key);
      const membership = node.core.membership;
      const breaker = node.breaker!;
      // Only when every replica answered: each up, alive to the
      // coordinator, and not failing fast.
      const answered = (m: string) => {
        const replica = this.nodes.find((n) => n.address === m);
        return membership.get(m)?.state === "alive" && !breaker.isOpen(m) &&
          replica?.core !== undefined && replica.up && !replica.paused &&
          replica.incarnation === wasRunning.get(m);
      };
      // And only when every node places the key alike: a node that is
      // a replica in a stale view only hands a repair on.
      const agreed = this.#running().every((m) =>
        !m.core!.topology.inTransition &&
        m.core!.coordinator.replicas(key).join() === replicas.join()
      );
      if (agreed && replicas.every(answered)) {
        this.#reads.push({
          key,
          version: record.version,
          replicas,
          at: this.scheduler.now,
        });
      }
    }
  }

  /** Persist before acknowledging: W nodes hold the write (or newer). */
  #checkDurable(op: WriteOp, coordinator: SimNode): void {
    const v = op.version!;
    const holders: string[] = [];
    // The write went to the replicas of its start; the ring may have
    // changed since.
    const replicas = [
      ...op.replicas,
      ...coordinator.core?.coordinator.replicas(op.key) ?? [],
    ];
    const since = op.invokedAt - EPOCH_MS;
    for (const node of this.nodes) {
      // A node that crashed since the write began may have held it then
      // (a memory engine's hints, a lost disk): it may count.
      if (node.crashedAt >= since) {
        holders.push(`${node.address} (crashed since)`);
        continue;
      }
      const stored = node.shadow.get(op.key);
      const inStore = stored !== undefined && compareVersions(stored, v) >= 0;
      if (op.strict) {
        if (inStore && replicas.includes(node.address)) {
          holders.push(node.address);
        }
        continue;
      }
      const hinted = node.up && node.core !== undefined
        ? node.core.hints.newest(op.key)
        : undefined;
      if (
        inStore || (hinted !== undefined && compareVersions(hinted, v) >= 0)
      ) {
        holders.push(node.address);
      }
    }
    if (holders.length < op.w) {
      this.#fail(
        `${op.kind} #${op.id} of '${op.key}' ${
          show(v)
        } through ${op.coordinator} was acknowledged (W=${op.w}${
          op.strict ? ", strict" : ""
        }) while only ${holders.length} nodes held it: ${
          holders.join(", ") || "none"
        }`,
      );
    }
  }

  // ----------------------------------------------------------- checks

  /** The cheap invariants, after every event. */
  #checkStep(): void {
    for (const node of this.nodes) {
      const core = node.core;
      if (!node.up || core === undefined) continue;
      const hints = core.hints.stats();
      if (hints.count > this.config.hintCountMax + this.#loadedHints(node)) {
        this.#fail(
          `${node.address} holds ${hints.count} hints, over its bound of ${this.config.hintCountMax}`,
        );
      }
      if (
        core.membership.me.state !== "alive" && !node.leaving &&
        core.membership.me.state !== "left"
      ) {
        this.#fail(`${node.address} sees itself ${core.membership.me.state}`);
      }
    }
  }

  #loadedHints(_node: SimNode): number {
    // A durable hint log starts with what it kept, whatever the bound.
    return _node.engine === "sqlite" ? _node.hintShadow.size : 0;
  }

  /**
   * Hints go only once their target has them: every hint gone since the
   * last look is held by its target (or, for a member that left, by
   * some node).
   */
  #checkHints(): void {
    for (const node of this.nodes) {
      const core = node.core;
      if (!node.up || core === undefined) {
        this.#hintSnapshots.delete(node.address);
        continue;
      }
      const hints = new Map<string, Version>();
      for (const target of core.hints.targets()) {
        for (const record of core.hints.peek(target, Infinity)) {
          hints.set(`${target}|${record.key}`, record.version);
        }
      }
      const before = this.#hintSnapshots.get(node.address);
      this.#hintSnapshots.set(node.address, {
        incarnation: node.incarnation,
        hints,
      });
      if (before === undefined || before.incarnation !== node.incarnation) {
        continue;
      }
      for (const [id, version] of before.hints) {
        const kept = hints.get(id);
        if (kept !== undefined && compareVersions(kept, version) >= 0) continue;
        const [target, key] = splitHint(id);
        const owner = this.nodes.find((n) => n.address === target);
        // Delivered, then lost with the owner's disk: an answer may come
        // back after the loss (a slow message), so any loss since the
        // hint's write counts.
        const written = version[0] - EPOCH_MS - this.config.maxClockOffsetMs;
        if (owner === undefined || owner.diskLostAt >= written) continue;
        const atLeast = (v: Version | undefined) =>
          v !== undefined && compareVersions(v, version) >= 0;
        const holds = (n: SimNode) =>
          atLeast(n.store?.get(key)?.version ?? n.shadow.get(key));
        // Handed on to the key's replicas, it may sit at a stand-in again.
        const hinted = (n: SimNode) => atLeast(n.core?.hints.newest(key));
        // A member that is no longer a replica of the key (the ring moved),
        // or that left or was removed since the write (and may be back as
        // a new member), gets it through the key's replicas: then some
        // node holds it.
        const replica = owner.core?.coordinator.replicas(key).includes(target);
        const leftSince = owner.leftAt + EPOCH_MS >=
          version[0] - this.config.maxClockOffsetMs;
        // The same when the node that dropped it sees the target as gone
        // (a node back with `--join` is not a member again until it says
        // so; until then its hints go to the key's replicas).
        const seen = node.core?.membership.get(target);
        const gone = seen === undefined || seen.state === "left";
        const ok = owner.status === "member" && replica !== false &&
            !leftSince && !gone
          ? holds(owner)
          : this.nodes.some((n) => holds(n) || hinted(n));
        if (!ok) {
          this.#fail(
            `${node.address} dropped its hint of '${key}' ${
              show(version)
            } for ${target}, which does not hold it`,
          );
        }
      }
    }
  }

  /** In calm: reads' replicas hold what the read returned, once repaired. */
  #checkReadRepair(): void {
    const due = this.scheduler.now - 4 * this.config.odds.delayMaxMs - 100;
    while (this.#reads.length > 0 && this.#reads[0]!.at <= due) {
      const read = this.#reads.shift()!;
      for (const address of read.replicas) {
        const node = this.nodes.find((n) => n.address === address)!;
        if (!node.up || node.paused || node.store === undefined) continue;
        const held = node.store.get(read.key)?.version;
        if (held === undefined || compareVersions(held, read.version) < 0) {
          this.#fail(
            `read repair: '${read.key}' read as ${
              show(read.version)
            } at ${read.at} ms, but replica ${address} still holds ${
              held === undefined ? "nothing" : show(held)
            } (its replicas: ${
              node.core?.coordinator.replicas(read.key).join(" ")
            })`,
          );
        }
      }
    }
  }

  /** Why the cluster has not converged, or undefined once it has. */
  #unconverged(): string | undefined {
    const running = this.#running();
    const members = this.#members();
    if (running.length !== members.length) {
      const stuck = members.filter((n) => !running.includes(n)).map((n) =>
        `${n.address} (up ${n.up}, started ${
          n.core !== undefined
        }, paused ${n.paused}, leaving ${n.leaving})`
      );
      return `not running: ${stuck.join(", ")}`;
    }
    for (const node of running) {
      const core = node.core!;
      for (const other of members) {
        const m = core.membership.get(other.address);
        if (m?.state !== "alive" || m.phase !== "ready") {
          return `${node.address} sees ${other.address} ${
            m?.state ?? "unknown"
          } ${m?.phase ?? ""}`;
        }
      }
      if (core.topology.inTransition) {
        return `${node.address} is in a transition`;
      }
      const hints = core.hints.stats();
      if (hints.count > 0) {
        const [target, count] = Object.entries(hints.targets)[0]!;
        const record = core.hints.peek(target, 1)[0]!;
        const held = this.nodes.find((n) => n.address === target)?.shadow.get(
          record.key,
        );
        const m = core.membership.get(target);
        const views = this.#members().map((n) => {
          const v = n.core?.membership.get(target);
          return `${n.address}: ${v?.state}@${v?.incarnation}`;
        }).join("; ");
        return `${node.address} holds ${hints.count} hints, ${count} for ${target} (${
          m === undefined
            ? "not a member"
            : `${m.state}@${m.incarnation} ${m.phase}`
        }), such as '${record.key}' ${show(record.version)} (it holds ${
          held === undefined ? "nothing" : show(held)
        }); views: ${views}`;
      }
    }
    const coordinator = running[0]!.core!.coordinator;
    const ring = coordinator.ring.members.join(",");
    const expected = members.map((n) => n.address).sort().join(",");
    if (ring !== expected) {
      return `the ring of ${
        running[0]!.address
      } is ${ring}, not the members ${expected}`;
    }
    for (const node of running) {
      if (node.core!.coordinator.ring.members.join(",") !== ring) {
        return `${node.address} has another ring`;
      }
    }
    for (const key of this.history.keys()) {
      const replicas = coordinator.replicas(key);
      let version: Version | undefined;
      for (const node of running) {
        const record = node.store!.get(key);
        const replica = replicas.includes(node.address);
        if (!replica) {
          if (record !== undefined) {
            return `'${key}' is on ${node.address}, not one of its replicas ${
              replicas.join(", ")
            }`;
          }
          continue;
        }
        if (record === undefined) {
          if (version !== undefined || this.#anyHolds(key)) {
            return `'${key}' is missing on replica ${node.address}`;
          }
          continue;
        }
        if (version === undefined) version = record.version;
        else if (compareVersions(version, record.version) !== 0) {
          return `'${key}' is ${show(version)} on one replica and ${
            show(record.version)
          } on ${node.address}`;
        }
      }
    }
    return undefined;
  }

  #anyHolds(key: string): boolean {
    return this.#running().some((n) => n.store!.get(key) !== undefined);
  }

  /** The final checks, once converged: nothing acknowledged was lost. */
  async #checkFinal(): Promise<void> {
    const running = this.#running();
    const coordinator = running[0]!.core!.coordinator;
    const live: string[] = [];
    const final = new Map<string, StoredRecord | undefined>();
    for (const key of this.history.keys()) {
      const replica = running.find((n) =>
        n.address === coordinator.replicas(key)[0]
      )!;
      const record = replica.store!.get(key);
      final.set(key, record);
      if (record !== undefined) {
        this.history.known(
          record,
          `the final state of ${replica.address}`,
          EPOCH_MS + this.scheduler.now,
        );
        if (!record.tombstone) live.push(key);
      }
      const kept = this.history.newestKept(key);
      if (kept === undefined) continue;
      if (
        record === undefined ||
        compareVersions(record.version, kept.version!) < 0
      ) {
        this.#fail(
          `'${key}' ends as ${
            record === undefined ? "nothing" : show(record.version)
          }, older than ${kept.kind} #${kept.id} ${
            show(kept.version!)
          } acknowledged at ${kept.settledAt} ms`,
        );
        return;
      }
    }
    // Every node reads the same, and lists the same keys.
    for (const node of running) {
      for (const key of this.history.keys()) {
        const out = await this.#settle(
          this.#request(
            node,
            "a final read",
            (core) => core.coordinator.read(key),
          ),
        );
        const expected = final.get(key);
        const want = expected === undefined || expected.tombstone
          ? undefined
          : expected.value;
        if (!out?.ok || (out.value?.value ?? undefined) !== want) {
          this.#fail(
            `a final read of '${key}' through ${node.address} gave ${
              out?.ok ? JSON.stringify(out.value?.value) : "an error"
            }, not ${JSON.stringify(want)}`,
          );
          return;
        }
      }
      const listed = await this.#settle(
        this.#request(
          node,
          "a final listing",
          (core) => core.coordinator.allKeys(),
        ),
      );
      if (!listed?.ok || listed.value.join(",") !== live.sort().join(",")) {
        this.#fail(
          `the final listing through ${node.address} is ${
            listed?.ok ? JSON.stringify(listed.value) : "an error"
          }, not ${JSON.stringify(live)}`,
        );
        return;
      }
    }
  }

  /** Runs the scheduler until `promise` settles. */
  async #settle<T>(promise: Promise<T>): Promise<T> {
    let done = false;
    let value: T;
    promise.then((v) => {
      done = true;
      value = v;
    });
    while (!done) {
      if (!await this.#step(Infinity)) break;
    }
    return value!;
  }

  async #step(until: number): Promise<boolean> {
    const stepped = await this.scheduler.step(until);
    if (stepped) this.#checkStep();
    if (this.#violation !== undefined) throw new Violation(this.#violation);
    return stepped;
  }

  async #runUntil(until: number): Promise<void> {
    while (await this.#step(until));
    this.scheduler.now = Math.max(this.scheduler.now, until);
  }

  async #runWhile(condition: () => boolean): Promise<void> {
    while (condition()) {
      if (!await this.#step(Infinity)) return;
    }
  }

  // -------------------------------------------------------------- run

  /** Runs the world through its phases and checks everything. */
  async run(): Promise<RunResult> {
    try {
      await this.#phases();
    } catch (error) {
      if (!(error instanceof Violation)) {
        this.#fail(
          `the run threw: ${error instanceof Error ? error.stack : error}`,
        );
      }
    } finally {
      this.#close();
    }
    const s = this.stats;
    s.events = this.scheduler.steps;
    s.simulatedMs = this.scheduler.now;
    s.reads = this.history.reads;
    s.checkedReads = this.history.checkedReads;
    s.staleViewReads = this.history.staleViewReads;
    s.listings = this.history.listings;
    s.messages = this.network.stats.sent;
    s.dropped = this.network.stats.dropped;
    s.duplicated = this.network.stats.duplicated;
    const scenario = this.#scenarioStats();
    if (scenario !== undefined) s.scenario = scenario;
    return {
      seed: this.config.seed,
      config: this.config,
      violation: this.#violation,
      stats: s,
    };
  }

  async #phases(): Promise<void> {
    const founders = this.nodes.slice(0, this.config.nodes);
    // Every founder lists all of them (`-C`) before the first starts:
    // started one by one, the first would see itself the only member.
    for (const node of founders) {
      node.status = "member";
      node.seeds = founders.map((n) => n.address);
    }
    for (const node of founders) this.#start(node);
    await this.#runUntil(WARM_UP_MS);
    // Load and faults until the clients have made their operations.
    const repeatCheck = () => {
      this.#checkHints();
      this.#checkReadRepair();
      this.scheduler.after(HINT_CHECK_MS, repeatCheck);
    };
    this.scheduler.after(HINT_CHECK_MS, repeatCheck);
    const faults = () => {
      if (!this.#faulting) return;
      this.#fault();
      this.scheduler.after(
        Math.floor(this.#r() * 2 * this.config.faultEveryMs),
        faults,
      );
    };
    if (this.config.scenario === undefined) {
      this.scheduler.after(
        Math.floor(this.#r() * this.config.faultEveryMs),
        faults,
      );
    } else this.scheduler.after(SCENARIO_AFTER_MS, () => this.#scenario());
    for (let i = 0; i < this.config.clients; i++) void this.#client(i);
    await this.#runWhile(() => this.#stepsLeft > 0);
    // Calm: every fault heals, every node runs; reads go on a while.
    this.#faulting = false;
    this.#lastFaultAt = this.scheduler.now;
    this.network.heal();
    this.network.odds = {
      ...this.network.odds,
      dropRate: 0,
      dupRate: 0,
      slowRate: 0,
    };
    for (const node of this.#members()) {
      if (node.paused) this.#resume(node);
      if (!node.up) this.#start(node);
    }
    this.#calm = true;
    for (let i = 0; i < this.config.clients; i++) void this.#client(i);
    await this.#runUntil(this.scheduler.now + CALM_MS);
    this.#calmOver = true;
    await this.#runWhile(() => this.#clientsRunning > 0);
    // Converge: within a bounded time, every key on exactly its replicas.
    const deadline = this.#lastFaultAt + CONVERGE_MS_MAX;
    let why = this.#unconverged();
    while (why !== undefined && this.scheduler.now < deadline) {
      this.#repeatRemovals();
      await this.#runUntil(this.scheduler.now + CONVERGE_POLL_MS);
      why = this.#unconverged();
    }
    if (why !== undefined) {
      this.#fail(
        `not converged ${CONVERGE_MS_MAX} ms after the last fault: ${why}`,
      );
      throw new Violation(this.#violation!);
    }
    this.stats.convergedInMs = this.scheduler.now - this.#lastFaultAt;
    await this.#checkFinal();
    if (this.#violation !== undefined) throw new Violation(this.#violation);
  }

  #close(): void {
    for (const node of this.nodes) {
      node.up = false;
      node.store?.fence();
      try {
        void node.sqlite?.close();
      } catch {
        // closing a store the run broke: nothing more to learn from it
      }
    }
    if (this.#dir !== undefined) {
      Deno.removeSync(this.#dir, { recursive: true });
    }
  }
}

function splitHint(id: string): [string, string] {
  const i = id.indexOf("|");
  return [id.slice(0, i), id.slice(i + 1)];
}

/** Runs one seed with a configuration. */
export async function runWorld(config: SimConfig): Promise<RunResult> {
  return await new World(config).run();
}
