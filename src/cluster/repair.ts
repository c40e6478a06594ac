/**
 * Repair: the node's streams. Joining (join.ts, and join_source.ts for
 * the pages a joiner asks for), leaving (leave.ts) and handing off keys a
 * node no longer owns (handoff.ts) share one rate limit and one progress
 * report (streams.ts). Anti-entropy is anti_entropy.ts. Sans-I/O like the
 * rest of the core.
 *
 * @module
 */

import type { Version } from "../clock/mod.ts";
import type { PeerRequest, PeerResponse } from "../transport/mod.ts";
import { Handoff } from "./handoff.ts";
import { Join } from "./join.ts";
import { JoinSource } from "./join_source.ts";
import { Leave } from "./leave.ts";
import {
  type RepairOptions,
  type RepairStats,
  Streams,
  type TransferProgress,
} from "./streams.ts";

export {
  type RepairOptions,
  type RepairStats,
  ringRanges,
  type StreamStats,
  type TransferProgress,
} from "./streams.ts";

/** Join and leave streaming, and handoff, over one set of streams. */
export class Repair {
  readonly #streams: Streams;
  readonly #join: Join;
  readonly #source: JoinSource;
  readonly #leave: Leave;
  readonly #handoff: Handoff;

  constructor(options: RepairOptions) {
    this.#streams = new Streams(options);
    this.#join = new Join(this.#streams);
    this.#source = new JoinSource(this.#streams);
    this.#leave = new Leave(this.#streams);
    this.#handoff = new Handoff(this.#streams);
  }

  /** Counters, copied. */
  stats(): RepairStats {
    return { handedOff: this.#handoff.handedOff, ...this.#streams.stats() };
  }

  /** Answers the repair messages of a peer (a joiner's pages). */
  async handlePeer(request: PeerRequest): Promise<PeerResponse> {
    switch (request.kind) {
      case "transfer":
      case "transfer_range":
        return await this.#source.serve(request);
      default:
        throw new Error(`repair does not answer '${request.kind}'`);
    }
  }

  /** Follows one change the store made durable, by key hash (for handoff). */
  changed(hash: number, after: Version | undefined): void {
    this.#handoff.changed(hash, after);
  }

  /** Joins the ring (see {@link Join.run}). */
  join(): Promise<void> {
    return this.#join.run();
  }

  /** Refills a member back on the ring with an empty disk (see {@link Join.refill}). */
  refill(): Promise<void> {
    return this.#join.refill();
  }

  /** Why a leave may not begin now, or undefined (see {@link Leave.refusal}). */
  leaveRefusal(): string | undefined {
    return this.#leave.refusal();
  }

  /** Leaves the ring (see {@link Leave.run}). */
  leave(onProgress?: (p: TransferProgress) => void): Promise<void> {
    return this.#leave.run(onProgress);
  }

  /** One handoff round (see {@link Handoff.round}). */
  handOffRound(limit?: number): Promise<number> {
    return this.#handoff.round(limit);
  }
}
