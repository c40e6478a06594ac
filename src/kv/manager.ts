/**
 * The KV databases of one node: which it hosts (a replica each), the
 * ticking and Ready loops behind them, the peer messages between
 * replicas (`raft`) and to the replica that can serve an operation
 * (`kv`), and the routing of every operation: a replica serves reads
 * after a ReadIndex round and proposes writes if it leads; anything else
 * goes to the leader, or to a replica, with the leader's address learned
 * from the answers. Placement keeps each group's voters on members: one
 * that leaves is removed and replaced (a single-server change at a time).
 *
 * Sans-I/O like the cluster core: transport, clock, scheduler and
 * randomness come in; only the paths of replica files are named here.
 *
 * @module
 */

import type { Clock, Timer } from "../clock/mod.ts";
import type { ConfState, Message, NodeId } from "../consensus/mod.ts";
import {
  BadRequestError,
  type ErrorCode,
  isErrorCode,
  KvdbError,
  UnavailableError,
} from "../errors.ts";
import {
  codeOfLegacyStatus,
  type PeerRequest,
  type PeerResponse,
  type PeerTransport,
} from "../transport/mod.ts";
import { fromBase64, toBase64 } from "./bytes.ts";
import {
  type Command,
  type CommitResult,
  decodeCommand,
  encodeCommand,
} from "./command.ts";
import {
  KvDatabase,
  NotLeaderError,
  ProposalLostError,
  RAFT_TIMING,
  type RaftTiming,
} from "./database.ts";
import { nextPlacementStep, placeVoters, rankMembers } from "./placement.ts";
import { type KvRow, ReplicaStore } from "./replica_store.ts";
import { DB_NAME, parseRaftMessages } from "./wire.ts";
import { changedSince, indexesOf, ReplicaWatches } from "./watch.ts";
import { KV_WATCH_KEYS_MAX, KV_WATCH_POLL_MS_MAX } from "../limits.ts";

const WATCH_KEYS_MAX = KV_WATCH_KEYS_MAX;
const WATCH_POLL_MS_MAX = KV_WATCH_POLL_MS_MAX;

/** A member as the placement sees it. */
export interface KvMember {
  address: string;
  state: "alive" | "suspect" | "dead" | "left";
  phase?: "joining" | "ready" | "leaving";
}

/** Everything {@link KvDatabases} is built from. */
export interface KvDatabasesOptions {
  self: NodeId;
  /**
   * The members a database's first voters are chosen from: this node and
   * the static member list (`-C`), the same on every founding node. A
   * node that joins later (`--join`) founds nothing; it is added to
   * groups by their leaders.
   */
  founders: readonly string[];
  /** Voters per database (1, 3 or 5; capped by the members). */
  voters: number;
  /** Where replica files go (`<dir>/<db>.sqlite3`); absent: in memory. */
  dir?: string;
  sync?: "normal" | "full";
  transport: PeerTransport;
  clock: Clock;
  schedule: (fn: () => void) => void;
  random: () => number;
  /** The cluster's members as this node sees them. */
  members: () => KvMember[];
  requestDeadlineMs: number;
  peerDeadlineMs: number;
  timing?: RaftTiming;
  log?: (line: string) => void;
  /** Test-only: serve follower reads without ReadIndex (the simulator's mutant). */
  unsafeFollowerReads?: boolean;
  /** A monotonic clock in ms for leaders' read leases; default `clock.now`. */
  monotonicNow?: () => number;
  /**
   * Opens a replica's store; default: a SQLite file in `dir` (or in
   * memory). The simulator keeps stores across simulated crashes.
   */
  openStore?: (
    name: string,
    options: OpenStoreOptions,
  ) => ReplicaStore | undefined;
}

/** What {@link KvDatabasesOptions.openStore} is asked for. */
export interface OpenStoreOptions {
  /** This node founds the group: a new store starts with this configuration. */
  bootstrap?: ConfState;
  sync?: "normal" | "full";
  /** Create an empty store if there is none (a leader added this node). */
  create: boolean;
}

