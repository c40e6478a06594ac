/**
 * Anti-entropy: two replicas compare their digests ({@link Digests}) and
 * exchange only the records one has newer, as Dynamo's and Riak's active
 * anti-entropy do.
 *
 * A round, with a random live peer:
 * 1. `ae_buckets`: 256 bucket digests over the leaves both replicate; the
 *    peer answers which differ. Replicas that agree stop here, whatever
 *    they hold.
 * 2. `ae_leaves`: the peer's leaf digests in (some of) those buckets; the
 *    differing leaves are the ones to look into.
 * 3. `ae_entries`: the peer's record summaries (key and version, no value)
 *    in those leaves, read from its hash index; this node reads its own the
 *    same way.
 * 4. Each side gets what it lacks: this node pulls the records the peer
 *    has newer and pushes the ones it has newer, in messages bounded by
 *    bytes.
 *
 * A round goes through the differing buckets a few at a time until it has
 * moved {@link AE_KEYS_PER_ROUND_DEFAULT} records each way, starting at a
 * random bucket, so work too large for one round is done over the next
 * ones, and converges whatever the number of differences.
 *
 * Records written in the last few seconds are left out of step 4, with one
 * cut both sides use: they are still on their way to their replicas, and a
 * record that a replica still misses after the cut is repaired in a later
 * round.
 *
 * @module
 */

import { type Clock, compareVersions } from "../clock/mod.ts";
import { NotAMemberError } from "../errors.ts";
import type { RecordSummary, Store, StoredRecord } from "../storage/mod.ts";
import {
  AE_ENTRIES_MAX,
  type LeafDigestEntry,
  type PeerRequest,
  type PeerResponse,
  type PeerTransport,
  type SummaryEntry,
} from "../transport/mod.ts";
import { batches, recordBytes } from "./batches.ts";
import { AE_SETTLE_MS, type Digests, ringId } from "./digests.ts";

export { AE_SETTLE_MS };
import type { Membership } from "./membership.ts";
import { type Random, shuffle } from "./random.ts";
import type { Topology } from "./topology.ts";

/** Records one round moves each way at most. */
export const AE_KEYS_PER_ROUND_DEFAULT = 10_000;
/** Differing buckets looked into at a time (one `ae_leaves` request). */
const BUCKETS_PER_STEP = 32;
/** Leaves one `ae_entries` request names at most. */
const LEAVES_PER_REQUEST = 512;
/** An anti-entropy request's deadline, in peer deadlines. */
const AE_DEADLINE_FACTOR = 4;

/** What anti-entropy needs from the world. */
export interface AntiEntropyOptions {
  self: string;
  store: Store;
  transport: PeerTransport;
  clock: Clock;
  random: Random;
  membership: Membership;
  topology: Topology;
  digests: Digests;
  /** N as in force (capped at the ring size). */
  replicationFactor: () => number;
  peerDeadlineMs: number;
  /** Default {@link AE_KEYS_PER_ROUND_DEFAULT}. */
  keysPerRoundMax?: number;
}

/** Counters for `cluster_info` and metrics. */
export interface AntiEntropyStats {
  rounds: number;
  /** Rounds that found the peer in agreement at the first comparison. */
  inAgreement: number;
  bucketsDiffering: number;
  leavesDiffering: number;
  pulled: number;
  pushed: number;
  /** Rounds skipped: the peer or this node could not compare yet. */
  skipped: number;
}

type Summary = Pick<RecordSummary, "key" | "version" | "bytes">;

