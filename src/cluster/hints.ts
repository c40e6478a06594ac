/**
 * Hinted handoff's store: writes held for a replica that is down, handed
 * over when it is back. Bounded in count and bytes; a write that does not
 * fit is refused, so it does not count towards the write quorum.
 *
 * Hints live in memory and, on a durable engine, in its hint log too
 * (`Store.hintLog`): a hinted write is acknowledged only once it is there,
 * so a stand-in that crashes still has it when it comes back. On the memory
 * engine a crash loses them, with everything else; anti-entropy repairs
 * what they would have done.
 *
 * @module
 */

import { compareVersions, type Version } from "../clock/mod.ts";
import { KvdbError } from "../errors.ts";
import { mutants } from "../mutants.ts";
import { type HintLog, type StoredRecord, supersedes } from "../storage/mod.ts";

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
  readonly #log: HintLog | undefined;
  readonly #byTarget = new Map<string, Map<string, StoredRecord>>();
  #count = 0;
  #bytes = 0;
  #delivered = 0;
  #refused = 0;

  /**
   * With a `log`, starts from the hints it kept (even beyond the limits:
   * they were acknowledged) and keeps every change there too.
   */
  constructor(limits: Partial<HintLimits> = {}, log?: HintLog) {
    this.#limits = { ...HINT_LIMITS_DEFAULT, ...limits };
    this.#log = log;
    for (const [target, record] of log?.load() ?? []) {
      this.#set(target, record);
    }
  }

  /**
   * Keeps `record` for `target`. Resolves to false when the store is full;
   * to true once the hint is held (and, with a log, durable). A log that
   * fails rejects, and the hint is not held.
   */
  async add(target: string, record: StoredRecord): Promise<boolean> {
    if (mutants.has("drop_hints")) return true;
    const current = this.#byTarget.get(target)?.get(record.key);
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
    this.#set(target, record);
    if (this.#log === undefined) return true;
    try {
      await this.#log.put(target, record);
    } catch (error) {
      // Not durable, so not held: undo, unless a newer hint replaced it.
      if (this.#byTarget.get(target)?.get(record.key) === record) {
        this.#unset(target, record.key);
        if (current !== undefined) this.#set(target, current);
      }
      throw error;
    }
    return true;
  }

  #set(target: string, record: StoredRecord): void {
    let hints = this.#byTarget.get(target);
    if (hints === undefined) {
      hints = new Map();
      this.#byTarget.set(target, hints);
    }
    const current = hints.get(record.key);
    hints.set(record.key, record);
    this.#count += current === undefined ? 1 : 0;
    this.#bytes += sizeOf(record) -
      (current === undefined ? 0 : sizeOf(current));
  }

  #unset(target: string, key: string): void {
    const hints = this.#byTarget.get(target);
    const current = hints?.get(key);
    if (hints === undefined || current === undefined) return;
    hints.delete(key);
    this.#count--;
    this.#bytes -= sizeOf(current);
    if (hints.size === 0) this.#byTarget.delete(target);
  }

  /** The newest version of `key` hinted for any member, if any. */
  newest(key: string): Version | undefined {
    let best: Version | undefined;
    for (const hints of this.#byTarget.values()) {
      const record = hints.get(key);
      if (
        record !== undefined &&
        (best === undefined || compareVersions(record.version, best) > 0)
      ) best = record.version;
    }
    return best;
  }

  /** Members that have hints waiting. */
  targets(): string[] {
    return [...this.#byTarget.keys()];
  }

  /**
   * Up to `limit` hinted records for `target`, and up to `bytesMax` bytes
   * of them (at least one): a batch that one peer message can carry.
   */
  peek(target: string, limit: number, bytesMax = Infinity): StoredRecord[] {
    const hints = this.#byTarget.get(target);
    if (hints === undefined) return [];
    const out: StoredRecord[] = [];
    let bytes = 0;
    for (const record of hints.values()) {
      const size = sizeOf(record);
      if (out.length >= limit || (out.length > 0 && bytes + size > bytesMax)) {
        break;
      }
      out.push(record);
      bytes += size;
    }
    return out;
  }

  /**
   * Drops hints that were handed over, unless a newer write for the same
   * key arrived meanwhile (that one still has to go). The log forgets
   * them too; should that fail, they are handed over again after a restart,
   * which is harmless (the newest version wins).
   */
  async delivered(
    target: string,
    records: readonly StoredRecord[],
  ): Promise<void> {
    const gone: StoredRecord[] = [];
    for (const record of records) {
      const current = this.#byTarget.get(target)?.get(record.key);
      if (
        current === undefined ||
        compareVersions(current.version, record.version) !== 0
      ) continue;
      this.#unset(target, record.key);
      this.#delivered++;
      gone.push(record);
    }
    if (this.#log === undefined) return;
    const log = this.#log;
    await Promise.all(
      gone.map((r) =>
        log.remove(target, r.key, r.version).catch((error) => {
          // Delivered already: a log that failed to forget it hands it
          // over again after a restart, which is harmless.
          if (!(error instanceof KvdbError)) throw error;
        })
      ),
    );
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
