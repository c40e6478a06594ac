/**
 * The durable engine: one SQLite database through the runtime's built-in
 * `node:sqlite`, in WAL mode, with group commit.
 *
 * - **Group commit.** `apply` and `remove` queue their write; the writes
 *   queued during one event-loop turn are committed in one transaction at
 *   the end of the turn (`setImmediate`), and each promise settles only
 *   after that transaction committed. A commit that fails rolls the whole
 *   batch back and rejects every write in it with a {@link StorageError}:
 *   nothing is acknowledged that is not on disk, and nothing is half
 *   applied.
 * - **Reads see committed state only.** `get`, `scan` and `count` read the
 *   database, so a write is visible exactly when it is acknowledged; a read
 *   never returns a write that a failed commit then drops.
 * - **A record cache.** `get` answers hot keys from a bounded cache of
 *   decoded records (`record_cache.ts`), which changes only after a commit,
 *   so it holds committed state too.
 * - **Last writer wins inside the transaction.** The version check against
 *   the stored record happens at commit time, in queue order, so several
 *   writes to one key in one turn resolve as if applied one by one.
 * - **Key order.** Keys are stored as UTF-16BE BLOBs (see `_key_bytes.ts`),
 *   so SQLite's index orders them as JavaScript orders strings and every
 *   scan is an index range with a LIMIT.
 * - **One process per database.** `locking_mode=EXCLUSIVE` takes SQLite's
 *   exclusive lock when the store opens and keeps it until it closes; a
 *   second process is refused with "database is locked". The lock is the
 *   operating system's (fcntl), so a killed process leaves no stale lock.
 * - **Sync modes.** `normal` (`synchronous=NORMAL`): a commit is in the WAL
 *   file before it is acknowledged, so it survives a crash of the process;
 *   the WAL is fsynced at checkpoints, so a power loss or kernel crash may
 *   lose the last commits (never corrupt the database). `full`
 *   (`synchronous=FULL`): the WAL is fsynced at every commit, once per
 *   batch, so acknowledged writes survive power loss too.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { clearImmediate, setImmediate } from "node:timers";
import { compareVersions, type Version } from "../clock/mod.ts";
import { StorageError } from "../errors.ts";
import { RecordCache, type RecordCacheStats } from "./record_cache.ts";
import {
  SQLITE_AUTOCHECKPOINT_PAGES,
  SQLITE_CACHE_KIB,
  SQLITE_RECORD_CACHE_BYTES,
  SQLITE_WAL_BYTES_MAX,
  STORE_BATCH_RECORDS_MAX,
} from "../limits.ts";
import { hashKey } from "../ring/mod.ts";
import { decodeKey, encodeKey, prefixEnd } from "./_key_bytes.ts";
import type { StoredRecord } from "./record.ts";
import type {
  ChangeListener,
  HashRangeOptions,
  HintLog,
  RecordSummary,
  ScanOptions,
  Store,
} from "./store.ts";

/** How hard a commit tries to reach the disk. */
export type SyncMode = "normal" | "full";

/** Options of {@link SqliteStore.open}. */
export interface SqliteStoreOptions {
  /** Default "normal". */
  sync?: SyncMode;
  /** Most writes per transaction. Default {@link STORE_BATCH_RECORDS_MAX}. */
  batchRecordsMax?: number;
  /**
   * Bytes of decoded records kept for reads (an estimate); 0 turns the
   * cache off. Default {@link SQLITE_RECORD_CACHE_BYTES}.
   */
  cacheBytes?: number;
  /**
   * Caps the database at this many pages: for tests, to meet a full disk
   * (SQLITE_FULL) without filling one. Default: no cap.
   */
  maxPageCount?: number;
  /**
   * Runs a function at the end of the current turn, when the writes queued
   * in it commit; default `setImmediate`. A simulation hands in its own
   * scheduler, so that commits happen at the same step every run.
   */
  schedule?: (fn: () => void) => void;
}

/** What the engine did since it opened. */
export interface SqliteStats {
  /** Transactions committed by group commit. */
  commits: number;
  /** Writes (apply and remove calls) those transactions held. */
  writes: number;
  /** Transactions that failed and were rolled back. */
  failedCommits: number;
  /** The record cache's hits, misses and size. */
  cache: RecordCacheStats;
}