/** An operation to run on the replica that can serve it. */
export type KvOp =
  | { type: "atomic"; command: Command }
  | { type: "get"; keys: Uint8Array[]; eventual: boolean }
  | {
    type: "range";
    start: Uint8Array;
    end: Uint8Array;
    limit: number;
    reverse: boolean;
    eventual: boolean;
  }
  | {
    /** Several ranges, all read from one state (KV Connect's snapshot_read). */
    type: "ranges";
    ranges: KvRange[];
    eventual: boolean;
  }
  | {
    /**
     * A watch's long poll: answers `keys`' entries once one of them is no
     * longer at the log index in `seen` (null: absent), or after `waitMs`.
     */
    type: "watch";
    keys: Uint8Array[];
    seen: (number | null)[];
    waitMs: number;
  };

/** One range of a `ranges` read. */
export interface KvRange {
  start: Uint8Array;
  end: Uint8Array;
  limit: number;
  reverse: boolean;
}

/**
 * What an operation returns: a commit's outcome, rows (absent: null), or
 * the rows of each range of a `ranges` read.
 */
export type KvOpResult =
  | CommitResult
  | { rows: (KvRow | null)[] }
  | { ranges: KvRow[][] };

type WireRow = [string, string, number, number, number | null] | null;

function encodeRow(r: KvRow | null | undefined): WireRow {
  if (r === null || r === undefined) return null;
  return [
    toBase64(r.key),
    toBase64(r.value.data),
    ["v8", "le64", "bytes"].indexOf(r.value.encoding),
    r.index,
    r.expiresAt,
  ];
}

function decodeRow(w: unknown): KvRow | null {
  if (w === null) return null;
  if (!Array.isArray(w) || w.length !== 5) throw new Error("bad row");
  const encoding = (["v8", "le64", "bytes"] as const)[w[2] as number];
  if (encoding === undefined) throw new Error("bad encoding");
  return {
    key: fromBase64(w[0]),
    value: { encoding, data: fromBase64(w[1]) },
    index: w[3],
    expiresAt: w[4],
  };
}

function encodeOp(op: KvOp): unknown {
  switch (op.type) {
    case "atomic":
      return { type: "atomic", command: encodeCommand(op.command) };
    case "get":
      return {
        type: "get",
        keys: op.keys.map(toBase64),
        eventual: op.eventual,
      };
    case "range":
      return {
        type: "range",
        start: toBase64(op.start),
        end: toBase64(op.end),
        limit: op.limit,
        reverse: op.reverse,
        eventual: op.eventual,
      };
    case "ranges":
      return {
        type: "ranges",
        ranges: op.ranges.map((r) => ({
          start: toBase64(r.start),
          end: toBase64(r.end),
          limit: r.limit,
          reverse: r.reverse,
        })),
        eventual: op.eventual,
      };
    case "watch":
      return {
        type: "watch",
        keys: op.keys.map(toBase64),
        seen: op.seen,
        waitMs: op.waitMs,
      };
  }
}

function decodeRange(x: unknown): KvRange {
  const r = x as Record<string, unknown>;
  if (
    !Number.isSafeInteger(r?.limit) || (r.limit as number) < 1 ||
    (r.limit as number) > 1_000
  ) throw new Error("bad range");
  return {
    start: fromBase64(r.start as string),
    end: fromBase64(r.end as string),
    limit: r.limit as number,
    reverse: r.reverse === true,
  };
}

