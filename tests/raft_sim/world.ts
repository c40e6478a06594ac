/**
 * A simulated world for the KV databases: every node's real code
 * (`KvDatabases`, `KvDatabase`, the Raft core, SQLite replicas in memory)
 * in one process, on one simulated timeline, over a simulated network
 * that delays, reorders, drops and duplicates messages and partitions
 * nodes; nodes crash (keeping their disk or losing it) and restart; each
 * node's clock is skewed in offset and rate. Clients run a register
 * workload (read, write, compare-and-set on a few keys) through random
 * nodes and record what they saw; Raft's safety properties are checked
 * after every event, and the history by the linearizability checker at
 * the end. Everything is drawn from one seed: a failure replays from it.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { Clock, Timer } from "../../src/clock/mod.ts";
import type { Entry } from "../../src/consensus/mod.ts";
import {
  KvDatabases,
  KvService,
  type OpenStoreOptions,
  ReplicaStore,
} from "../../src/kv/mod.ts";
import {
  parsePeerRequest,
  parsePeerResponse,
  PeerError,
  type PeerRequest,
  type PeerResponse,
  type PeerTransport,
} from "../../src/transport/mod.ts";
import {
  checkPerKey,
  type Operation,
  type RegisterInput,
  registerModel,
  type RegisterOutput,
} from "./linearizability.ts";

/** mulberry32. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Scheduled {
  at: number;
  seq: number;
  fn: () => void;
}

/** The simulated timeline: a heap of timers in (time, order) order. */
export class Timeline {
  now = 0;
  #heap: Scheduled[] = [];
  #seq = 0;

  after(ms: number, fn: () => void): Timer {
    const item = { at: this.now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#push(item);
    return { cancel: () => item.fn = () => {} };
  }

  #less(a: Scheduled, b: Scheduled) {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(x: Scheduled) {
    const h = this.#heap;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): Scheduled | undefined {
    const h = this.#heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  /** Runs one timer and the promise continuations it causes; false when none is left before `until`. */
  async step(until: number): Promise<boolean> {
    const h = this.#heap;
    if (h.length === 0 || h[0]!.at > until) return false;
    const next = this.#pop()!;
    this.now = next.at;
    next.fn();
    // Let every promise continuation this caused run before the next timer.
    await new Promise((resolve) => setImmediate(resolve));
    return true;
  }
}

/** What a run is made of, drawn from its seed. */
export interface WorldOptions {
  seed: number;
  nodes?: number;
  clients?: number;
  /** Simulated ms of faults and load. */
  durationMs?: number;
  /** Serve follower reads without ReadIndex (the mutant the checker must catch). */
  unsafeFollowerReads?: boolean;
  /** Allow disk loss on crash (a minority at a time). */
  diskLoss?: boolean;
}

/** A broken invariant or a non-linearizable history: the run fails. */
export class SimViolation extends Error {}

interface SimNode {
  address: string;
  up: boolean;
  /** Stopped (SIGSTOP): nothing runs, what falls due is held until it resumes. */
  paused: boolean;
  held: (() => void)[];
  incarnation: number;
  /** The replicas on this node's "disk", by database. */
  disk: Map<string, ReplicaStore>;
  kv: KvDatabases | undefined;
  service: KvService | undefined;
  offsetMs: number;
  rate: number;
  /** Term of each index this node has persisted (index 0 unused). */
  shadow: number[];
  snapIndex: number;
  /** Lost its disk and has not yet been brought up to date by a leader. */
  empty: boolean;
}

type Op = Operation<RegisterInput, RegisterOutput> & { key: string };

/** The outcome of one run. */
export interface RunResult {
  seed: number;
  ops: number;
  acknowledgedWrites: number;
  unknown: number;
  leaders: number;
  crashes: number;
  diskLosses: number;
  partitions: number;
  snapshots: number;
  pauses: number;
  violation?: string;
}

const KEYS = ["a", "b", "c"];

/** One simulated run. */
export class World {
  readonly t = new Timeline();
  readonly nodes: SimNode[] = [];
  readonly #r: () => number;
  readonly #o: Required<WorldOptions>;
  readonly #cut = new Set<string>();
  #drop = 0;
  #dup = 0;
  #maxDelay = 10;
  readonly history: Op[] = [];
  #nextValue = 1;
  /** (index, term) -> entry data and the term before it, across every node. */
  readonly #entries = new Map<string, string>();
  /** index -> term and data of what was applied there, by anyone. */
  readonly #applied = new Map<number, string>();
  readonly #leaderOfTerm = new Map<number, string>();
  readonly #checkedLeaders = new Set<string>();
  #violation: string | undefined;
  readonly #commits: { call: number; ret: number; vs: string }[] = [];
  readonly #closers: (() => void)[] = [];
  readonly #counts = {
    crashes: 0,
    diskLosses: 0,
    partitions: 0,
    snapshots: 0,
    pauses: 0,
  };

