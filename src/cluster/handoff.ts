/**
 * Handoff: the records a node no longer replicates (after a join moved
 * their ranges) go to all their replicas, and are forgotten here only once
 * every one of them has stored them. Sans-I/O like the rest of the core.
 *
 * @module
 */

import type { Version } from "../clock/mod.ts";
import type { StoredRecord } from "../storage/mod.ts";
import { PEER_BATCH_MAX } from "../transport/mod.ts";
import {
  InFlight,
  isTransferFailure,
  PUSHES_IN_FLIGHT_MAX,
  ringRanges,
  type Streams,
} from "./streams.ts";

/** Records one handoff round moves at most, before it lets the ring change. */
const HANDOFF_RECORDS_MAX = 50_000;

/** Hands off records this node no longer replicates. */
export class Handoff {
  readonly #streams: Streams;
  /** The ring version after which a handoff pass found nothing foreign. */
  #cleanAtVersion = -1;
  /**
   * The ranges this node does not replicate on the ring of the last round:
   * a record stored in one of them (a write or a repair sent by a node
   * with an older ring, a hint, a leave's stream) since that round began
   * makes the next round pass again, clean or not.
   */
  #foreign: [number, number][] = [];
  #dirty = false;
  /** Records handed off and removed here, in all. */
  handedOff = 0;

  constructor(streams: Streams) {
    this.#streams = streams;
  }

  /**
   * Follows one change the store made durable: a record stored where this
   * node holds nothing, since the last clean pass, is handed off by the
   * next round.
   */
  changed(hash: number, after: Version | undefined): void {
    if (this.#dirty || after === undefined || this.#foreign.length === 0) {
      return;
    }
    if (inRanges(this.#foreign, hash)) this.#dirty = true;
  }

  /**
   * One round: each record this node no longer replicates goes to all its
   * replicas, and is forgotten here only once every one of them has
   * stored it. The records are read by ring range (only the ranges this
   * node no longer holds), a few pushes in flight. Skipped during
   * transitions. Resolves with how many records were handed off.
   */
  async round(limit = HANDOFF_RECORDS_MAX): Promise<number> {
    const streams = this.#streams;
    const { topology, self, store } = streams.options;
    if (topology.inTransition) return 0;
    const version = topology.version;
    const n = streams.options.replicationFactor();
    // Records become foreign only when the ring changes: after a clean
    // pass, nothing to do until it changes again. With no more members
    // than copies, every node holds every key.
    if (version === this.#cleanAtVersion && !this.#dirty) return 0;
    const ring = topology.readRing;
    if (ring.members.length <= n) {
      this.#cleanAtVersion = version;
      this.#foreign = [];
      this.#dirty = false;
      return 0;
    }
    const foreign = ringRanges(
      [ring],
      (hash) => !ring.preferenceListForHash(hash, n).includes(self),
    );
    // This pass decides anew: clean only if it finds nothing foreign and
    // nothing lands there meanwhile.
    this.#foreign = foreign;
    this.#dirty = false;
    this.#cleanAtVersion = -1;
    let handed = 0;
    let found = 0;
    const pushes = new InFlight(PUSHES_IN_FLIGHT_MAX);
    const handOff = async (batch: StoredRecord[]) => {
      const byTarget = new Map<string, StoredRecord[]>();
      for (const record of batch) {
        for (const target of ring.preferenceList(record.key, n)) {
          let records = byTarget.get(target);
          if (records === undefined) byTarget.set(target, records = []);
          records.push(record);
        }
      }
      try {
        await Promise.all(
          [...byTarget].map(([target, records]) =>
            streams.push(target, records)
          ),
        );
      } catch (error) {
        if (!isTransferFailure(error)) throw error;
        return; // a replica is down: keep the records for a later round
      }
      if (topology.version !== version) return;
      const removed = await Promise.all(
        batch.map((r) => store.remove(r.key, r.version)),
      );
      handed += removed.filter(Boolean).length;
    };
    try {
      let batch: StoredRecord[] = [];
      outer: for (const [from, to] of foreign) {
        for await (const record of streams.inRingOrder(from, to)) {
          batch.push(record);
          if (batch.length >= PEER_BATCH_MAX) {
            const full = batch;
            batch = [];
            await pushes.add(() => handOff(full));
          }
          if (++found >= limit || topology.version !== version) break outer;
        }
      }
      if (batch.length > 0) await pushes.add(() => handOff(batch));
      await pushes.drain();
    } finally {
      await pushes.settled();
    }
    this.handedOff += handed;
    if (found === 0 && topology.version === version && !this.#dirty) {
      this.#cleanAtVersion = version;
    }
    return handed;
  }
}

/** Whether `hash` is in one of `ranges` ([from, to), sorted, disjoint). */
export function inRanges(
  ranges: readonly [number, number][],
  hash: number,
): boolean {
  let low = 0;
  let high = ranges.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const [from, to] = ranges[middle]!;
    if (hash < from) high = middle - 1;
    else if (hash >= to) low = middle + 1;
    else return true;
  }
  return false;
}
