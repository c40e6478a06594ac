/**
 * A node's disk as the simulator sees it: the real engine (memory or
 * SQLite on a temporary file) behind a wrapper that
 *
 * - fences a crashed incarnation off: once it is dead, what its writes
 *   would resolve never reaches its code, so a dead node never acts;
 * - tells the checkers of every record the engine stored and every
 *   record it removed, and checks that a key's stored version never goes
 *   back (version order in the stores).
 *
 * @module
 */

import { compareVersions, type Version } from "../../src/clock/mod.ts";
import type {
  ChangeListener,
  HashRangeOptions,
  HintLog,
  RecordSummary,
  ScanOptions,
  Store,
  StoredRecord,
} from "../../src/storage/mod.ts";

/** What a store tells the simulator. */
export interface StoreObserver {
  /** `record` is now durably stored on `node`. */
  stored(node: string, record: StoredRecord): void;
  /** The record of `key` with exactly `version` was removed (handoff). */
  removed(key: string, version: Version): void;
  /** A hint is durably kept (in a durable engine's hint log). */
  hinted(target: string, record: StoredRecord): void;
  /** A kept hint was forgotten. */
  unhinted(target: string, key: string, version: Version): void;
  /** A broken invariant of the store. */
  violation(what: string): void;
}

/** A promise that never settles: what a dead process's callbacks get. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}

/** One incarnation's view of a node's disk. */
export class SimStore implements Store {
  readonly #inner: Store;
  readonly #node: string;
  readonly #observer: StoreObserver;
  #fenced = false;
  /** Removals (handoff, purges) started, and those not yet done. */
  #removals = 0;
  #removing = 0;
  readonly hintLog?: HintLog;

  constructor(inner: Store, node: string, observer: StoreObserver) {
    this.#inner = inner;
    this.#node = node;
    this.#observer = observer;
    const log = inner.hintLog;
    if (log !== undefined) {
      this.hintLog = {
        load: () => log.load(),
        put: (target, record) =>
          this.#fence(
            log.put(target, record).then(() => {
              this.#observer.hinted(target, record);
            }),
          ),
        remove: (target, key, version) =>
          this.#fence(
            log.remove(target, key, version).then(() => {
              this.#observer.unhinted(target, key, version);
            }),
          ),
      };
    }
  }

  /** The engine underneath. */
  get inner(): Store {
    return this.#inner;
  }

  /** The incarnation died: nothing it started may resolve any more. */
  fence(): void {
    this.#fenced = true;
  }

  #fence<T>(promise: Promise<T>): Promise<T> {
    return promise.then(
      (value) => this.#fenced ? never<T>() : value,
      (error) => this.#fenced ? never<T>() : Promise.reject(error),
    );
  }

  get(key: string): StoredRecord | undefined {
    return this.#inner.get(key);
  }

  apply(record: StoredRecord): Promise<boolean> {
    const before = this.#inner.get(record.key)?.version;
    // A removal before this write commits (handoff, a purge) may explain
    // anything: the check is for writes no removal can interfere with.
    const quiet = this.#removing === 0;
    const removals = this.#removals;
    return this.#fence(
      this.#inner.apply(record).then((stored) => {
        if (stored) this.#observer.stored(this.#node, record);
        if (quiet && removals === this.#removals) {
          this.#check(record, before, stored);
        }
        return stored;
      }),
    );
  }

  applyMany(records: readonly StoredRecord[]): Promise<boolean[]> {
    const before = records.map((r) => this.#inner.get(r.key)?.version);
    const quiet = this.#removing === 0;
    const removals = this.#removals;
    // A key twice in one batch: the second compares with the first.
    const counts = new Map<string, number>();
    for (const r of records) counts.set(r.key, (counts.get(r.key) ?? 0) + 1);
    return this.#fence(
      this.#inner.applyMany(records).then((stored) => {
        records.forEach((record, i) => {
          if (stored[i]) this.#observer.stored(this.#node, record);
          if (
            quiet && removals === this.#removals && counts.get(record.key) === 1
          ) this.#check(record, before[i], stored[i]!);
        });
        return stored;
      }),
    );
  }

  /** Last writer wins: stored only if newer, refused only if not. */
  #check(
    record: StoredRecord,
    before: Version | undefined,
    stored: boolean,
  ): void {
    const held = this.#inner.get(record.key)?.version;
    const where = `${this.#node}: '${record.key}' ${show(record.version)}`;
    if (stored && before !== undefined) {
      if (compareVersions(record.version, before) <= 0) {
        this.#observer.violation(
          `${where} was stored over ${show(before)}, which is not older`,
        );
      }
    }
    if (held === undefined || compareVersions(held, record.version) < 0) {
      this.#observer.violation(
        `${where} was ${stored ? "stored" : "refused as older"}, yet the ` +
          `store then held ${held === undefined ? "nothing" : show(held)}`,
      );
    }
  }

  remove(key: string, version: Version): Promise<boolean> {
    return this.#fence(
      this.#removal(this.#inner.remove(key, version)).then((removed) => {
        if (removed) this.#observer.removed(key, version);
        return removed;
      }),
    );
  }

  scan(options?: ScanOptions): StoredRecord[] {
    return this.#inner.scan(options);
  }

  summaries(
    fromHash: number,
    toHash: number,
    options?: HashRangeOptions,
  ): RecordSummary[] {
    return this.#inner.summaries(fromHash, toHash, options);
  }

  hashScan(
    fromHash: number,
    toHash: number,
    options?: HashRangeOptions,
  ): StoredRecord[] {
    return this.#inner.hashScan(fromHash, toHash, options);
  }

  watch(listener: ChangeListener): void {
    this.#inner.watch(listener);
  }

  records(): Iterable<StoredRecord> {
    return this.#inner.records();
  }

  newestVersion(): Version | undefined {
    return this.#inner.newestVersion();
  }

  count(): number {
    return this.#inner.count();
  }

  purgeExpired(nowMs: number, limit: number): Promise<number> {
    return this.#fence(this.#removal(this.#inner.purgeExpired(nowMs, limit)));
  }

  purgeTombstones(olderThanWallMs: number, limit: number): Promise<number> {
    return this.#fence(
      this.#removal(this.#inner.purgeTombstones(olderThanWallMs, limit)),
    );
  }

  #removal<T>(removal: Promise<T>): Promise<T> {
    this.#removing++;
    this.#removals++;
    return removal.finally(() => this.#removing--);
  }

  close(): Promise<void> {
    return this.#fence(this.#inner.close());
  }
}

/** A version as the checkers print it. */
export function show(version: Version): string {
  return `[${version[0]},${version[1]},${version[2]}]`;
}
