/**
 * Leaving the ring: every record this node holds goes to the replicas
 * that take it over, retried, started again on a ring change, and rolled
 * back when it cannot finish. Sans-I/O like the rest of the core.
 *
 * @module
 */

import { ConflictError, UnavailableError } from "../errors.ts";
import { PEER_BATCH_BYTES_MAX } from "../limits.ts";
import type { StoredRecord } from "../storage/mod.ts";
import { recordBytes } from "./batches.ts";
import { PEER_BATCH_MAX, PeerError } from "../transport/mod.ts";
import {
  InFlight,
  isTransferFailure,
  otherMove,
  PUSHES_IN_FLIGHT_MAX,
  RING_END,
  sizeOf,
  type Streams,
  type TransferProgress,
} from "./streams.ts";

/** Passes a leave makes before it rolls back. */
const LEAVE_ATTEMPTS_MAX = 5;
/** Wait before another pass of a leave, times the attempt. */
const LEAVE_RETRY_MS = 1_000;
/** Tries of one batch of a leave before the pass fails. */
const PUSH_ATTEMPTS_MAX = 5;
/** Wait before another try of a batch, times the attempt. */
const PUSH_RETRY_MS = 200;

/** Records waiting to go to one new owner. */
interface Route {
  records: StoredRecord[];
  bytes: number;
}

/** Takes this node out of the ring. */
export class Leave {
  readonly #streams: Streams;

  constructor(streams: Streams) {
    this.#streams = streams;
  }

  /**
   * Leaves the ring: marks this node leaving (so writes also go to the
   * new owners), streams every record to the replicas that take it over,
   * then marks this node left.
   *
   * A leave is refused while a member is dead, and a pass fails when a new
   * owner goes down: its records must be on it, not waiting as hints, by
   * the time this node stops answering reads. A new owner that does not
   * answer is retried. Should the ring change meanwhile (a dead member
   * removed), the stream starts again for the new owners. A leave that
   * still cannot finish rolls back: the node is a full member again, and
   * the error says why.
   */
  async run(onProgress?: (p: TransferProgress) => void): Promise<void> {
    const streams = this.#streams;
    const { membership, topology } = streams.options;
    const refusal = this.refusal();
    if (refusal !== undefined) throw new ConflictError(refusal);
    const progress = streams.transferBegins("leaving");
    progress.waitingFor = null;
    await membership.setPhase("leaving");
    await streams.settleMove();
    // Every member up has answered the announcement with its table: a move
    // begun elsewhere meanwhile (this node's view was behind) shows now,
    // and this leave backs off before it streams anything.
    const late = this.refusal();
    if (late !== undefined) {
      progress.waitingFor = late;
      await this.#rollBack();
      throw new ConflictError(late);
    }
    for (let attempt = 1;; attempt++) {
      await topology.update(membership.members());
      const version = topology.version;
      try {
        await this.#streamToNewOwners(onProgress);
        if (topology.version !== version) continue; // another ring: again
        break;
      } catch (error) {
        if (!isTransferFailure(error)) throw error;
        progress.waitingFor = (error as Error).message;
        onProgress?.(structuredClone(progress));
        if (attempt >= LEAVE_ATTEMPTS_MAX) {
          await this.#rollBack();
          throw new UnavailableError(
            `leave failed after ${attempt} attempts, and was rolled back ` +
              `(this node is a full member again): ${progress.waitingFor}`,
          );
        }
        await streams.sleep(LEAVE_RETRY_MS * attempt);
      }
    }
    progress.keysRemaining = 0;
    progress.waitingFor = null;
    streams.transferEnds("done");
    onProgress?.(structuredClone(progress));
    await membership.leave();
  }

