/**
 * What the clients did and what the stores hold, and the checks on them.
 *
 * Every value a client writes is unique ("c2.17"), so any record found in
 * a store or returned by a read names the write it came from. The checks:
 *
 * - **No record nobody wrote.** A stored or read record's value was
 *   written to that key, through the node its version names; a tombstone
 *   comes from a `pop` of that key through that node; one version is one
 *   write everywhere.
 * - **Persist before acknowledging.** When a write is acknowledged, at
 *   least W nodes hold it or a newer version of its key, in their stores
 *   or, for a sloppy write, as hints; a strict write, W of its replicas.
 * - **Acknowledged writes are read.** A read returns the key's newest
 *   strictly acknowledged version or a newer one, and a deleted key stays
 *   deleted, wherever the quorums intersect (R + W − L > N, L the replicas
 *   of the key that lost their disk or were removed since).
 * - **Real-time order.** Of two strictly acknowledged writes to a key
 *   whose quorums intersect, the one acknowledged before the other began
 *   has the older version.
 * - **Listings.** A listing holds every key whose newest such write is a
 *   value, and none whose newest is a delete.
 *
 * @module
 */

import { compareVersions, type Version } from "../../src/clock/mod.ts";
import type { StoredRecord } from "../../src/storage/mod.ts";
import { show } from "./store.ts";

/** What a client asked for. */
export type WriteKind = "set" | "pop" | "mset";

/** One write: a set, one key of an mset, or the tombstone of a pop. */
export interface WriteOp {
  id: number;
  client: number;
  kind: WriteKind;
  key: string;
  /** The unique value; null for a pop's tombstone. */
  value: string | null;
  coordinator: string;
  /** The key's replicas when the write began, as the coordinator saw them. */
  replicas: readonly string[];
  strict: boolean;
  /** Replicas the write waited for, and N, as the coordinator had them. */
  w: number;
  n: number;
  invokedAt: number;
  settledAt: number | undefined;
  outcome: "pending" | "ok" | "failed" | "unknown";
  /** The version it was acknowledged with. */
  version: Version | undefined;
  /** Replica losses (disk lost, member removed) since it was acknowledged. */
  losses: number;
  /** No node held it (or newer) after a crash: lost with the disks. */
  wiped: boolean;
}

/** One read, as checked. */
export interface ReadOp {
  key: string;
  coordinator: string;
  r: number;
  n: number;
  invokedAt: number;
  settledAt: number;
  record: StoredRecord | undefined;
  /**
   * The coordinator's ring was not the one most nodes had (it missed a
   * move, cut off): its answer is checked for what it returns, not for
   * freshness.
   */
  staleView?: boolean;
}

/** The registry of writes, and the checks. */
export class History {
  readonly writes: WriteOp[] = [];
  readonly #byValue = new Map<string, WriteOp>();
  readonly #pops = new Map<string, WriteOp[]>();
  readonly #byKey = new Map<string, WriteOp[]>();
  /** Every version seen stored: what it holds. */
  readonly #versions = new Map<string, { key: string; value: unknown }>();
  /** Per key, the newest tombstone and live version seen stored. */
  readonly #storedTombstones = new Map<string, Version[]>();
  readonly #storedLive = new Map<string, Version[]>();
  readonly #violation: (what: string) => void;
  #nextId = 1;
  reads = 0;
  checkedReads = 0;
  /** Reads through a coordinator whose ring was stale (not checked for freshness). */
  staleViewReads = 0;
  listings = 0;

  constructor(violation: (what: string) => void) {
    this.#violation = violation;
  }

