/**
 * The joiner's half of a join: announce, wait for the move to settle,
 * stream from every member the records this node will replicate, then
 * become ready for reads. Sans-I/O like the rest of the core.
 *
 * @module
 */

import type { StoredRecord } from "../storage/mod.ts";
import {
  type HashPosition,
  PEER_BATCH_MAX,
  PeerError,
  type PeerResponse,
} from "../transport/mod.ts";
import {
  isTransferFailure,
  RING_END,
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
    const { membership, topology, self, log } = streams.options;
    // The seed's answer brings the member table: the sources. A busy seed
    // may not answer the first probe in time.
    for (let attempt = 1; await membership.announce() === 0; attempt++) {
      if (attempt >= JOIN_ATTEMPTS_MAX) {
        log?.("join.seed_unreachable", { attempts: attempt }, "warn");
        break;
      }
      await streams.sleep(JOIN_RETRY_MS * Math.min(attempt, 8));
    }
    // Every member up has heard of the join, and the writes begun
    // before are done: only then may the stream pass a key.
    await streams.settleMove();
    // Members learned while streaming (gossip) are streamed from too.
    const streamed = new Set([self]);
    for (;;) {
      await topology.update(membership.members());
      const sources = topology.readRing.members.filter((m) => !streamed.has(m));
      if (sources.length === 0) break;
      for (const source of sources) streamed.add(source);
      await Promise.all(sources.map((source) => this.#streamAllFrom(source)));
    }
    await membership.setPhase("ready");
    await topology.update(membership.members());
    streams.transferEnds("done");
    log?.("join.ready", {
      records: progress.keysMoved,
      bytes: progress.bytesMoved,
    });
  }

  /** Streams from `source` its share of this node's ranges, slices at once. */
  async #streamAllFrom(source: string): Promise<void> {
    const slice = Math.ceil(RING_END / JOIN_SLICES_PER_SOURCE);
    const answers = await Promise.all(
      Array.from(
        { length: JOIN_SLICES_PER_SOURCE },
        (_, i) =>
          this.#streamFrom(
            source,
            i * slice,
            Math.min(RING_END, (i + 1) * slice),
          ),
      ),
    );
    // A source of an earlier version streams by key order only.
    if (answers.includes("legacy")) await this.#streamFromLegacy(source);
  }

  /**
   * Streams the records in [`from`, `to`) that `source` sends this node,
   * the next page asked for while the last one is applied. Resolves
   * "legacy" when the source does not know `transfer_range`.
   */
  async #streamFrom(
    source: string,
    from: number,
    to: number,
  ): Promise<"done" | "legacy"> {
    const { self, transport, peerDeadlineMs } = this.#streams.options;
    let after: HashPosition | undefined;
    let applying: Promise<void> = Promise.resolve();
    try {
      for (let attempt = 0;;) {
        let answer: PeerResponse;
        try {
          answer = await transport.call(
            source,
            {
              kind: "transfer_range",
              for: self,
              from,
              to,
              limit: JOIN_PAGE_RECORDS,
              ...(after !== undefined ? { after } : {}),
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
            return "done";
          }
          continue;
        }
        if (answer.kind !== "transfer_range") return "done";
        await applying;
        applying = this.#apply(answer.records);
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
