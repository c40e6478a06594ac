/**
 * The joiner's half of a join: announce, wait for the move to settle,
 * stream from every member the records this node will replicate, then
 * become ready for reads. Sans-I/O like the rest of the core.
 *
 * @module
 */

import { hashKey } from "../ring/mod.ts";
import type { StoredRecord } from "../storage/mod.ts";
import {
  type HashPosition,
  PEER_BATCH_MAX,
  PeerError,
  type PeerResponse,
} from "../transport/mod.ts";
import {
  inRanges,
  isTransferFailure,
  RING_END,
  ringSpans,
  sizeOf,
  type Streams,
} from "./streams.ts";

/**
 * Slices of the ring a joiner streams from each source at once: with two,
 * one page is read and sent while the other is applied.
 */
const JOIN_SLICES_PER_SOURCE = 2;

/**
 * Records a joiner asks for per page. Bigger pages cost fewer round trips
 * but block the source (reading, encoding) and the joiner (decoding, one
 * transaction) for longer at a time, which clients see in their p99: at
 * 20,000 (the most a page may hold, TRANSFER_RECORDS_MAX) the join was no
 * faster on a busy machine and the p99 was higher.
 */
const JOIN_PAGE_RECORDS = 5_000;

/**
 * Ranges a joiner asks a source for in one call, at most (the request
 * names each; TRANSFER_RANGES_MAX is what a source accepts).
 */
const JOIN_RANGES_PER_CALL = 1_024;

/** Passes over the ring a join makes while the ring keeps changing. */
const STREAM_PASSES_MAX = 3;

/** Failed calls to a join's source before it is skipped (about a minute). */
const JOIN_ATTEMPTS_MAX = 40;
/** Wait before calling a join's source again, times the attempt (up to 8). */
const JOIN_RETRY_MS = 250;

/** Joins this node to the ring. */
export class Join {
  readonly #streams: Streams;

  constructor(streams: Streams) {
    this.#streams = streams;
  }

  /**
   * Joins the ring: streams, from every member, the records this node will
   * replicate, then announces itself ready for reads. Each source sends
   * the ranges it is first to hold, in ring order, in big pages; two
   * slices of the ring per source stream at once, so that one page is
   * read and sent while another is applied (one transaction a page).
   */
  async run(): Promise<void> {
    const streams = this.#streams;
    const progress = streams.transferBegins("joining");
    const { membership, topology, log } = streams.options;
    await this.#reachSeed();
    // Every member up has heard of the join, and the writes begun
    // before are done: only then may the stream pass a key.
    await streams.settleMove();
    await this.#streamAll();
    await membership.setPhase("ready");
    await topology.update(membership.members());
    streams.transferEnds("done");
    log?.("join.ready", {
      records: progress.keysMoved,
      bytes: progress.bytesMoved,
    });
  }

  /**
   * Refills a member that came back on the ring with an empty disk: the
   * same streams as a join, from every member, while it serves (it never
   * left the ring reads use, so its phase does not change; writes reach
   * it meanwhile, and anti-entropy and read repair cover what a stream
   * misses).
   */
  async refill(): Promise<void> {
    const streams = this.#streams;
    const progress = streams.transferBegins("joining");
    await this.#reachSeed();
    await this.#streamAll();
    streams.transferEnds("done");
    streams.options.log?.("join.refilled", {
      records: progress.keysMoved,
      bytes: progress.bytesMoved,
    });
  }

