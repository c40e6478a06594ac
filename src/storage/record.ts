/**
 * The unit of storage and replication: a key's latest write, live or a
 * tombstone, with its version and expiry.
 *
 * @module
 */

import { compareVersions, type Version } from "../clock/mod.ts";

/** One key's latest known write. */
export interface StoredRecord {
  readonly key: string;
  /** The JSON value; `null` for a tombstone. */
  readonly value: unknown;
  readonly version: Version;
  /** True when the write was a delete (`pop`). */
  readonly tombstone: boolean;
  /** Wall milliseconds after which the key reads as absent; null: never. */
  readonly expiresAtMs: number | null;
}

/** True when the record holds a value that a read may return at `nowMs`. */
export function isLive(record: StoredRecord, nowMs: number): boolean {
  return !record.tombstone &&
    (record.expiresAtMs === null || record.expiresAtMs > nowMs);
}

/** True when `candidate` should replace `current` (last writer wins). */
export function supersedes(
  candidate: StoredRecord,
  current: StoredRecord | undefined,
): boolean {
  return current === undefined ||
    compareVersions(candidate.version, current.version) > 0;
}

/** The newest of some records (undefined entries are skipped). */
export function newest(
  records: Iterable<StoredRecord | undefined>,
): StoredRecord | undefined {
  let best: StoredRecord | undefined;
  for (const record of records) {
    if (record !== undefined && supersedes(record, best)) best = record;
  }
  return best;
}
