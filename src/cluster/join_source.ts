/**
 * The source's half of a join: the pages of records a joining node asks
 * for (`transfer_range` in ring order; `transfer` in key order for a
 * joiner of an earlier version), each bounded in records, bytes and the
 * node's stream rate. Sans-I/O like the rest of the core.
 *
 * @module
 */

import { UnavailableError } from "../errors.ts";
import { PEER_BATCH_BYTES_MAX } from "../limits.ts";
import { hashKey } from "../ring/mod.ts";
import type { StoredRecord } from "../storage/mod.ts";
import { recordBytes } from "./batches.ts";
import type { PeerRequest, PeerResponse } from "../transport/mod.ts";
import {
  RANGE_READ_RECORDS,
  ringRanges,
  sizeOf,
  type Streams,
} from "./streams.ts";

/** Records scanned per page; the scan yields to other work between pages. */
const SCAN_PAGE = 1000;

/** Answers the pages a joiner asks this node for. */
export class JoinSource {
  readonly #streams: Streams;
  /** The last {@link JoinSource.#rangesFor} answer, and what it depends on. */
  #ranges: { key: string; ranges: [number, number][] } | null = null;

  constructor(streams: Streams) {
    this.#streams = streams;
  }

  /** Answers `transfer` and `transfer_range`. */
  async serve(
    request: Extract<PeerRequest, { kind: "transfer" | "transfer_range" }>,
  ): Promise<PeerResponse> {
    return request.kind === "transfer"
      ? await this.#transferPage(request)
      : await this.#transferRange(request);
  }

  /** Every local record, a page at a time. */
  async *#records(after?: string): AsyncGenerator<StoredRecord> {
    let cursor = after;
    for (;;) {
      const page = this.#streams.options.store.scan({
        limit: SCAN_PAGE,
        ...(cursor !== undefined ? { after: cursor } : {}),
      });
      yield* page;
      if (page.length < SCAN_PAGE) return;
      cursor = page.at(-1)!.key;
      await this.#streams.yield();
    }
  }

  /** A page of local records that `request.for` replicates on the write ring. */
  async #transferPage(
    request: Extract<PeerRequest, { kind: "transfer" }>,
  ): Promise<PeerResponse> {
    const o = this.#streams.options;
    const ring = o.topology.writeRing;
    if (!ring.members.includes(request.for)) {
      throw new UnavailableError(
        `${request.for} is not on this node's ring yet; retry`,
      );
    }
    const n = Math.min(o.replicationFactor(), ring.members.length);
    const after = o.topology.ringsAfter(request.for);
    const records: StoredRecord[] = [];
    let scanned = 0;
    let bytes = 0;
    for await (const record of this.#records(request.after)) {
      scanned++;
      if (
        after.some((r) =>
          r.preferenceList(record.key, n).includes(request.for)
        ) &&
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
        await this.#streams.throttle(records);
        return { kind: "transfer", records, cursor: record.key };
      }
    }
    await this.#streams.throttle(records);
    return { kind: "transfer", records, cursor: null };
  }

  /**
   * The ranges of the ring this node sends to `joiner`: those `joiner`
   * replicates on the write ring and of which this node is the first live
   * replica on the read ring (see {@link JoinSource.#firstLiveHolder}).
   */
  #rangesFor(joiner: string): [number, number][] {
    const { topology, membership } = this.#streams.options;
    const n = this.#streams.options.replicationFactor();
    // Every page of a join asks again: the answer changes only with the
    // ring, N or which members are down, and computing it walks every token.
    const down = topology.readRing.members.filter((m) => membership.isDown(m));
    const key = `${joiner} ${topology.version} ${n} ${down.join(",")}`;
    if (this.#ranges?.key === key) return this.#ranges.ranges;
    const after = topology.ringsAfter(joiner);
    const ranges = ringRanges(
      [...after, topology.readRing],
      (hash) =>
        after.some((r) => r.preferenceListForHash(hash, n).includes(joiner)) &&
        this.#firstLiveHolderOf(
          topology.readRing.preferenceListForHash(hash, n),
          joiner,
        ),
    );
    this.#ranges = { key, ranges };
    return ranges;
  }

  /**
   * A page of the records `request.for` replicates on the write ring, in
   * ring order: index range reads of the store, bounded in records and
   * bytes (and under a rate limit, to a quarter second's worth).
   */
  async #transferRange(
    request: Extract<PeerRequest, { kind: "transfer_range" }>,
  ): Promise<PeerResponse> {
    const { topology, store } = this.#streams.options;
    if (!topology.writeRing.members.includes(request.for)) {
      throw new UnavailableError(
        `${request.for} is not on this node's ring yet; retry`,
      );
    }
    const payloadMax = this.#streams.pageBytesMax();
    const records: StoredRecord[] = [];
    let bytes = 0;
    let payload = 0;
    let after = request.after;
    let read = 0;
    // Assigned by the joiner: all of the ranges it names, or of the slice
    // (it asks only for ranges it replicates); else the ranges this node is
    // first to hold.
    const ranges: readonly [number, number][] = request.assigned === true
      ? request.ranges ?? [[request.from, request.to]]
      : this.#rangesFor(request.for);
    for (const [rangeFrom, rangeTo] of ranges) {
      const from = Math.max(rangeFrom, request.from);
      const to = Math.min(rangeTo, request.to);
      if (from >= to || (after !== undefined && after[0] >= to)) continue;
      for (;;) {
        const limit = Math.min(
          RANGE_READ_RECORDS,
          request.limit - records.length,
        );
        const page = store.hashScan(from, to, {
          limit,
          ...(after !== undefined && after[0] >= from ? { after } : {}),
        });
        for (const record of page) {
          records.push(record);
          bytes += recordBytes(record);
          payload += sizeOf(record);
        }
        if (page.length > 0) {
          const last = page.at(-1)!.key;
          after = [hashKey(last), last];
        }
        if (
          records.length >= request.limit || bytes >= PEER_BATCH_BYTES_MAX ||
          payload >= payloadMax
        ) {
          await this.#streams.throttle(records);
          return { kind: "transfer_range", records, cursor: after! };
        }
        read += page.length;
        if (read >= RANGE_READ_RECORDS) {
          read = 0;
          await this.#streams.yield();
        }
        if (page.length < limit) break;
      }
    }
    await this.#streams.throttle(records);
    return { kind: "transfer_range", records, cursor: null };
  }

  /**
   * True when this node is the first live replica of `key` on the current
   * ring (other than `joiner`): every old replica has the key, so only one
   * of them sends it. A key whose sender is wrongly believed down by the
   * others is still sent; one that nobody sends is left to anti-entropy.
   */
  #firstLiveHolder(key: string, joiner: string): boolean {
    const o = this.#streams.options;
    return this.#firstLiveHolderOf(
      o.topology.readRing.preferenceList(key, o.replicationFactor()),
      joiner,
    );
  }

  #firstLiveHolderOf(holders: readonly string[], joiner: string): boolean {
    const { membership, self } = this.#streams.options;
    for (const member of holders) {
      if (member === joiner || membership.isDown(member)) continue;
      return member === self;
    }
    return false;
  }
}
