/**
 * The storage interface every engine implements. Engines keep, per key, the
 * record with the newest version; they never decide liveness (expiry is
 * judged by the caller's clock).
 *
 * @module
 */

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

/** A key-value engine holding one {@link StoredRecord} per key. */
export interface Store {
  /** The record for `key`, live or not; undefined when the key was never written. */
  get(key: string): StoredRecord | undefined;
  /**
   * Keeps `record` if it is newer than what is stored for its key (last
   * writer wins). Resolves once the write is durable for this engine, to
   * true when it was stored and false when a newer version was already there.
   */
  apply(record: StoredRecord): Promise<boolean>;
  /** Records (tombstones included) in ascending key order (UTF-16 code units). */
  scan(options?: ScanOptions): StoredRecord[];
  /** How many records (tombstones included) are stored. */
  count(): number;
  /** Releases the engine's resources; further calls are errors. */
  close(): Promise<void>;
}
