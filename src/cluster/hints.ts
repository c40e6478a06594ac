/**
 * Hinted handoff's store: writes held for a replica that is down, handed
 * over when it is back. Bounded in count and bytes; a write that does not
 * fit is refused, so it does not count towards the write quorum.
 *
 * Hints live in memory: a stand-in that crashes loses them, and
 * anti-entropy repairs what they would have.
 *
 * @module
 */

import { compareVersions } from "../clock/mod.ts";
import { type StoredRecord, supersedes } from "../storage/mod.ts";

/** Bounds on the hints one node holds. */
export interface HintLimits {
  /** Most hinted records. Default 100,000. */
  countMax: number;
  /** Most bytes of hinted keys and values (as JSON). Default 64 MiB. */
  bytesMax: number;
}

/** The defaults; see {@link HintLimits}. */
export const HINT_LIMITS_DEFAULT: HintLimits = {
  countMax: 100_000,
  bytesMax: 64 * 1024 * 1024,
};

/** What `cluster_info` shows of the hints. */
export interface HintStats {
  count: number;
  bytes: number;
  /** Hinted records per target member. */
  targets: Record<string, number>;
  /** Hints handed over since start. */
  delivered: number;
  /** Writes refused because the hint store was full. */
  refused: number;
}

function sizeOf(record: StoredRecord): number {
  return record.key.length + (JSON.stringify(record.value)?.length ?? 0) + 48;
}

/** Hinted records by target member, newest version per key. */
export class HintStore {
  readonly #limits: HintLimits;
  readonly #byTarget = new Map<string, Map<string, StoredRecord>>();
  #count = 0;
  #bytes = 0;
  #delivered = 0;
  #refused = 0;

  constructor(limits: Partial<HintLimits> = {}) {
    this.#limits = { ...HINT_LIMITS_DEFAULT, ...limits };
  }

  /** Keeps `record` for `target`; false when the store is full. */
  add(target: string, record: StoredRecord): boolean {
    let hints = this.#byTarget.get(target);
    const current = hints?.get(record.key);
    if (current !== undefined && !supersedes(record, current)) return true;
    const bytes = sizeOf(record);
    const grows = current === undefined ? 1 : 0;
    const delta = bytes - (current === undefined ? 0 : sizeOf(current));
    if (
      this.#count + grows > this.#limits.countMax ||
      this.#bytes + delta > this.#limits.bytesMax
    ) {
      this.#refused++;
      return false;
    }
    if (hints === undefined) {
      hints = new Map();
      this.#byTarget.set(target, hints);
    }
    hints.set(record.key, record);
    this.#count += grows;
    this.#bytes += delta;
    return true;
  }

  /** Members that have hints waiting. */
  targets(): string[] {
    return [...this.#byTarget.keys()];
  }

  /** Up to `limit` hinted records for `target`. */
  peek(target: string, limit: number): StoredRecord[] {
    const hints = this.#byTarget.get(target);
    if (hints === undefined) return [];
    const out: StoredRecord[] = [];
    for (const record of hints.values()) {
      if (out.length >= limit) break;
      out.push(record);
    }
    return out;
  }

  /**
   * Drops hints that were handed over, unless a newer write for the same
   * key arrived meanwhile (that one still has to go).
   */
  delivered(target: string, records: readonly StoredRecord[]): void {
    const hints = this.#byTarget.get(target);
    if (hints === undefined) return;
    for (const record of records) {
      const current = hints.get(record.key);
      if (
        current === undefined ||
        compareVersions(current.version, record.version) !== 0
      ) continue;
      hints.delete(record.key);
      this.#count--;
      this.#bytes -= sizeOf(record);
      this.#delivered++;
    }
    if (hints.size === 0) this.#byTarget.delete(target);
  }

  /** Drops every hint for a member that left for good. */
  drop(target: string): void {
    const hints = this.#byTarget.get(target);
    if (hints === undefined) return;
    for (const record of hints.values()) this.#bytes -= sizeOf(record);
    this.#count -= hints.size;
    this.#byTarget.delete(target);
  }

  /** Counts for `cluster_info`. */
  stats(): HintStats {
    const targets: Record<string, number> = {};
    for (const [target, hints] of this.#byTarget) targets[target] = hints.size;
    return {
      count: this.#count,
      bytes: this.#bytes,
      targets,
      delivered: this.#delivered,
      refused: this.#refused,
    };
  }
}