  /** Ends a leave that cannot go on: this node is a full member again. */
  async #rollBack(): Promise<void> {
    const { membership, topology } = this.#streams.options;
    this.#streams.transferEnds("failed");
    await membership.setPhase("ready");
    await topology.update(membership.members());
  }

  /** Why a leave may not begin now (another member moves), or undefined. */
  refusal(): string | undefined {
    const { membership, self } = this.#streams.options;
    const members = membership.members();
    const other = otherMove(members, self);
    if (other !== undefined) {
      return `leave refused: ${other}; one member joins or leaves at a ` +
        "time: wait for it to finish (or, if it is dead, remove it with " +
        "remove-member)";
    }
    // Its ranges would go to the others, a dead member among them, which
    // could not take its share (see #routeRecords).
    const dead = members.find((m) => m.address !== self && m.state === "dead");
    return dead === undefined ? undefined : `leave refused: ${dead.address} ` +
      "is dead and would take over some of this node's records: bring it " +
      "back, or remove it with remove-member, then leave";
  }

  /** One pass of a leave: every record to its new owners (or their stand-ins). */
  async #streamToNewOwners(
    onProgress?: (p: TransferProgress) => void,
  ): Promise<void> {
    const progress = this.#streams.transfer;
    progress.keysMoved = 0;
    progress.bytesMoved = 0;
    progress.keysRemaining = this.#streams.options.store.count();
    // Records by the new owner they go to.
    const pending = new Map<string, Route>();
    // Pushes go out a few at a time while the next records are read.
    const pushes = new InFlight(PUSHES_IN_FLIGHT_MAX);
    const flush = async (target: string) => {
      const batch = pending.get(target);
      pending.delete(target);
      if (batch === undefined || batch.records.length === 0) return;
      await pushes.add(() => this.#pushReliably(target, batch.records));
    };
    try {
      await this.#routeRecords(pending, flush, onProgress);
      for (const target of [...pending.keys()]) await flush(target);
      await pushes.drain();
    } finally {
      await pushes.settled();
    }
  }

  /** {@link Leave.#streamToNewOwners}' reading: records, in ring order, to their new owners. */
  async #routeRecords(
    pending: Map<string, Route>,
    flush: (target: string) => Promise<void>,
    onProgress?: (p: TransferProgress) => void,
  ): Promise<void> {
    const streams = this.#streams;
    const progress = streams.transfer;
    const { membership, topology, self } = streams.options;
    const ring = topology.writeRing;
    // While another member moves too, the owners after this leave alone
    // (reads use that ring if it completes first) get the records as well.
    const rings = topology.ringsAfter(self);
    const old = topology.readRing;
    const n = Math.min(
      streams.options.replicationFactor(),
      ring.members.length,
    );
    const messageBytesMax = Math.min(
      PEER_BATCH_BYTES_MAX,
      streams.pageBytesMax(),
    );
    for await (const record of streams.inRingOrder(0, RING_END)) {
      const before = old.preferenceList(record.key, n);
      const after = new Set(
        rings.flatMap((r) => r.preferenceList(record.key, n)),
      );
      for (const target of after) {
        if (target === self || before.includes(target)) continue;
        if (membership.isDown(target)) {
          // A hint would do for a write, not for a leave: once this node is
          // off the read ring, the new owner answers reads for the record,
          // and until the hint reached it, it would answer "not found".
          throw new UnavailableError(
            `leave: ${target}, a new owner of some of this node's records, ` +
              "is down: bring it back, or remove it with remove-member, " +
              "then leave again",
          );
        }
        let batch = pending.get(target);
        if (batch === undefined) {
          batch = { records: [], bytes: 0 };
          pending.set(target, batch);
        }
        batch.records.push(record);
        batch.bytes += recordBytes(record);
        if (
          batch.records.length >= PEER_BATCH_MAX ||
          batch.bytes >= messageBytesMax
        ) await flush(target);
      }
      progress.keysMoved++;
      progress.bytesMoved += sizeOf(record);
      progress.keysRemaining = Math.max(0, progress.keysRemaining! - 1);
      onProgress?.(structuredClone(progress));
    }
  }

  async #pushReliably(
    target: string,
    records: StoredRecord[],
  ): Promise<void> {
    const streams = this.#streams;
    for (let attempt = 1;; attempt++) {
      try {
        await streams.push(target, records);
        streams.transfer.waitingFor = null;
        return;
      } catch (error) {
        if (!(error instanceof PeerError)) throw error;
        streams.transfer.waitingFor = error.message;
        if (attempt >= PUSH_ATTEMPTS_MAX) {
          throw new UnavailableError(
            `leave: could not hand records to ${target}: ${error.message}`,
          );
        }
        await streams.sleep(PUSH_RETRY_MS * attempt);
      }
    }
  }
}
