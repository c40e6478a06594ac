/**
 * What join, leave and handoff share: the node's stream budget (one rate
 * limit for every stream it sends), the progress of the current move,
 * pushes of records to a peer, reads of the store in ring order, and the
 * wait before a move streams. Sans-I/O like the rest of the core.
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
  PeerError,
  type PeerTransport,
} from "../transport/mod.ts";
import type { Membership } from "./membership.ts";
import type { Random } from "./random.ts";
import { RateLimiter } from "./rate_limiter.ts";
import type { Topology } from "./topology.ts";

/** The end of the ring: hash ranges are [from, to) within [0, 2^32). */
export const RING_END = 2 ** 32;

/**
 * Records one read of a ring range returns: a stream reads its pages in
 * reads of this size and lets other work (client requests, probes) run
 * between them.
 */
export const RANGE_READ_RECORDS = 2_000;

/** Pushes of a leave or handoff in flight at once, over all targets. */
export const PUSHES_IN_FLIGHT_MAX = 4;

/**
 * A throttled stream's messages are cut to a quarter of a second's worth
 * of its rate (at least this many bytes), so that a wait for the rate
 * stays far within a peer's deadline.
 */
const THROTTLED_PAGE_BYTES_MIN = 16 * 1024;

/** Announcements of a join or leave, a retry apart, until all members heard. */
const MOVE_ANNOUNCES_MAX = 10;
/** Wait between announcements of a move that not every member heard. */
const MOVE_ANNOUNCE_RETRY_MS = 250;

/** The errors a transfer retries after: a peer or a stand-in missing. */
export function isTransferFailure(error: unknown): boolean {
  return error instanceof PeerError || error instanceof UnavailableError;
}

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

/**
 * The first member other than `self` that is joining or leaving (in any
 * state but left: one that died mid-move still holds its place in the
 * move), as "address phase", or undefined. One member moves at a time
 * (as Cassandra's consistent range movement): with two moves at once, the
 * ring reads use after one completes can name replicas that the other's
 * stream never reached.
 */
export function otherMove(
  members: readonly { address: string; state: string; phase: string }[],
  self: string,
): string | undefined {
  const m = members.find((m) =>
    m.address !== self && m.state !== "left" &&
    (m.phase === "joining" || m.phase === "leaving")
  );
  return m === undefined ? undefined : `${m.address} is ${m.phase}`;
}

/** True when `hash` falls in one of `ranges` (ascending, apart). */
export function inRanges(
  ranges: readonly [number, number][],
  hash: number,
): boolean {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ranges[mid]![1] <= hash) lo = mid + 1;
    else hi = mid;
  }
  return lo < ranges.length && ranges[lo]![0] <= hash;
}

