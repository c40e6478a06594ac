/**
 * One replica of one KV database on disk: the Raft log, its hard state and
 * the state machine (the keys and values), in one SQLite database
 * (`node:sqlite`, WAL mode). One transaction per Ready persists the
 * snapshot, the new entries and the hard state and applies the committed
 * entries, before any message of that Ready is sent: what a message
 * promises (a vote, an append acknowledged) is on disk first.
 *
 * It is the Raft core's {@link Storage}: the core reads terms and entries
 * from it synchronously. Snapshots are made on demand from the state
 * machine as applied (a follower that needs one gets the current image);
 * the log is compacted behind the applied index, keeping a tail for
 * followers that are only a little behind.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  CompactedError,
  type ConfState,
  type Entry,
  type HardState,
  type InitialState,
  limitSize,
  type Ready,
  type Snapshot,
  type Storage,
  UnavailableEntryError,
} from "../consensus/mod.ts";
import { StorageError } from "../errors.ts";
import { concatBytes, fromBase64, toBase64 } from "./bytes.ts";
import {
  type Command,
  type CommitResult,
  decodeCommand,
  type Mutation,
  versionstampOf,
} from "./command.ts";
import { encodeKey } from "./key.ts";
import {
  type KvValue,
  readU64,
  U64_MAX,
  u64Value,
  type ValueEncoding,
} from "./value.ts";

/** A stored entry of the keyspace. */
export interface KvRow {
  key: Uint8Array;
  value: KvValue;
  /** The log index of the commit that wrote it. */
  index: number;
  expiresAt: number | null;
}

/** The outcome of applying one entry: its result and the keys it changed. */
export interface Applied {
  index: number;
  /** The proposal's id, when the entry was a command. */
  id?: string;
  result: CommitResult;
  changed: Uint8Array[];
}

/** Entries kept behind the applied index when the log is compacted. */
const LOG_TAIL_KEPT = 1_000;
/** The log is compacted once this many entries are behind the applied index. */
const LOG_COMPACT_AFTER = 10_000;
/** Proposal ids are remembered for this many log entries (retries dedupe within it). */
const PROPOSAL_IDS_KEPT = 200_000;
/** Log entries kept in memory behind the last index. */
const TAIL_CACHE_ENTRIES = 4_096;
/** Most expired entries one purge command deletes. */
export const PURGE_BATCH_MAX = 1_000;

