/**
 * The stable part of the Raft log, as etcd's `Storage`: what the node has
 * persisted. The core reads it synchronously; the node writes it when it
 * handles a {@link Ready}. {@link MemoryStorage} serves tests and the
 * simulator; the KV databases keep theirs in SQLite (src/kv/raft_store.ts).
 *
 * @module
 */

import {
  assert,
  CompactedError,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  UnavailableEntryError,
} from "./types.ts";

/** What a node finds on disk when it starts. */
export interface InitialState {
  hardState: HardState;
  /** The configuration as of the last applied entry. */
  conf: ConfState;
}

/** The persisted log; indexes below `firstIndex()` are compacted away. */
export interface Storage {
  initialState(): InitialState;
  /** Entries in [lo, hi), at most `maxBytes` of data (at least one). */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** The term of entry `i`, for i in [firstIndex() - 1, lastIndex()]. */
  term(i: number): number;
  lastIndex(): number;
  firstIndex(): number;
  /** The most recent snapshot (one at or after the compaction point). */
  snapshot(): Snapshot;
}

/** The bytes an entry takes against a batch limit. */
export function entrySize(e: Entry): number {
  return e.data.length + 24;
}

/** Cuts `entries` to at most `maxBytes` of data, keeping at least one. */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  if (entries.length === 0) return entries;
  let size = entrySize(entries[0]!);
  let n = 1;
  for (; n < entries.length; n++) {
    size += entrySize(entries[n]!);
    if (size > maxBytes) break;
  }
  return entries.slice(0, n);
}

/** Storage in memory: for tests and the simulator (a "disk" that can be kept or lost). */
export class MemoryStorage implements Storage {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  conf: ConfState;
  #snapshot: Snapshot;
  /** ents[0] is a dummy at the snapshot's index and term. */
  #ents: Entry[];

  constructor(conf: ConfState = { voters: [], learners: [] }) {
    this.conf = conf;
    this.#snapshot = { meta: { index: 0, term: 0, conf }, data: "" };
    this.#ents = [{ term: 0, index: 0, type: "normal", data: "" }];
  }

  initialState(): InitialState {
    return { hardState: { ...this.hardState }, conf: this.conf };
  }

  setHardState(h: HardState): void {
    this.hardState = { ...h };
  }

  #offset(): number {
    return this.#ents[0]!.index;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.#offset();
    if (lo <= offset) throw new CompactedError();
    if (hi > this.lastIndex() + 1) throw new UnavailableEntryError();
    return limitSize(this.#ents.slice(lo - offset, hi - offset), maxBytes);
  }

  term(i: number): number {
    const offset = this.#offset();
    if (i < offset) throw new CompactedError();
    if (i - offset >= this.#ents.length) throw new UnavailableEntryError();
    return this.#ents[i - offset]!.term;
  }

  lastIndex(): number {
    return this.#offset() + this.#ents.length - 1;
  }

  firstIndex(): number {
    return this.#offset() + 1;
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** Replaces the log with a snapshot (a follower that fell behind). */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.#snapshot.meta.index) return;
    this.#snapshot = snap;
    this.conf = snap.meta.conf;
    this.#ents = [{
      term: snap.meta.term,
      index: snap.meta.index,
      type: "normal",
      data: "",
    }];
  }

  /**
   * Records a snapshot at `index` (applied) with `data`, for followers that
   * fall behind; compaction is separate ({@link compact}).
   */
  createSnapshot(index: number, conf: ConfState, data: string): Snapshot {
    assert(index <= this.lastIndex(), "snapshot within the log");
    if (index <= this.#snapshot.meta.index) return this.#snapshot;
    this.#snapshot = { meta: { index, term: this.term(index), conf }, data };
    return this.#snapshot;
  }

  /** Drops entries before `compactIndex` (it stays as the dummy). */
  compact(compactIndex: number): void {
    const offset = this.#offset();
    if (compactIndex <= offset) return;
    assert(compactIndex <= this.lastIndex(), "compact within the log");
    this.#ents = this.#ents.slice(compactIndex - offset);
    const first = this.#ents[0]!;
    this.#ents[0] = { ...first, type: "normal", data: "" };
  }

  /** Appends entries, replacing any conflicting suffix. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return;
    // Drop the part already compacted.
    if (first > entries[0]!.index) {
      entries = entries.slice(first - entries[0]!.index);
    }
    const offset = entries[0]!.index - this.#offset();
    assert(offset <= this.#ents.length, "append leaves no gap");
    this.#ents = [...this.#ents.slice(0, offset), ...entries];
  }
}