/** Bytes of a record's key and value: what transfers count and the rate limits. */
export function sizeOf(record: StoredRecord): number {
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

/**
 * The node's streams: their options, their shared rate limit and counters,
 * and the progress of the join or leave under way.
 */
export class Streams {
  readonly options: RepairOptions;
  /** Shared by every stream this node sends; null: no limit. */
  readonly #limiter: RateLimiter | null;
  readonly #stream: StreamStats;
  /** The join or leave under way or last done; the object is kept. */
  readonly transfer: TransferProgress = {
    phase: "idle",
    keysMoved: 0,
    bytesMoved: 0,
    keysRemaining: null,
    waitingFor: null,
    elapsedMs: null,
  };
  /** When the last join or leave began and ended (ms, this node's clock). */
  #transferStartedAtMs: number | null = null;
  #transferEndedAtMs: number | null = null;

  constructor(options: RepairOptions) {
    this.options = options;
    const rate = options.streamBytesPerSecond ?? 0;
    this.#limiter = rate > 0 ? new RateLimiter({ bytesPerSecond: rate }) : null;
    this.#stream = {
      bytesSent: 0,
      recordsSent: 0,
      throttledMs: 0,
      bytesPerSecondMax: rate > 0 ? rate : null,
    };
  }

  /** The stream counters and the transfer's progress, copied. */
  stats(): Omit<RepairStats, "handedOff"> {
    const transfer = structuredClone(this.transfer);
    if (this.#transferStartedAtMs !== null) {
      transfer.elapsedMs = (this.#transferEndedAtMs ??
        this.options.clock.now()) - this.#transferStartedAtMs;
    }
    return { transfer, stream: structuredClone(this.#stream) };
  }

  transferBegins(phase: "joining" | "leaving"): TransferProgress {
    this.#transferStartedAtMs = this.options.clock.now();
    this.#transferEndedAtMs = null;
    this.transfer.phase = phase;
    return this.transfer;
  }

  transferEnds(phase: "done" | "failed"): void {
    this.#transferEndedAtMs = this.options.clock.now();
    this.transfer.phase = phase;
  }

  /**
   * Counts `records` as sent and, under a rate limit, waits until they
   * may go: every stream of the node shares one budget.
   */
  async throttle(records: readonly StoredRecord[]): Promise<void> {
    let bytes = 0;
    for (const record of records) bytes += sizeOf(record);
    const stream = this.#stream;
    stream.bytesSent += bytes;
    stream.recordsSent += records.length;
    if (this.#limiter === null) return;
    const waitMs = this.#limiter.reserve(bytes, this.options.clock.now());
    if (waitMs <= 0) return;
    stream.throttledMs += waitMs;
    await this.sleep(waitMs);
  }

  /** Most bytes of keys and values per streamed message (the rate's share). */
  pageBytesMax(): number {
    return this.#limiter === null
      ? Infinity
      : Math.max(THROTTLED_PAGE_BYTES_MIN, this.#limiter.bytesPerSecond / 4);
  }

  /** Waits `ms` on the node's clock. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.options.clock.after(ms, resolve));
  }

  /** Lets other work run between reads. */
  yield(): Promise<void> {
    return this.sleep(0);
  }

  /** Sends `records` to `peer` as writes (or hints for `hintFor`), throttled. */
  async push(
    peer: string,
    records: StoredRecord[],
    hintFor?: string,
  ): Promise<void> {
    const pageBytesMax = this.pageBytesMax();
    const bytesMax = Number.isFinite(pageBytesMax)
      ? Math.min(PEER_BATCH_BYTES_MAX, pageBytesMax)
      : PEER_BATCH_BYTES_MAX;
    for (const batch of batches(records, recordBytes, bytesMax)) {
      await this.throttle(batch);
      await this.options.transport.call(
        peer,
        {
          kind: "write",
          records: batch,
          ...(hintFor !== undefined ? { hintFor } : {}),
        },
        this.options.peerDeadlineMs,
      );
    }
  }

  /**
   * The records whose key hash is in [`from`, `to`), in ring order, read
   * in index range reads; other work runs between reads.
   */
  async *inRingOrder(
    from: number,
    to: number,
  ): AsyncGenerator<StoredRecord> {
    let after: HashPosition | undefined;
    for (;;) {
      const page = this.options.store.hashScan(from, to, {
        limit: RANGE_READ_RECORDS,
        ...(after !== undefined ? { after } : {}),
      });
      yield* page;
      if (page.length < RANGE_READ_RECORDS) return;
      const last = page.at(-1)!.key;
      after = [hashKey(last), last];
      await this.yield();
    }
  }

  /**
   * Before a move streams: every member that is up has heard of it (so
   * the writes it begins from now on reach the new owners too), and the
   * writes begun before that are done. Otherwise a write acknowledged by
   * the old replicas only, after the stream passed its key, would be
   * missing on the new owner once the move completes.
   */
  async settleMove(): Promise<void> {
    const { membership, self } = this.options;
    for (let attempt = 1; attempt <= MOVE_ANNOUNCES_MAX; attempt++) {
      const answered = await membership.announce();
      const up = membership.members().filter((m) =>
        m.address !== self && m.state !== "left" &&
        !membership.isDown(m.address)
      ).length;
      if (answered >= up) {
        break;
      }
      await this.sleep(MOVE_ANNOUNCE_RETRY_MS);
    }
    const settleMs = this.options.moveSettleMs ?? 0;
    if (settleMs > 0) await this.sleep(settleMs);
  }
}

/**
 * The ring cut into spans, [from, to) in hash order, each with the label
 * `label` gives its last hash (as {@link ringRanges} asks `wanted`), the
 * spans without one left out and neighbours with the same label merged.
 */
export function ringSpans(
  rings: readonly Ring[],
  label: (hash: number) => string | undefined,
): [number, number, string][] {
  const tokens = [...new Set(rings.flatMap((r) => [...r.tokenPositions()]))]
    .sort((a, b) => a - b);
  const spans: [number, number, string][] = [];
  const add = (from: number, to: number, l: string | undefined) => {
    if (l === undefined) return;
    const last = spans.at(-1);
    if (last !== undefined && last[1] === from && last[2] === l) last[1] = to;
    else spans.push([from, to, l]);
  };
  for (let i = 0; i < tokens.length; i++) {
    add(i === 0 ? 0 : tokens[i - 1]! + 1, tokens[i]! + 1, label(tokens[i]!));
  }
  if (tokens.length > 0 && tokens.at(-1)! + 1 < RING_END) {
    add(tokens.at(-1)! + 1, RING_END, label(tokens[0]!));
  }
  return spans;
}

/**
 * Tasks run a few at a time: `add` waits while `max` are running, and the
 * first failure is thrown by the next `add` or by `drain`.
 */
export class InFlight {
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