function decodeOp(x: unknown): KvOp {
  const o = x as Record<string, unknown>;
  try {
    switch (o?.type) {
      case "atomic": {
        const command = typeof o.command === "string"
          ? decodeCommand(o.command)
          : undefined;
        if (command === undefined) break;
        return { type: "atomic", command };
      }
      case "get":
        if (!Array.isArray(o.keys) || o.keys.length > 1_000) break;
        return {
          type: "get",
          keys: o.keys.map((k) => fromBase64(k as string)),
          eventual: o.eventual === true,
        };
      case "range":
        if (
          !Number.isSafeInteger(o.limit) || (o.limit as number) < 1 ||
          (o.limit as number) > 1_000
        ) break;
        return {
          type: "range",
          start: fromBase64(o.start as string),
          end: fromBase64(o.end as string),
          limit: o.limit as number,
          reverse: o.reverse === true,
          eventual: o.eventual === true,
        };
      case "ranges":
        if (!Array.isArray(o.ranges) || o.ranges.length > 1_000) break;
        return {
          type: "ranges",
          ranges: o.ranges.map(decodeRange),
          eventual: o.eventual === true,
        };
      case "watch":
        if (
          !Array.isArray(o.keys) || !Array.isArray(o.seen) ||
          o.keys.length > WATCH_KEYS_MAX || o.seen.length !== o.keys.length ||
          !o.seen.every((i) => i === null || Number.isSafeInteger(i)) ||
          !Number.isSafeInteger(o.waitMs) || (o.waitMs as number) < 0
        ) break;
        return {
          type: "watch",
          keys: o.keys.map((k) => fromBase64(k as string)),
          seen: o.seen as (number | null)[],
          waitMs: Math.min(o.waitMs as number, WATCH_POLL_MS_MAX),
        };
    }
  } catch {
    // Falls through.
  }
  throw new BadRequestError("Bad peer message: bad KV operation.");
}

function encodeResult(r: KvOpResult): unknown {
  if ("rows" in r) return { rows: r.rows.map(encodeRow) };
  if ("ranges" in r) return { ranges: r.ranges.map((l) => l.map(encodeRow)) };
  return r;
}

function decodeResult(x: unknown): KvOpResult {
  const o = x as Record<string, unknown>;
  if (Array.isArray(o?.rows)) return { rows: o.rows.map(decodeRow) };
  if (Array.isArray(o?.ranges)) {
    return {
      ranges: o.ranges.map((l) => {
        if (!Array.isArray(l)) throw new Error("bad range");
        return l.map((w) => {
          const row = decodeRow(w);
          if (row === null) throw new Error("bad row");
          return row;
        });
      }),
    };
  }
  if (o?.ok === true && typeof o.versionstamp === "string") {
    return { ok: true, versionstamp: o.versionstamp };
  }
  if (o?.ok === false) {
    return typeof o.error === "string"
      ? { ok: false, error: o.error }
      : { ok: false };
  }
  throw new Error("bad KV result");
}

/**
 * Refusals another replica may not share: a leader elsewhere, none yet, a
 * replica that lags, a clock or a disk of its own. Any other refusal is the
 * operation's answer, wherever it is sent.
 */
const RETRY_ELSEWHERE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "unavailable",
  "not_leader",
  "clock_skew",
  "storage",
]);

/**
 * The code of a refused `kv` answer. A node of the previous version sent
 * the HTTP status of its error as `status` instead: read as the code it
 * stood for, so that a rolling upgrade works. Anything else (a code from a
 * newer version, no reason at all) counts as unavailable: retried
 * elsewhere, as an answer without a status was.
 */
function refusalCode(a: Record<string, unknown>): ErrorCode {
  if (isErrorCode(a.code)) return a.code;
  if (typeof a.status === "number") {
    return codeOfLegacyStatus(a.status) ?? "unavailable";
  }
  return "unavailable";
}

/** Messages queued for one replica of one database, one request in flight. */
interface Outbox {
  inFlight: boolean;
  queue: { messages: Message[]; done: (ok: boolean) => void }[];
}

/** Most Raft messages queued for one peer while a request to it is out. */
const OUTBOX_MESSAGES_MAX = 10_000;
/** How often leaders look at placement and leader balance. */
const RECONCILE_INTERVAL_MS = 1_000;
/** How long a leader leads before it hands leadership to the preferred voter. */
const BALANCE_AFTER_MS = 10_000;
/** Pause between attempts to reach a leader. */
const RETRY_PAUSE_MS = 50;
/** How long a watch on a local replica waits before it looks again. */
const WATCH_LOCAL_WAIT_MS = 30_000;
/** Pause after a watch's poll came back without a change, or failed. */
const WATCH_REPOLL_PAUSE_MS = 100;

