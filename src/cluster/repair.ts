/**
 * Repair: streaming on join and leave, and handing off keys a node no
 * longer owns (anti-entropy is anti_entropy.ts). Sans-I/O like the rest of
 * the core.
 *
 * @module
 */

import type { EventLog } from "../log.ts";
import type { Clock } from "../clock/mod.ts";
import { UnavailableError } from "../errors.ts";
import { PEER_BATCH_BYTES_MAX } from "../limits.ts";
import type { Store, StoredRecord } from "../storage/mod.ts";
import { batches, recordBytes } from "./batches.ts";
import {
  PEER_BATCH_MAX,
  PeerError,
  type PeerRequest,
  type PeerResponse,
  type PeerTransport,
} from "../transport/mod.ts";
import type { Membership } from "./membership.ts";
import type { Random } from "./random.ts";
import type { Topology } from "./topology.ts";

/** Passes a leave makes before it rolls back. */
const LEAVE_ATTEMPTS_MAX = 5;
/** Wait before another pass of a leave, times the attempt. */
const LEAVE_RETRY_MS = 1_000;
/** Tries of one batch of a leave before the pass fails. */
const PUSH_ATTEMPTS_MAX = 5;

/** The errors a transfer retries after: a peer or a stand-in missing. */
function isTransferFailure(error: unknown): boolean {
  return error instanceof PeerError || error instanceof UnavailableError;
}

/** Records scanned per page; the scan yields to other work between pages. */
const SCAN_PAGE = 1000;

/** Repair timing and rate limits. */
export interface RepairOptions {
  self: string;
  store: Store;
  transport: PeerTransport;
  clock: Clock;
  random: Random;
  membership: Membership;
  topology: Topology;
  /** N as configured (capped at the ring size). */
  replicationFactor: () => number;
  peerDeadlineMs: number;
  /**
   * How long a write message may take to land and still be acknowledged
   * (the peer deadline): a join or leave waits that long, once every
   * member has heard of it, before it streams (Cassandra's ring delay).
   * Default 0.
   */
  moveSettleMs?: number;
  log?: EventLog;
}

/** Announcements of a join or leave, a retry apart, until all members heard. */
const MOVE_ANNOUNCES_MAX = 10;
/** Wait between announcements of a move that not every member heard. */
const MOVE_ANNOUNCE_RETRY_MS = 250;

/** Progress of a join or leave, for `cluster_info` and the CLI. */
export interface TransferProgress {
  /** "failed": a leave that could not finish, rolled back (the node stays). */
  phase: "idle" | "joining" | "leaving" | "done" | "failed";
  keysMoved: number;
  bytesMoved: number;
  /** Records still to go (for a leave), or null when unknown (a join). */
  keysRemaining: number | null;
  /** Why the transfer waits or failed (a peer that does not answer), or null. */
  waitingFor: string | null;
}

/** Counters for `cluster_info`. */
export interface RepairStats {
  handedOff: number;
  transfer: TransferProgress;
}

function sizeOf(record: StoredRecord): number {
  return record.key.length + (JSON.stringify(record.value)?.length ?? 0);
}

