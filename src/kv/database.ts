/**
 * One replica of one KV database, driven: a Raft {@link RawNode} over a
 * {@link ReplicaStore}, the Ready loop (persist and apply in one
 * transaction, then send, then advance), proposals that wait for their
 * definite outcome, and linearizable reads by ReadIndex. Sans-I/O: the
 * clock, the "run soon" scheduler, the randomness and the sending of
 * messages are handed in; the node's wiring passes timers and the peer
 * transport, the simulator its own.
 *
 * @module
 */

import type { Clock } from "../clock/mod.ts";
import {
  type ConfState,
  type Message,
  type NodeId,
  ProposalDroppedError,
  type RaftStatus,
  RawNode,
  type Ready,
} from "../consensus/mod.ts";
import { KvdbError, UnavailableError } from "../errors.ts";
import { type Command, type CommitResult, encodeCommand } from "./command.ts";
import type { Applied, KvRow, ReplicaStore } from "./replica_store.ts";

/** This replica does not lead: the caller forwards to `leader` (if known). */
export class NotLeaderError extends KvdbError {
  constructor(readonly db: string, readonly leader: NodeId | null) {
    super(
      leader === null
        ? `KV database '${db}' has no leader right now; retry shortly`
        : `KV database '${db}' is led by ${leader}`,
      "not_leader",
    );
  }
}

/**
 * A proposal whose log position was taken by another entry (its leader
 * lost leadership first): it was not applied and will not be; a retry with
 * the same id is safe.
 */
export class ProposalLostError extends UnavailableError {
  constructor(db: string) {
    super(
      `KV database '${db}': the commit was not applied (leadership changed); it is safe to retry`,
    );
  }
}

/** Raft timing, in ticks of {@link KvDatabaseOptions.tickMs}. */
export interface RaftTiming {
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
}

/** Default timing: heartbeats every 100 ms, elections after 1-2 s of silence. */
export const RAFT_TIMING: RaftTiming = {
  tickMs: 100,
  electionTicks: 10,
  heartbeatTicks: 2,
};

/** Everything a {@link KvDatabase} is built from. */
export interface KvDatabaseOptions {
  name: string;
  self: NodeId;
  store: ReplicaStore;
  clock: Clock;
  /** Runs `fn` soon, after the current work (setImmediate in a node). */
  schedule: (fn: () => void) => void;
  /** Sends messages to a peer; calls `done` with whether they were delivered. */
  send: (to: NodeId, messages: Message[], done: (ok: boolean) => void) => void;
  random: () => number;
  timing?: RaftTiming;
  /** Called when the replica fails for good (its disk refused a write). */
  onFatal?: (error: Error) => void;
  /**
   * A monotonic clock in ms for the read lease (a wall clock set back would
   * stretch it); default `clock.now`. The node passes `performance.now`.
   */
  monotonicNow?: () => number;
  /** The leader reads under a lease (RaftConfig.leaseReads). Default true. */
  leaseReads?: boolean;
  /** See RaftConfig.unsafeFollowerReads: for the simulator's mutant only. */
  unsafeFollowerReads?: boolean;
}

interface ProposalWaiter {
  index: number;
  resolve: (r: CommitResult) => void;
  reject: (e: Error) => void;
  deadline: number;
}

interface ReadWaiter {
  resolve: () => void;
  reject: (e: Error) => void;
  deadline: number;
}

/** Keys changed by a commit, for watchers. */
export type ChangeListener = (keys: Uint8Array[], index: number) => void;

/** One KV database replica on this node. */
export class KvDatabase {
  readonly name: string;
  readonly self: NodeId;
  readonly store: ReplicaStore;
  readonly node: RawNode;
  readonly timing: RaftTiming;
  readonly #o: KvDatabaseOptions;
  readonly #proposals = new Map<string, ProposalWaiter[]>();
  /** Reads waiting for a ReadIndex to be asked (one batch per turn). */
  #readBatch: ReadWaiter[] = [];
  /** Reads whose ReadIndex is out, by context. */
  readonly #readsOut = new Map<string, ReadWaiter[]>();
  /** Reads waiting for the state machine to reach an index. */
  #applyWaiters: { index: number; waiter: ReadWaiter }[] = [];
  readonly #listeners = new Set<ChangeListener>();
  #readSeq = 0;
  /**
   * Makes this run's ReadIndex contexts its own: a leader's late answer to
   * a read this replica asked before it restarted must not be taken for
   * the answer to a new one (it could name an older index).
   */
  readonly #readPrefix: string;
  #scheduled = false;
  #capture: { to: NodeId; messages: Message[] } | undefined;
  #failed: Error | undefined;
  #stopped = false;
  #purging = false;
  #ticks = 0;

