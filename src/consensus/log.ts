/**
 * The Raft log as the core sees it (etcd's `raftLog`): the persisted part
 * in a {@link Storage}, and the part not yet persisted ("unstable": new
 * entries and a snapshot received) that the next {@link Ready} hands out.
 *
 * @module
 */

import { limitSize, type Storage } from "./storage.ts";
import {
  assert,
  CompactedError,
  type Entry,
  type Snapshot,
  UnavailableEntryError,
} from "./types.ts";

/** Entries and a snapshot not yet on disk. */
class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  /** The index of entries[0]. */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined
      ? undefined
      : this.snapshot.meta.index + 1;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.meta.index;
  }

  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      return this.snapshot !== undefined && this.snapshot.meta.index === i
        ? this.snapshot.meta.term
        : undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    if (i - this.offset >= this.entries.length) {
      // Only the snapshot, at exactly i.
      return this.snapshot?.meta.index === i
        ? this.snapshot.meta.term
        : undefined;
    }
    return this.entries[i - this.offset]!.term;
  }

  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    // Only if the entry is still the one persisted: a newer leader may
    // have replaced it in the meantime.
    if (gt === t && i >= this.offset) {
      this.entries = this.entries.slice(i + 1 - this.offset);
      this.offset = i + 1;
    }
  }

  stableSnapTo(i: number): void {
    if (this.snapshot?.meta.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.meta.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: Entry[]): void {
    const after = ents[0]!.index;
    if (after === this.offset + this.entries.length) {
      this.entries = [...this.entries, ...ents];
    } else if (after <= this.offset) {
      // Replace everything unstable.
      this.offset = after;
      this.entries = [...ents];
    } else {
      this.entries = [
        ...this.entries.slice(0, after - this.offset),
        ...ents,
      ];
    }
  }

  slice(lo: number, hi: number): Entry[] {
    assert(
      lo >= this.offset && hi <= this.offset + this.entries.length,
      `unstable slice [${lo},${hi}) within [${this.offset},${
        this.offset + this.entries.length
      })`,
    );
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

/** The whole log: storage, unstable part, commit and apply points. */
export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** Highest index known committed by a quorum. */
  committed: number;
  /** Highest index handed to the state machine. */
  applied: number;

  constructor(storage: Storage) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    // The log starts after the compaction point.
    this.committed = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /**
   * The term of entry `i`; 0 outside [firstIndex() - 1, lastIndex()], which
   * matches no real term. Throws {@link CompactedError} only from storage.
   */
  term(i: number): number {
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return 0;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    try {
      return this.storage.term(i);
    } catch (error) {
      if (
        error instanceof CompactedError ||
        error instanceof UnavailableEntryError
      ) return 0;
      throw error;
    }
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** Raft's "at least as up to date" (§5.4.1). */
  isUpToDate(lasti: number, term: number): boolean {
    return term > this.lastTerm() ||
      (term === this.lastTerm() && lasti >= this.lastIndex());
  }

  /**
   * A follower's append: when the entry before `ents` matches, takes the
   * entries that conflict or are new and commits what the leader said is
   * committed. Returns the last index now known to match, or undefined.
   */
  maybeAppend(
    index: number,
    logTerm: number,
    committed: number,
    ents: Entry[],
  ): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(
        ci > this.committed,
        `entry ${ci} conflicts with committed entry ${this.committed}`,
      );
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    assert(
      ents[0]!.index - 1 >= this.committed,
      `appending after ${
        ents[0]!.index - 1
      } would overwrite committed ${this.committed}`,
    );
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** The first index of `ents` whose term differs from ours (or that is new); 0 if none. */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`: where a rejected
   * append's leader should probe next (etcd's fast log backtracking).
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    for (; index > 0; index--) {
      const t = this.term(index);
      if (t === 0 && index >= this.firstIndex()) continue;
      if (t <= term) return [index, t];
    }
    return [0, 0];
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries;
  }

  /** Committed entries not yet applied. */
  nextCommittedEntries(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= lo) return [];
    return this.slice(lo, this.committed + 1, maxBytes);
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  /** The newest snapshot: the unstable one, else storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  commitTo(toCommit: number): void {
    if (this.committed >= toCommit) return;
    assert(
      toCommit <= this.lastIndex(),
      `commit ${toCommit} past the last index ${this.lastIndex()}`,
    );
    this.committed = toCommit;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    assert(
      this.committed >= i && i >= this.applied,
      `applied ${i} outside [${this.applied}, ${this.committed}]`,
    );
    this.applied = i;
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** Commits up to `maxIndex` if that entry is of `term` (§5.4.2: only the leader's own term). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  /** Replaces the log with a snapshot. */
  restore(s: Snapshot): void {
    this.committed = s.meta.index;
    this.unstable.restore(s);
  }

  /** Entries in [lo, hi), at most `maxBytes` (at least one). Throws CompactedError below firstIndex. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo === hi) return [];
    assert(lo < hi, `slice [${lo},${hi}) is ordered`);
    if (lo < this.firstIndex()) throw new CompactedError();
    assert(hi <= this.lastIndex() + 1, `slice ${hi} within the log`);
    let ents: Entry[] = [];
    const offset = this.unstable.offset;
    if (lo < offset) {
      ents = this.storage.entries(lo, Math.min(hi, offset), maxBytes);
      // Storage cut the batch short: it is full.
      if (ents.length < Math.min(hi, offset) - lo) return ents;
    }
    if (hi > offset) {
      ents = [...ents, ...this.unstable.slice(Math.max(lo, offset), hi)];
    }
    return limitSize(ents, maxBytes);
  }

  /** Entries from `i` on, for an append, or throws CompactedError. */
  entriesFrom(i: number, maxBytes: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }
}