  constructor(options: WorldOptions) {
    this.#o = {
      nodes: 3,
      clients: 4,
      durationMs: 6_000,
      unsafeFollowerReads: false,
      diskLoss: true,
      ...options,
    };
    this.#r = rng(options.seed);
    this.#drop = this.#r() * 0.05;
    this.#dup = this.#r() * 0.05;
    this.#maxDelay = 1 + Math.floor(this.#r() * 30);
    for (let i = 0; i < this.#o.nodes; i++) {
      this.nodes.push({
        address: `10.0.0.${i + 1}:5878`,
        up: false,
        paused: false,
        held: [],
        incarnation: 0,
        disk: new Map(),
        kv: undefined,
        service: undefined,
        offsetMs: Math.floor((this.#r() - 0.5) * 1_000),
        rate: 0.9 + this.#r() * 0.2,
        shadow: [0],
        snapIndex: 0,
        empty: false,
      });
    }
  }

  #fail(what: string): void {
    this.#violation ??= `t=${this.t.now}: ${what}`;
  }

  // ------------------------------------------------------------- nodes

  #clock(node: SimNode, incarnation: number): Clock {
    const t = this.t;
    return {
      now: () => Math.floor(t.now + node.offsetMs),
      after: (ms, fn) =>
        t.after(Math.ceil(ms * node.rate), () => {
          if (node.up && node.incarnation === incarnation) this.#run1(node, fn);
        }),
    };
  }

  /** Runs `fn` on `node` now, or when it resumes if it is paused. */
  #run1(node: SimNode, fn: () => void): void {
    if (node.paused) node.held.push(fn);
    else fn();
  }

  #pause(node: SimNode, ms: number): void {
    this.#counts.pauses++;
    node.paused = true;
    const incarnation = node.incarnation;
    this.t.after(ms, () => {
      if (!node.paused || node.incarnation !== incarnation) return;
      node.paused = false;
      const held = node.held;
      node.held = [];
      for (const fn of held) fn();
    });
  }

  #openStore(node: SimNode, name: string, o: OpenStoreOptions) {
    const kept = node.disk.get(name);
    if (kept !== undefined) return kept;
    // A node that lost its disk does not found the group again: it waits
    // for a leader to bring it up to date (and does not vote meanwhile).
    const bootstrap = node.empty ? undefined : o.bootstrap;
    if (bootstrap === undefined && !o.create) return undefined;
    const store = ReplicaStore.open(":memory:", {
      ...(bootstrap !== undefined ? { bootstrap } : {}),
      compactAfter: 40,
      tailKept: 10,
    });
    if (bootstrap !== undefined) node.shadow = [0, 1];
    this.#instrument(node, store);
    node.disk.set(name, store);
    return store;
  }

  /** Watches what a replica persists and applies: the Raft safety properties. */
  #instrument(node: SimNode, store: ReplicaStore): void {
    const handle = store.handleReady.bind(store);
    // A crash keeps the "disk": the store is closed only when the run ends.
    this.#closers.push(store.close.bind(store));
    store.close = () => {};
    store.handleReady = (rd, conf) => {
      if (rd.snapshot !== undefined) {
        this.#counts.snapshots++;
        node.snapIndex = rd.snapshot.meta.index;
        node.shadow = [];
        node.shadow[rd.snapshot.meta.index] = rd.snapshot.meta.term;
      }
      for (const e of rd.entries) this.#persisted(node, e);
      for (const e of rd.committedEntries) this.#appliedAt(e);
      return handle(rd, conf);
    };
  }

  #persisted(node: SimNode, e: Entry): void {
    node.shadow.length = e.index;
    const prevTerm = node.shadow[e.index - 1] ?? -1;
    node.shadow[e.index] = e.term;
    const k = `${e.index}:${e.term}`;
    const v = `${prevTerm}|${e.type}|${e.data}`;
    const seen = this.#entries.get(k);
    // Log matching: one (index, term) is one entry, after the same entry.
    if (seen !== undefined && seen !== v && prevTerm !== -1) {
      if (
        seen.split("|").slice(1).join("|") !== v.split("|").slice(1).join("|")
      ) {
        this.#fail(
          `log matching: two entries at index ${e.index} term ${e.term}`,
        );
      }
    }
    if (seen === undefined || seen.startsWith("-1|")) this.#entries.set(k, v);
  }

  #appliedAt(e: Entry): void {
    const v = `${e.term}|${e.type}|${e.data}`;
    const seen = this.#applied.get(e.index);
    // State machine safety: one entry per index, whoever applies it.
    if (seen !== undefined && seen !== v) {
      this.#fail(
        `state machine safety: two entries applied at index ${e.index}`,
      );
    }
    this.#applied.set(e.index, v);
  }

  /** Election safety and leader completeness, after every event. */
  #checkLeaders(): void {
    for (const node of this.nodes) {
      if (!node.up) continue;
      const db = node.kv?.replica("default");
      if (db === undefined) continue;
      const r = db.node.raft;
      if (r.state !== "leader") continue;
      const prior = this.#leaderOfTerm.get(r.term);
      if (prior !== undefined && prior !== node.address) {
        this.#fail(
          `election safety: ${prior} and ${node.address} lead term ${r.term}`,
        );
      }
      this.#leaderOfTerm.set(r.term, node.address);
      const id = `${node.address}@${r.term}`;
      if (this.#checkedLeaders.has(id)) continue;
      this.#checkedLeaders.add(id);
      for (const [index, v] of this.#applied) {
        const term = Number(v.split("|")[0]);
        if (term >= r.term || index <= node.snapIndex) continue;
        if (node.shadow[index] !== term) {
          this.#fail(
            `leader completeness: ${node.address} leads term ${r.term} without committed entry ${index} (term ${term})`,
          );
        }
      }
    }
  }

  #start(node: SimNode): void {
    node.up = true;
    node.incarnation++;
    const incarnation = node.incarnation;
    const addresses = this.nodes.map((n) => n.address);
    const kv = new KvDatabases({
      self: node.address,
      founders: addresses,
      voters: this.#o.nodes,
      transport: this.#transport(node, incarnation),
      clock: this.#clock(node, incarnation),
      schedule: (fn) =>
        void this.t.after(0, () => {
          if (node.up && node.incarnation === incarnation) {
            this.#run1(node, fn);
          }
        }),
      random: rng(
        this.#o.seed * 31 + node.incarnation * 7 +
          addresses.indexOf(node.address),
      ),
      members: () =>
        addresses.map((address) => ({ address, state: "alive" as const })),
      requestDeadlineMs: 2_000,
      peerDeadlineMs: 500,
      openStore: (name, o) => this.#openStore(node, name, o),
      ...(this.#o.unsafeFollowerReads ? { unsafeFollowerReads: true } : {}),
    });
    node.kv = kv;
    node.service = new KvService(kv, {
      now: () => Math.floor(this.t.now + node.offsetMs),
      newId: () => `${node.address}/${incarnation}/${this.#nextValue++}`,
    });
    kv.start();
  }

  #crash(node: SimNode, loseDisk: boolean): void {
    node.paused = false;
    node.held = [];
    if (node.up) this.#counts.crashes++;
    if (loseDisk) this.#counts.diskLosses++;
    node.up = false;
    node.kv?.stop();
    node.kv = undefined;
    node.service = undefined;
    if (loseDisk) {
      node.disk.clear();
      node.shadow = [0];
      node.snapIndex = 0;
      node.empty = true;
    }
  }

  // ----------------------------------------------------------- network

  #linked(a: string, b: string): boolean {
    return !this.#cut.has(`${a}|${b}`);
  }

  #byAddress(address: string): SimNode | undefined {
    return this.nodes.find((n) => n.address === address);
  }

  #transport(from: SimNode, incarnation: number): PeerTransport {
    return {
      call: (peer, request, deadlineMs) =>
        new Promise<PeerResponse>((resolve, reject) => {
          let settled = false;
          const settle = (fn: () => void) => {
            if (settled) return;
            settled = true;
            fn();
          };
          this.t.after(
            deadlineMs,
            () =>
              settle(() =>
                reject(new PeerError(peer, "no answer (simulated)"))
              ),
          );
          const wire = JSON.stringify(request);
          const deliver = (answer: boolean): void => {
            const to = this.#byAddress(peer);
            if (to?.paused) {
              to.held.push(() => deliver(answer));
              return;
            }
            if (
              to === undefined || !to.up || to.kv === undefined ||
              !this.#linked(from.address, peer) || this.#r() < this.#drop
            ) return;
            const toIncarnation = to.incarnation;
            let parsed: PeerRequest;
            try {
              parsed = parsePeerRequest(JSON.parse(wire));
            } catch (error) {
              this.#fail(`a peer request did not parse: ${error}`);
              return;
            }
            if (parsed.kind !== "raft" && parsed.kind !== "kv") return;
            to.kv.handlePeer(parsed).then((response) => {
              if (!answer) return;
              const back = JSON.stringify(response);
              this.t.after(this.#delay(), () => {
                if (
                  !from.up || from.incarnation !== incarnation ||
                  to.incarnation !== toIncarnation ||
                  !this.#linked(peer, from.address) || this.#r() < this.#drop
                ) return;
                settle(() =>
                  resolve(parsePeerResponse(request, JSON.parse(back)))
                );
              });
            }, (error) => {
              if (!answer) return;
              this.t.after(
                this.#delay(),
                () => settle(() => reject(new PeerError(peer, String(error)))),
              );
            });
          };
          this.t.after(this.#delay(), () => deliver(true));
          if (this.#r() < this.#dup) {
            this.t.after(this.#delay() * 3, () => deliver(false));
          }
        }),
    };
  }

  #delay(): number {
    return 1 + Math.floor(this.#r() * this.#maxDelay);
  }

  #partition(): void {
    this.#counts.partitions++;
    this.#cut.clear();
    const side = new Set(
      this.nodes.filter(() => this.#r() < 0.5).map((n) => n.address),
    );
    for (const a of this.nodes) {
      for (const b of this.nodes) {
        if (side.has(a.address) !== side.has(b.address)) {
          this.#cut.add(`${a.address}|${b.address}`);
        }
      }
    }
  }

  // ----------------------------------------------------------- clients

  async #client(id: number, until: number): Promise<void> {
    const r = rng(this.#o.seed * 1_000 + id);
    while (this.t.now < until) {
      const up = this.nodes.filter((n) =>
        n.up && !n.paused && n.service !== undefined
      );
      if (up.length === 0) {
        await this.#sleep(50);
        continue;
      }
      const node = up[Math.floor(r() * up.length)]!;
      const key = KEYS[Math.floor(r() * KEYS.length)]!;
      const dice = r();
      if (dice < 0.4) {
        await this.#read(id, node, key);
      } else if (dice < 0.7) {
        await this.#write(id, node, key);
      } else {
        const seen = await this.#read(id, node, key);
        if (seen !== undefined) await this.#cas(id, node, key, seen);
      }
      await this.#sleep(Math.floor(r() * 20));
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.t.after(ms, resolve));
  }

  /** A client's call, given up after 3 s (the node may have crashed under it). */
  #bounded<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.t.after(3_000, () => reject(new Error("client timeout")));
      p.then(resolve, reject);
    });
  }

  async #read(
    client: number,
    node: SimNode,
    key: string,
  ): Promise<{ value: number | null; vs: string | null } | undefined> {
    const call = this.t.now;
    try {
      const e = await this.#bounded(node.service!.get([key]));
      const value = e.value as number | null;
      this.history.push({
        client,
        key,
        call,
        ret: this.t.now,
        input: { op: "read" },
        output: { op: "read", value },
      });
      return { value, vs: e.versionstamp };
    } catch {
      return undefined; // a failed read constrains nothing
    }
  }

  async #write(client: number, node: SimNode, key: string): Promise<void> {
    const value = this.#nextValue++;
    const call = this.t.now;
    const op: Op = {
      client,
      key,
      call,
      ret: Infinity,
      input: { op: "write", value },
      output: undefined,
    };
    this.history.push(op);
    try {
      const r = await this.#bounded(
        node.service!.atomic([], [{ type: "set", key: [key], value }]),
      );
      if (r.ok) {
        op.ret = this.t.now;
        op.output = { op: "write" };
        this.#commits.push({ call, ret: op.ret, vs: r.versionstamp });
      }
    } catch {
      // Unknown outcome: it may or may not have been applied.
    }
  }

  async #cas(
    client: number,
    node: SimNode,
    key: string,
    seen: { value: number | null; vs: string | null },
  ): Promise<void> {
    const value = this.#nextValue++;
    const call = this.t.now;
    const op: Op = {
      client,
      key,
      call,
      ret: Infinity,
      input: { op: "cas", expected: seen.value, value },
      output: undefined,
    };
    this.history.push(op);
    try {
      const r = await this.#bounded(node.service!.atomic(
        [{ key: [key], versionstamp: seen.vs }],
        [{ type: "set", key: [key], value }],
      ));
      op.ret = this.t.now;
      op.output = { op: "cas", ok: r.ok };
      if (r.ok) this.#commits.push({ call, ret: op.ret, vs: r.versionstamp });
    } catch {
      // Unknown outcome.
    }
  }

  // -------------------------------------------------------------- faults

  #fault(): void {
    const dice = this.#r();
    const down = this.nodes.filter((n) => !n.up);
    const minority = Math.floor((this.nodes.length - 1) / 2);
    if (dice < 0.2) this.#partition();
    else if (dice < 0.35) this.#cut.clear();
    else if (dice < 0.45) {
      // Pause a node, the leader half the time, for 0.5-2.5 s.
      const up = this.nodes.filter((n) => n.up && !n.paused);
      const leader = up.find((n) => n.kv?.replica("default")?.isLeader);
      const victim = leader !== undefined && this.#r() < 0.5
        ? leader
        : up[Math.floor(this.#r() * up.length)];
      if (victim !== undefined) {
        this.#pause(victim, 500 + Math.floor(this.#r() * 2_000));
      }
    } else if (dice < 0.7 && down.length < minority) {
      const up = this.nodes.filter((n) => n.up);
      const victim = up[Math.floor(this.#r() * up.length)]!;
      const lostDisks = this.nodes.filter((n) => n.empty).length;
      const loseDisk = this.#o.diskLoss && lostDisks === 0 && this.#r() < 0.3;
      this.#crash(victim, loseDisk);
    } else if (down.length > 0) {
      this.#start(down[Math.floor(this.#r() * down.length)]!);
    }
  }

  async #run(until: number, onEvent?: () => void): Promise<void> {
    while (await this.t.step(until)) {
      this.#checkLeaders();
      onEvent?.();
      if (this.#violation !== undefined) return;
    }
    this.t.now = until;
  }

  /** Runs the world and checks everything; the result names any violation. */
  async run(): Promise<RunResult> {
    for (const n of this.nodes) this.#start(n);
    const end = this.#o.durationMs;
    const clients = Array.from(
      { length: this.#o.clients },
      (_, i) => this.#client(i, end),
    );
    // Faults every 100-600 ms, then a calm second to settle.
    const faults = () => {
      if (this.t.now > end - 1_000) return;
      this.#fault();
      this.t.after(100 + Math.floor(this.#r() * 500), faults);
    };
    this.t.after(300, faults);
    await this.#run(end - 1_000);
    this.#cut.clear();
    for (const n of this.nodes) if (!n.up) this.#start(n);
    // Paused nodes resume on their own timers.
    await this.#run(end + 4_000);
    // Clients stop at `end`; anything still pending is of unknown outcome.
    void clients;
    // Empty nodes have been brought up to date when they hold a configuration.
    for (const n of this.nodes) {
      if (n.empty && (n.kv?.replica("default")?.voters.length ?? 0) > 0) {
        n.empty = false;
      }
    }
    if (this.#violation === undefined) this.#checkHistory();
    for (const n of this.nodes) {
      n.kv?.stop();
      n.up = false;
    }
    for (const close of this.#closers) close();
    return {
      seed: this.#o.seed,
      ops: this.history.length,
      acknowledgedWrites: this.#commits.length,
      unknown: this.history.filter((o) => o.ret === Infinity).length,
      leaders: this.#leaderOfTerm.size,
      ...this.#counts,
      ...(this.#violation !== undefined ? { violation: this.#violation } : {}),
    };
  }

  #checkHistory(): void {
    const failed = checkPerKey(registerModel, this.history);
    if (failed.length > 0) {
      this.#fail(`not linearizable on key(s) ${failed.join(", ")}`);
      return;
    }
    // Versionstamps follow real time: a commit acknowledged before another
    // began has the smaller versionstamp.
    const byRet = [...this.#commits].sort((a, b) => a.ret - b.ret);
    for (const a of byRet) {
      for (const b of this.#commits) {
        if (a.ret < b.call && a.vs >= b.vs) {
          this.#fail(`versionstamp ${b.vs} after ${a.vs} went backwards`);
          return;
        }
      }
    }
  }
}

/** Runs one seed. */
export async function runSeed(
  seed: number,
  options: Omit<WorldOptions, "seed"> = {},
): Promise<RunResult> {
  return await new World({ seed, ...options }).run();
}
