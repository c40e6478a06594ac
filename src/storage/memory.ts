/**
 * The in-memory engine: a Map, as the seed kept its data. Nothing survives
 * a restart.
 *
 * @module
 */

import { compareVersions, type Version } from "../clock/mod.ts";
import { hashKey } from "../ring/mod.ts";
import { mutants } from "../mutants.ts";
import { type StoredRecord, supersedes } from "./record.ts";
import type {
  ChangeListener,
  HashRangeOptions,
  RecordSummary,
  ScanOptions,
  Store,
} from "./store.ts";

/** Keys are indexed by the top 16 bits of their hash, for hash ranges. */
const SEGMENT_SHIFT = 16;

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
  /**
   * Keys by the top bits of their hash: what hash ranges look at. Built on
   * the first hash range asked for, then kept up to date: a node that never
   * compares with peers (one alone) never pays for it.
   */
  #bySegment: Map<number, Set<string>> | null = null;
  #listener: ChangeListener = () => {};
  #closed = false;

  get(key: string): StoredRecord | undefined {
    this.#assertOpen();
    return this.#records.get(key);
  }

  /** Last writer wins (unless the simulator's mutant says otherwise). */
  #takes(record: StoredRecord, current: StoredRecord | undefined): boolean {
    if (supersedes(record, current)) return true;
    if (compareVersions(record.version, current!.version) === 0) return false;
    return mutants.has("accept_older") ||
      (mutants.has("ignore_tombstone") && current!.tombstone);
  }

  apply(record: StoredRecord): Promise<boolean> {
    this.#assertOpen();
    const current = this.#records.get(record.key);
    if (!this.#takes(record, current)) return Promise.resolve(false);
    if (current === undefined) {
      this.#sorted = null;
      if (this.#bySegment !== null) this.#index(this.#bySegment, record.key);
    }
    this.#records.set(record.key, record);
    if (record.expiresAtMs !== null) this.#expiring.add(record.key);
    if (record.tombstone) this.#tombstones.add(record.key);
    this.#listener(record.key, current?.version, record.version);
    return Promise.resolve(true);
  }

  applyMany(records: readonly StoredRecord[]): Promise<boolean[]> {
    this.#assertOpen();
    const results: boolean[] = [];
    for (const record of records) {
      const current = this.#records.get(record.key);
      if (!this.#takes(record, current)) {
        results.push(false);
        continue;
      }
      if (current === undefined) {
        this.#sorted = null;
        if (this.#bySegment !== null) this.#index(this.#bySegment, record.key);
      }
      this.#records.set(record.key, record);
      if (record.expiresAtMs !== null) this.#expiring.add(record.key);
      if (record.tombstone) this.#tombstones.add(record.key);
      this.#listener(record.key, current?.version, record.version);
      results.push(true);
    }
    return Promise.resolve(results);
  }

  watch(listener: ChangeListener): void {
    this.#listener = listener;
  }

  #index(index: Map<number, Set<string>>, key: string): void {
    const segment = hashKey(key) >>> SEGMENT_SHIFT;
    let keys = index.get(segment);
    if (keys === undefined) {
      keys = new Set();
      index.set(segment, keys);
    }
    keys.add(key);
  }

  #segments(): Map<number, Set<string>> {
    if (this.#bySegment === null) {
      const index = new Map<number, Set<string>>();
      for (const key of this.#records.keys()) this.#index(index, key);
      this.#bySegment = index;
    }
    return this.#bySegment;
  }

  #forget(record: StoredRecord): void {
    this.#records.delete(record.key);
    this.#sorted = null;
    if (this.#bySegment !== null) {
      const segment = hashKey(record.key) >>> SEGMENT_SHIFT;
      const keys = this.#bySegment.get(segment);
      keys?.delete(record.key);
      if (keys?.size === 0) this.#bySegment.delete(segment);
    }
    this.#listener(record.key, record.version, undefined);
  }

  /** Records with a key hash in [from, to), by hash then key. */
  #inHashRange(
    fromHash: number,
    toHash: number,
    options: HashRangeOptions,
  ): [number, StoredRecord][] {
    const found: [number, StoredRecord][] = [];
    if (toHash <= fromHash) return found;
    const last = Math.floor((toHash - 1) / 2 ** SEGMENT_SHIFT);
    for (let s = fromHash >>> SEGMENT_SHIFT; s <= last; s++) {
      for (const key of this.#segments().get(s) ?? []) {
        const hash = hashKey(key);
        if (hash < fromHash || hash >= toHash) continue;
        const after = options.after;
        if (
          after !== undefined &&
          (hash < after[0] || (hash === after[0] && key <= after[1]))
        ) continue;
        found.push([hash, this.#records.get(key)!]);
      }
    }
    found.sort((a, b) =>
      a[0] - b[0] || (a[1].key < b[1].key ? -1 : a[1].key > b[1].key ? 1 : 0)
    );
    return options.limit === undefined
      ? found
      : found.slice(0, Math.max(0, options.limit));
  }

  summaries(
    fromHash: number,
    toHash: number,
    options: HashRangeOptions = {},
  ): RecordSummary[] {
    this.#assertOpen();
    return this.#inHashRange(fromHash, toHash, options).map((
      [hash, r],
    ) => ({
      key: r.key,
      hash,
      version: r.version,
      tombstone: r.tombstone,
      expiresAtMs: r.expiresAtMs,
      bytes: r.tombstone ? 0 : JSON.stringify(r.value)?.length ?? 0,
    }));
  }

  hashScan(
    fromHash: number,
    toHash: number,
    options: HashRangeOptions = {},
  ): StoredRecord[] {
    this.#assertOpen();
    return this.#inHashRange(fromHash, toHash, options).map(([, r]) => r);
  }

  remove(key: string, version: Version): Promise<boolean> {
    this.#assertOpen();
    const current = this.#records.get(key);
    if (
      current === undefined || compareVersions(current.version, version) !== 0
    ) {
      return Promise.resolve(false);
    }
    this.#forget(current);
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
    this.#bySegment = null;
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
      this.#forget(record!);
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