/** "KVDB" in ASCII: marks the file as ours (`PRAGMA application_id`). */
const APPLICATION_ID = 0x4b564442;
/** The schema this code writes (`PRAGMA user_version`). */
const SCHEMA_VERSION = 3;

// Hinted handoff's writes, by the member they wait for (schema version 2).
const HINTS_SCHEMA = `
  CREATE TABLE hints (
    target TEXT NOT NULL,
    key BLOB NOT NULL,
    value TEXT,
    wall INTEGER NOT NULL,
    counter INTEGER NOT NULL,
    node TEXT NOT NULL,
    tombstone INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (target, key)
  ) WITHOUT ROWID;
`;

// The key's ring position (hashKey), indexed: anti-entropy reads the
// records of a range of the ring, and join and leave stream ranges, as
// index ranges instead of scans (schema version 3).
const HASH_INDEX = `
  CREATE INDEX records_hash ON records (hash);
`;

// WITHOUT ROWID: the key is the table's own B-tree key, so a point read is
// one lookup and a scan reads rows in key order without a second index.
// The partial indexes hold only rows that expire or are tombstones, so they
// cost nothing for plain writes and make purges index range scans.
const SCHEMA = `
  CREATE TABLE records (
    key BLOB PRIMARY KEY NOT NULL,
    value TEXT,
    wall INTEGER NOT NULL,
    counter INTEGER NOT NULL,
    node TEXT NOT NULL,
    tombstone INTEGER NOT NULL,
    expires_at INTEGER,
    hash INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX records_expiry ON records (expires_at)
    WHERE expires_at IS NOT NULL;
  CREATE INDEX records_tombstones ON records (wall) WHERE tombstone = 1;
  ${HASH_INDEX}
  ${HINTS_SCHEMA}
  PRAGMA application_id = ${APPLICATION_ID};
  PRAGMA user_version = ${SCHEMA_VERSION};
`;

/** Schema version 2 had no hash column: add it, fill it, index it. */
const ADD_HASH = `
  ALTER TABLE records ADD COLUMN hash INTEGER NOT NULL DEFAULT 0;
  UPDATE records SET hash = kvdb_hash_key(key);
  ${HASH_INDEX}
`;

const COLUMNS = "key, value, wall, counter, node, tombstone, expires_at";
/**
 * An upsert, not INSERT OR REPLACE: a replace deletes the row and inserts
 * it again, touching every index, while an update of a key that exists
 * leaves the hash index (the key's hash never changes) alone.
 */
const UPSERT_SET = "ON CONFLICT (key) DO UPDATE SET " +
  "value = excluded.value, wall = excluded.wall, " +
  "counter = excluded.counter, node = excluded.node, " +
  "tombstone = excluded.tombstone, expires_at = excluded.expires_at";
/**
 * Applies handled by one pair of multi-row statements: each call from
 * JavaScript into SQLite costs microseconds, a row in it much less.
 */
const APPLY_CHUNK_MAX = 128;
const SUMMARY_COLUMNS =
  "key, hash, wall, counter, node, tombstone, expires_at, " +
  "coalesce(octet_length(value), 0) AS bytes";

interface Row {
  key: Uint8Array;
  value: string | null;
  wall: number;
  counter: number;
  node: string;
  tombstone: number;
  expires_at: number | null;
}

interface SummaryRow {
  key: Uint8Array;
  hash: number;
  wall: number;
  counter: number;
  node: string;
  tombstone: number;
  expires_at: number | null;
  bytes: number;
}

interface VersionRow {
  wall: number;
  counter: number;
  node: string;
}

interface Pending {
  resolve(stored: boolean): void;
  reject(error: Error): void;
}

type Write =
  | Pending & {
    kind: "apply";
    key: Uint8Array;
    /** hashKey of the key. */
    hash: number;
    record: StoredRecord;
    /** The value as JSON, null for a tombstone. */
    json: string | null;
  }
  | Pending & {
    kind: "remove";
    key: Uint8Array;
    text: string;
    version: Version;
  }
  | Pending & {
    kind: "hint_put";
    target: string;
    key: Uint8Array;
    record: StoredRecord;
    json: string | null;
  }
  | Pending & {
    kind: "hint_remove";
    target: string;
    key: Uint8Array;
    version: Version;
  };

/** Records per page of {@link SqliteStore.records}. */
const RECORDS_PAGE = 1000;