/** The KV databases this node hosts, and the way to every other one. */
export class KvDatabases {
  readonly self: NodeId;
  readonly #o: KvDatabasesOptions;
  readonly #dbs = new Map<string, KvDatabase>();
  readonly #leaders = new Map<string, NodeId>();
  readonly #outboxes = new Map<string, Outbox>();
  readonly #ledSince = new Map<string, number>();
  readonly #founders: string[];
  readonly #watches: ReplicaWatches;
  #tick: Timer | undefined;
  #reconcile: Timer | undefined;
  #stopped = false;

  constructor(options: KvDatabasesOptions) {
    this.#o = options;
    this.self = options.self;
    this.#founders = [...new Set(options.founders)].sort();
    this.#watches = new ReplicaWatches(options.clock);
  }

  get timing(): RaftTiming {
    return this.#o.timing ?? RAFT_TIMING;
  }

  /** Opens the replicas on disk and the default database; starts ticking. */
  start(): void {
    if (this.#o.dir !== undefined) {
      try {
        for (const e of Deno.readDirSync(this.#o.dir)) {
          const m = /^(.+)\.sqlite3$/.exec(e.name);
          if (m !== null && DB_NAME.test(m[1]!)) this.#host(m[1]!, false);
        }
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    this.#host("default", false);
    const tickLoop = () => {
      if (this.#stopped) return;
      for (const db of this.#dbs.values()) db.tick();
      this.#tick = this.#o.clock.after(this.timing.tickMs, tickLoop);
    };
    this.#tick = this.#o.clock.after(this.timing.tickMs, tickLoop);
    const reconcileLoop = () => {
      if (this.#stopped) return;
      for (const db of this.#dbs.values()) this.#reconcileOne(db);
      this.#reconcile = this.#o.clock.after(
        RECONCILE_INTERVAL_MS,
        reconcileLoop,
      );
    };
    this.#reconcile = this.#o.clock.after(RECONCILE_INTERVAL_MS, reconcileLoop);
  }

  stop(): void {
    this.#stopped = true;
    this.#tick?.cancel();
    this.#reconcile?.cancel();
    for (const db of this.#dbs.values()) {
      db.stop();
      db.store.close();
    }
  }

  /** The replica of `name` on this node, if it hosts one. */
  replica(name: string): KvDatabase | undefined {
    return this.#dbs.get(name);
  }

  /** The voters `name` starts with (its founders' placement). */
  foundingVoters(name: string): string[] {
    return placeVoters(name, this.#founders, this.#o.voters);
  }

  /**
   * The replica of `name` here, opened or created: a founding voter
   * creates it with the founding configuration; with `create`, any other
   * node creates an empty one that a leader fills (it was added).
   */
  #host(name: string, create: boolean): KvDatabase | undefined {
    const open = this.#dbs.get(name);
    if (open !== undefined) return open;
    if (this.#stopped) return undefined;
    const founding = this.foundingVoters(name);
    const isFounder = founding.includes(this.self);
    const store = this.#openStore(name, isFounder, create, founding);
    if (store === undefined) return undefined;
    const db = new KvDatabase({
      name,
      self: this.self,
      store,
      clock: this.#o.clock,
      schedule: this.#o.schedule,
      random: this.#o.random,
      timing: this.timing,
      send: (to, messages, done) => this.#send(name, to, messages, done),
      onFatal: (error) =>
        this.#o.log?.(`kv: database '${name}' stopped: ${error.message}`),
      ...(this.#o.unsafeFollowerReads ? { unsafeFollowerReads: true } : {}),
      ...(this.#o.monotonicNow !== undefined
        ? { monotonicNow: this.#o.monotonicNow }
        : {}),
    });
    this.#dbs.set(name, db);
    // A founder with a single voter (a one-node cluster) leads at once.
    if (founding.length === 1 && isFounder && db.node.raft.term <= 1) {
      db.node.campaign();
    }
    return db;
  }

  #openStore(
    name: string,
    isFounder: boolean,
    create: boolean,
    founding: string[],
  ): ReplicaStore | undefined {
    const options = {
      ...(this.#o.sync !== undefined ? { sync: this.#o.sync } : {}),
      ...(isFounder ? { bootstrap: { voters: founding, learners: [] } } : {}),
    };
    if (this.#o.openStore !== undefined) {
      return this.#o.openStore(name, { ...options, create });
    }
    const path = this.#o.dir === undefined
      ? ":memory:"
      : `${this.#o.dir}/${name}.sqlite3`;
    let exists = false;
    if (this.#o.dir !== undefined) {
      try {
        Deno.statSync(path);
        exists = true;
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    if (!exists && !isFounder && !create) return undefined;
    if (this.#o.dir !== undefined) {
      Deno.mkdirSync(this.#o.dir, { recursive: true });
    }
    return ReplicaStore.open(path, options);
  }

  #send(
    db: string,
    to: NodeId,
    messages: Message[],
    done: (ok: boolean) => void,
  ): void {
    const key = `${db}\n${to}`;
    let box = this.#outboxes.get(key);
    if (box === undefined) {
      box = { inFlight: false, queue: [] };
      this.#outboxes.set(key, box);
    }
    box.queue.push({ messages, done });
    // Raft resends what is lost: past the bound, the oldest are dropped.
    let queued = box.queue.reduce((n, b) => n + b.messages.length, 0);
    while (queued > OUTBOX_MESSAGES_MAX && box.queue.length > 1) {
      const dropped = box.queue.shift()!;
      queued -= dropped.messages.length;
      dropped.done(false);
    }
    this.#flush(db, to, box);
  }

  #flush(db: string, to: NodeId, box: Outbox): void {
    if (box.inFlight || box.queue.length === 0 || this.#stopped) return;
    const batch = box.queue;
    box.queue = [];
    box.inFlight = true;
    const request: PeerRequest = {
      kind: "raft",
      db,
      from: this.self,
      messages: batch.flatMap((b) => b.messages),
    };
    this.#o.transport.call(to, request, this.#o.peerDeadlineMs).then(
      (response) => {
        // The peer's answers to these messages, if it had any at once.
        const replies = response.kind === "raft"
          ? response.messages
          : undefined;
        if (replies !== undefined && replies.length > 0) {
          try {
            this.#dbs.get(db)?.receive(parseRaftMessages(replies, to));
          } catch (error) {
            if (!(error instanceof BadRequestError)) throw error;
            this.#o.log?.(`kv: a bad Raft answer from ${to}: ${error.message}`);
          }
        }
        return true;
      },
      () => false,
    ).then((ok) => {
      box.inFlight = false;
      for (const b of batch) b.done(ok);
      this.#flush(db, to, box);
    });
  }

  // --------------------------------------------------------------- peers

  /** Answers the `raft` and `kv` peer requests. */
  async handlePeer(
    request: Extract<PeerRequest, { kind: "raft" | "kv" }>,
  ): Promise<PeerResponse> {
    if (request.kind === "raft") {
      const messages = parseRaftMessages(request.messages, request.from);
      const db = this.#host(request.db, true);
      if (db === undefined) {
        throw new UnavailableError("this node is shutting down");
      }
      const replies = db.receive(
        messages.filter((m) => m.to === this.self),
        request.from,
      );
      return replies.length === 0
        ? { kind: "raft" }
        : { kind: "raft", messages: replies };
    }
    const op = decodeOp(request.op);
    try {
      const db = this.#host(request.db, false);
      if (db === undefined) {
        return {
          kind: "kv",
          answer: {
            ok: false,
            code: "unavailable",
            error: `this node holds no replica of '${request.db}'`,
            leader: this.#leaders.get(request.db) ?? null,
            hosted: false,
          },
        };
      }
      const result = await this.#serveLocal(db, op);
      return {
        kind: "kv",
        answer: { ok: true, result: encodeResult(result), leader: db.leader },
      };
    } catch (error) {
      if (!(error instanceof KvdbError)) throw error;
      return {
        kind: "kv",
        answer: {
          ok: false,
          code: error.code,
          error: error.message,
          leader: error instanceof NotLeaderError
            ? error.leader
            : this.#dbs.get(request.db)?.leader ?? null,
          hosted: true,
        },
      };
    }
  }

  // ------------------------------------------------------------ routing

  /** Runs `op` on database `name` wherever it can be served; the API's entry point. */
  async run(name: string, op: KvOp): Promise<KvOpResult> {
    const deadline = this.#o.clock.now() + this.#o.requestDeadlineMs;
    const local = this.#host(name, false);
    if (local === undefined) return await this.#forward(name, op, deadline);
    // A replica reads for itself: ReadIndex waits for a leader if need be.
    if (op.type !== "atomic") return await this.#serveLocal(local, op);
    // A commit is watched for in this replica's own log too: if the
    // leader's answer is lost, its outcome still arrives here.
    const outcome = local.awaitOutcome(
      op.command.id,
      this.#o.requestDeadlineMs,
    );
    outcome.catch(() => {});
    return await Promise.race([outcome, this.#commit(local, op, deadline)]);
  }

  /**
   * Commits `command` and answers only with its definite outcome. Past a
   * request deadline without one (no leader, the leader died with the
   * entry in flight), the same command, with the same id, is sent again:
   * a replica applies an id once and answers a repeat with the first
   * outcome, so trying again can never apply it twice, and every attempt
   * ends in a known outcome once a majority of the group is up. Gives up
   * only when `signal` aborts (the caller is gone) or the node stops;
   * then the outcome is unknown and an {@link UnavailableError} says so.
   */
  async commitDefinite(
    name: string,
    command: Command,
    signal?: AbortSignal,
  ): Promise<CommitResult> {
    for (;;) {
      try {
        const result = await this.run(name, { type: "atomic", command });
        if ("rows" in result || "ranges" in result) {
          throw new Error("a commit answered with rows");
        }
        return result;
      } catch (error) {
        if (!(error instanceof UnavailableError)) throw error;
        if (signal?.aborted || this.#stopped) throw error;
      }
      await this.#pause();
    }
  }

  /** Proposes here when leading, else forwards to the leader, until the deadline. */
  async #commit(
    local: KvDatabase,
    op: KvOp,
    deadline: number,
  ): Promise<KvOpResult> {
    let lastError = "no leader";
    while (this.#o.clock.now() < deadline && !this.#stopped) {
      if (local.isLeader) {
        try {
          return await this.#serveLocal(local, op);
        } catch (error) {
          // Not leading any more, or the entry was lost with leadership:
          // the same id is proposed again, and applied at most once.
          if (
            !(error instanceof NotLeaderError) &&
            !(error instanceof ProposalLostError)
          ) throw error;
          lastError = error.message;
        }
      } else if (local.leader !== null && local.leader !== this.self) {
        const answer = await this.#ask(local.leader, local.name, op, deadline);
        if (answer.result !== undefined) return answer.result;
        lastError = answer.error;
      }
      await this.#pause();
    }
    throw new UnavailableError(
      `KV database '${local.name}' is unavailable: ${lastError}`,
    );
  }

  #pause(ms = RETRY_PAUSE_MS): Promise<void> {
    return new Promise<void>((resolve) => this.#o.clock.after(ms, resolve));
  }

  /**
   * One forwarded operation: its result, or why not (to try again);
   * throws the refusal of an operation that no retry can fix.
   */
  async #ask(
    target: string,
    name: string,
    op: KvOp,
    deadline: number,
  ): Promise<{ result?: KvOpResult; error: string; leader?: string }> {
    const left = deadline - this.#o.clock.now();
    if (left <= 0) return { error: "deadline passed" };
    let response: PeerResponse;
    try {
      response = await this.#o.transport.call(
        target,
        { kind: "kv", db: name, op: encodeOp(op) },
        Math.min(left, this.#o.requestDeadlineMs),
      );
    } catch (error) {
      return { error: (error as Error).message };
    }
    if (response.kind !== "kv") return { error: "answer of the wrong kind" };
    const a = response.answer as Record<string, unknown>;
    const leader = typeof a.leader === "string" ? a.leader : undefined;
    if (leader !== undefined) this.#leaders.set(name, leader);
    if (a.ok === true) return { result: decodeResult(a.result), error: "" };
    const code = refusalCode(a);
    const error = typeof a.error === "string" ? a.error : "refused";
    // A deterministic refusal is the answer; a leader elsewhere, or none
    // yet, is a reason to try again.
    if (!RETRY_ELSEWHERE.has(code)) throw new KvdbError(error, code);
    return leader === undefined ? { error } : { error, leader };
  }

  async #serveLocal(db: KvDatabase, op: KvOp): Promise<KvOpResult> {
    const remaining = this.#o.requestDeadlineMs;
    switch (op.type) {
      case "atomic":
        return await db.propose(op.command, remaining);
      case "get":
        if (!op.eventual) await db.readBarrier(remaining);
        return { rows: op.keys.map((k) => db.get(k) ?? null) };
      case "range":
        if (!op.eventual) await db.readBarrier(remaining);
        return { rows: db.range(op.start, op.end, op.limit, op.reverse) };
      case "ranges":
        if (!op.eventual) await db.readBarrier(remaining);
        // Read in one turn: nothing is applied in between.
        return {
          ranges: op.ranges.map((r) =>
            db.range(r.start, r.end, r.limit, r.reverse)
          ),
        };
      case "watch":
        return {
          rows: await this.#watches.wait(db, op.keys, op.seen, op.waitMs, {
            held: true,
          }),
        };
    }
  }

  /** Where to send an operation for `name` next: the leader, then replicas. */
  #targets(name: string, local: KvDatabase | undefined): string[] {
    const out: string[] = [];
    const leader = local?.leader ?? this.#leaders.get(name);
    if (leader !== undefined && leader !== null && leader !== this.self) {
      out.push(leader);
    }
    const known = this.#o.members().filter((m) => m.state !== "left").map((m) =>
      m.address
    );
    const ranked = [
      ...(local?.voters ?? []),
      ...this.foundingVoters(name),
      ...rankMembers(name, known),
    ];
    for (const m of ranked) {
      if (m !== this.self && !out.includes(m)) out.push(m);
    }
    return out;
  }

  /** For a node without a replica: the leader if known, else the replicas in turn. */
  async #forward(
    name: string,
    op: KvOp,
    deadline: number,
  ): Promise<KvOpResult> {
    let lastError = `no member could serve KV database '${name}'`;
    while (this.#o.clock.now() < deadline && !this.#stopped) {
      for (const target of this.#targets(name, undefined)) {
        if (this.#o.clock.now() >= deadline) break;
        const answer = await this.#ask(target, name, op, deadline);
        if (answer.result !== undefined) return answer.result;
        lastError = answer.error;
        // Told of a leader elsewhere: start over from it.
        if (answer.leader !== undefined && answer.leader !== target) break;
      }
      await this.#pause();
    }
    throw new UnavailableError(
      `KV database '${name}' is unavailable: ${lastError}`,
    );
  }

  // ------------------------------------------------------------ watches

  /**
   * Follows `keys` of database `name` from this node, whether or not it
   * hosts a replica: yields their entries (null: absent) at once, read
   * linearizably, then again after each commit that changes one of them
   * (changes close together may come as one), until `signal` aborts.
   * Each yield is one read of every key, from one state. Throws what the
   * first read throws; later failures (a replica that went away, a peer
   * that does not answer) are retried.
   */
  async *watch(
    name: string,
    keys: Uint8Array[],
    signal: AbortSignal,
  ): AsyncGenerator<(KvRow | null)[]> {
    const first = await this.run(name, { type: "get", keys, eventual: false });
    if (!("rows" in first)) throw new Error("a read answered without rows");
    let rows = first.rows;
    yield rows;
    while (!signal.aborted && !this.#stopped) {
      const seen = indexesOf(rows);
      const next = await this.#nextRows(name, keys, seen, signal);
      if (next === undefined || !changedSince(next, seen)) continue;
      rows = next;
      yield rows;
    }
  }

  /** One wait for a change: on the local replica, or by a poll of another node's. */
  async #nextRows(
    name: string,
    keys: Uint8Array[],
    seen: (number | null)[],
    signal: AbortSignal,
  ): Promise<(KvRow | null)[] | undefined> {
    const local = this.#host(name, false);
    if (local !== undefined && !local.stopped) {
      return await this.#watches.wait(
        local,
        keys,
        seen,
        WATCH_LOCAL_WAIT_MS,
        { signal },
      );
    }
    // The poll must be answered within one request deadline.
    const waitMs = Math.max(
      100,
      this.#o.requestDeadlineMs - this.#o.peerDeadlineMs,
    );
    for (const target of this.#targets(name, undefined)) {
      if (signal.aborted || this.#stopped) return undefined;
      const deadline = this.#o.clock.now() + this.#o.requestDeadlineMs;
      let answer;
      try {
        answer = await this.#ask(target, name, {
          type: "watch",
          keys,
          seen,
          waitMs,
        }, deadline);
      } catch (error) {
        if (!(error instanceof KvdbError)) throw error;
        continue;
      }
      const result = answer.result;
      if (result === undefined || !("rows" in result)) continue;
      if (!changedSince(result.rows, seen)) {
        await this.#pause(WATCH_REPOLL_PAUSE_MS);
      }
      return result.rows;
    }
    await this.#pause(WATCH_REPOLL_PAUSE_MS);
    return undefined;
  }

  // ---------------------------------------------------------- placement

  #reconcileOne(db: KvDatabase): void {
    if (!db.isLeader) {
      this.#ledSince.delete(db.name);
      return;
    }
    const now = this.#o.clock.now();
    if (!this.#ledSince.has(db.name)) this.#ledSince.set(db.name, now);
    const members = this.#o.members();
    const state = new Map(members.map((m) => [m.address, m]));
    const gone = (m: string) =>
      m !== this.self && state.get(m)?.state === "left";
    const eligible = members.filter((m) =>
      m.state === "alive" && (m.phase ?? "ready") === "ready"
    ).map((m) => m.address);
    if (!eligible.includes(this.self)) eligible.push(this.self);
    const target = Math.min(
      this.#o.voters,
      members.filter((m) => m.state !== "left").length || 1,
    );
    const voters = db.voters;
    const step = nextPlacementStep(db.name, voters, target, gone, eligible);
    const status = db.status();
    try {
      if (step.kind === "remove") {
        db.proposeConf({
          voters: voters.filter((v) => v !== step.member),
          learners: [],
        });
        this.#o.log?.(`kv: '${db.name}': removing voter ${step.member}`);
        return;
      }
      if (step.kind === "add") {
        db.proposeConf({ voters: [...voters, step.member], learners: [] });
        this.#o.log?.(`kv: '${db.name}': adding voter ${step.member}`);
        return;
      }
    } catch {
      // A change is still being applied: the next round tries again.
      return;
    }
    // Leader balance: the best-ranked voter leads, once it has caught up.
    if (now - this.#ledSince.get(db.name)! < BALANCE_AFTER_MS) return;
    const preferred = rankMembers(db.name, voters).find((v) =>
      v === this.self || state.get(v)?.state === "alive"
    );
    if (preferred === undefined || preferred === this.self) return;
    const pr = status.progress?.[preferred];
    if (pr !== undefined && pr.match === status.lastIndex) {
      this.#ledSince.delete(db.name);
      db.transferLeader(preferred);
    }
  }

  /** Each hosted database's Raft state, for `cluster_info` and status. */
  status(): Record<string, unknown>[] {
    return [...this.#dbs.values()].map((db) => {
      const s = db.status();
      return {
        name: db.name,
        role: s.state,
        leader: s.lead,
        term: s.term,
        commit_index: s.commit,
        applied_index: s.applied,
        last_index: s.lastIndex,
        voters: s.conf.voters,
        keys: db.store.count(),
      };
    });
  }
}
