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
import { hashKey, type Ring } from "../ring/mod.ts";
import type { Store, StoredRecord } from "../storage/mod.ts";
import { batches, recordBytes } from "./batches.ts";
import {
  type HashPosition,
  PEER_BATCH_MAX,
  PeerError,
  type PeerRequest,
  type PeerResponse,
  type PeerTransport,
} from "../transport/mod.ts";
import type { Membership } from "./membership.ts";
import type { Random } from "./random.ts";
import { RateLimiter } from "./rate_limiter.ts";
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

/**
 * Records one read of a ring range returns: a stream reads its pages in
 * reads of this size and lets other work (client requests, probes) run
 * between them.
 */
const RANGE_READ_RECORDS = 2_000;

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

/** Pushes of a leave or handoff in flight at once, over all targets. */
const PUSHES_IN_FLIGHT_MAX = 4;

/** Records one handoff round moves at most, before it lets the ring change. */
const HANDOFF_RECORDS_MAX = 50_000;

/**
 * A throttled stream's messages are cut to a quarter of a second's worth
 * of its rate (at least this many bytes), so that a wait for the rate
 * stays far within a peer's deadline.
 */
const THROTTLED_PAGE_BYTES_MIN = 16 * 1024;

/** The end of the ring: hash ranges are [from, to) within [0, 2^32). */
const RING_END = 2 ** 32;

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
  /**
   * Bytes per second that this node's streams (join pages it serves,
   * leave and handoff pushes) send at most, together (`--stream-mb-per-s`);
   * absent or 0: no limit.
   */
  streamBytesPerSecond?: number;
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
  /** Ms since the transfer began, or that it took once over; null: none yet. */
  elapsedMs: number | null;
}

/** What this node's streams sent: pages served to joiners, pushes. */
export interface StreamStats {
  /** Bytes of keys and values sent (what the rate limit counts). */
  bytesSent: number;
  recordsSent: number;
  /** Time streams waited for the rate limit, summed over the streams. */
  throttledMs: number;
  /** The rate limit, in bytes per second; null: none. */
  bytesPerSecondMax: number | null;
}

/** Counters for `cluster_info`. */
export interface RepairStats {
  handedOff: number;
  transfer: TransferProgress;
  stream: StreamStats;
}

/** Bytes of a record's key and value: what transfers count and the rate limits. */
function sizeOf(record: StoredRecord): number {
  return record.key.length + (JSON.stringify(record.value)?.length ?? 0);
}

/**
 * The ranges of the ring, [from, to) in hash order and merged, on which
 * `wanted` holds. `wanted` is asked once per span between consecutive
 * tokens of either ring, with that span's last hash (every position in a
 * span has the same preference lists on both rings).
 */
export function ringRanges(
  rings: readonly Ring[],
  wanted: (hash: number) => boolean,
): [number, number][] {
  const tokens = [...new Set(rings.flatMap((r) => [...r.tokenPositions()]))]
    .sort((a, b) => a - b);
  const ranges: [number, number][] = [];
  const add = (from: number, to: number) => {
    const last = ranges.at(-1);
    if (last !== undefined && last[1] === from) last[1] = to;
    else ranges.push([from, to]);
  };
  // Token t owns the hashes after the previous token up to t included; the
  // first token also owns the hashes after the last one (the ring wraps).
  for (let i = 0; i < tokens.length; i++) {
    if (wanted(tokens[i]!)) {
      add(i === 0 ? 0 : tokens[i - 1]! + 1, tokens[i]! + 1);
    }
  }
  if (
    tokens.length > 0 && tokens.at(-1)! + 1 < RING_END && wanted(tokens[0]!)
  ) {
    add(tokens.at(-1)! + 1, RING_END);
  }
  return ranges;
}

/** Anti-entropy, join and leave streaming, and handoff. */
export class Repair {
  readonly #o: RepairOptions;
  /** The ring version after which a handoff pass found nothing foreign. */
  #cleanAtVersion = -1;
  readonly #stats: RepairStats;
  /** Shared by every stream this node sends; null: no limit. */
  readonly #limiter: RateLimiter | null;