/** Anti-entropy rounds, and the answers to a peer's. */
export class AntiEntropy {
  readonly #o: AntiEntropyOptions;
  readonly #keysMax: number;
  readonly #stats: AntiEntropyStats = {
    rounds: 0,
    inAgreement: 0,
    bucketsDiffering: 0,
    leavesDiffering: 0,
    pulled: 0,
    pushed: 0,
    skipped: 0,
  };

  constructor(options: AntiEntropyOptions) {
    this.#o = options;
    this.#keysMax = options.keysPerRoundMax ?? AE_KEYS_PER_ROUND_DEFAULT;
  }

  stats(): AntiEntropyStats {
    return { ...this.#stats };
  }

  /** The id of the ring the digests follow, or undefined while counting. */
  #ready(): number | undefined {
    const { digests, topology } = this.#o;
    if (digests.ring !== topology.readRing) {
      void digests.follow(topology.readRing);
    }
    if (!digests.ready) return undefined;
    return ringId(digests.ring!, this.#o.replicationFactor());
  }

  /** Answers a peer's anti-entropy message. */
  handlePeer(request: PeerRequest): PeerResponse {
    switch (request.kind) {
      case "ae_buckets": {
        this.#requireMember(request.from);
        const ring = this.#ready();
        if (ring === undefined) {
          return { kind: "ae_buckets", differing: [], skip: "counting" };
        }
        if (ring !== request.ring) {
          return { kind: "ae_buckets", differing: [], skip: "ring" };
        }
        const cut = this.#o.digests.advance(request.cut);
        if (cut > request.cut) {
          return { kind: "ae_buckets", differing: [], skip: "cut", cut };
        }
        const mine = this.#tree().buckets(this.#mask(request.from));
        const differing: number[] = [];
        mine.forEach(([count, sum], i) => {
          const theirs = request.buckets[i]!;
          if (theirs[0] !== count || theirs[1] !== sum) differing.push(i);
        });
        return { kind: "ae_buckets", differing };
      }
      case "ae_leaves": {
        this.#requireMember(request.from);
        if (this.#ready() !== request.ring) {
          return { kind: "ae_leaves", leaves: [] };
        }
        this.#o.digests.advance(request.cut);
        return {
          kind: "ae_leaves",
          leaves: this.#tree().leaves(
            this.#mask(request.from),
            request.buckets,
          ),
        };
      }
      case "ae_entries": {
        this.#requireMember(request.from);
        if (this.#ready() !== request.ring) {
          return { kind: "ae_entries", entries: [], complete: false };
        }
        const mask = this.#mask(request.from);
        // A leaf this node does not share with the asker is not its to see.
        const leaves = request.leaves.filter((leaf) =>
          leaf < mask.length && mask[leaf] === 1
        );
        const entries: SummaryEntry[] = [];
        let complete = true;
        for (const run of runs(leaves)) {
          const summaries = this.#summaries(run, request.before);
          if (entries.length + summaries.length > AE_ENTRIES_MAX) {
            complete = false;
            break;
          }
          for (const s of summaries) {
            entries.push([
              s.key,
              s.version,
              s.tombstone,
              s.expiresAtMs,
              s.bytes,
            ]);
          }
        }
        return { kind: "ae_entries", entries, complete };
      }
      default:
        throw new Error(`anti-entropy does not answer '${request.kind}'`);
    }
  }

  #tree() {
    return this.#o.digests.tree!;
  }

  #mask(peer: string): Uint8Array {
    return this.#o.digests.shared(
      this.#o.self,
      peer,
      this.#o.replicationFactor(),
    );
  }

  /**
   * This node's summaries of a run of consecutive leaves (one hash range,
   * one index read), older than the cut.
   */
  #summaries(run: [number, number], before: number): RecordSummary[] {
    const tree = this.#tree();
    const from = tree.rangeOf(run[0])[0];
    const to = tree.rangeOf(run[1] - 1)[1];
    return this.#o.store.summaries(from, to)
      .filter((s) => s.version[0] < before);
  }

  #requireMember(address: string): void {
    const member = this.#o.membership.get(address);
    if (member === undefined || member.state === "left") {
      throw new NotAMemberError(address);
    }
  }

  /**
   * One round with a random live peer that shares ranges with this node.
   * Resolves with the records moved (both ways).
   */
  async round(): Promise<number> {
    const { self, membership, topology, random } = this.#o;
    const peers = shuffle(
      topology.readRing.members.filter((m) =>
        m !== self && !membership.isDown(m)
      ),
      random,
    );
    const peer = peers[0];
    // Alone, nothing to compare: the digests are not even counted.
    if (peer === undefined) return 0;
    const ring = this.#ready();
    if (ring === undefined) {
      this.#stats.skipped++;
      return 0;
    }
    this.#stats.rounds++;
    const mask = this.#mask(peer);
    const digests = this.#o.digests;
    // One cut for both sides: records written after it are left out, the
    // same ones on each. A peer already past it names its own, once.
    let cut = digests.advance(this.#o.clock.now() - AE_SETTLE_MS);
    let answer: PeerResponse | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      answer = await this.#call(peer, {
        kind: "ae_buckets",
        from: self,
        ring,
        cut,
        buckets: this.#tree().buckets(mask).map(([c, s]) => [c, s]),
      });
      if (
        answer.kind !== "ae_buckets" || answer.skip !== "cut" ||
        answer.cut === undefined || answer.cut > this.#o.clock.now()
      ) break;
      cut = digests.advance(answer.cut);
    }
    if (answer?.kind !== "ae_buckets" || answer.skip !== undefined) {
      this.#stats.skipped++;
      return 0;
    }
    if (answer.differing.length === 0) {
      this.#stats.inAgreement++;
      return 0;
    }
    this.#stats.bucketsDiffering += answer.differing.length;
    // A random start, so that buckets too many for one round, or stuck on
    // writes still in flight, do not hold up the rest.
    const start = Math.floor(random.next() * answer.differing.length);
    const order = [
      ...answer.differing.slice(start),
      ...answer.differing.slice(0, start),
    ];
    let moved = 0;
    for (
      let i = 0;
      i < order.length && moved < this.#keysMax;
      i += BUCKETS_PER_STEP
    ) {
      const buckets = order.slice(i, i + BUCKETS_PER_STEP);
      const leaves = await this.#differingLeaves(
        peer,
        ring,
        cut,
        mask,
        buckets,
      );
      this.#stats.leavesDiffering += leaves.length;
      moved += await this.#reconcile(
        peer,
        ring,
        cut,
        leaves,
        this.#keysMax - moved,
      );
    }
    return moved;
  }

  async #differingLeaves(
    peer: string,
    ring: number,
    cut: number,
    mask: Uint8Array,
    buckets: number[],
  ): Promise<number[]> {
    const answer = await this.#call(peer, {
      kind: "ae_leaves",
      from: this.#o.self,
      ring,
      cut,
      buckets,
    });
    if (answer.kind !== "ae_leaves") return [];
    const theirs = new Map<number, LeafDigestEntry>();
    for (const entry of answer.leaves) theirs.set(entry[0], entry);
    const differing: number[] = [];
    for (const [leaf, count, sum] of this.#tree().leaves(mask, buckets)) {
      const other = theirs.get(leaf);
      if (other === undefined || other[1] !== count || other[2] !== sum) {
        differing.push(leaf);
      }
    }
    return differing;
  }

  /**
   * Exchanges what differs in `leaves`, a request's worth of leaves at a
   * time, each chunk's records moved before the next is asked for (a
   * later failure keeps what was moved); resolves with the records moved.
   */
  async #reconcile(
    peer: string,
    ring: number,
    before: number,
    leaves: number[],
    keysMax: number,
  ): Promise<number> {
    let pulled = 0;
    let pushed = 0;
    for (let i = 0; i < leaves.length; i += LEAVES_PER_REQUEST) {
      if (pulled >= keysMax && pushed >= keysMax) break;
      const pull: Summary[] = [];
      const push: string[] = [];
      const chunk = leaves.slice(i, i + LEAVES_PER_REQUEST);
      const answer = await this.#call(peer, {
        kind: "ae_entries",
        from: this.#o.self,
        ring,
        leaves: chunk,
        before,
      });
      if (answer.kind !== "ae_entries") break;
      const theirs = new Map<string, SummaryEntry>();
      for (const entry of answer.entries) theirs.set(entry[0], entry);
      const mine = new Map<string, RecordSummary>();
      for (const run of runs(chunk)) {
        for (const s of this.#summaries(run, before)) mine.set(s.key, s);
      }
      for (const [key, [, version, , , bytes]] of theirs) {
        const own = mine.get(key);
        if (
          pulled + pull.length < keysMax &&
          (own === undefined || compareVersions(version, own.version) > 0)
        ) pull.push({ key, version, bytes });
      }
      // Only from leaves the answer covered whole.
      if (answer.complete) {
        for (const [key, own] of mine) {
          const other = theirs.get(key);
          if (
            pushed + push.length < keysMax &&
            (other === undefined || compareVersions(own.version, other[1]) > 0)
          ) push.push(key);
        }
      }
      await this.#pull(peer, pull);
      this.#stats.pulled += pull.length;
      pulled += pull.length;
      await this.#push(peer, push);
      this.#stats.pushed += push.length;
      pushed += push.length;
      if (!answer.complete) break;
    }
    return pulled + pushed;
  }

  async #pull(peer: string, wanted: Summary[]): Promise<void> {
    for (const batch of batches(wanted, (s) => s.bytes + s.key.length + 96)) {
      const answer = await this.#call(peer, {
        kind: "read",
        keys: batch.map((s) => s.key),
      });
      if (answer.kind !== "read") return;
      await Promise.all(
        answer.records.flatMap((r) =>
          r === null ? [] : [this.#o.store.apply(r)]
        ),
      );
    }
  }

  async #push(peer: string, keys: string[]): Promise<void> {
    const records = keys.flatMap((key) => {
      const record = this.#o.store.get(key);
      return record === undefined ? [] : [record];
    });
    for (const batch of batches<StoredRecord>(records, recordBytes)) {
      await this.#call(peer, { kind: "write", records: batch });
    }
  }

  /**
   * Anti-entropy is background work: a peer busy with clients may take
   * longer than a client's replica call would be given before it answers
   * a digest or a page of entries, and a round that gave up on it would
   * start over and never finish under load.
   */
  #call(peer: string, request: PeerRequest): Promise<PeerResponse> {
    return this.#o.transport.call(
      peer,
      request,
      this.#o.peerDeadlineMs * AE_DEADLINE_FACTOR,
    );
  }
}

/** Leaf indexes as runs [first, end) of consecutive ones, ascending. */
function runs(leaves: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const leaf of [...leaves].sort((a, b) => a - b)) {
    const last = out.at(-1);
    if (last !== undefined && last[1] === leaf) last[1] = leaf + 1;
    else if (last === undefined || last[1] < leaf) out.push([leaf, leaf + 1]);
  }
  return out;
}
