/**
 * Digests of a node's records, kept up to date as records change, for
 * anti-entropy (Dynamo's and Riak's active anti-entropy).
 *
 * The key space (32-bit key hashes) is cut into leaves: 2^16 fixed
 * segments, each split further where a ring range begins, so that every
 * leaf lies inside one ring range and every key of a leaf has the same
 * replicas. A leaf's digest is its record count and the sum, mod 2^32, of a
 * hash of each record's key and version: a record that changes moves its
 * leaf's digest by the difference, in constant time, so the digests cost
 * every write a few hashes and never a scan.
 *
 * Two replicas compare the leaves they both replicate: first 256 bucket
 * sums (a bucket is the leaves under one top byte of the hash), then the
 * leaves of differing buckets, and only then the keys of differing leaves.
 * Replicas that agree exchange 256 pairs of numbers, whatever they hold.
 *
 * Pure: the caller feeds changes in ({@link DigestTree.change}).
 *
 * @module
 */

import { assert } from "@std/assert";
import type { Version } from "../clock/mod.ts";
import { hashKey, murmur3 } from "../ring/mod.ts";

/** Bits of the key hash that pick a fixed segment. */
export const SEGMENT_BITS = 16;
/** Buckets, the first level of the comparison: the top byte of the hash. */
export const TREE_BUCKETS = 256;

const SEGMENTS = 2 ** SEGMENT_BITS;
const SEGMENT_SHIFT = 32 - SEGMENT_BITS;
const HASH_SPACE = 2 ** 32;

/** A leaf digest: record count and hash sum. */
export type LeafDigest = readonly [count: number, sum: number];

/** A leaf's position, count and sum, as anti-entropy exchanges them. */
export type LeafEntry = readonly [leaf: number, count: number, sum: number];

const nodeHashes = new Map<string, number>();

/** The hash of a node id, remembered: a cluster has few. */
function nodeHash(node: string): number {
  let h = nodeHashes.get(node);
  if (h === undefined) {
    if (nodeHashes.size >= 4096) nodeHashes.clear();
    h = murmur3(node, 0x9747b28c);
    nodeHashes.set(node, h);
  }
  return h;
}