  constructor(options: KvDatabaseOptions) {
    this.#o = options;
    this.name = options.name;
    this.self = options.self;
    this.store = options.store;
    this.timing = options.timing ?? RAFT_TIMING;
    this.#readPrefix = Math.floor(options.random() * 2 ** 48).toString(36);
    this.node = new RawNode({
      id: options.self,
      storage: options.store,
      applied: options.store.applied,
      electionTick: this.timing.electionTicks,
      heartbeatTick: this.timing.heartbeatTicks,
      checkQuorum: true,
      preVote: true,
      leaseReads: options.leaseReads ?? true,
      now: options.monotonicNow ?? (() => options.clock.now()),
      // The same 0.7 of an election timeout as the ticks give, by time.
      leaseMs: Math.floor(
        this.timing.tickMs * (Math.floor(this.timing.electionTicks * 0.8) - 1),
      ),
      random: options.random,
      ...(options.unsafeFollowerReads ? { unsafeFollowerReads: true } : {}),
    });
    this.#schedule();
  }

  status(): RaftStatus {
    return this.node.status();
  }

  get leader(): NodeId | null {
    return this.node.raft.lead;
  }

  get isLeader(): boolean {
    return this.node.raft.state === "leader";
  }

  get voters(): NodeId[] {
    return [...this.node.raft.voters].sort();
  }