const ENCODING_CODES: Record<ValueEncoding, number> = {
  v8: 1,
  le64: 2,
  bytes: 3,
};
const ENCODINGS: Record<number, ValueEncoding> = {
  1: "v8",
  2: "le64",
  3: "bytes",
};

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS kv (
    k BLOB PRIMARY KEY NOT NULL,
    v BLOB NOT NULL,
    enc INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    exp INTEGER
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS kv_exp ON kv (exp) WHERE exp IS NOT NULL;
  CREATE TABLE IF NOT EXISTS log (
    idx INTEGER PRIMARY KEY,
    term INTEGER NOT NULL,
    type INTEGER NOT NULL,
    data TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS proposals (
    id TEXT PRIMARY KEY NOT NULL,
    idx INTEGER NOT NULL,
    result TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS proposals_idx ON proposals (idx);
  CREATE TABLE IF NOT EXISTS state (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    term INTEGER NOT NULL,
    vote TEXT,
    commit_idx INTEGER NOT NULL,
    applied INTEGER NOT NULL,
    snap_index INTEGER NOT NULL,
    snap_term INTEGER NOT NULL,
    conf TEXT NOT NULL
  );
`;

interface StateRow {
  term: number;
  vote: string | null;
  commit_idx: number;
  applied: number;
  snap_index: number;
  snap_term: number;
  conf: string;
}

interface KvSqlRow {
  k: Uint8Array;
  v: Uint8Array;
  enc: number;
  idx: number;
  exp: number | null;
}

function rowOf(r: KvSqlRow): KvRow {
  return {
    key: r.k,
    value: { encoding: ENCODINGS[r.enc] ?? "bytes", data: r.v },
    index: r.idx,
    expiresAt: r.exp,
  };
}

/** Options of {@link ReplicaStore.open}. */
export interface ReplicaStoreOptions {
  /** "full" fsyncs every commit; "normal" (default) survives a process crash. */
  sync?: "normal" | "full";
  /** The configuration a brand-new replica starts with (bootstrap). */
  bootstrap?: ConfState;
  /** Entries behind the applied index before the log is compacted. Default 10,000. */
  compactAfter?: number;
  /** Entries kept behind the applied index when compacting. Default 1,000. */
  tailKept?: number;
}

/** The state machine's answer to a failure it finds while applying. */
function failure(error: string): CommitResult {
  return { ok: false, error };
}

function statements(db: DatabaseSync) {
  const prepare = (sql: string): StatementSync => db.prepare(sql);
  return {
    get: prepare("SELECT k, v, enc, idx, exp FROM kv WHERE k = ?"),
    put: prepare(
      "INSERT OR REPLACE INTO kv (k, v, enc, idx, exp) VALUES (?, ?, ?, ?, ?)",
    ),
    del: prepare("DELETE FROM kv WHERE k = ?"),
    range: prepare(
      "SELECT k, v, enc, idx, exp FROM kv WHERE k >= ? AND k < ? ORDER BY k ASC LIMIT ?",
    ),
    rangeRev: prepare(
      "SELECT k, v, enc, idx, exp FROM kv WHERE k >= ? AND k < ? ORDER BY k DESC LIMIT ?",
    ),
    expired: prepare(
      "SELECT k FROM kv WHERE exp IS NOT NULL AND exp <= ? ORDER BY exp LIMIT ?",
    ),
    nextExpiry: prepare(
      "SELECT MIN(exp) AS exp FROM kv WHERE exp IS NOT NULL",
    ),
    count: prepare("SELECT COUNT(*) AS n FROM kv"),
    logGet: prepare("SELECT term, type, data FROM log WHERE idx = ?"),
    logTerm: prepare("SELECT term FROM log WHERE idx = ?"),
    logRange: prepare(
      "SELECT idx, term, type, data FROM log WHERE idx >= ? AND idx < ? ORDER BY idx LIMIT ?",
    ),
    logPut: prepare(
      "INSERT OR REPLACE INTO log (idx, term, type, data) VALUES (?, ?, ?, ?)",
    ),
    logTruncate: prepare("DELETE FROM log WHERE idx >= ?"),
    logCompact: prepare("DELETE FROM log WHERE idx <= ?"),
    logLast: prepare("SELECT MAX(idx) AS idx FROM log"),
    propGet: prepare("SELECT result FROM proposals WHERE id = ?"),
    propPut: prepare(
      "INSERT OR REPLACE INTO proposals (id, idx, result) VALUES (?, ?, ?)",
    ),
    propPrune: prepare("DELETE FROM proposals WHERE idx < ?"),
    savepoint: prepare("SAVEPOINT entry"),
    rollbackTo: prepare("ROLLBACK TO entry"),
    release: prepare("RELEASE entry"),
    saveState: prepare(
      "UPDATE state SET term = ?, vote = ?, commit_idx = ?, applied = ?, snap_index = ?, snap_term = ?, conf = ? WHERE id = 0",
    ),
  };
}

/** One KV database replica: Raft log, hard state and keyspace. */
export class ReplicaStore implements Storage {
  readonly #db: DatabaseSync;
  #state: StateRow;
  #lastIndex: number;
  #snapshot: Snapshot | undefined;
  readonly #q: ReturnType<typeof statements>;

  /**
   * The log's last entries, as persisted: appends to followers and term
   * lookups are served from here without reading SQLite back.
   */
  #tail: Entry[] = [];
  readonly #compactAfter: number;
  readonly #tailKept: number;

  private constructor(
    db: DatabaseSync,
    state: StateRow,
    options: ReplicaStoreOptions,
  ) {
    this.#db = db;
    this.#compactAfter = options.compactAfter ?? LOG_COMPACT_AFTER;
    this.#tailKept = Math.min(
      options.tailKept ?? LOG_TAIL_KEPT,
      this.#compactAfter,
    );
    this.#state = state;
    this.#q = statements(db);
    const last = this.#q.logLast.get() as { idx: number | null };
    this.#lastIndex = Math.max(last.idx ?? 0, state.snap_index);
  }

  /**
   * Opens (or creates) the replica at `path` (":memory:" for one that lives
   * as long as the process). A new one starts with `options.bootstrap` as
   * its configuration, written as entry 1 so that members added later
   * learn it from the log, as the founders did.
   */
  static open(path: string, options: ReplicaStoreOptions = {}): ReplicaStore {
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec(
        `PRAGMA synchronous = ${options.sync === "full" ? "FULL" : "NORMAL"}`,
      );
      db.exec(SCHEMA);
    } catch (error) {
      throw new StorageError(
        `cannot open the KV database at ${path}: ${(error as Error).message}`,
        (error as Error).message,
      );
    }
    let state = db.prepare("SELECT * FROM state WHERE id = 0").get() as
      | StateRow
      | undefined;
    if (state === undefined) {
      const conf = options.bootstrap ?? { voters: [], learners: [] };
      const founding = conf.voters.length > 0;
      state = {
        term: founding ? 1 : 0,
        vote: null,
        commit_idx: founding ? 1 : 0,
        // Entry 1 is applied by being written: its configuration is below.
        applied: founding ? 1 : 0,
        snap_index: 0,
        snap_term: 0,
        // The founding configuration holds from the start (entry 1 says
        // the same, for members added later).
        conf: JSON.stringify({
          voters: [...conf.voters].sort(),
          learners: [...conf.learners].sort(),
        }),
      };
      db.exec("BEGIN");
      db.prepare(
        "INSERT INTO state (id, term, vote, commit_idx, applied, snap_index, snap_term, conf) VALUES (0, ?, ?, ?, ?, ?, ?, ?)",
      ).run(
        state.term,
        state.vote,
        state.commit_idx,
        state.applied,
        state.snap_index,
        state.snap_term,
        state.conf,
      );
      if (founding) {
        // Every founder writes the same entry 1 (term 1), committed: the
        // group's first configuration, as etcd bootstraps a cluster.
        db.prepare(
          "INSERT INTO log (idx, term, type, data) VALUES (1, 1, 1, ?)",
        ).run(JSON.stringify({
          voters: [...conf.voters].sort(),
          learners: [...conf.learners].sort(),
        }));
      }
      db.exec("COMMIT");
    }
    return new ReplicaStore(db, state, options);
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  // ------------------------------------------------------------- Storage

  initialState(): InitialState {
    const s = this.#state;
    const hardState: HardState = {
      term: s.term,
      vote: s.vote,
      commit: s.commit_idx,
    };
    return { hardState, conf: JSON.parse(s.conf) };
  }

  /** The index the state machine has applied (Raft restarts from it). */
  get applied(): number {
    return this.#state.applied;
  }

  #tailStart(): number {
    return this.#tail.length === 0 ? Infinity : this.#tail[0]!.index;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.#state.snap_index) throw new CompactedError();
    if (hi > this.#lastIndex + 1) throw new UnavailableEntryError();
    const start = this.#tailStart();
    if (lo >= start) {
      return limitSize(this.#tail.slice(lo - start, hi - start), maxBytes);
    }
    const rows = this.#q.logRange.all(lo, hi, Math.min(hi - lo, 10_000)) as {
      idx: number;
      term: number;
      type: number;
      data: string;
    }[];
    return limitSize(
      rows.map((r) => ({
        index: r.idx,
        term: r.term,
        type: r.type === 1 ? "conf" : "normal",
        data: r.data,
      })),
      maxBytes,
    );
  }

  term(i: number): number {
    if (i === this.#state.snap_index) return this.#state.snap_term;
    if (i < this.#state.snap_index) throw new CompactedError();
    if (i > this.#lastIndex) throw new UnavailableEntryError();
    const start = this.#tailStart();
    if (i >= start) return this.#tail[i - start]!.term;
    const row = this.#q.logTerm.get(i) as { term: number } | undefined;
    if (row === undefined) throw new UnavailableEntryError();
    return row.term;
  }

  lastIndex(): number {
    return this.#lastIndex;
  }

  firstIndex(): number {
    return this.#state.snap_index + 1;
  }

  snapshot(): Snapshot {
    const applied = this.#state.applied;
    if (this.#snapshot !== undefined && this.#snapshot.meta.index === applied) {
      return this.#snapshot;
    }
    const rows = this.#db.prepare(
      "SELECT k, v, enc, idx, exp FROM kv ORDER BY k",
    ).all() as unknown as KvSqlRow[];
    const proposals = this.#db.prepare(
      "SELECT id, idx, result FROM proposals",
    ).all() as { id: string; idx: number; result: string }[];
    const data = JSON.stringify({
      kv: rows.map((r) => [toBase64(r.k), toBase64(r.v), r.enc, r.idx, r.exp]),
      proposals: proposals.map((p) => [p.id, p.idx, p.result]),
    });
    this.#snapshot = {
      meta: {
        index: applied,
        term: applied === 0 ? 0 : this.term(applied),
        conf: JSON.parse(this.#state.conf),
      },
      data,
    };
    return this.#snapshot;
  }

  // ------------------------------------------------------------- writing

  /**
   * Persists what `rd` asks to persist and applies its committed entries,
   * in one transaction; returns what each applied entry came to. Throws
   * {@link StorageError} (nothing written) when the disk refuses.
   */
  handleReady(rd: Ready, conf: () => ConfState): Applied[] {
    const db = this.#db;
    const before = { ...this.#state };
    const lastBefore = this.#lastIndex;
    const applied: Applied[] = [];
    db.exec("BEGIN IMMEDIATE");
    try {
      if (rd.snapshot !== undefined) this.#restore(rd.snapshot);
      if (rd.entries.length > 0) {
        const first = rd.entries[0]!.index;
        if (first <= this.#lastIndex) this.#q.logTruncate.run(first);
        for (const e of rd.entries) {
          this.#q.logPut.run(
            e.index,
            e.term,
            e.type === "conf" ? 1 : 0,
            e.data,
          );
        }
        this.#lastIndex = rd.entries[rd.entries.length - 1]!.index;
        this.#cacheTail(rd.entries);
      }
      if (rd.hardState !== undefined) {
        this.#state.term = rd.hardState.term;
        this.#state.vote = rd.hardState.vote;
        this.#state.commit_idx = rd.hardState.commit;
      }
      for (const e of rd.committedEntries) {
        if (e.index <= this.#state.applied) continue;
        if (e.type === "conf") {
          this.#state.conf = JSON.stringify(JSON.parse(e.data));
        } else if (e.data !== "") {
          applied.push(this.#apply(e.index, e.data));
        }
        this.#state.applied = e.index;
      }
      if (rd.committedEntries.length > 0) this.#maybeCompact();
      this.#saveState();
      db.exec("COMMIT");
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      this.#state = before;
      this.#lastIndex = lastBefore;
      this.#tail = [];
      throw new StorageError(
        `KV database write failed: ${(error as Error).message}`,
        (error as Error).message,
      );
    }
    void conf;
    return applied;
  }

  #cacheTail(entries: Entry[]): void {
    const first = entries[0]!.index;
    const start = this.#tailStart();
    // Contiguous with the cache, or replacing its end: keep what precedes.
    if (
      start === Infinity || first < start || first > start + this.#tail.length
    ) {
      this.#tail = [...entries];
    } else {
      this.#tail = [...this.#tail.slice(0, first - start), ...entries];
    }
    if (this.#tail.length > TAIL_CACHE_ENTRIES) {
      this.#tail = this.#tail.slice(this.#tail.length - TAIL_CACHE_ENTRIES);
    }
  }

  #saveState(): void {
    const s = this.#state;
    this.#q.saveState.run(
      s.term,
      s.vote,
      s.commit_idx,
      s.applied,
      s.snap_index,
      s.snap_term,
      s.conf,
    );
  }

  #restore(snap: Snapshot): void {
    const x = JSON.parse(snap.data) as {
      kv: [string, string, number, number, number | null][];
      proposals: [string, number, string][];
    };
    this.#db.exec("DELETE FROM kv");
    this.#db.exec("DELETE FROM proposals");
    this.#db.exec("DELETE FROM log");
    for (const [k, v, enc, idx, exp] of x.kv) {
      this.#q.put.run(fromBase64(k), fromBase64(v), enc, idx, exp);
    }
    for (const [id, idx, result] of x.proposals) {
      this.#q.propPut.run(id, idx, result);
    }
    this.#state.snap_index = snap.meta.index;
    this.#state.snap_term = snap.meta.term;
    this.#state.applied = snap.meta.index;
    this.#state.commit_idx = Math.max(this.#state.commit_idx, snap.meta.index);
    this.#state.conf = JSON.stringify(snap.meta.conf);
    this.#lastIndex = snap.meta.index;
    this.#tail = [];
    this.#snapshot = snap;
  }

  #maybeCompact(): void {
    const s = this.#state;
    if (s.applied - s.snap_index < this.#compactAfter) return;
    const to = s.applied - this.#tailKept;
    s.snap_term = this.term(to);
    s.snap_index = to;
    this.#q.logCompact.run(to);
    if (this.#tailStart() <= to) {
      this.#tail = this.#tail.slice(to + 1 - this.#tailStart());
    }
    this.#q.propPrune.run(s.applied - PROPOSAL_IDS_KEPT);
  }

  #apply(index: number, data: string): Applied {
    const command = decodeCommand(data);
    if (command === undefined) {
      return { index, result: failure("not a command"), changed: [] };
    }
    const prior = this.#q.propGet.get(command.id) as
      | { result: string }
      | undefined;
    if (prior !== undefined) {
      // A retried proposal: applied once, answered with its first outcome.
      return {
        index,
        id: command.id,
        result: JSON.parse(prior.result),
        changed: [],
      };
    }
    const changed: Uint8Array[] = [];
    let result: CommitResult;
    // Only a sum, min or max after other mutations can fail with writes
    // made: such a commit runs in a savepoint, to be undone whole.
    const undoable = command.op === "atomic" && command.mutations.length > 1 &&
      command.mutations.some((m) =>
        m.type === "sum" || m.type === "min" || m.type === "max"
      );
    if (undoable) this.#q.savepoint.run();
    try {
      result = command.op === "purge"
        ? this.#purge(index, command.t, changed)
        : this.#atomic(index, command, changed);
    } catch (error) {
      if (undoable) {
        this.#q.rollbackTo.run();
        this.#q.release.run();
      }
      throw error;
    }
    if (!result.ok) {
      // All or nothing: a mutation that failed undoes the others.
      if (undoable) this.#q.rollbackTo.run();
      changed.length = 0;
    }
    if (undoable) this.#q.release.run();
    this.#q.propPut.run(command.id, index, JSON.stringify(result));
    return { index, id: command.id, result, changed };
  }

  #purge(index: number, t: number, changed: Uint8Array[]): CommitResult {
    const rows = this.#q.expired.all(t, PURGE_BATCH_MAX) as { k: Uint8Array }[];
    for (const r of rows) {
      this.#q.del.run(r.k);
      changed.push(r.k);
    }
    return { ok: true, versionstamp: versionstampOf(index) };
  }

  #atomic(
    index: number,
    c: Extract<Command, { op: "atomic" }>,
    changed: Uint8Array[],
  ): CommitResult {
    for (const check of c.checks) {
      const row = this.get(check.key);
      const current = row === undefined ? null : versionstampOf(row.index);
      if (current !== check.versionstamp) return { ok: false };
    }
    const vs = versionstampOf(index);
    for (const m of c.mutations) {
      const error = this.#mutate(index, c.t, m, changed);
      if (error !== undefined) return failure(error);
    }
    return { ok: true, versionstamp: vs };
  }

  #mutate(
    index: number,
    t: number,
    m: Mutation,
    changed: Uint8Array[],
  ): string | undefined {
    switch (m.type) {
      case "set":
      case "setSuffixVersionstampedKey": {
        let key = m.key;
        if (m.type === "setSuffixVersionstampedKey") {
          const vsBytes = new Uint8Array(10);
          new DataView(vsBytes.buffer).setBigUint64(0, BigInt(index), false);
          key = concatBytes([m.key, encodeKey([vsBytes])]);
        }
        const v = m.value!;
        this.#q.put.run(
          key,
          v.data,
          ENCODING_CODES[v.encoding],
          index,
          m.expireIn === undefined ? null : t + m.expireIn,
        );
        changed.push(key);
        return undefined;
      }
      case "delete":
        this.#q.del.run(m.key);
        changed.push(m.key);
        return undefined;
      case "sum":
      case "min":
      case "max": {
        const operand = readU64(m.value!);
        const row = this.get(m.key);
        let next = operand;
        if (row !== undefined) {
          if (row.value.encoding !== "le64") {
            return `Failed to perform '${m.type}' mutation on a non-U64 value in the database`;
          }
          const current = readU64(row.value);
          next = m.type === "sum"
            ? (current + operand) & U64_MAX
            : m.type === "min"
            ? (current < operand ? current : operand)
            : (current > operand ? current : operand);
        }
        const v = u64Value(next);
        this.#q.put.run(m.key, v.data, ENCODING_CODES.le64, index, null);
        changed.push(m.key);
        return undefined;
      }
    }
  }

  // ------------------------------------------------------------- reading

  get(key: Uint8Array): KvRow | undefined {
    const r = this.#q.get.get(key) as KvSqlRow | undefined;
    return r === undefined ? undefined : rowOf(r);
  }

  /** Entries with keys in [start, end), in key order (or reversed), at most `limit`. */
  range(
    start: Uint8Array,
    end: Uint8Array,
    limit: number,
    reverse: boolean,
  ): KvRow[] {
    const q = reverse ? this.#q.rangeRev : this.#q.range;
    return (q.all(start, end, limit) as unknown as KvSqlRow[]).map(rowOf);
  }

  /** The earliest expiry of any entry, if one expires. */
  nextExpiry(): number | null {
    return (this.#q.nextExpiry.get() as { exp: number | null }).exp;
  }

  count(): number {
    return (this.#q.count.get() as { n: number }).n;
  }

  /** Hard state and applied index as stored, for status pages. */
  stats() {
    const s = this.#state;
    return {
      term: s.term,
      commit: s.commit_idx,
      applied: s.applied,
      first_index: s.snap_index + 1,
      last_index: this.#lastIndex,
    };
  }
}