  /** Registers a write about to be sent. */
  begin(
    op: Omit<
      WriteOp,
      "id" | "settledAt" | "outcome" | "version" | "losses" | "wiped"
    >,
  ): WriteOp {
    const full: WriteOp = {
      ...op,
      id: this.#nextId++,
      settledAt: undefined,
      outcome: "pending",
      version: undefined,
      losses: 0,
      wiped: false,
    };
    this.writes.push(full);
    if (full.value !== null) this.#byValue.set(full.value, full);
    else push(this.#pops, full.key, full);
    push(this.#byKey, full.key, full);
    return full;
  }

  /** Keys that were written. */
  keys(): string[] {
    return [...this.#byKey.keys()].sort();
  }

  /** Writes to `key`. */
  writesTo(key: string): readonly WriteOp[] {
    return this.#byKey.get(key) ?? [];
  }

  // --------------------------------------------------------- records

  /** Checks a record found in a store (or returned by a read). */
  known(record: StoredRecord, where: string, nowMs: number): boolean {
    const id = show(record.version);
    const node = record.version[2];
    if (record.tombstone) {
      const pop = (this.#pops.get(record.key) ?? []).find((p) =>
        p.coordinator === node && p.invokedAt <= nowMs
      );
      if (pop === undefined) {
        this.#violation(
          `${where}: a tombstone of '${record.key}' ${id} that no pop through ${node} wrote`,
        );
        return false;
      }
    } else {
      const op = typeof record.value === "string"
        ? this.#byValue.get(record.value)
        : undefined;
      if (
        op === undefined || op.key !== record.key || op.coordinator !== node
      ) {
        this.#violation(
          `${where}: '${record.key}' = ${
            JSON.stringify(record.value)
          } ${id}, which no client wrote through ${node}`,
        );
        return false;
      }
    }
    const seen = this.#versions.get(id);
    const value = record.tombstone ? null : record.value;
    if (
      seen !== undefined && (seen.key !== record.key || seen.value !== value)
    ) {
      this.#violation(
        `${where}: version ${id} holds '${record.key}' = ${
          JSON.stringify(value)
        } here and '${seen.key}' = ${JSON.stringify(seen.value)} elsewhere`,
      );
      return false;
    }
    return true;
  }

