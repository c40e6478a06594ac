/**
 * Keeps a node's {@link DigestTree} in step with its store and its ring.
 *
 * Every change the store makes durable moves one leaf's digest
 * ({@link Digests.changed}, from the node's `Store.watch` listener). The
 * tree's leaves depend on the ring, so when the ring changes the tree is
 * rebuilt: segments whose leaves did not change keep
 * their digests, the others are counted again from the store's hash index
 * (a range read each). At start every segment is counted once. Counting runs
 * in the background, a chunk of segments per turn of the event loop, so
 * that it never holds up requests; until it is done, anti-entropy waits.
 *
 * While a segment is being counted, changes to it are left to the count,
 * which reads the records as they are then; once counted, changes update
 * it. A segment is counted in one synchronous read, so no change falls in
 * between.
 *
 * @module
 */

import { assert } from "@std/assert";
import type { Clock, Version } from "../clock/mod.ts";
import { murmur3, type Ring } from "../ring/mod.ts";
import type { Store } from "../storage/mod.ts";
import { DigestTree, leafStarts, SEGMENT_BITS } from "./digest_tree.ts";

const SEGMENTS = 2 ** SEGMENT_BITS;
const SEGMENT_SHIFT = 32 - SEGMENT_BITS;
/**
 * Records read per turn of the event loop while counting: one index range
 * read (a query costs tens of microseconds whatever it returns, so
 * segments are counted many at a time, never one query each).
 */
const RECORDS_PER_TURN = 2_000;
/** Index reads per turn while counting (each costs tens of microseconds). */
const READS_PER_TURN = 64;
/** Most changes waiting to enter the tree; beyond, the oldest enter at once. */
const SETTLING_MAX = 200_000;
/** Changes between two moves of the cut by the node itself. */
const ADVANCE_EVERY_CHANGES = 1_024;

/**
 * Records younger than this (by their version's wall time) are left out of
 * an anti-entropy round: under a steady write load they are still in
 * flight (in profiles, ~5% of a coordinator's time went to reconciling
 * them). The cut trails the clock by this much.
 */
export const AE_SETTLE_MS = 5_000;

/** A change of the store, waiting to enter the tree. */
interface Change {
  hash: number;
  before: Version | undefined;
  after: Version | undefined;
  /** The wall time of the version it is about. */
  wallMs: number;
  /** The segment's count epoch when the change was made. */
  epoch: number;
}

/**
 * An id for a ring and a replication factor: two nodes compare digests only
 * when they place keys alike.
 */
export function ringId(ring: Ring, n: number): number {
  return murmur3(`${ring.members.join(",")}#${ring.vnodes}#${n}`, 0);
}

/** Where the digests stand, for `cluster_info`. */
export interface DigestStatus {
  ready: boolean;
  leaves: number;
  /** Segments counted from the store since start (ring changes included). */
  segmentsCounted: number;
  /** Changes newer than the cut, waiting to enter the tree. */
  settling: number;
}

/** The digest tree of one node, following its store and ring. */
export class Digests {
  readonly #store: Store;
  readonly #clock: Clock;
  #tree: DigestTree | undefined;
  #ring: Ring | undefined;
  /** Per segment: 1 once its leaves hold every record. */
  #counted = new Uint8Array(SEGMENTS);
  #pending = 0;
  #rebuild: Promise<void> | null = null;
  #wanted: Ring | undefined;
  #segmentsCounted = 0;
  /** Shared-leaf masks by peer, for the current ring and N. */
  #masks = new Map<string, Uint8Array>();
  #maskKey = "";

