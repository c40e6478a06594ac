/**
 * The storage interface every engine implements. Engines keep, per key, the
 * record with the newest version; they never decide liveness (expiry is
 * judged by the caller's clock), except that {@link Store.purgeExpired}
 * deletes what the caller says has expired.
 *
 * Key order is JavaScript's string order, that is by UTF-16 code units, in
 * every engine: `scan` pages and `list_keys` cursors mean the same thing on
 * every node whatever engine it runs.
 *
 * @module
 */

import type { Version } from "../clock/mod.ts";
import type { StoredRecord } from "./record.ts";

/** An ordered range of keys. */
export interface ScanOptions {
  /** Only keys starting with this. Default: all keys. */
  prefix?: string;
  /** Only keys strictly after this one (a cursor). Default: from the start. */
  after?: string;
  /** At most this many records. Default: no limit. */
  limit?: number;
}

/**
 * A record without its value, with its key's hash (`hashKey`, the ring
 * position) and the size of its value: what anti-entropy compares, and
 * what plans a transfer.
 */
export interface RecordSummary {
  readonly key: string;
  readonly hash: number;
  readonly version: Version;
  readonly tombstone: boolean;
  readonly expiresAtMs: number | null;
  /** Bytes of the value as JSON (0 for a tombstone). */
  readonly bytes: number;
}

/** Options of {@link Store.summaries} and {@link Store.hashScan}. */
export interface HashRangeOptions {
  /** Only records after this (hash, key) position: a cursor. */
  after?: readonly [hash: number, key: string];
  /** At most this many. Default: no limit. */
  limit?: number;
}

/**
 * Told of every change to the stored records once it is durable: `key`
 * went from version `before` to `after` (undefined: absent). Records
 * written and overwritten in the same commit may be told as one change.
 */
export type ChangeListener = (
  key: string,
  before: Version | undefined,
  after: Version | undefined,
) => void;

/**
 * Where a durable engine keeps hinted handoff's writes (held for a replica
 * that is down), so that a stand-in that crashes still has the writes it
 * acknowledged. Keyed by (target member, key); one record each.
 */
export interface HintLog {
  /** Every hint kept, for the hint store to start from. */
  load(): [target: string, record: StoredRecord][];
  /** Keeps `record` for `target`, replacing the one for its key; resolves once durable. */
  put(target: string, record: StoredRecord): Promise<void>;
  /** Forgets the hint for `target` and `key` if its version is exactly `version`. */
  remove(target: string, key: string, version: Version): Promise<void>;
}

/** A key-value engine holding one {@link StoredRecord} per key. */
export interface Store {
  /** Present on a durable engine: where hints are kept. */
  readonly hintLog?: HintLog;
  /**
   * The record for `key`, live or not; undefined when the key was never
   * written (or was purged). Only acknowledged writes are visible: a write
   * whose `apply` has not resolved yet may not be.
   */
  get(key: string): StoredRecord | undefined;
  /**
   * Keeps `record` if it is newer than what is stored for its key (last
   * writer wins). Resolves once the write is durable for this engine, to
   * true when it was stored and false when a newer version was already
   * there; rejects with a `StorageError` when it could not be stored, and
   * then nothing of it was kept.
   */
  apply(record: StoredRecord): Promise<boolean>;
  /**
   * {@link apply} for many records at once, in one transaction on a durable
   * engine (a batch is committed together, or not at all): resolves with
   * each record's result, in order.
   */
  applyMany(records: readonly StoredRecord[]): Promise<boolean[]>;
  /**
   * Forgets the record for `key` only if its version is exactly `version`
   * (a newer write in between is kept). Resolves once durable, to true when
   * a record was removed.
   */
  remove(key: string, version: Version): Promise<boolean>;
  /** Records (tombstones included) in ascending key order (UTF-16 code units). */
  scan(options?: ScanOptions): StoredRecord[];
  /**
   * Summaries of the records whose key hash is in [`fromHash`, `toHash`),
   * tombstones included, ordered by hash, then key: an index range in a
   * durable engine, never a scan of every record.
   */
  summaries(
    fromHash: number,
    toHash: number,
    options?: HashRangeOptions,
  ): RecordSummary[];
  /**
   * The records whose key hash is in [`fromHash`, `toHash`), ordered by
   * hash, then key: ranges of the ring, for join and leave streaming.
   */
  hashScan(
    fromHash: number,
    toHash: number,
    options?: HashRangeOptions,
  ): StoredRecord[];
  /**
   * Sets the one listener told of every change (a node's digests and its
   * handoff follow the records through it). It is called synchronously, after the
   * change is durable and before the write that made it resolves.
   */
  watch(listener: ChangeListener): void;
  /**
   * Every record, tombstones included, in no particular order, for
   * maintenance passes (anti-entropy digests, handoff, leave) that visit
   * everything and need no order: an engine can then skip sorting. Writes
   * made while the iteration runs may or may not be seen.
   */
  records(): Iterable<StoredRecord>;
  /**
   * The newest version stored, tombstones included; undefined when empty.
   * A restarted node starts its clock after it, so that a wall clock that
   * stepped back while the node was down cannot stamp new writes older
   * than the ones it already holds.
   */
  newestVersion(): Version | undefined;
  /** How many records (tombstones included) are stored. */
  count(): number;
  /**
   * Deletes up to `limit` records whose `expiresAtMs <= nowMs` and
   * resolves to how many it deleted. Background maintenance: reads already
   * treat such records as absent.
   */
  purgeExpired(nowMs: number, limit: number): Promise<number>;
  /**
   * Deletes up to `limit` tombstones whose version's wall time is before
   * `olderThanWallMs` and resolves to how many it deleted.
   * Call it only after a grace period in which every replica has seen the
   * delete: a tombstone purged too early lets a stale replica bring the key
   * back.
   */
  purgeTombstones(olderThanWallMs: number, limit: number): Promise<number>;
  /** Commits what is pending and releases the engine's resources; further calls are errors. */
  close(): Promise<void>;
}