  /** A store holds `record` now. */
  stored(node: string, record: StoredRecord, nowMs: number): void {
    if (!this.known(record, `the store of ${node}`, nowMs)) return;
    const id = show(record.version);
    if (!this.#versions.has(id)) {
      this.#versions.set(id, {
        key: record.key,
        value: record.tombstone ? null : record.value,
      });
      push(
        record.tombstone ? this.#storedTombstones : this.#storedLive,
        record.key,
        record.version,
      );
    }
  }

  /** True when some store held a tombstone of `key` at least as new as `v`. */
  #tombstoneSince(key: string, v: Version): boolean {
    return (this.#storedTombstones.get(key) ?? []).some((t) =>
      compareVersions(t, v) >= 0
    );
  }

  /** True when some store held a live version of `key` at least as new as `v`. */
  #liveSince(key: string, v: Version): boolean {
    return (this.#storedLive.get(key) ?? []).some((t) =>
      compareVersions(t, v) >= 0
    );
  }

  // ------------------------------------------------------ freshness

  /**
   * The newest write to `key` acknowledged strictly before `beforeMs` that
   * a reader waiting for `r` of `n` replies must see.
   */
  #mustSee(
    key: string,
    beforeMs: number,
    r: number,
    n: number,
  ): WriteOp | undefined {
    let best: WriteOp | undefined;
    for (const w of this.#byKey.get(key) ?? []) {
      if (
        w.outcome !== "ok" || !w.strict || w.settledAt === undefined ||
        w.settledAt >= beforeMs || w.n !== n
      ) continue;
      if (r + w.w - w.losses <= n) continue;
      if (
        best === undefined || compareVersions(w.version!, best.version!) > 0
      ) best = w;
    }
    return best;
  }

  /** Checks a read's answer. */
  read(op: ReadOp): void {
    this.reads++;
    const where = `a read of '${op.key}' through ${op.coordinator}`;
    if (op.record !== undefined) {
      if (op.record.tombstone) {
        this.#violation(`${where} returned a tombstone as a value`);
        return;
      }
      if (!this.known(op.record, where, op.settledAt)) return;
      if (!this.#versions.has(show(op.record.version))) {
        this.#violation(
          `${where} returned ${show(op.record.version)}, which no store held`,
        );
        return;
      }
    }
    if (op.staleView === true) {
      this.staleViewReads++;
      return;
    }
    const must = this.#mustSee(op.key, op.invokedAt, op.r, op.n);
    if (must === undefined) return;
    this.checkedReads++;
    const v = must.version!;
    const what = `${must.kind} #${must.id} ${
      show(v)
    } (acknowledged at ${must.settledAt} ms, W=${must.w} of N=${must.n})`;
    if (op.record !== undefined) {
      if (compareVersions(op.record.version, v) < 0) {
        this.#violation(
          must.value === null
            ? `${where} at ${op.invokedAt} ms returned ${
              show(op.record.version)
            }: a deleted key came back (${what}, R=${op.r})`
            : `${where} at ${op.invokedAt} ms returned ${
              show(op.record.version)
            }, older than ${what}, R=${op.r}`,
        );
      }
    } else if (must.value !== null && !this.#tombstoneSince(op.key, v)) {
      this.#violation(
        `${where} at ${op.invokedAt} ms found nothing, but ${what} was acknowledged, R=${op.r}`,
      );
    }
  }

  /** Checks a listing's answer, taken at the read quorum `r` of `n`. */
  listing(
    coordinator: string,
    keys: readonly string[],
    invokedAt: number,
    r: number,
    n: number,
  ): void {
    this.listings++;
    const listed = new Set(keys);
    for (const key of listed) {
      if (!this.#byKey.has(key)) {
        this.#violation(
          `a listing through ${coordinator} holds '${key}', which no client wrote`,
        );
      }
    }
    for (const key of this.#byKey.keys()) {
      const must = this.#mustSee(key, invokedAt, r, n);
      if (must === undefined) continue;
      const v = must.version!;
      const what = `${must.kind} #${must.id} ${show(v)}`;
      if (must.value === null) {
        if (listed.has(key) && !this.#liveSince(key, v)) {
          this.#violation(
            `a listing through ${coordinator} at ${invokedAt} ms holds '${key}', deleted by ${what}`,
          );
        }
      } else if (!listed.has(key) && !this.#tombstoneSince(key, v)) {
        this.#violation(
          `a listing through ${coordinator} at ${invokedAt} ms misses '${key}', written by ${what}`,
        );
      }
    }
  }

  /** A write settled: checks its version against earlier writes. */
  settled(op: WriteOp): void {
    if (op.outcome !== "ok" || !op.strict) return;
    // Of two strict writes whose quorums intersect, the one acknowledged
    // first is older.
    for (const w of this.#byKey.get(op.key) ?? []) {
      if (
        w === op || w.outcome !== "ok" || !w.strict ||
        w.settledAt === undefined || w.settledAt >= op.invokedAt ||
        w.n !== op.n || w.w + op.w - w.losses <= op.n
      ) continue;
      if (compareVersions(w.version!, op.version!) >= 0) {
        this.#violation(
          `${op.kind} #${op.id} of '${op.key}' through ${op.coordinator}, begun at ${op.invokedAt} ms, got ${
            show(op.version!)
          }: not newer than ${w.kind} #${w.id} ${
            show(w.version!)
          }, acknowledged at ${w.settledAt} ms`,
        );
      }
    }
  }

  // ---------------------------------------------------------- losses

  /**
   * A node lost the records it held (`held`: its newest version of a key,
   * before the loss): every write acknowledged or in flight of which it
   * held a copy (that version or a newer one) counts one loss.
   */
  lostHolder(held: (key: string) => Version | undefined): void {
    for (const w of this.writes) {
      if (w.outcome !== "ok" && w.outcome !== "pending") continue;
      const v = held(w.key);
      if (v === undefined) continue;
      // In flight, the version is not known yet: any copy may be it.
      if (w.version === undefined || compareVersions(v, w.version) >= 0) {
        w.losses++;
      }
    }
  }

  /** A replica of some keys lost its data: writes acknowledged or in flight count it. */
  lostReplica(isReplica: (key: string) => boolean): void {
    for (const w of this.writes) {
      // A write still in flight may have been acknowledged by that replica
      // before it lost its disk.
      const maybeHeld = w.outcome === "ok" || w.outcome === "pending";
      if (maybeHeld && isReplica(w.key)) w.losses++;
    }
  }

  /**
   * After a crash: any acknowledged write of a key whose surviving
   * copies are all older than it is lost with the disks (not a bug).
   */
  survivors(newest: (key: string) => Version | undefined): void {
    for (const [key, ops] of this.#byKey) {
      const held = newest(key);
      for (const w of ops) {
        if (w.outcome !== "ok" || w.wiped) continue;
        if (held === undefined || compareVersions(held, w.version!) < 0) {
          w.wiped = true;
        }
      }
    }
  }

  /** The newest acknowledged write of `key` that no crash wiped out. */
  newestKept(key: string): WriteOp | undefined {
    let best: WriteOp | undefined;
    for (const w of this.#byKey.get(key) ?? []) {
      if (w.outcome !== "ok" || w.wiped) continue;
      if (
        best === undefined || compareVersions(w.version!, best.version!) > 0
      ) best = w;
    }
    return best;
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