  /**
   * Changes not yet in the tree: the tree holds exactly the records whose
   * version's wall time is before {@link cut}, the rest wait here (adds,
   * overwrites and removals, in the order the store made them). Two
   * replicas that compare first move their trees to one cut, so writes
   * still on their way to the other replicas do not show as differences
   * (under a steady write load most buckets would otherwise differ in
   * every round). The node moves the cut itself as changes come, to
   * {@link AE_SETTLE_MS} before its clock, so that what waits is bounded by
   * the write rate times the settle time, whether or not rounds run; and
   * by {@link SETTLING_MAX}.
   */
  #settling: Change[] = [];
  #sinceAdvance = 0;
  #cutMs = 0;
  /** Per segment: bumped when it is counted, which covers its earlier changes. */
  readonly #epochs = new Uint32Array(SEGMENTS);

  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /**
   * Follows one change the store made durable, to the key whose hash is
   * `hash` (the node's `Store.watch` listener hands every change here).
   */
  changed(
    hash: number,
    before: Version | undefined,
    after: Version | undefined,
  ): void {
    if (this.#tree === undefined) return;
    const change: Change = {
      hash,
      before,
      after,
      // A removal (a purge, a handoff) falls at the removed version.
      wallMs: after?.[0] ?? before?.[0] ?? 0,
      epoch: this.#epochs[hash >>> SEGMENT_SHIFT]!,
    };
    // Behind the cut already (a repair, a hint of an old write): in at
    // once, unless an earlier change of the same key still waits (the
    // key's versions only grow, so that change is newer than the cut
    // too, and this one is not behind it).
    if (change.wallMs < this.#cutMs) this.#apply(change);
    else this.#settling.push(change);
    if (++this.#sinceAdvance >= ADVANCE_EVERY_CHANGES) {
      this.#sinceAdvance = 0;
      this.advance(this.#clock.now() - AE_SETTLE_MS);
    }
    if (this.#settling.length > SETTLING_MAX) {
      // The oldest quarter enters at once (one splice, not one per change).
      const oldest = this.#settling.splice(0, SETTLING_MAX / 4);
      for (const change of oldest) this.#apply(change);
    }
  }

  #apply(change: Change): void {
    const segment = change.hash >>> SEGMENT_SHIFT;
    // A segment counted since the change was made holds it already.
    if (
      this.#tree !== undefined && this.#counted[segment] === 1 &&
      this.#epochs[segment] === change.epoch
    ) this.#tree.changeAt(change.hash, change.before, change.after);
  }

  /** The wall time (ms) before which the tree holds every record version. */
  get cut(): number {
    return this.#cutMs;
  }

  /**
   * Moves the cut forward to `cutMs` (never back): every waiting change of
   * a version before it enters the tree. Resolves with the cut now in
   * force, which may be later than asked.
   */
  advance(cutMs: number): number {
    if (cutMs <= this.#cutMs) return this.#cutMs;
    this.#cutMs = cutMs;
    const waiting: Change[] = [];
    // In the order the store made them: a key's changes keep their order.
    for (const change of this.#settling) {
      if (change.wallMs < cutMs) this.#apply(change);
      else waiting.push(change);
    }
    this.#settling = waiting;
    return this.#cutMs;
  }

  /** True when every segment is counted for the current ring. */
  get ready(): boolean {
    return this.#tree !== undefined && this.#pending === 0 &&
      this.#wanted === this.#ring;
  }

  /** The tree (complete only when {@link ready}). */
  get tree(): DigestTree | undefined {
    return this.#tree;
  }

  /** The ring the tree's leaves follow. */
  get ring(): Ring | undefined {
    return this.#ring;
  }

  status(): DigestStatus {
    return {
      ready: this.ready,
      leaves: this.#tree?.size ?? 0,
      segmentsCounted: this.#segmentsCounted,
      settling: this.#settling.length,
    };
  }

  /**
   * Follows `ring`: rebuilds the tree's leaves for it in the background.
   * Resolves once the tree is complete for the latest ring asked for.
   */
  follow(ring: Ring): Promise<void> {
    this.#wanted = ring;
    if (ring === this.#ring && this.#pending === 0) return Promise.resolve();
    this.#rebuild ??= this.#drain().finally(() => this.#rebuild = null);
    return this.#rebuild;
  }

  async #drain(): Promise<void> {
    while (this.#wanted !== undefined && this.#wanted !== this.#ring) {
      this.#rebuildFor(this.#wanted);
      await this.#countPending();
    }
    await this.#countPending();
  }

  /** Starts a tree for `ring`, keeping the counted segments it shares. */
  #rebuildFor(ring: Ring): void {
    const starts = leafStarts(ring.tokenPositions());
    const tree = new DigestTree(starts);
    const counted = new Uint8Array(SEGMENTS);
    const old = this.#tree;
    if (old !== undefined) {
      const changed = new Set(DigestTree.changedSegments(old.starts, starts));
      for (let s = 0; s < SEGMENTS; s++) {
        if (this.#counted[s] !== 1 || changed.has(s)) continue;
        const [from, to] = DigestTree.segmentRange(s);
        // Same cuts in this segment: the same leaves, in the same order.
        const first = tree.firstLeafAtOrAfter(from);
        const end = tree.firstLeafAtOrAfter(to);
        const oldFirst = old.firstLeafAtOrAfter(from);
        assert(
          old.firstLeafAtOrAfter(to) - oldFirst === end - first,
          "an unchanged segment keeps its leaves",
        );
        for (let i = 0; i < end - first; i++) {
          tree.copyLeaf(old, oldFirst + i, first + i);
        }
        counted[s] = 1;
      }
    }
    this.#tree = tree;
    this.#ring = ring;
    this.#counted = counted;
    this.#pending = SEGMENTS - counted.reduce((sum, c) => sum + c, 0);
    this.#masks.clear();
    this.#maskKey = "";
  }

  /**
   * Counts every segment not counted yet: each run of consecutive such
   * segments is read in pages of the hash index, a page per turn.
   */
  async #countPending(): Promise<void> {
    let scan = 0;
    while (this.#pending > 0 && this.#wanted === this.#ring) {
      let reads = 0;
      let records = 0;
      while (
        this.#pending > 0 && reads < READS_PER_TURN &&
        records < RECORDS_PER_TURN
      ) {
        const run = this.#nextRun(scan);
        if (run === undefined) {
          scan = 0;
          continue;
        }
        const counted = this.#countPage(run[0], run[1]);
        scan = counted.end;
        records += counted.records;
        reads++;
      }
      await new Promise((resolve) => this.#clock.after(0, () => resolve(null)));
    }
  }

  /**
   * The first run [from, to) of consecutive segments not counted yet, at
   * or after segment `scan`.
   */
  #nextRun(scan: number): [number, number] | undefined {
    const from = this.#counted.indexOf(0, scan);
    if (from === -1) return undefined;
    let to = from;
    while (to < SEGMENTS && this.#counted[to] === 0) to++;
    return [from, to];
  }

  /**
   * Counts segments from `from` on (within the run up to `to`) from one
   * page of records; returns the first segment not counted. Only whole
   * segments are counted: the records of the page's last segment may go on
   * in the next page, so that one waits for it.
   */
  #countPage(from: number, to: number): { end: number; records: number } {
    const store = this.#store;
    const tree = this.#tree!;
    const fromHash = from * 2 ** SEGMENT_SHIFT;
    const toHash = to * 2 ** SEGMENT_SHIFT;
    let page = store.summaries(fromHash, toHash, { limit: RECORDS_PER_TURN });
    let end = to;
    if (page.length === RECORDS_PER_TURN) {
      end = page.at(-1)!.hash >>> SEGMENT_SHIFT;
      if (end === from) {
        // One segment fills the page: count it whole.
        end = from + 1;
        page = store.summaries(fromHash, end * 2 ** SEGMENT_SHIFT);
      } else {
        const cut = end * 2 ** SEGMENT_SHIFT;
        page = page.filter((s) => s.hash < cut);
      }
    }
    tree.clear(
      tree.firstLeafAtOrAfter(fromHash),
      tree.firstLeafAtOrAfter(end * 2 ** SEGMENT_SHIFT),
    );
    this.#counted.fill(1, from, end);
    // The changes waiting for these segments are in the count already.
    for (let segment = from; segment < end; segment++) this.#epochs[segment]!++;
    for (const summary of page) {
      const wallMs = summary.version[0];
      if (wallMs < this.#cutMs) {
        tree.changeAt(summary.hash, undefined, summary.version);
      } else {
        // Beyond the cut: it waits, as a change made now would.
        this.#settling.push({
          hash: summary.hash,
          before: undefined,
          after: summary.version,
          wallMs,
          epoch: this.#epochs[summary.hash >>> SEGMENT_SHIFT]!,
        });
      }
    }
    this.#pending -= end - from;
    this.#segmentsCounted += end - from;
    return { end, records: page.length };
  }