/** A {@link Store} in one SQLite database file. */
export class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #batchMax: number;
  readonly #select: StatementSync;
  readonly #selectVersion: StatementSync;
  readonly #upsert: StatementSync;
  readonly #delete: StatementSync;
  /** Scans, by [after given][upper bound given]. */
  readonly #scans: [[StatementSync, StatementSync], [
    StatementSync,
    StatementSync,
  ]];
  readonly #purgeExpired: StatementSync;
  readonly #purgeTombstones: StatementSync;
  /** Hash ranges, by [summaries or records][cursor given]. */
  readonly #hashRanges: [[StatementSync, StatementSync], [
    StatementSync,
    StatementSync,
  ]];
  #listener: ChangeListener = () => {};
  readonly #selectIn = new Map<number, StatementSync>();
  readonly #insertValues = new Map<number, StatementSync>();
  #queue: Write[] = [];
  #flushScheduled: { cancel(): void } | null = null;
  readonly #schedule: ((fn: () => void) => void) | undefined;
  #count: number;
  #closed = false;
  readonly #stats = { commits: 0, writes: 0, failedCommits: 0 };
  readonly #cache: RecordCache;
  readonly #hintUpsert: StatementSync;
  readonly #hintDelete: StatementSync;
  readonly #hintsAll: StatementSync;
  /** Hinted handoff's writes, kept in this database with the records. */
  readonly hintLog: HintLog;
  /**
   * Told of each committed transaction, its duration (seconds, fsync
   * included) and writes: for metrics, set by the node's wiring.
   */
  onCommit?: (seconds: number, writes: number) => void;
  /** Told of each transaction that failed, with the fault's description. */
  onCommitFailed?: (reason: string, writes: number) => void;

  private constructor(
    db: DatabaseSync,
    batchMax: number,
    cacheBytes: number,
    schedule: ((fn: () => void) => void) | undefined,
  ) {
    this.#db = db;
    this.#schedule = schedule;
    this.#batchMax = batchMax;
    this.#cache = new RecordCache(cacheBytes);
    const where = "FROM records WHERE";
    this.#select = db.prepare(
      `SELECT ${COLUMNS} FROM records WHERE key = ?`,
    );
    this.#selectVersion = db.prepare(
      `SELECT wall, counter, node FROM records WHERE key = ?`,
    );
    this.#upsert = db.prepare(
      `INSERT INTO records (${COLUMNS}, hash) ` +
        `VALUES (?, ?, ?, ?, ?, ?, ?, ?) ${UPSERT_SET}`,
    );
    this.#delete = db.prepare(`DELETE FROM records WHERE key = ?`);
    const scan = (from: string, to: string) =>
      db.prepare(
        `SELECT ${COLUMNS} ${where} ${from} ${to} ORDER BY key LIMIT ?`,
      );
    this.#scans = [
      [scan("key >= ?", ""), scan("key >= ?", "AND key < ?")],
      [scan("key > ?", ""), scan("key > ?", "AND key < ?")],
    ];
    // RETURNING names what went, for the cache and the listener.
    const returning = "RETURNING key, wall, counter, node";
    this.#purgeExpired = db.prepare(
      `DELETE FROM records WHERE key IN (SELECT key ${where} ` +
        `expires_at <= ? ORDER BY expires_at LIMIT ?) ${returning}`,
    );
    this.#purgeTombstones = db.prepare(
      `DELETE FROM records WHERE key IN (SELECT key ${where} ` +
        `tombstone = 1 AND wall < ? ORDER BY wall LIMIT ?) ${returning}`,
    );
    const hashRange = (columns: string, cursor: boolean) =>
      db.prepare(
        `SELECT ${columns} ${where} hash >= ? AND hash < ? ` +
          (cursor ? "AND (hash > ? OR (hash = ? AND key > ?)) " : "") +
          "ORDER BY hash, key LIMIT ?",
      );
    this.#hashRanges = [
      [hashRange(SUMMARY_COLUMNS, false), hashRange(SUMMARY_COLUMNS, true)],
      [hashRange(COLUMNS, false), hashRange(COLUMNS, true)],
    ];
    this.#count = Number(
      db.prepare("SELECT count(*) AS n FROM records").get()?.n,
    );
    this.#hintUpsert = db.prepare(
      `INSERT OR REPLACE INTO hints (target, ${COLUMNS}) ` +
        `VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#hintDelete = db.prepare(
      "DELETE FROM hints WHERE target = ? AND key = ? " +
        "AND wall = ? AND counter = ? AND node = ?",
    );
    this.#hintsAll = db.prepare(`SELECT target, ${COLUMNS} FROM hints`);
    this.hintLog = {
      load: () => {
        this.#assertOpen();
        const rows = this.#read(() => this.#hintsAll.all()) as unknown as (
          Row & { target: string }
        )[];
        return rows.map((row) => [row.target, toRecord(row)]);
      },
      put: async (target, record) => {
        this.#assertOpen();
        const json = valueJson(record);
        await this.#enqueue((pending) => ({
          kind: "hint_put",
          target,
          key: encodeKey(record.key),
          record,
          json,
          ...pending,
        }));
      },
      remove: (target, key, version) => {
        this.#assertOpen();
        return this.#enqueue((pending) => ({
          kind: "hint_remove",
          target,
          key: encodeKey(key),
          version,
          ...pending,
        })).then(() => {});
      },
    };
  }

  /**
   * Opens (creating when absent) the database at `path` and takes its
   * lock. Throws a {@link StorageError} saying why it cannot: locked by
   * another process, not a KVDB database, corrupt, unreadable.
   */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteStore {
    let db: DatabaseSync | undefined;
    try {
      // timeout 0: a database locked by another node is an error now, not
      // a wait.
      db = new DatabaseSync(path, { timeout: 0 });
      configure(db, options);
      return new SqliteStore(
        db,
        options.batchRecordsMax ?? STORE_BATCH_RECORDS_MAX,
        options.cacheBytes ?? SQLITE_RECORD_CACHE_BYTES,
        options.schedule,
      );
    } catch (error) {
      try {
        db?.close();
      } catch {
        // the open error is the one to report
      }
      if (error instanceof StorageError) throw error;
      const reason = describeStorageFault(error);
      throw new StorageError(
        `Cannot open database '${path}': ${reason}`,
        reason,
      );
    }
  }

  /** Commits, writes and failures since the store opened. */
  get stats(): Readonly<SqliteStats> {
    return { ...this.#stats, cache: this.#cache.stats() };
  }

  get(key: string): StoredRecord | undefined {
    this.#assertOpen();
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const row = this.#read(() => this.#select.get(encodeKey(key))) as
      | Row
      | undefined;
    if (row === undefined) return undefined;
    const record = toRecord(row, key);
    this.#cache.set(record, row.value?.length ?? 0);
    return record;
  }

  apply(record: StoredRecord): Promise<boolean> {
    this.#assertOpen();
    let json: string | null;
    try {
      json = valueJson(record);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#enqueue((pending) => ({
      kind: "apply",
      key: encodeKey(record.key),
      hash: hashKey(record.key),
      record,
      json,
      ...pending,
    }));
  }

  applyMany(records: readonly StoredRecord[]): Promise<boolean[]> {
    this.#assertOpen();
    if (records.length === 0) return Promise.resolve([]);
    const writes: Write[] = [];
    const results = new Array<boolean>(records.length);
    let left = records.length;
    let settled = false;
    return new Promise((resolve, reject) => {
      for (let i = 0; i < records.length; i++) {
        const record = records[i]!;
        let json: string | null;
        try {
          json = valueJson(record);
        } catch (error) {
          reject(error);
          return;
        }
        writes.push({
          kind: "apply",
          key: encodeKey(record.key),
          hash: hashKey(record.key),
          record,
          json,
          // One promise for the batch: each write settles its slot.
          resolve: (stored) => {
            results[i] = stored;
            if (--left === 0 && !settled) {
              settled = true;
              resolve(results);
            }
          },
          reject: (error) => {
            if (settled) return;
            settled = true;
            reject(error);
          },
        });
      }
      // The batch goes into one transaction: what is queued before it
      // commits first if together they would not fit.
      if (this.#queue.length + writes.length > this.#batchMax) {
        this.#commitQueued();
      }
      for (const write of writes) this.#queue.push(write);
      this.#scheduleFlush();
    });
  }

  watch(listener: ChangeListener): void {
    this.#listener = listener;
  }

  summaries(
    fromHash: number,
    toHash: number,
    options: HashRangeOptions = {},
  ): RecordSummary[] {
    const rows = this.#hashRange(0, fromHash, toHash, options) as SummaryRow[];
    return rows.map((row) => ({
      key: decodeKey(row.key),
      hash: row.hash,
      version: [row.wall, row.counter, row.node],
      tombstone: row.tombstone === 1,
      expiresAtMs: row.expires_at,
      bytes: row.bytes,
    }));
  }

  hashScan(
    fromHash: number,
    toHash: number,
    options: HashRangeOptions = {},
  ): StoredRecord[] {
    const rows = this.#hashRange(1, fromHash, toHash, options) as Row[];
    return rows.map((row) => toRecord(row));
  }

  #hashRange(
    what: 0 | 1,
    fromHash: number,
    toHash: number,
    options: HashRangeOptions,
  ): unknown[] {
    this.#assertOpen();
    const { after, limit } = options;
    const max = limit === undefined ? -1 : Math.max(0, Math.floor(limit));
    if (max === 0 || toHash <= fromHash) return [];
    const statement = this.#hashRanges[what][after === undefined ? 0 : 1];
    return this.#read(() =>
      after === undefined
        ? statement.all(fromHash, toHash, max)
        : statement.all(
          fromHash,
          toHash,
          after[0],
          after[0],
          encodeKey(after[1]),
          max,
        )
    );
  }

  remove(key: string, version: Version): Promise<boolean> {
    this.#assertOpen();
    return this.#enqueue((pending) => ({
      kind: "remove",
      key: encodeKey(key),
      text: key,
      version,
      ...pending,
    }));
  }

  scan(options: ScanOptions = {}): StoredRecord[] {
    this.#assertOpen();
    const { prefix = "", after, limit } = options;
    if (limit !== undefined && limit <= 0) return [];
    const useAfter = after !== undefined && after >= prefix;
    const lower = encodeKey(useAfter ? after : prefix);
    const upper = prefixEnd(encodeKey(prefix));
    const statement = this.#scans[useAfter ? 1 : 0][upper === null ? 0 : 1];
    // LIMIT -1 is SQLite's "no limit".
    const max = limit === undefined || limit === Infinity
      ? -1
      : Math.floor(limit);
    const rows = this.#read(() =>
      upper === null
        ? statement.all(lower, max)
        : statement.all(lower, upper, max)
    ) as unknown as Row[];
    return rows.map((row) => toRecord(row));
  }

  *records(): Iterable<StoredRecord> {
    // Key order, a page at a time: the index is already ordered, and a
    // page never holds the connection between two writes.
    let after: string | undefined;
    for (;;) {
      const page = this.scan({
        limit: RECORDS_PAGE,
        ...(after !== undefined ? { after } : {}),
      });
      yield* page;
      if (page.length < RECORDS_PAGE) return;
      after = page.at(-1)!.key;
    }
  }

  newestVersion(): Version | undefined {
    this.#assertOpen();
    // Once per start: a scan of the table in SQLite's own loop.
    const row = this.#read(() =>
      this.#db.prepare(
        "SELECT wall, counter, node FROM records " +
          "ORDER BY wall DESC, counter DESC, node DESC LIMIT 1",
      ).get()
    ) as { wall: number; counter: number; node: string } | undefined;
    return row === undefined
      ? undefined
      : [Number(row.wall), Number(row.counter), String(row.node)];
  }

  count(): number {
    this.#assertOpen();
    return this.#count;
  }

  purgeExpired(nowMs: number, limit: number): Promise<number> {
    return this.#purge(this.#purgeExpired, nowMs, limit);
  }

  purgeTombstones(olderThanWallMs: number, limit: number): Promise<number> {
    return this.#purge(this.#purgeTombstones, olderThanWallMs, limit);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#commitQueued();
    this.#closed = true;
    this.#cache.clear();
    try {
      // Closing checkpoints the WAL into the database file.
      this.#db.close();
    } catch (error) {
      return Promise.reject(
        new StorageError(
          `Cannot close the database: ${describeStorageFault(error)}`,
        ),
      );
    }
    return Promise.resolve();
  }

  #enqueue(make: (pending: Pending) => Write): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.#queue.push(make({ resolve, reject }));
      this.#scheduleFlush();
    });
  }

  #scheduleFlush(): void {
    if (this.#queue.length >= this.#batchMax) {
      this.#commitQueued();
    } else {
      // setImmediate runs after the I/O callbacks of this turn: every
      // request that arrived in the same turn joins the transaction.
      this.#flushScheduled ??= this.#atEndOfTurn(() => {
        this.#flushScheduled = null;
        this.#commitQueued();
      });
    }
  }

  /** Runs `fn` at the end of this turn, unless cancelled first. */
  #atEndOfTurn(fn: () => void): { cancel(): void } {
    if (this.#schedule === undefined) {
      const id = setImmediate(fn);
      return { cancel: () => clearImmediate(id) };
    }
    let live = true;
    this.#schedule(() => {
      if (live) fn();
    });
    return { cancel: () => live = false };
  }

  /** Commits every queued write, in batches of at most `batchMax`. */
  #commitQueued(): void {
    this.#flushScheduled?.cancel();
    this.#flushScheduled = null;
    while (this.#queue.length > 0) {
      const batch = this.#queue.length <= this.#batchMax
        ? this.#queue
        : this.#queue.slice(0, this.#batchMax);
      this.#queue = this.#queue.slice(batch.length);
      this.#commit(batch);
    }
  }

  #commit(batch: Write[]): void {
    const results: boolean[] = [];
    /** The version each applied or removed write replaced, by batch index. */
    const before: (Version | undefined)[] = [];
    let delta = 0;
    const started = performance.now();
    try {
      this.#db.exec("BEGIN");
      let skip = 0;
      for (const write of batch) {
        if (skip > 0) {
          skip--;
          continue;
        }
        if (write.kind === "hint_put") {
          const [wall, counter, node] = write.record.version;
          this.#hintUpsert.run(
            write.target,
            write.key,
            write.json,
            wall,
            counter,
            node,
            write.record.tombstone ? 1 : 0,
            write.record.expiresAtMs,
          );
          results.push(true);
          continue;
        }
        if (write.kind === "hint_remove") {
          const [wall, counter, node] = write.version;
          const { changes } = this.#hintDelete.run(
            write.target,
            write.key,
            wall,
            counter,
            node,
          );
          results.push(Number(changes) > 0);
          continue;
        }
        if (write.kind === "apply") {
          // A run of applies goes as a few multi-row statements.
          const run: Extract<Write, { kind: "apply" }>[] = [write];
          while (
            run.length < APPLY_CHUNK_MAX &&
            batch[results.length + run.length]?.kind === "apply"
          ) {
            run.push(
              batch[results.length + run.length] as Extract<
                Write,
                { kind: "apply" }
              >,
            );
          }
          delta += this.#applyRun(run, results, before);
          // The loop's own step moves past the run's first write.
          skip = run.length - 1;
          continue;
        }
        const row = this.#selectVersion.get(write.key) as
          | VersionRow
          | undefined;
        before[results.length] = row === undefined ? undefined : versionOf(row);
        const removed = row !== undefined &&
          compareVersions(versionOf(row), write.version) === 0;
        if (removed) {
          this.#delete.run(write.key);
          delta--;
        }
        results.push(removed);
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#rollback();
      this.#stats.failedCommits++;
      const reason = describeStorageFault(error);
      this.onCommitFailed?.(reason, batch.length);
      const failure = new StorageError(
        `Cannot store the write: ${reason}`,
        reason,
      );
      for (const write of batch) write.reject(failure);
      return;
    }
    this.#count += delta;
    this.#stats.commits++;
    this.#stats.writes += batch.length;
    this.onCommit?.((performance.now() - started) / 1000, batch.length);
    // Committed: now the cache may follow, in queue order, so the last
    // stored version of a key is the one it keeps.
    batch.forEach((write, i) => {
      if (!results[i]) return;
      if (write.kind === "apply") {
        this.#cache.set(write.record, write.json?.length ?? 0);
        this.#listener(write.record.key, before[i], write.record.version);
      } else if (write.kind === "remove") {
        this.#cache.delete(write.text);
        this.#listener(write.text, before[i], undefined);
      }
    });
    batch.forEach((write, i) => write.resolve(results[i]!));
  }

  /**
   * Applies a run of writes inside the open transaction: one statement
   * reads the stored versions of all their keys, one writes the rows that
   * are newer (a key written twice in the run keeps its last newer
   * version). Pushes each write's result and replaced version; returns
   * how many keys are new.
   */
  #applyRun(
    run: Extract<Write, { kind: "apply" }>[],
    results: boolean[],
    before: (Version | undefined)[],
  ): number {
    const current = new Map<string, Version>();
    const rows = this.#statement(
      this.#selectIn,
      run.length,
      () =>
        `SELECT key, wall, counter, node FROM records WHERE key IN (${
          Array(run.length).fill("?").join(", ")
        })`,
    ).all(...run.map((w) => w.key)) as unknown as (VersionRow & {
      key: Uint8Array;
    })[];
    for (const row of rows) current.set(decodeKey(row.key), versionOf(row));
    const rowsToWrite = new Map<string, Extract<Write, { kind: "apply" }>>();
    let fresh = 0;
    for (const write of run) {
      const key = write.record.key;
      const held = current.get(key);
      const stored = held === undefined ||
        compareVersions(write.record.version, held) > 0;
      before[results.length] = held;
      results.push(stored);
      if (!stored) continue;
      if (held === undefined && !rowsToWrite.has(key)) fresh++;
      current.set(key, write.record.version);
      rowsToWrite.set(key, write);
    }
    if (rowsToWrite.size > 0) {
      const writes = [...rowsToWrite.values()];
      const params: (Uint8Array | string | number | null)[] = [];
      for (const w of writes) {
        const [wall, counter, node] = w.record.version;
        params.push(
          w.key,
          w.json,
          wall,
          counter,
          node,
          w.record.tombstone ? 1 : 0,
          w.record.expiresAtMs,
          w.hash,
        );
      }
      this.#statement(
        this.#insertValues,
        writes.length,
        () =>
          `INSERT INTO records (${COLUMNS}, hash) VALUES ${
            Array(writes.length).fill("(?, ?, ?, ?, ?, ?, ?, ?)").join(", ")
          } ${UPSERT_SET}`,
      ).run(...params);
    }
    return fresh;
  }

  /** A statement for `count` rows, prepared once per count. */
  #statement(
    cache: Map<number, StatementSync>,
    count: number,
    sql: () => string,
  ): StatementSync {
    let statement = cache.get(count);
    if (statement === undefined) {
      statement = this.#db.prepare(sql());
      cache.set(count, statement);
    }
    return statement;
  }

  #write(
    key: Uint8Array,
    hash: number,
    record: StoredRecord,
    json: string | null,
  ): void {
    const [wall, counter, node] = record.version;
    this.#upsert.run(
      key,
      json,
      wall,
      counter,
      node,
      record.tombstone ? 1 : 0,
      record.expiresAtMs,
      hash,
    );
  }

  #rollback(): void {
    // SQLite rolls back by itself after some errors (a full disk, say);
    // otherwise the transaction is still open and must not stay so.
    if (!this.#db.isTransaction) return;
    try {
      this.#db.exec("ROLLBACK");
    } catch {
      // Nothing more to undo: the connection's own recovery takes over.
    }
  }

  #purge(
    statement: StatementSync,
    bound: number,
    limit: number,
  ): Promise<number> {
    this.#assertOpen();
    if (limit <= 0) return Promise.resolve(0);
    try {
      const rows = statement.all(
        bound,
        Math.floor(limit),
      ) as unknown as (VersionRow & { key: Uint8Array })[];
      this.#count -= rows.length;
      for (const row of rows) {
        const key = decodeKey(row.key);
        this.#cache.delete(key);
        this.#listener(key, versionOf(row), undefined);
      }
      return Promise.resolve(rows.length);
    } catch (error) {
      const reason = describeStorageFault(error);
      return Promise.reject(
        new StorageError(`Cannot purge records: ${reason}`, reason),
      );
    }
  }

  #read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      const reason = describeStorageFault(error);
      throw new StorageError(
        `Cannot read from the database: ${reason}`,
        reason,
      );
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("SqliteStore is closed");
  }
}

function configure(db: DatabaseSync, options: SqliteStoreOptions): void {
  const sync = options.sync ?? "normal";
  // Exclusive locking before WAL: the WAL index then lives in this
  // process's memory (no -shm file) and the lock is held from the first
  // write below until close.
  db.exec("PRAGMA locking_mode = EXCLUSIVE");
  const mode = pragma(db, "journal_mode = WAL");
  if (mode !== "wal") {
    throw new StorageError(
      `Cannot use WAL mode: the journal mode is '${mode}'`,
      `the database cannot use WAL mode (journal mode '${mode}')`,
    );
  }
  db.exec(`PRAGMA synchronous = ${sync === "full" ? "FULL" : "NORMAL"}`);
  db.exec(`PRAGMA cache_size = -${SQLITE_CACHE_KIB}`);
  db.exec(`PRAGMA journal_size_limit = ${SQLITE_WAL_BYTES_MAX}`);
  db.exec(`PRAGMA wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT_PAGES}`);
  if (options.maxPageCount !== undefined) {
    db.exec(`PRAGMA max_page_count = ${Math.floor(options.maxPageCount)}`);
  }
  // BEGIN IMMEDIATE takes the write lock now, so a second node is refused
  // at start rather than at its first write.
  db.exec("BEGIN IMMEDIATE");
  try {
    const appId = Number(pragma(db, "application_id"));
    const schema = Number(pragma(db, "user_version"));
    if (appId === 0 && schema === 0 && isEmpty(db)) {
      db.exec(SCHEMA);
    } else if (appId !== APPLICATION_ID) {
      throw notOurs("it is a SQLite database that KVDB did not create");
    } else if (schema === 1 || schema === 2) {
      // Version 1 had no hints table, version 2 no hash column.
      db.function(
        "kvdb_hash_key",
        { deterministic: true },
        (key) => hashKey(decodeKey(key as Uint8Array)),
      );
      db.exec(
        `${schema === 1 ? HINTS_SCHEMA : ""} ${ADD_HASH} ` +
          `PRAGMA user_version = ${SCHEMA_VERSION};`,
      );
    } else if (schema !== SCHEMA_VERSION) {
      throw notOurs(
        `its schema version is ${schema}; this KVDB reads version ${SCHEMA_VERSION}`,
      );
    }
    db.exec("COMMIT");
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

function notOurs(why: string): StorageError {
  return new StorageError(`Cannot use the database: ${why}`, why);
}

/** The one value a pragma answers with. */
function pragma(db: DatabaseSync, text: string): unknown {
  const row = db.prepare(`PRAGMA ${text}`).get();
  return row === undefined ? undefined : Object.values(row)[0];
}

function isEmpty(db: DatabaseSync): boolean {
  return db.prepare("SELECT count(*) AS n FROM sqlite_schema").get()?.n === 0;
}

function versionOf(row: VersionRow): Version {
  return [row.wall, row.counter, row.node];
}

/**
 * The value as stored: its JSON text, null for a tombstone. A value
 * without JSON (`undefined`) cannot come from the wire: a caller's bug.
 */
function valueJson(record: StoredRecord): string | null {
  if (record.tombstone) return null;
  const json = JSON.stringify(record.value);
  if (json === undefined) {
    throw new TypeError(`record for '${record.key}' has no JSON value`);
  }
  return json;
}

function toRecord(row: Row, key?: string): StoredRecord {
  return {
    key: key ?? decodeKey(row.key),
    value: row.value === null ? null : JSON.parse(row.value),
    version: [row.wall, row.counter, row.node],
    tombstone: row.tombstone === 1,
    expiresAtMs: row.expires_at,
  };
}

/** SQLite's primary result codes that a fault can show up as. */
const SQLITE_FAULTS: Record<number, string> = {
  5: "the database is locked by another process (is another node running on this data directory?)",
  8: "the database is read-only",
  10: "a disk I/O error",
  11: "the database file is corrupt (database disk image is malformed)",
  13: "the disk is full (database or disk is full)",
  14: "the database file cannot be opened",
  23: "access to the database file was denied",
  26: "the database file is corrupt or not a database (file is not a database)",
};

/**
 * One phrase for what went wrong with the storage, from a `node:sqlite`
 * error (with its result code), a `Deno.errors` file-system error or a
 * {@link StorageError}.
 */
export function describeStorageFault(error: unknown): string {
  if (error instanceof StorageError) return error.reason;
  if (error instanceof Deno.errors.NotCapable) {
    return "permission to read and write it was not granted (run with --allow-read --allow-write)";
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return "permission denied";
  }
  const { errcode, errstr, message } = error as {
    errcode?: number;
    errstr?: string;
    message?: string;
  };
  if (typeof errcode === "number") {
    // Extended result codes keep the primary code in the low byte.
    return SQLITE_FAULTS[errcode & 0xff] ?? errstr ?? String(message);
  }
  if (message?.startsWith("unable to open database file")) {
    return "the database file cannot be opened or created (unable to open database file)";
  }
  return String(message ?? error);
}