/** Anti-entropy, join and leave streaming, and handoff. */
export class Repair {
  readonly #o: RepairOptions;
  /** The ring version after which a handoff pass found nothing foreign. */
  #cleanAtVersion = -1;
  readonly #stats: RepairStats = {
    handedOff: 0,
    transfer: {
      phase: "idle",
      keysMoved: 0,
      bytesMoved: 0,
      keysRemaining: null,
      waitingFor: null,
    },
  };

  constructor(options: RepairOptions) {
    this.#o = options;
  }

  /** Counters, copied. */
  stats(): RepairStats {
    return structuredClone(this.#stats);
  }

  /** Lets other work run between scan pages. */
  #yield(): Promise<void> {
    return new Promise((resolve) => this.#o.clock.after(0, resolve));
  }

  /** Every local record, a page at a time. */
  async *#records(after?: string): AsyncGenerator<StoredRecord> {
    let cursor = after;
    for (;;) {
      const page = this.#o.store.scan({
        limit: SCAN_PAGE,
        ...(cursor !== undefined ? { after: cursor } : {}),
      });
      yield* page;
      if (page.length < SCAN_PAGE) return;
      cursor = page.at(-1)!.key;
      await this.#yield();
    }
  }

  /**
   * Every local record in no particular order, yielding to other work
   * every page: for passes that visit everything and need no cursor (an
   * engine can then skip sorting, see Store.records).
   */
  async *#everything(): AsyncGenerator<StoredRecord> {
    let n = 0;
    for (const record of this.#o.store.records()) {
      yield record;
      if (++n % SCAN_PAGE === 0) await this.#yield();
    }
  }

  /** Answers the repair messages of a peer. */
  async handlePeer(request: PeerRequest): Promise<PeerResponse> {
    switch (request.kind) {
      case "transfer":
        return await this.#transferPage(request);
      default:
        throw new Error(`repair does not answer '${request.kind}'`);
    }
  }

  async #push(
    peer: string,
    records: StoredRecord[],
    hintFor?: string,
  ): Promise<void> {
    for (const batch of batches(records, recordBytes)) {
      await this.#o.transport.call(
        peer,
        {
          kind: "write",
          records: batch,
          ...(hintFor !== undefined ? { hintFor } : {}),
        },
        this.#o.peerDeadlineMs,
      );
    }
  }

  /** A page of local records that `request.for` replicates on the write ring. */
  async #transferPage(
    request: Extract<PeerRequest, { kind: "transfer" }>,
  ): Promise<PeerResponse> {
    const ring = this.#o.topology.writeRing;
    if (!ring.members.includes(request.for)) {
      throw new UnavailableError(
        `${request.for} is not on this node's ring yet; retry`,
      );
    }
    const n = Math.min(this.#o.replicationFactor(), ring.members.length);
    const records: StoredRecord[] = [];
    let scanned = 0;
    let bytes = 0;
    for await (const record of this.#records(request.after)) {
      scanned++;
      if (
        ring.preferenceList(record.key, n).includes(request.for) &&
        this.#firstLiveHolder(record.key, request.for)
      ) {
        records.push(record);
        bytes += recordBytes(record);
      }
      // Bound the work of one request: a page of results, a message's
      // worth of bytes, or ten pages scanned, whichever comes first.
      if (
        records.length >= request.limit || bytes >= PEER_BATCH_BYTES_MAX ||
        scanned >= request.limit * 10
      ) {
        return { kind: "transfer", records, cursor: record.key };
      }
    }
    return { kind: "transfer", records, cursor: null };
  }

  /**
   * True when this node is the first live replica of `key` on the current
   * ring (other than `joiner`): every old replica has the key, so only one
   * of them sends it. A key whose sender is wrongly believed down by the
   * others is still sent; one that nobody sends is left to anti-entropy.
   */
  #firstLiveHolder(key: string, joiner: string): boolean {
    const { topology, membership, self } = this.#o;
    for (
      const member of topology.readRing.preferenceList(
        key,
        this.#o.replicationFactor(),
      )
    ) {
      if (member === joiner || membership.isDown(member)) continue;
      return member === self;
    }
    return false;
  }

  /**
   * Joins the ring: streams, from every member, the records this node will
   * replicate, then announces itself ready for reads.
   */
  async join(): Promise<void> {
    const progress = this.#stats.transfer;
    progress.phase = "joining";
    const { membership, topology, self } = this.#o;
    await this.#settleMove();
    await topology.update(membership.members());
    const sources = topology.readRing.members.filter((m) => m !== self);
    for (const source of sources) {
      let after: string | undefined;
      for (let attempt = 0;;) {
        let answer: PeerResponse;
        try {
          answer = await this.#o.transport.call(
            source,
            {
              kind: "transfer",
              for: self,
              limit: PEER_BATCH_MAX,
              ...(after !== undefined ? { after } : {}),
            },
            this.#o.peerDeadlineMs * 5,
          );
        } catch (error) {
          if (!isTransferFailure(error)) throw error;
          // The source may not have rebuilt its ring yet, or be down (its
          // replicas hold the same ranges, and anti-entropy fills gaps).
          if (++attempt > 20 || membership.isDown(source)) {
            this.#o.log?.("join.source_skipped", { source, error }, "warn");
            break;
          }
          await new Promise((r) => this.#o.clock.after(250, () => r(null)));
          continue;
        }
        if (answer.kind !== "transfer") break;
        await Promise.all(answer.records.map((r) => this.#o.store.apply(r)));
        for (const record of answer.records) {
          progress.keysMoved++;
          progress.bytesMoved += sizeOf(record);
        }
        if (answer.cursor === null) break;
        after = answer.cursor;
      }
    }
    await membership.setPhase("ready");
    await topology.update(membership.members());
    progress.phase = "done";
    this.#o.log?.("join.ready", {
      records: progress.keysMoved,
      bytes: progress.bytesMoved,
    });
  }

  /**
   * Leaves the ring: marks this node leaving (so writes also go to the
   * new owners), streams every record to the replicas that take it over,
   * then marks this node left.
   *
   * A new owner that is down gets its records as hints, through a stand-in
   * (as a write would); one that does not answer is retried. Should the
   * ring change meanwhile (a dead member removed), the stream starts again
   * for the new owners. A leave that still cannot finish rolls back: the
   * node is a full member again, and the error says why.
   */
  async leave(onProgress?: (p: TransferProgress) => void): Promise<void> {
    const progress = this.#stats.transfer;
    progress.phase = "leaving";
    progress.waitingFor = null;
    const { membership, topology } = this.#o;
    await membership.setPhase("leaving");
    await this.#settleMove();
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
          progress.phase = "failed";
          await membership.setPhase("ready");
          await topology.update(membership.members());
          throw new UnavailableError(
            `leave failed after ${attempt} attempts, and was rolled back ` +
              `(this node is a full member again): ${progress.waitingFor}`,
          );
        }
        await new Promise((r) =>
          this.#o.clock.after(LEAVE_RETRY_MS * attempt, () => r(null))
        );
      }
    }
    progress.keysRemaining = 0;
    progress.waitingFor = null;
    progress.phase = "done";
    onProgress?.(structuredClone(progress));
    await membership.leave();
  }

  /**
   * Before a move streams: every member that is up has heard of it (so
   * the writes it begins from now on reach the new owners too), and the
   * writes begun before that are done. Otherwise a write acknowledged by
   * the old replicas only, after the stream passed its key, would be
   * missing on the new owner once the move completes.
   */
  async #settleMove(): Promise<void> {
    const { membership, clock } = this.#o;
    for (let attempt = 1; attempt <= MOVE_ANNOUNCES_MAX; attempt++) {
      const answered = await membership.announce();
      const up = membership.members().filter((m) =>
        m.address !== this.#o.self && m.state !== "left" &&
        !membership.isDown(m.address)
      ).length;
      if (answered >= up) {
        break;
      }
      await new Promise<void>((r) =>
        clock.after(MOVE_ANNOUNCE_RETRY_MS, r)
      );
    }
    const settleMs = this.#o.moveSettleMs ?? 0;
    if (settleMs > 0) await new Promise<void>((r) => clock.after(settleMs, r));
  }

  /** One pass of a leave: every record to its new owners (or their stand-ins). */
  async #streamToNewOwners(
    onProgress?: (p: TransferProgress) => void,
  ): Promise<void> {
    const progress = this.#stats.transfer;
    const { membership, topology, self } = this.#o;
    const ring = topology.writeRing;
    const old = topology.readRing;
    const n = Math.min(this.#o.replicationFactor(), ring.members.length);
    progress.keysMoved = 0;
    progress.bytesMoved = 0;
    progress.keysRemaining = this.#o.store.count();
    // Records by where they go: a target, or a stand-in holding hints.
    const pending = new Map<
      string,
      { hintFor?: string; records: StoredRecord[]; bytes: number }
    >();
    const flush = async (route: string) => {
      const batch = pending.get(route);
      pending.delete(route);
      if (batch === undefined || batch.records.length === 0) return;
      const [peer] = route.split(" ");
      await this.#pushReliably(peer!, batch.records, batch.hintFor);
    };
    for await (const record of this.#everything()) {
      const before = old.preferenceList(record.key, n);
      const after = ring.preferenceList(record.key, n);
      for (const target of after) {
        if (target === self || before.includes(target)) continue;
        let peer = target;
        let hintFor: string | undefined;
        if (membership.isDown(target)) {
          // Down: a stand-in keeps it as a hint, as a write would.
          const standIn = ring.preferenceList(record.key, ring.members.length)
            .find((m) =>
              m !== self && !after.includes(m) && !membership.isDown(m)
            );
          if (standIn === undefined) {
            throw new UnavailableError(
              `leave: ${target} is down and no stand-in can hold its records`,
            );
          }
          peer = standIn;
          hintFor = target;
        }
        const route = hintFor === undefined ? peer : `${peer} ${hintFor}`;
        let batch = pending.get(route);
        if (batch === undefined) {
          batch = {
            ...(hintFor !== undefined ? { hintFor } : {}),
            records: [],
            bytes: 0,
          };
          pending.set(route, batch);
        }
        batch.records.push(record);
        batch.bytes += recordBytes(record);
        if (
          batch.records.length >= PEER_BATCH_MAX ||
          batch.bytes >= PEER_BATCH_BYTES_MAX
        ) await flush(route);
      }
      progress.keysMoved++;
      progress.bytesMoved += sizeOf(record);
      progress.keysRemaining = Math.max(0, progress.keysRemaining! - 1);
      onProgress?.(structuredClone(progress));
    }
    for (const route of [...pending.keys()]) await flush(route);
  }

  async #pushReliably(
    target: string,
    records: StoredRecord[],
    hintFor?: string,
  ): Promise<void> {
    for (let attempt = 1;; attempt++) {
      try {
        await this.#push(target, records, hintFor);
        this.#stats.transfer.waitingFor = null;
        return;
      } catch (error) {
        if (!(error instanceof PeerError)) throw error;
        this.#stats.transfer.waitingFor = error.message;
        if (attempt >= PUSH_ATTEMPTS_MAX) {
          throw new UnavailableError(
            `leave: could not hand records to ${target}: ${error.message}`,
          );
        }
        await new Promise((r) =>
          this.#o.clock.after(200 * attempt, () => r(null))
        );
      }
    }
  }

  /**
   * Hands off records this node no longer replicates (after a join moved
   * their ranges): each goes to all its replicas, and is forgotten here
   * only once every one of them has stored it. Skipped during transitions.
   * Resolves with how many records were handed off.
   */
  async handOffRound(limit = 5_000): Promise<number> {
    const { topology, self } = this.#o;
    if (topology.inTransition) return 0;
    const version = topology.version;
    const n = this.#o.replicationFactor();
    // Records become foreign only when the ring changes: after a clean
    // pass, nothing to do until it changes again. With no more members
    // than copies, every node holds every key.
    if (version === this.#cleanAtVersion) return 0;
    if (topology.readRing.members.length <= n) {
      this.#cleanAtVersion = version;
      return 0;
    }
    let handed = 0;
    const foreign: StoredRecord[] = [];
    for await (const record of this.#everything()) {
      if (!topology.readRing.preferenceList(record.key, n).includes(self)) {
        foreign.push(record);
        if (foreign.length >= limit) break;
      }
    }
    for (let i = 0; i < foreign.length; i += PEER_BATCH_MAX) {
      const batch = foreign.slice(i, i + PEER_BATCH_MAX);
      const byTarget = new Map<string, StoredRecord[]>();
      for (const record of batch) {
        for (const target of topology.readRing.preferenceList(record.key, n)) {
          byTarget.set(target, [...(byTarget.get(target) ?? []), record]);
        }
      }
      try {
        await Promise.all(
          [...byTarget].map(([target, records]) => this.#push(target, records)),
        );
      } catch (error) {
        if (!isTransferFailure(error)) throw error;
        continue; // a replica is down: keep the records for a later round
      }
      if (topology.version !== version) return handed;
      const removed = await Promise.all(
        batch.map((r) => this.#o.store.remove(r.key, r.version)),
      );
      handed += removed.filter(Boolean).length;
    }
    this.#stats.handedOff += handed;
    if (foreign.length === 0 && topology.version === version) {
      this.#cleanAtVersion = version;
    }
    return handed;
  }
}