  /**
   * Which leaves `a` and `b` both replicate on the tree's ring with `n`
   * copies: 1 for each such leaf. Cached per peer until the ring changes.
   */
  shared(a: string, b: string, n: number): Uint8Array {
    const tree = this.#tree;
    const ring = this.#ring;
    if (tree === undefined || ring === undefined) {
      throw new Error("assertion failed: shared() before the first follow()");
    }
    const [t, r] = [tree, ring];
    const key = `${n}`;
    if (key !== this.#maskKey) {
      this.#masks.clear();
      this.#maskKey = key;
    }
    const pair = a < b ? `${a} ${b}` : `${b} ${a}`;
    let mask = this.#masks.get(pair);
    if (mask === undefined) {
      mask = new Uint8Array(t.size);
      // Every leaf lies in one ring range: decide per range, then spread
      // over its leaves (tokens and leaf starts are both ascending).
      const tokens = r.tokenPositions();
      let token = 0;
      let sharedHere = false;
      let rangeEnd = -1;
      for (let leaf = 0; leaf < t.size; leaf++) {
        const start = t.starts[leaf]!;
        if (start > rangeEnd) {
          while (token < tokens.length && tokens[token]! < start) token++;
          rangeEnd = token < tokens.length ? tokens[token]! : 2 ** 32;
          const replicas = r.preferenceListForHash(start, n);
          sharedHere = replicas.includes(a) && replicas.includes(b);
        }
        if (sharedHere) mask[leaf] = 1;
      }
      this.#masks.set(pair, mask);
    }
    return mask;
  }
}
