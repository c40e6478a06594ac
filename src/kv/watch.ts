/**
 * Watches on KV databases, whichever node they are opened on: a node that
 * hosts a replica follows its commits through the replica's change hook;
 * any other node long-polls a replica (a `kv` peer message whose answer
 * waits until one of the keys changes). Every answer is one read of all
 * the keys, from one state, so that each snapshot a watcher is given is
 * consistent, as Deno KV's `watch` promises.
 *
 * @module
 */

import type { Clock } from "../clock/mod.ts";
import { KV_WATCH_HELD_MAX } from "../limits.ts";
import type { KvDatabase } from "./database.ts";
import type { KvRow } from "./replica_store.ts";

/** The log index each key's entry was written at; null: absent. */
export function indexesOf(rows: readonly (KvRow | null)[]): (number | null)[] {
  return rows.map((r) => r?.index ?? null);
}

/** Whether `rows` differ from what was `seen` (by the index that wrote them). */
export function changedSince(
  rows: readonly (KvRow | null)[],
  seen: readonly (number | null)[],
): boolean {
  return rows.some((r, i) => (r?.index ?? null) !== seen[i]);
}

function keyString(key: Uint8Array): string {
  let s = "";
  for (const b of key) s += String.fromCharCode(b);
  return s;
}

/** The watches a node's replicas serve: its own, and other nodes' polls. */
export class ReplicaWatches {
  readonly #clock: Clock;
  #held = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Long polls held now for other nodes. */
  get held(): number {
    return this.#held;
  }

  /**
   * The current entries of `keys` on `db`'s replica, once one of them
   * differs from `seen`, or after `waitMs`, or when `signal` aborts.
   * `held` polls count against {@link KV_WATCH_HELD_MAX}; past it they
   * are answered at once.
   */
  async wait(
    db: KvDatabase,
    keys: readonly Uint8Array[],
    seen: readonly (number | null)[],
    waitMs: number,
    options: { signal?: AbortSignal; held?: boolean } = {},
  ): Promise<(KvRow | null)[]> {
    const read = () => keys.map((k) => db.get(k) ?? null);
    const now = read();
    if (changedSince(now, seen) || waitMs <= 0 || options.signal?.aborted) {
      return now;
    }
    if (options.held && this.#held >= KV_WATCH_HELD_MAX) return now;
    const watched = new Set(keys.map(keyString));
    if (options.held) this.#held++;
    try {
      await new Promise<void>((resolve) => {
        const done = () => {
          unsubscribe();
          timer.cancel();
          options.signal?.removeEventListener("abort", done);
          resolve();
        };
        const unsubscribe = db.onChange((changed) => {
          if (changed.some((k) => watched.has(keyString(k)))) done();
        });
        const timer = this.#clock.after(waitMs, done);
        options.signal?.addEventListener("abort", done);
        // A replica that stops drops its listeners: nothing would wake us.
        if (db.stopped) done();
      });
    } finally {
      if (options.held) this.#held--;
    }
    return read();
  }
}
