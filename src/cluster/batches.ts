/**
 * Cutting many records into peer messages that are bounded both in count
 * and in bytes, so that no message is refused for its size (a record count
 * alone let twelve 1 MiB values make a message over the body limit).
 *
 * @module
 */

import { assert } from "@std/assert";
import { PEER_BATCH_BYTES_MAX } from "../limits.ts";
import type { StoredRecord } from "../storage/mod.ts";
import { PEER_BATCH_MAX } from "../transport/mod.ts";

/** Bytes a record adds to a peer message, about (its value as JSON, and more). */
export function recordBytes(record: StoredRecord): number {
  return record.key.length * 3 + 96 +
    (record.tombstone ? 0 : JSON.stringify(record.value)?.length ?? 0);
}

/**
 * Consecutive batches of `items`, each of at most `countMax` items and
 * `bytesMax` bytes by `size`; an item larger than `bytesMax` goes alone.
 */
export function* batches<T>(
  items: Iterable<T>,
  size: (item: T) => number,
  bytesMax = PEER_BATCH_BYTES_MAX,
  countMax = PEER_BATCH_MAX,
): Generator<T[]> {
  assert(bytesMax > 0 && countMax > 0, "positive batch bounds");
  let batch: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const itemBytes = size(item);
    if (
      batch.length > 0 &&
      (batch.length >= countMax || bytes + itemBytes > bytesMax)
    ) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(item);
    bytes += itemBytes;
  }
  if (batch.length > 0) yield batch;
}