  constructor(options: RepairOptions) {
    this.#o = options;
    const rate = options.streamBytesPerSecond ?? 0;
    this.#limiter = rate > 0 ? new RateLimiter({ bytesPerSecond: rate }) : null;
    this.#stats = {
      handedOff: 0,
      transfer: {
        phase: "idle",
        keysMoved: 0,
        bytesMoved: 0,
        keysRemaining: null,
        waitingFor: null,
        elapsedMs: null,
      },
      stream: {
        bytesSent: 0,
        recordsSent: 0,
        throttledMs: 0,
        bytesPerSecondMax: rate > 0 ? rate : null,
      },
    };
  }

  /**
   * Counts `records` as sent and, under a rate limit, waits until they
   * may go: every stream of the node shares one budget.
   */
  async #throttle(records: readonly StoredRecord[]): Promise<void> {
    let bytes = 0;
    for (const record of records) bytes += sizeOf(record);
    const stream = this.#stats.stream;
    stream.bytesSent += bytes;
    stream.recordsSent += records.length;
    if (this.#limiter === null) return;
    const waitMs = this.#limiter.reserve(bytes, this.#o.clock.now());
    if (waitMs <= 0) return;
    stream.throttledMs += waitMs;
    await new Promise((r) => this.#o.clock.after(waitMs, () => r(null)));
  }

  /** Most bytes of keys and values per streamed message (the rate's share). */
  #pageBytesMax(): number {
    return this.#limiter === null
      ? Infinity
      : Math.max(THROTTLED_PAGE_BYTES_MIN, this.#limiter.bytesPerSecond / 4);
  }

  /** When the last join or leave began and ended (ms, this node's clock). */
  #transferStartedAtMs: number | null = null;
  #transferEndedAtMs: number | null = null;

  /** Counters, copied. */
  stats(): RepairStats {
    const stats = structuredClone(this.#stats);
    if (this.#transferStartedAtMs !== null) {
      stats.transfer.elapsedMs = (this.#transferEndedAtMs ??
        this.#o.clock.now()) - this.#transferStartedAtMs;
    }
    return stats;
  }

  #transferBegins(phase: "joining" | "leaving"): TransferProgress {
    this.#transferStartedAtMs = this.#o.clock.now();
    this.#transferEndedAtMs = null;
    const progress = this.#stats.transfer;
    progress.phase = phase;
    return progress;
  }

  #transferEnds(phase: "done" | "failed"): void {
    this.#transferEndedAtMs = this.#o.clock.now();
    this.#stats.transfer.phase = phase;
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

  /** Answers the repair messages of a peer. */
  async handlePeer(request: PeerRequest): Promise<PeerResponse> {
    switch (request.kind) {
      case "transfer":
        return await this.#transferPage(request);
      case "transfer_range":
        return await this.#transferRange(request);
      default:
        throw new Error(`repair does not answer '${request.kind}'`);
    }
  }

  async #push(
    peer: string,
    records: StoredRecord[],
    hintFor?: string,
  ): Promise<void> {
    const pageBytesMax = this.#pageBytesMax();
    const bytesMax = Number.isFinite(pageBytesMax)
      ? Math.min(PEER_BATCH_BYTES_MAX, pageBytesMax)
      : PEER_BATCH_BYTES_MAX;
    for (const batch of batches(records, recordBytes, bytesMax)) {
      await this.#throttle(batch);
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
        await this.#throttle(records);
        return { kind: "transfer", records, cursor: record.key };
      }
    }
    await this.#throttle(records);
    return { kind: "transfer", records, cursor: null };
  }

  /**
   * The ranges of the ring this node sends to `joiner`: those `joiner`
   * replicates on the write ring and of which this node is the first live
   * replica on the read ring (see {@link Repair.#firstLiveHolder}).
   */
  #rangesFor(joiner: string): [number, number][] {
    const { topology, membership } = this.#o;
    const n = this.#o.replicationFactor();
    // Every page of a join asks again: the answer changes only with the
    // ring, N or which members are down, and computing it walks every token.
    const down = topology.readRing.members.filter((m) => membership.isDown(m));
    const key = `${joiner} ${topology.version} ${n} ${down.join(",")}`;
    if (this.#ranges?.key === key) return this.#ranges.ranges;
    const ranges = ringRanges(
      [topology.writeRing, topology.readRing],
      (hash) =>
        topology.writeRing.preferenceListForHash(hash, n).includes(joiner) &&
        this.#firstLiveHolderOf(
          topology.readRing.preferenceListForHash(hash, n),
          joiner,
        ),
    );
    this.#ranges = { key, ranges };
    return ranges;
  }

  /** The last {@link Repair.#rangesFor} answer, and what it depends on. */
  #ranges: { key: string; ranges: [number, number][] } | null = null;

  /**
   * A page of the records `request.for` replicates on the write ring, in
   * ring order: index range reads of the store, bounded in records and
   * bytes (and under a rate limit, to a quarter second's worth).
   */
  async #transferRange(
    request: Extract<PeerRequest, { kind: "transfer_range" }>,
  ): Promise<PeerResponse> {
    if (!this.#o.topology.writeRing.members.includes(request.for)) {
      throw new UnavailableError(
        `${request.for} is not on this node's ring yet; retry`,
      );
    }
    const payloadMax = this.#pageBytesMax();
    const records: StoredRecord[] = [];
    let bytes = 0;
    let payload = 0;
    let after = request.after;
    let read = 0;
    for (const [rangeFrom, rangeTo] of this.#rangesFor(request.for)) {
      const from = Math.max(rangeFrom, request.from);
      const to = Math.min(rangeTo, request.to);
      if (from >= to || (after !== undefined && after[0] >= to)) continue;
      for (;;) {
        const limit = Math.min(
          RANGE_READ_RECORDS,
          request.limit - records.length,
        );
        const page = this.#o.store.hashScan(from, to, {
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
          await this.#throttle(records);
          return { kind: "transfer_range", records, cursor: after! };
        }
        read += page.length;
        if (read >= RANGE_READ_RECORDS) {
          read = 0;
          await this.#yield();
        }
        if (page.length < limit) break;
      }
    }
    await this.#throttle(records);
    return { kind: "transfer_range", records, cursor: null };
  }

  /**
   * True when this node is the first live replica of `key` on the current
   * ring (other than `joiner`): every old replica has the key, so only one
   * of them sends it. A key whose sender is wrongly believed down by the
   * others is still sent; one that nobody sends is left to anti-entropy.
   */
  #firstLiveHolder(key: string, joiner: string): boolean {
    return this.#firstLiveHolderOf(
      this.#o.topology.readRing.preferenceList(
        key,
        this.#o.replicationFactor(),
      ),
      joiner,
    );
  }

  #firstLiveHolderOf(holders: readonly string[], joiner: string): boolean {
    const { membership, self } = this.#o;
    for (const member of holders) {
      if (member === joiner || membership.isDown(member)) continue;
      return member === self;
    }
    return false;
  }

  /**
   * Joins the ring: streams, from every member, the records this node will
   * replicate, then announces itself ready for reads. Each source sends
   * the ranges it is first to hold, in ring order, in big pages; two
   * slices of the ring per source stream at once, so that one page is
   * read and sent while another is applied (one transaction a page).
   */
  async join(): Promise<void> {
    const progress = this.#transferBegins("joining");
    const { membership, topology, self } = this.#o;
    // The seed's answer brings the member table: the sources. A busy seed
    // may not answer the first probe in time.
    for (let attempt = 1; await membership.announce() === 0; attempt++) {
      if (attempt >= JOIN_ATTEMPTS_MAX) {
        this.#o.log?.("join.seed_unreachable", { attempts: attempt }, "warn");
        break;
      }
      await new Promise((r) =>
        this.#o.clock.after(JOIN_RETRY_MS * Math.min(attempt, 8), () => r(null))
      );
    }
    // Every member up has heard of the join, and the writes begun
    // before are done: only then may the stream pass a key.
    await this.#settleMove();
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
    this.#transferEnds("done");
    this.#o.log?.("join.ready", {
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
    const { self } = this.#o;
    let after: HashPosition | undefined;
    let applying: Promise<void> = Promise.resolve();
    try {
      for (let attempt = 0;;) {
        let answer: PeerResponse;
        try {
          answer = await this.#o.transport.call(
            source,
            {
              kind: "transfer_range",
              for: self,
              from,
              to,
              limit: JOIN_PAGE_RECORDS,
              ...(after !== undefined ? { after } : {}),
            },
            this.#o.peerDeadlineMs * 5,
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
          if (!await this.#retryJoinFrom(source, ++attempt, error)) {
            return "done";
          }
          continue;
        }
        if (answer.kind !== "transfer_range") return "done";
        await applying;
        applying = this.#applyTransferred(answer.records);
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
  async #retryJoinFrom(
    source: string,
    attempt: number,
    error: unknown,
  ): Promise<boolean> {
    const state = this.#o.membership.get(source)?.state;
    if (
      attempt > JOIN_ATTEMPTS_MAX || state === undefined || state === "dead" ||
      state === "left"
    ) {
      this.#o.log?.("join.source_skipped", { source, error }, "warn");
      return false;
    }
    const waitMs = JOIN_RETRY_MS * Math.min(attempt, 8);
    await new Promise((r) => this.#o.clock.after(waitMs, () => r(null)));
    return true;
  }

  /** Stores a page a source sent, in one transaction, and counts it. */
  async #applyTransferred(records: StoredRecord[]): Promise<void> {
    if (records.length === 0) return;
    // A page comes in ring order, which is random by key; a durable engine
    // keeps its rows by key, and inserts them about 1.5 times as fast in
    // key order (a page holds each key once, so the order changes nothing
    // else).
    records.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
    await this.#o.store.applyMany(records);
    const progress = this.#stats.transfer;
    progress.keysMoved += records.length;
    for (const record of records) progress.bytesMoved += sizeOf(record);
  }

  /** {@link Repair.#streamFrom} from a source that streams by key order. */
  async #streamFromLegacy(source: string): Promise<void> {
    const { self } = this.#o;
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
        if (!await this.#retryJoinFrom(source, ++attempt, error)) return;
        continue;
      }
      if (answer.kind !== "transfer") return;
      await this.#applyTransferred(answer.records);
      if (answer.cursor === null) return;
      after = answer.cursor;
    }
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
    const progress = this.#transferBegins("leaving");
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
          this.#transferEnds("failed");
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
    this.#transferEnds("done");
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
    progress.keysMoved = 0;
    progress.bytesMoved = 0;
    progress.keysRemaining = this.#o.store.count();
    // Records by where they go: a target, or a stand-in holding hints.
    const pending = new Map<
      string,
      { hintFor?: string; records: StoredRecord[]; bytes: number }
    >();
    // Pushes go out a few at a time while the next records are read.
    const pushes = new InFlight(PUSHES_IN_FLIGHT_MAX);
    const flush = async (route: string) => {
      const batch = pending.get(route);
      pending.delete(route);
      if (batch === undefined || batch.records.length === 0) return;
      const [peer] = route.split(" ");
      await pushes.add(() =>
        this.#pushReliably(peer!, batch.records, batch.hintFor)
      );
    };
    try {
      await this.#routeRecords(pending, flush, onProgress);
      for (const route of [...pending.keys()]) await flush(route);
      await pushes.drain();
    } finally {
      await pushes.settled();
    }
  }

  /** {@link Repair.#streamToNewOwners}' reading: records, in ring order, to their routes. */
  async #routeRecords(
    pending: Map<
      string,
      { hintFor?: string; records: StoredRecord[]; bytes: number }
    >,
    flush: (route: string) => Promise<void>,
    onProgress?: (p: TransferProgress) => void,
  ): Promise<void> {
    const progress = this.#stats.transfer;
    const { membership, topology, self } = this.#o;
    const ring = topology.writeRing;
    const old = topology.readRing;
    const n = Math.min(this.#o.replicationFactor(), ring.members.length);
    const messageBytesMax = Math.min(
      PEER_BATCH_BYTES_MAX,
      this.#pageBytesMax(),
    );
    for await (const record of this.#inRingOrder(0, RING_END)) {
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
          batch.bytes >= messageBytesMax
        ) await flush(route);
      }
      progress.keysMoved++;
      progress.bytesMoved += sizeOf(record);
      progress.keysRemaining = Math.max(0, progress.keysRemaining! - 1);
      onProgress?.(structuredClone(progress));
    }
  }

  /**
   * The records whose key hash is in [`from`, `to`), in ring order, read
   * in index range reads; other work runs between reads.
   */
  async *#inRingOrder(
    from: number,
    to: number,
  ): AsyncGenerator<StoredRecord> {
    let after: HashPosition | undefined;
    for (;;) {
      const page = this.#o.store.hashScan(from, to, {
        limit: RANGE_READ_RECORDS,
        ...(after !== undefined ? { after } : {}),
      });
      yield* page;
      if (page.length < RANGE_READ_RECORDS) return;
      const last = page.at(-1)!.key;
      after = [hashKey(last), last];
      await this.#yield();
    }
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
   * only once every one of them has stored it. The records are read by
   * ring range (only the ranges this node no longer holds), a few pushes
   * in flight. Skipped during transitions. Resolves with how many records
   * were handed off.
   */
  async handOffRound(limit = HANDOFF_RECORDS_MAX): Promise<number> {
    const { topology, self } = this.#o;
    if (topology.inTransition) return 0;
    const version = topology.version;
    const n = this.#o.replicationFactor();
    // Records become foreign only when the ring changes: after a clean
    // pass, nothing to do until it changes again. With no more members
    // than copies, every node holds every key.
    if (version === this.#cleanAtVersion) return 0;
    const ring = topology.readRing;
    if (ring.members.length <= n) {
      this.#cleanAtVersion = version;
      return 0;
    }
    const foreign = ringRanges(
      [ring],
      (hash) => !ring.preferenceListForHash(hash, n).includes(self),
    );
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
          [...byTarget].map(([target, records]) => this.#push(target, records)),
        );
      } catch (error) {
        if (!isTransferFailure(error)) throw error;
        return; // a replica is down: keep the records for a later round
      }
      if (topology.version !== version) return;
      const removed = await Promise.all(
        batch.map((r) => this.#o.store.remove(r.key, r.version)),
      );
      handed += removed.filter(Boolean).length;
    };
    try {
      let batch: StoredRecord[] = [];
      outer: for (const [from, to] of foreign) {
        for await (const record of this.#inRingOrder(from, to)) {
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
    this.#stats.handedOff += handed;
    if (found === 0 && topology.version === version) {
      this.#cleanAtVersion = version;
    }
    return handed;
  }
}

/**
 * Tasks run a few at a time: `add` waits while `max` are running, and the
 * first failure is thrown by the next `add` or by `drain`.
 */
class InFlight {
  readonly #running = new Set<Promise<void>>();
  #failure: { error: unknown } | null = null;

  constructor(readonly max: number) {}

  async add(task: () => Promise<void>): Promise<void> {
    while (this.#running.size >= this.max) await Promise.race(this.#running);
    if (this.#failure !== null) throw this.#failure.error;
    const running: Promise<void> = task()
      .catch((error) => {
        this.#failure ??= { error };
      })
      .finally(() => this.#running.delete(running));
    this.#running.add(running);
  }

  /** Waits for every task; throws the first failure, if any. */
  async drain(): Promise<void> {
    await this.settled();
    if (this.#failure !== null) throw this.#failure.error;
  }

  /** Waits for every task, failed or not. */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }
}
