/**
 * A bounded cache of decoded records in front of the SQLite engine, so
 * that a read of a hot key is a Map lookup instead of a query, a row
 * object and a `JSON.parse`.
 *
 * The engine keeps it coherent: it fills the cache on a read that found a
 * row, and changes it only after a transaction committed (a stored write
 * replaces the entry, a removal or a purge deletes it), so the cache never
 * holds what the database does not.
 *
 * Eviction is first in, first out over a `Map`'s insertion order (a
 * rewrite keeps a key's place): a hit costs no bookkeeping, which matters more on this path than the better hit
 * rate of true LRU. An entry's size is an estimate: the key and the value's
 * JSON as UTF-16, plus a fixed overhead for the record and the map entry.
 *
 * @module
 */

import type { StoredRecord } from "./record.ts";

/** Bytes counted per entry besides its key and value text. */
export const CACHE_ENTRY_OVERHEAD_BYTES = 160;

interface Entry {
  record: StoredRecord;
  bytes: number;
}

/** What the cache did since it was made. */
export interface RecordCacheStats {
  hits: number;
  misses: number;
  entries: number;
  bytes: number;
}

/** Decoded records by key, at most `bytesMax` of them (estimated). */
export class RecordCache {
  readonly bytesMax: number;
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  /** `bytesMax` 0 disables the cache: nothing is kept. */
  constructor(bytesMax: number) {
    this.bytesMax = bytesMax;
  }

  /** The cached record for `key`, or undefined (not cached). */
  get(key: string): StoredRecord | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    return entry.record;
  }

  /**
   * Caches `record` under its key, replacing any entry; `valueChars` is
   * the length of its value's JSON text (0 for a tombstone).
   */
  set(record: StoredRecord, valueChars: number): void {
    const bytes = 2 * (record.key.length + valueChars) +
      CACHE_ENTRY_OVERHEAD_BYTES;
    const entry = this.#entries.get(record.key);
    if (bytes > this.bytesMax) {
      if (entry !== undefined) this.delete(record.key);
      return;
    }
    if (entry !== undefined) {
      // In place: a rewritten key keeps its place in line, and the map is
      // spared a delete and an insert on every write of a hot key.
      this.#bytes += bytes - entry.bytes;
      entry.record = record;
      entry.bytes = bytes;
    } else {
      this.#entries.set(record.key, { record, bytes });
      this.#bytes += bytes;
    }
    if (this.#bytes <= this.bytesMax) return;
    for (const [key, entry] of this.#entries) {
      this.#entries.delete(key);
      this.#bytes -= entry.bytes;
      if (this.#bytes <= this.bytesMax) return;
    }
  }

  /** Forgets `key`. */
  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }

  /** Forgets everything. */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  /** Hits, misses and what the cache holds now. */
  stats(): RecordCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      entries: this.#entries.size,
      bytes: this.#bytes,
    };
  }
}
