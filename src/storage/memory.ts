/**
 * The in-memory engine: a Map, as the seed kept its data. Nothing survives
 * a restart.
 *
 * @module
 */

import { type StoredRecord, supersedes } from "./record.ts";
import type { ScanOptions, Store } from "./store.ts";

/** A {@link Store} on a `Map`. Ordered scans sort the keys once per change. */
export class MemoryStore implements Store {
  readonly #records = new Map<string, StoredRecord>();
  /** Sorted keys, rebuilt lazily after a key is added. */
  #sorted: string[] | null = [];
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
    return Promise.resolve(true);
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

  count(): number {
    this.#assertOpen();
    return this.#records.size;
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#records.clear();
    this.#sorted = [];
    return Promise.resolve();
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