  /** Announces this node until a seed answers (or the attempts run out). */
  async #reachSeed(): Promise<void> {
    const { membership, log } = this.#streams.options;
    // The seed's answer brings the member table: the sources. A busy seed
    // may not answer the first probe in time.
    for (let attempt = 1; await membership.announce() === 0; attempt++) {
      if (attempt >= JOIN_ATTEMPTS_MAX) {
        log?.("join.seed_unreachable", { attempts: attempt }, "warn");
        break;
      }
      await this.#streams.sleep(JOIN_RETRY_MS * Math.min(attempt, 8));
    }
  }

  /**
   * Streams every range this node replicates on the write ring, each from
   * the first holder this node sees up (it decides, so that every range
   * has a sender whatever the others believe of who is down); a holder that
   * cannot send hands its ranges to the next. Passes again when the ring
   * changed meanwhile (members learned by gossip).
   */
  async #streamAll(): Promise<void> {
    const { membership, topology } = this.#streams.options;
    for (let pass = 1; pass <= STREAM_PASSES_MAX; pass++) {
      await topology.update(membership.members());
      const version = topology.version;
      await this.#streamRanges([[0, RING_END]], new Set());
      await topology.update(membership.members());
      if (topology.version === version) return;
    }
  }

  /** Streams the parts of `within` this node replicates, none from `skip`. */
  async #streamRanges(
    within: readonly [number, number][],
    skip: ReadonlySet<string>,
  ): Promise<void> {
    const bySource = new Map<string, [number, number][]>();
    for (const [from, to, source] of this.#assignments(skip)) {
      for (const [a, b] of within) {
        const lo = Math.max(from, a);
        const hi = Math.min(to, b);
        if (lo >= hi) continue;
        let ranges = bySource.get(source);
        if (ranges === undefined) bySource.set(source, ranges = []);
        ranges.push([lo, hi]);
      }
    }
    await Promise.all(
      [...bySource].map(([source, ranges]) =>
        // In ring order (`within` may not be: what sources missed), as a
        // call names them.
        this.#streamFromSource(source, ranges.sort((x, y) => x[0] - y[0]), skip)
      ),
    );
  }

  /**
   * The spans of the ring this node replicates on the write ring (or on
   * the ring after its join alone, see Topology.ringsAfter), each with the
   * holder to stream it from: the first on the read ring, other
   * than this node and `skip`, that this node sees up (or, none up, the
   * first at all: it may answer yet).
   */
  #assignments(skip: ReadonlySet<string>): [number, number, string][] {
    const { topology, membership, self } = this.#streams.options;
    const n = this.#streams.options.replicationFactor();
    // The write ring, and while another member moves too, the ring after
    // this join alone (reads use it if this join completes first).
    const after = topology.ringsAfter(self);
    return ringSpans([...after, topology.readRing], (hash) => {
      if (!after.some((r) => r.preferenceListForHash(hash, n).includes(self))) {
        return undefined;
      }
      const holders = topology.readRing.preferenceListForHash(hash, n)
        .filter((m) => m !== self && !skip.has(m));
      return holders.find((m) => !membership.isDown(m)) ?? holders[0];
    });
  }

  /**
   * Streams `ranges` from `source`, a few groups of them at once (one page
   * is read and sent while another is applied); what a source that has to
   * be skipped did not send goes to the next holders.
   */
  async #streamFromSource(
    source: string,
    ranges: readonly [number, number][],
    skip: ReadonlySet<string>,
  ): Promise<void> {
    // Consecutive ranges go as one group, one cursor through them: with
    // thousands of virtual nodes most ranges hold a few records, and a
    // call (and a transaction) per range would cost more than its records.
    const size = Math.min(
      JOIN_RANGES_PER_CALL,
      Math.ceil(ranges.length / JOIN_SLICES_PER_SOURCE),
    );
    const queue: [number, number][][] = [];
    for (let i = 0; i < ranges.length; i += size) {
      queue.push(ranges.slice(i, i + size));
    }
    const missed: [number, number][] = [];
    let legacy = false;
    await Promise.all(
      Array.from({ length: JOIN_SLICES_PER_SOURCE }, async () => {
        for (let g = queue.shift(); g !== undefined; g = queue.shift()) {
          const outcome = await this.#streamFrom(source, g);
          if (outcome === "legacy") legacy = true;
          else if (outcome !== "done") {
            for (const [from, to] of g) {
              if (to > outcome.from) {
                missed.push([Math.max(from, outcome.from), to]);
              }
            }
          }
        }
      }),
    );
    // A source of an earlier version streams by key order only.
    if (legacy) await this.#streamFromLegacy(source);
    else if (missed.length > 0) {
      await this.#streamRanges(missed, new Set([...skip, source]));
    }
  }

  /**
   * Streams the records in `ranges` (ascending, apart) from `source`, the
   * next page asked for while the last one is applied. Resolves "legacy"
   * when the source does not know `transfer_range`, and where the rest of
   * the ranges starts when the source is to be skipped.
   */
  async #streamFrom(
    source: string,
    ranges: readonly [number, number][],
  ): Promise<"done" | "legacy" | { from: number }> {
    const { self, transport, peerDeadlineMs } = this.#streams.options;
    const from = ranges[0]![0];
    const to = ranges.at(-1)![1];
    let after: HashPosition | undefined;
    let applying: Promise<void> = Promise.resolve();
    try {
      for (let attempt = 0;;) {
        let answer: PeerResponse;
        // The ranges the cursor has not passed yet.
        const left = after === undefined
          ? ranges
          : ranges.filter(([, b]) => b > after![0]);
        if (left.length === 0) return "done";
        try {
          answer = await transport.call(
            source,
            {
              kind: "transfer_range",
              for: self,
              from: left[0]![0],
              to,
              limit: JOIN_PAGE_RECORDS,
              ...(after !== undefined ? { after } : {}),
              assigned: true,
              ranges: [...left],
            },
            peerDeadlineMs * 5,
          );
        } catch (error) {
          if (!isTransferFailure(error)) throw error;
          if (
            error instanceof PeerError && error.failure === "refused" &&
            error.message.includes(`unknown kind "transfer_range"`)
          ) return "legacy";
          // The source may not have rebuilt its ring yet, be busy, or be
          // down (its replicas hold the same ranges, and anti-entropy fills
          // gaps).
          if (!await this.#retryFrom(source, ++attempt, error)) {
            // The rest of the ranges, from the last position received (at
            // that hash again: a record there may have been missed).
            return { from: after?.[0] ?? from };
          }
          continue;
        }
        if (answer.kind !== "transfer_range") return "done";
        await applying;
        // A source that does not know `ranges` sends all of [from, to).
        applying = this.#apply(
          answer.records.filter((r) => inRanges(ranges, hashKey(r.key))),
        );
        if (answer.cursor === null) return "done";
        after = answer.cursor;
      }
    } finally {
      await applying;
    }
  }

  /**
   * After the `attempt`th failed call to a join's source: false (and a
   * warning) when the source is to be skipped, else true once it is time
   * to try again. Only a source dead or gone is skipped at once: one merely
   * suspect (slow to answer a probe on a busy machine) is waited for.
   */
  async #retryFrom(
    source: string,
    attempt: number,
    error: unknown,
  ): Promise<boolean> {
    const { membership, log } = this.#streams.options;
    const state = membership.get(source)?.state;
    if (
      attempt > JOIN_ATTEMPTS_MAX || state === undefined || state === "dead" ||
      state === "left"
    ) {
      log?.("join.source_skipped", { source, error }, "warn");
      return false;
    }
    await this.#streams.sleep(JOIN_RETRY_MS * Math.min(attempt, 8));
    return true;
  }

  /** Stores a page a source sent, in one transaction, and counts it. */
  async #apply(records: StoredRecord[]): Promise<void> {
    if (records.length === 0) return;
    // A page comes in ring order, which is random by key; a durable engine
    // keeps its rows by key, and inserts them about 1.5 times as fast in
    // key order (a page holds each key once, so the order changes nothing
    // else).
    records.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
    await this.#streams.options.store.applyMany(records);
    const progress = this.#streams.transfer;
    progress.keysMoved += records.length;
    for (const record of records) progress.bytesMoved += sizeOf(record);
  }

  /** {@link Join.#streamFrom} from a source that streams by key order. */
  async #streamFromLegacy(source: string): Promise<void> {
    const { self, transport, peerDeadlineMs } = this.#streams.options;
    let after: string | undefined;
    for (let attempt = 0;;) {
      let answer: PeerResponse;
      try {
        answer = await transport.call(
          source,
          {
            kind: "transfer",
            for: self,
            limit: PEER_BATCH_MAX,
            ...(after !== undefined ? { after } : {}),
          },
          peerDeadlineMs * 5,
        );
      } catch (error) {
        if (!isTransferFailure(error)) throw error;
        if (!await this.#retryFrom(source, ++attempt, error)) return;
        continue;
      }
      if (answer.kind !== "transfer") return;
      await this.#apply(answer.records);
      if (answer.cursor === null) return;
      after = answer.cursor;
    }
  }
}