  /** Stops driving: pending callers are refused, nothing more is sent. */
  stop(reason = "the node is shutting down"): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#failAll(
      new UnavailableError(`KV database '${this.name}': ${reason}`),
    );
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** One Raft tick: elections, heartbeats, deadlines, expiry. */
  tick(): void {
    if (this.#stopped) return;
    this.#ticks++;
    this.node.tick();
    this.#expireWaiters();
    this.#retryReads();
    this.#maybePurge();
    this.#schedule();
  }

  /**
   * Takes messages from a peer. With `replyTo`, the Ready they cause is
   * handled at once and the messages it has for that peer are returned
   * instead of sent (persisted first, as always): they ride back on the
   * answer to the peer's request, one exchange per round instead of two.
   */
  receive(messages: Message[], replyTo?: NodeId): Message[] {
    if (this.#stopped) return [];
    for (const m of messages) this.node.step(m);
    if (replyTo === undefined) {
      this.#schedule();
      return [];
    }
    const capture = { to: replyTo, messages: [] as Message[] };
    this.#capture = capture;
    try {
      this.#drive();
    } finally {
      this.#capture = undefined;
    }
    return capture.messages;
  }

  /** Watches every commit's changed keys. Returns the unsubscribe function. */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Proposes `command` and resolves with its outcome once it is applied
   * here. Throws {@link NotLeaderError} on a replica that does not lead.
   * A command whose id was already applied resolves with the first outcome.
   */
  propose(command: Command, deadlineMs: number): Promise<CommitResult> {
    this.#check();
    if (!this.isLeader) throw new NotLeaderError(this.name, this.leader);
    try {
      this.node.propose(encodeCommand(command));
    } catch (error) {
      if (error instanceof ProposalDroppedError) {
        throw new NotLeaderError(this.name, this.isLeader ? null : this.leader);
      }
      throw error;
    }
    const index = this.node.raft.log.lastIndex();
    this.#schedule();
    return this.#waitFor(command.id, index, deadlineMs);
  }

  /**
   * Waits for a command with `id` to be applied on this replica (a
   * follower that forwarded it learns its outcome from its own log).
   */
  awaitOutcome(id: string, deadlineMs: number): Promise<CommitResult> {
    this.#check();
    return this.#waitFor(id, Number.MAX_SAFE_INTEGER, deadlineMs);
  }

  #waitFor(
    id: string,
    index: number,
    deadlineMs: number,
  ): Promise<CommitResult> {
    return new Promise((resolve, reject) => {
      const list = this.#proposals.get(id) ?? [];
      list.push({
        index,
        resolve,
        reject,
        deadline: this.#o.clock.now() + deadlineMs,
      });
      this.#proposals.set(id, list);
    });
  }

  /** Proposes a new configuration (the leader only). */
  proposeConf(conf: ConfState): void {
    this.#check();
    if (!this.isLeader) throw new NotLeaderError(this.name, this.leader);
    this.node.proposeConfChange(conf);
    this.#schedule();
  }

  /** Asks the leader (this replica) to hand leadership to `to`. */
  transferLeader(to: NodeId): void {
    if (!this.isLeader) return;
    this.node.transferLeader(to);
    this.#schedule();
  }

  /**
   * Resolves once reading this replica's state machine is linearizable:
   * a ReadIndex round confirmed the leader and this replica has applied
   * up to the index it returned. Rejects with {@link UnavailableError}
   * after `deadlineMs` (no leader, or no quorum).
   */
  readBarrier(deadlineMs: number): Promise<void> {
    this.#check();
    return new Promise((resolve, reject) => {
      this.#readBatch.push({
        resolve,
        reject,
        deadline: this.#o.clock.now() + deadlineMs,
      });
      this.#schedule();
    });
  }

  get(key: Uint8Array): KvRow | undefined {
    return this.store.get(key);
  }

  range(start: Uint8Array, end: Uint8Array, limit: number, reverse: boolean) {
    return this.store.range(start, end, limit, reverse);
  }

  // ------------------------------------------------------------ internals

  #check(): void {
    if (this.#failed !== undefined) {
      throw new UnavailableError(
        `KV database '${this.name}' failed on this node: ${this.#failed.message}`,
      );
    }
    if (this.#stopped) {
      throw new UnavailableError(`KV database '${this.name}' is stopped`);
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    this.#o.schedule(() => {
      this.#scheduled = false;
      this.#drive();
    });
  }

  #sendReadIndex(): void {
    if (this.#readBatch.length === 0) return;
    const batch = this.#readBatch;
    const ctx = `${this.self}/${this.#readPrefix}/${++this.#readSeq}`;
    try {
      this.node.readIndex(ctx);
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
      // No leader: the batch waits and is asked again on the next tick.
      return;
    }
    this.#readBatch = [];
    this.#readsOut.set(ctx, batch);
  }

  #retryReads(): void {
    // A ReadIndex lost with its leader is asked again after an election
    // timeout's worth of ticks.
    if (this.#ticks % this.timing.electionTicks !== 0) return;
    for (const [ctx, batch] of this.#readsOut) {
      this.#readsOut.delete(ctx);
      this.#readBatch.push(...batch);
    }
  }

  #drive(): void {
    if (this.#stopped) return;
    this.#sendReadIndex();
    while (this.node.hasReady()) {
      const rd = this.node.ready();
      let applied: Applied[];
      try {
        applied = this.store.handleReady(rd, () => this.node.raft.confState());
      } catch (error) {
        this.#fatal(error as Error);
        return;
      }
      this.#sendAll(rd);
      this.node.advance(rd);
      this.#afterApply(rd, applied);
    }
    this.#resolveApplied();
  }

  #sendAll(rd: Ready): void {
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of rd.messages) {
      const list = byPeer.get(m.to) ?? [];
      list.push(m);
      byPeer.set(m.to, list);
    }
    for (const [to, messages] of byPeer) {
      if (this.#capture?.to === to) {
        this.#capture.messages.push(...messages);
        continue;
      }
      const snaps = messages.some((m) => m.type === "snap");
      this.#o.send(to, messages, (ok) => {
        if (this.#stopped) return;
        if (!ok) this.node.reportUnreachable(to);
        if (snaps) this.node.reportSnapshot(to, !ok);
        if (!ok || snaps) this.#schedule();
      });
    }
  }

  #afterApply(rd: Ready, applied: Applied[]): void {
    for (const rs of rd.readStates) {
      const batch = this.#readsOut.get(rs.context);
      if (batch === undefined) continue;
      this.#readsOut.delete(rs.context);
      for (const waiter of batch) {
        this.#applyWaiters.push({ index: rs.index, waiter });
      }
    }
    for (const a of applied) {
      if (a.id !== undefined) {
        const waiters = this.#proposals.get(a.id);
        if (waiters !== undefined) {
          this.#proposals.delete(a.id);
          for (const w of waiters) w.resolve(a.result);
        }
      }
      if (a.changed.length > 0) {
        for (const l of this.#listeners) l(a.changed, a.index);
      }
    }
    // A proposal whose index was taken by another entry will never be
    // applied there: it was lost with its leader (and is safe to retry).
    const last = rd.committedEntries.at(-1)?.index ?? 0;
    if (last === 0 && rd.snapshot === undefined) return;
    const appliedTo = Math.max(last, rd.snapshot?.meta.index ?? 0);
    for (const [id, waiters] of this.#proposals) {
      const keep = waiters.filter((w) => {
        if (w.index > appliedTo) return true;
        w.reject(new ProposalLostError(this.name));
        return false;
      });
      if (keep.length === 0) this.#proposals.delete(id);
      else this.#proposals.set(id, keep);
    }
  }

  #resolveApplied(): void {
    if (this.#applyWaiters.length === 0) return;
    const applied = this.node.raft.log.applied;
    const ready = this.#applyWaiters.filter((w) => w.index <= applied);
    if (ready.length === 0) return;
    this.#applyWaiters = this.#applyWaiters.filter((w) => w.index > applied);
    for (const w of ready) w.waiter.resolve();
  }

  #expireWaiters(): void {
    const now = this.#o.clock.now();
    const timedOut = (what: string) =>
      new UnavailableError(
        `KV database '${this.name}': ${what} timed out (no leader or no quorum)`,
      );
    for (const [id, waiters] of this.#proposals) {
      const keep = waiters.filter((w) => {
        if (w.deadline > now) return true;
        w.reject(timedOut("the commit"));
        return false;
      });
      if (keep.length === 0) this.#proposals.delete(id);
      else this.#proposals.set(id, keep);
    }
    const expire = (list: ReadWaiter[]) =>
      list.filter((w) => {
        if (w.deadline > now) return true;
        w.reject(timedOut("the read"));
        return false;
      });
    this.#readBatch = expire(this.#readBatch);
    for (const [ctx, batch] of this.#readsOut) {
      const keep = expire(batch);
      if (keep.length === 0) this.#readsOut.delete(ctx);
      else this.#readsOut.set(ctx, keep);
    }
    this.#applyWaiters = this.#applyWaiters.filter((w) => {
      if (w.waiter.deadline > now) return true;
      w.waiter.reject(timedOut("the read"));
      return false;
    });
  }

  #maybePurge(): void {
    if (!this.isLeader || this.#purging) return;
    const next = this.store.nextExpiry();
    const now = this.#o.clock.now();
    if (next === null || next > now) return;
    this.#purging = true;
    const id = `purge/${this.self}/${now}/${
      Math.floor(this.#o.random() * 1e9)
    }`;
    this.propose({ op: "purge", id, t: now }, 10_000)
      .catch(() => {})
      .finally(() => this.#purging = false);
  }

  #failAll(error: Error): void {
    for (const waiters of this.#proposals.values()) {
      for (const w of waiters) w.reject(error);
    }
    this.#proposals.clear();
    for (const w of this.#readBatch) w.reject(error);
    this.#readBatch = [];
    for (const batch of this.#readsOut.values()) {
      for (const w of batch) w.reject(error);
    }
    this.#readsOut.clear();
    for (const w of this.#applyWaiters) w.waiter.reject(error);
    this.#applyWaiters = [];
  }

  #fatal(error: Error): void {
    this.#failed = error;
    this.#stopped = true;
    this.#failAll(
      new UnavailableError(
        `KV database '${this.name}' failed on this node: ${error.message}`,
      ),
    );
    this.#o.onFatal?.(error);
  }
}
