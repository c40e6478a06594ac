/**
 * The in-memory engine: a Map, as the seed kept its data. Nothing survives
 * a restart.
 *
 * @module
 */

import { compareVersions, type Version } from "../clock/mod.ts";
import { type StoredRecord, supersedes } from "./record.ts";
import type { ScanOptions, Store } from "./store.ts";

/** A {@link Store} on a `Map`. Ordered scans sort the keys once per change. */
export class MemoryStore implements Store {
  readonly #records = new Map<string, StoredRecord>();
  /** Sorted keys, rebuilt lazily after a key is added. */
  #sorted: string[] | null = [];
  /**
   * Keys written with an expiry, and keys written as tombstones: what the
   * purges look at instead of every record. An entry may be stale (the key
   * was overwritten or removed since); the purges drop those as they pass.
   */
  readonly #expiring = new Set<string>();
  readonly #tombstones = new Set<string>();
  #closed = false;

  get(key: string): StoredRecord | undefined {
    this.#assertOpen();
    return this.#records.get(key);
  }

  apply(record: StoredRecord): Promise<boolean> {
    this.#assertOpen();
    const current = this.#records.get(record.key);
    if (!supersedes(record, current)) return Promise.resolve(false);
    if (current === undefined) this.#sorted = null;
    this.#records.set(record.key, record);
    if (record.expiresAtMs !== null) this.#expiring.add(record.key);
    if (record.tombstone) this.#tombstones.add(record.key);
    return Promise.resolve(true);
  }

  remove(key: string, version: Version): Promise<boolean> {
    this.#assertOpen();
    const current = this.#records.get(key);
    if (
      current === undefined || compareVersions(current.version, version) !== 0
    ) {
      return Promise.resolve(false);
    }
    this.#records.delete(key);
    this.#sorted = null;
    return Promise.resolve(true);
  }

  records(): Iterable<StoredRecord> {
    this.#assertOpen();
    // The Map's own iterator: no copy, no sort, and it stays valid while
    // records are added or removed.
    return this.#records.values();
  }

  scan(options: ScanOptions = {}): StoredRecord[] {
    this.#assertOpen();
    const keys = this.#sortedKeys();
    const { prefix = "", after, limit = Infinity } = options;
    const from = after !== undefined && after >= prefix ? after : prefix;
    let i = lowerBound(keys, from);
    if (after !== undefined && keys[i] === after) i++;
    const out: StoredRecord[] = [];
    for (; i < keys.length && out.length < limit; i++) {
      const key = keys[i]!;
      if (!key.startsWith(prefix)) break;
      out.push(this.#records.get(key)!);
    }
    return out;
  }

  newestVersion(): Version | undefined {
    this.#assertOpen();
    let best: Version | undefined;
    for (const { version } of this.#records.values()) {
      if (best === undefined || compareVersions(version, best) > 0) {
        best = version;
      }
    }
    return best;
  }

  count(): number {
    this.#assertOpen();
    return this.#records.size;
  }

  purgeExpired(nowMs: number, limit: number): Promise<number> {
    this.#assertOpen();
    return Promise.resolve(
      this.#purge(
        this.#expiring,
        limit,
        (record) =>
          record.expiresAtMs === null ? undefined : record.expiresAtMs <= nowMs,
      ),
    );
  }

  purgeTombstones(olderThanWallMs: number, limit: number): Promise<number> {
    this.#assertOpen();
    return Promise.resolve(
      this.#purge(
        this.#tombstones,
        limit,
        (record) =>
          !record.tombstone ? undefined : record.version[0] < olderThanWallMs,
      ),
    );
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#records.clear();
    this.#expiring.clear();
    this.#tombstones.clear();
    this.#sorted = [];
    return Promise.resolve();
  }

  /**
   * Deletes up to `limit` records among `candidates` for which `due` is
   * true; `due` answers undefined for a stale candidate, which is dropped.
   */
  #purge(
    candidates: Set<string>,
    limit: number,
    due: (record: StoredRecord) => boolean | undefined,
  ): number {
    let purged = 0;
    for (const key of candidates) {
      if (purged >= limit) break;
      const record = this.#records.get(key);
      const verdict = record === undefined ? undefined : due(record);
      if (verdict === false) continue;
      candidates.delete(key);
      if (verdict === undefined) continue;
      this.#records.delete(key);
      this.#sorted = null;
      purged++;
    }
    return purged;
  }

  #sortedKeys(): string[] {
    this.#sorted ??= [...this.#records.keys()].sort();
    return this.#sorted;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("MemoryStore is closed");
  }
}

/** Index of the first element >= `target` in sorted `keys`. */
function lowerBound(keys: readonly string[], target: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