/** MurmurHash3's finalizer: a fast, well-mixed 32-bit step. */
function mix(h: number, x: number): number {
  let k = Math.imul(x | 0, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** The hash a record adds to its leaf's sum: of its key hash and version. */
export function recordHash(keyHash: number, version: Version): number {
  const [wall, counter, node] = version;
  let h = mix(0x5bd1e995, keyHash);
  h = mix(h, wall % HASH_SPACE);
  h = mix(h, Math.floor(wall / HASH_SPACE));
  h = mix(h, counter);
  h = mix(h, nodeHash(node));
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The leaves for a ring: where each starts, ascending. Fixed segment
 * starts, and the start of every ring range (one past each token).
 */
export function leafStarts(tokens: Uint32Array): Uint32Array {
  const all = new Uint32Array(SEGMENTS + tokens.length);
  for (let s = 0; s < SEGMENTS; s++) all[s] = s * 2 ** SEGMENT_SHIFT;
  let n = SEGMENTS;
  for (const token of tokens) {
    if (token + 1 < HASH_SPACE) all[n++] = token + 1;
  }
  const sorted = all.subarray(0, n).sort();
  // Drop repeats (a token just before a segment start, or equal tokens).
  let unique = 0;
  for (let i = 0; i < sorted.length; i++) {
    if (i === 0 || sorted[i] !== sorted[unique - 1]) {
      sorted[unique++] = sorted[i]!;
    }
  }
  return sorted.slice(0, unique);
}

/** Per-leaf digests over a fixed set of leaves. */
export class DigestTree {
  /** Where each leaf starts (its hashes run to the next leaf's start). */
  readonly starts: Uint32Array;
  /** Index of each segment's first leaf; one more at the end. */
  readonly #firstLeaf: Uint32Array;
  readonly #counts: Uint32Array;
  readonly #sums: Uint32Array;

  constructor(starts: Uint32Array) {
    assert(starts.length >= SEGMENTS && starts[0] === 0, "leaves cover all");
    this.starts = starts;
    this.#firstLeaf = new Uint32Array(SEGMENTS + 1);
    let leaf = 0;
    for (let s = 0; s <= SEGMENTS; s++) {
      const begin = s * 2 ** SEGMENT_SHIFT;
      while (leaf < starts.length && starts[leaf]! < begin) leaf++;
      this.#firstLeaf[s] = leaf;
    }
    this.#counts = new Uint32Array(starts.length);
    this.#sums = new Uint32Array(starts.length);
  }

  /** How many leaves. */
  get size(): number {
    return this.starts.length;
  }

  /** The leaf a key hash falls in. */
  leafOf(hash: number): number {
    const segment = hash >>> SEGMENT_SHIFT;
    let leaf = this.#firstLeaf[segment]!;
    const end = this.#firstLeaf[segment + 1]!;
    while (leaf + 1 < end && this.starts[leaf + 1]! <= hash) leaf++;
    return leaf;
  }

  /** The hashes of a leaf: [start, end), end up to 2^32. */
  rangeOf(leaf: number): [number, number] {
    return [
      this.starts[leaf]!,
      leaf + 1 < this.starts.length ? this.starts[leaf + 1]! : HASH_SPACE,
    ];
  }

  /** The bucket a leaf belongs to (the top byte of its start). */
  static bucketOf(start: number): number {
    return start >>> 24;
  }

  /**
   * A record of `key` changed from version `before` to `after` (either
   * absent: added or removed).
   */
  change(
    key: string,
    before: Version | undefined,
    after: Version | undefined,
  ): void {
    this.changeAt(hashKey(key), before, after);
  }

  /** {@link change} for a key whose hash is `keyHash`. */
  changeAt(
    keyHash: number,
    before: Version | undefined,
    after: Version | undefined,
  ): void {
    const leaf = this.leafOf(keyHash);
    if (before !== undefined) {
      this.#counts[leaf] = this.#counts[leaf]! - 1;
      this.#sums[leaf] = this.#sums[leaf]! - recordHash(keyHash, before);
    }
    if (after !== undefined) {
      this.#counts[leaf] = this.#counts[leaf]! + 1;
      this.#sums[leaf] = this.#sums[leaf]! + recordHash(keyHash, after);
    }
  }

  /** A leaf's digest. */
  leaf(leaf: number): LeafDigest {
    return [this.#counts[leaf]!, this.#sums[leaf]!];
  }

  /** Zeroes the leaves of `[from, to)` (before they are counted again). */
  clear(from: number, to: number): void {
    this.#counts.fill(0, from, to);
    this.#sums.fill(0, from, to);
  }

  /** Takes over the digest of leaf `from` of `other` as leaf `to`. */
  copyLeaf(other: DigestTree, from: number, to: number): void {
    this.#counts[to] = other.#counts[from]!;
    this.#sums[to] = other.#sums[from]!;
  }

  /** The 256 bucket digests over the leaves `mask` selects. */
  buckets(mask: Uint8Array): LeafDigest[] {
    const counts = new Uint32Array(TREE_BUCKETS);
    const sums = new Uint32Array(TREE_BUCKETS);
    for (let leaf = 0; leaf < this.starts.length; leaf++) {
      if (mask[leaf] === 0) continue;
      const bucket = this.starts[leaf]! >>> 24;
      counts[bucket] = counts[bucket]! + this.#counts[leaf]!;
      sums[bucket] = sums[bucket]! + this.#sums[leaf]!;
    }
    return Array.from(counts, (count, i) => [count, sums[i]!]);
  }

  /** The digests of the leaves `mask` selects in `buckets`. */
  leaves(mask: Uint8Array, buckets: Iterable<number>): LeafEntry[] {
    const out: LeafEntry[] = [];
    for (const bucket of buckets) {
      // A bucket is 2^(16 - 8) segments.
      const first = this.#firstLeaf[bucket << 8]!;
      const end = this.#firstLeaf[Math.min(SEGMENTS, (bucket + 1) << 8)]!;
      for (let leaf = first; leaf < end; leaf++) {
        if (mask[leaf] === 0) continue;
        out.push([leaf, this.#counts[leaf]!, this.#sums[leaf]!]);
      }
    }
    return out;
  }

  /**
   * The index of the first leaf whose start is at or after `hash`: leaves
   * [first, end) of two trees with the same starts hold the same hashes.
   */
  firstLeafAtOrAfter(hash: number): number {
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Segments whose leaves differ between two sets of starts: their digests
   * must be counted again from the records when the ring changes.
   */
  static changedSegments(a: Uint32Array, b: Uint32Array): number[] {
    const changed: number[] = [];
    let i = 0;
    let j = 0;
    for (let s = 0; s < SEGMENTS; s++) {
      const end = (s + 1) * 2 ** SEGMENT_SHIFT;
      // Both lists start the segment with its own start; compare the rest.
      let same = true;
      for (;;) {
        const x = i < a.length && a[i]! < end ? a[i]! : -1;
        const y = j < b.length && b[j]! < end ? b[j]! : -1;
        if (x === -1 && y === -1) break;
        if (x !== y) same = false;
        if (x !== -1) i++;
        if (y !== -1) j++;
      }
      if (!same) changed.push(s);
    }
    return changed;
  }

  /** The segment a hash is in. */
  static segmentOf(hash: number): number {
    return hash >>> SEGMENT_SHIFT;
  }

  /** The hashes of a segment: [start, end). */
  static segmentRange(segment: number): [number, number] {
    return [
      segment * 2 ** SEGMENT_SHIFT,
      (segment + 1) * 2 ** SEGMENT_SHIFT,
    ];
  }
}
