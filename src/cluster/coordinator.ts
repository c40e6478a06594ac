/**
 * The coordinator: any node routes any request to the key's replicas and
 * waits for a quorum. Sans-I/O: the transport, clock, store and ring are
 * handed in, so a whole cluster runs in one process in tests.
 *
 * @module
 */

import { assert } from "@std/assert";
import {
  type Clock,
  compareVersions,
  type HybridClock,
  type Version,
} from "../clock/mod.ts";
import {
  ClockSkewError,
  OverloadedError,
  UnavailableError,
} from "../errors.ts";
import {
  FAN_OUT_MAX,
  PEER_DEADLINE_MS_DEFAULT,
  REQUEST_DEADLINE_MS_DEFAULT,
} from "../limits.ts";
import type { Ring } from "../ring/mod.ts";
import { HintStore } from "./hints.ts";
import { mutants } from "../mutants.ts";
import type { Topology } from "./topology.ts";
import {
  isLive,
  newest,
  type Store,
  type StoredRecord,
  supersedes,
} from "../storage/mod.ts";
import {
  type KeyEntry,
  PeerError,
  type PeerRequest,
  type PeerResponse,
  type PeerTransport,
} from "../transport/mod.ts";
import { deliverHints } from "./hinted_handoff.ts";
import { KeyListing, type KeyPage, type ListOptions } from "./key_listing.ts";
import { isPeerFailure } from "./peer_failure.ts";
import { gatherQuorum, type QuorumOutcome } from "./quorum.ts";
import { hedgedWrite } from "./hedged_write.ts";
import { LatencyEstimate } from "./latency.ts";
import { writePlan } from "./write_plan.ts";

/** How many replicas a read or write waits for. */
export type Consistency = "one" | "quorum" | "all";

/** Everything the coordinator needs from the world. */
export interface CoordinatorOptions {
  /** This node's address, "host:port", as it appears in the ring. */
  self: string;
  /** The rings requests are placed on (changes with joins and leaves). */
  topology: Topology;
  /** Which members are believed down; default: none. */
  members?: MemberView;
  /** Where writes for down replicas wait; default: a new HintStore. */
  hints?: HintStore;
  store: Store;
  transport: PeerTransport;
  clock: Clock;
  hlc: HybridClock;
  /** N as configured; the effective N is capped at the ring's size. */
  replicationFactor: number;
  /** R for consistency "quorum"; default floor(N/2)+1. */
  readQuorum?: number;
  /** W for consistency "quorum"; default floor(N/2)+1. */
  writeQuorum?: number;
  /** A client request's deadline. Default {@link REQUEST_DEADLINE_MS_DEFAULT}. */
  requestDeadlineMs?: number;
  /** One peer call's deadline. Default {@link PEER_DEADLINE_MS_DEFAULT}. */
  peerDeadlineMs?: number;
  /** Most peer calls in flight for one fan-out. Default {@link FAN_OUT_MAX}. */
  fanOutMax?: number;
  /**
   * Why this node must not stamp writes now (its clock is too far from its
   * peers'), or undefined when it may. Default: it always may.
   */
  clockRefusal?: () => string | undefined;
  /**
   * Why this node may not coordinate any request now (a joining node that
   * has not heard from the cluster yet), or undefined.
   */
  standing?: () => string | undefined;
  /** Told of what the coordinator decides, for metrics; default: no one. */
  observer?: CoordinatorObserver;
}

/** What the coordinator reports as it works (metrics hang off it). */
export interface CoordinatorObserver {
  /** A read or write quorum settled: won, lost, or lost at the deadline. */
  quorum(op: "read" | "write", outcome: "won" | "lost" | "timed_out"): void;
}

/** How a settled quorum reads to an observer. */
function outcomeOf(o: { state: "won" | "lost"; timedOut: boolean }) {
  return o.state === "won" ? "won" : o.timedOut ? "timed_out" : "lost";
}

/** Options of a read. */
export interface ReadOptions {
  consistency?: Consistency;
}

/** Options of a write. */
export interface WriteOptions {
  consistency?: Consistency;
  /**
   * Count only the key's own N replicas towards W, never a stand-in that
   * holds the write as a hint (Riak's `pw`). `consistency: "all"` is always
   * strict. Default false: a sloppy quorum, writable while W nodes are up.
   */
  strict?: boolean;
  /** Seconds until the key expires; absent: never. */
  ttlSeconds?: number;
  /**
   * When the key expires, in wall ms (null: never); wins over
   * `ttlSeconds`. For front ends that keep an expiry they read (RESP's
   * KEEPTTL, EXPIREAT).
   */
  expiresAtMs?: number | null;
  /**
   * Write the record with the version it has (a restore): a replica that
   * holds a newer one keeps it, and the write is not stamped again.
   * Default false.
   */
  keepVersion?: boolean;
}

/** How a write reached one target. */
export interface WriteAck {
  /** True when a stand-in holds it as a hint for the target. */
  hinted: boolean;
  /** A newer version of the key the target already holds, if any. */
  newer: Version | undefined;
}

/**
 * How many times a write is stamped again because a replica holds a newer
 * version. Each time the new version is newer than every version seen, so
 * a second round only happens when another write raced this one; past the
 * bound the writes are concurrent and either may win.
 */
const WRITE_ROUNDS_MAX = 4;

/**
 * Most records of batched writes (`setMany`) a coordinator has in flight;
 * a batch that would go beyond is refused before any work (`overloaded`).
 */
export const BATCHED_IN_FLIGHT_MAX = 20_000;

/**
 * Largest batch that hedges like a single write: past the hedge delay its
 * records short of W go through write(). A larger one has a longer
 * deadline instead (a slow replica is not a down one).
 */
const HEDGED_BATCH_RECORDS_MAX = 16;

/** A batch's peer deadline grows by one peer deadline per this many records. */
const BATCH_RECORDS_PER_DEADLINE = 1_000;

/** The replication settings in force. */
export interface ReplicationSettings {
  /** Effective N: the configured factor capped at the cluster size. */
  replicationFactor: number;
  readQuorum: number;
  writeQuorum: number;
}

/** What the coordinator needs to know of the member table. */
export interface MemberView {
  /**
   * True when the member is believed down for good enough reason to skip
   * it (dead): a suspect one is still tried, since suspicion may be wrong
   * and a call to a peer that really is down fails fast (BreakerTransport).
   */
  isDown(address: string): boolean;
  /** True when the member left the cluster for good (or is unknown). */
  isGone(address: string): boolean;
}

const NOBODY_DOWN: MemberView = { isDown: () => false, isGone: () => false };

/** The default quorum for N replicas: a majority. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** Routes reads and writes to replicas and waits for quorums. */
export class Coordinator {
  readonly #observer: CoordinatorObserver | undefined;
  readonly #self: string;
  readonly #store: Store;
  readonly #transport: PeerTransport;
  readonly #clock: Clock;
  readonly #hlc: HybridClock;
  readonly #configuredN: number;
  readonly #configuredR: number | undefined;
  readonly #configuredW: number | undefined;
  readonly #requestDeadlineMs: number;
  readonly #peerDeadlineMs: number;
  readonly #listing: KeyListing;
  readonly #topology: Topology;
  readonly #members: MemberView;
  readonly #hints: HintStore;
  readonly #clockRefusal: () => string | undefined;
  readonly #standing: () => string | undefined;
  #batchedInFlight = 0;
  /** Peer write latency, for the hedge delay. */
  readonly #latency = new LatencyEstimate();
  #settings: ReplicationSettings;
  #settingsVersion = -1;

  constructor(options: CoordinatorOptions) {
    this.#self = options.self;
    this.#store = options.store;
    this.#transport = options.transport;
    this.#clock = options.clock;
    this.#hlc = options.hlc;
    this.#configuredN = options.replicationFactor;
    this.#configuredR = options.readQuorum;
    this.#configuredW = options.writeQuorum;
    this.#requestDeadlineMs = options.requestDeadlineMs ??
      REQUEST_DEADLINE_MS_DEFAULT;
    this.#peerDeadlineMs = options.peerDeadlineMs ?? PEER_DEADLINE_MS_DEFAULT;
    this.#topology = options.topology;
    this.#members = options.members ?? NOBODY_DOWN;
    this.#hints = options.hints ?? new HintStore();
    this.#clockRefusal = options.clockRefusal ?? (() => undefined);
    this.#standing = options.standing ?? (() => undefined);
    this.#settings = this.#computeSettings();
    this.#observer = options.observer;
    this.#listing = new KeyListing({
      self: this.#self,
      members: () => this.ring.members,
      settings: () => this.settings,
      scanLocal: (request) => this.#scanLocal(request),
      transport: this.#transport,
      clock: this.#clock,
      peerDeadlineMs: this.#peerDeadlineMs,
      fanOutMax: options.fanOutMax ?? FAN_OUT_MAX,
    });
  }

  /** The ring reads are placed on. */
  get ring(): Ring {
    return this.#topology.readRing;
  }

  /** The hints this node holds for down replicas. */
  get hints(): HintStore {
    return this.#hints;
  }

  /** Effective N, R and W. */
  get settings(): ReplicationSettings {
    if (this.#settingsVersion !== this.#topology.version) {
      this.#settings = this.#computeSettings();
      this.#settingsVersion = this.#topology.version;
    }
    return this.#settings;
  }

  /** The key's replicas, primary first. */
  replicas(key: string): readonly string[] {
    return this.ring.preferenceList(key, this.settings.replicationFactor);
  }

  /** The newest live record for `key` among a read quorum, or undefined. */
  async read(
    key: string,
    options: ReadOptions = {},
  ): Promise<StoredRecord | undefined> {
    this.#checkStanding();
    // The whole cluster is this node: no placement, no quorum to gather.
    if (this.#alone()) return this.readLocal(key);
    const replicas = this.replicas(key);
    // This node is the only replica: no quorum to gather.
    if (replicas.length === 1 && replicas[0] === this.#self) {
      return this.readLocal(key);
    }
    const need = this.#need(options.consistency, "read");
    // Ask the replicas believed up; those believed down only when the up
    // ones are too few, fail, or are later than the hedge delay (a down
    // peer fails fast, see BreakerTransport).
    const up = replicas.filter((r) => !this.#members.isDown(r));
    const targets = up.length >= need ? up : replicas;
    const spares = replicas.filter((r) => !targets.includes(r));
    const quorum = gatherQuorum(
      targets,
      need,
      (target) => this.#readOne(target, key),
      this.#clock,
      this.#requestDeadlineMs,
      { spares, hedgeDelayMs: this.#latency.hedgeDelayMs() },
    );
    const outcome = await quorum.outcome;
    this.#observer?.quorum("read", outcomeOf(outcome));
    if (outcome.state === "lost") {
      throw new UnavailableError(
        quorumFailure("read", "replies", need, await quorum.all),
      );
    }
    const best = newest(
      mutants.has("ignore_tombstone")
        ? [...outcome.replies.values()].filter((r) => !r?.tombstone)
        : outcome.replies.values(),
    );
    if (best !== undefined) this.#hlc.observe(best.version);
    // Read repair: once every replica has answered, bring the stale ones up
    // to date, without holding up the reply.
    quorum.all.then((all) => this.#repair(all.replies));
    return best !== undefined && isLive(best, this.#clock.now())
      ? best
      : undefined;
  }

  /** True when this node is the whole cluster: every key is local. */
  #alone(): boolean {
    const members = this.ring.members;
    return members.length === 1 && members[0] === this.#self &&
      !this.#topology.inTransition;
  }

  /**
   * Reads many keys, each with its own quorum. Reads to the same peer in
   * one turn travel together (see BatchingTransport); a node that is the
   * whole cluster reads its store directly.
   */
  readMany(
    keys: readonly string[],
    options: ReadOptions = {},
  ): Promise<(StoredRecord | undefined)[]> {
    if (this.#alone()) {
      return Promise.resolve(keys.map((key) => this.readLocal(key)));
    }
    return Promise.all(keys.map((key) => this.read(key, options)));
  }

  /**
   * Writes many keys, each with its own quorum, and resolves with how many
   * did not reach theirs (0: all acknowledged).
   */
  async setMany(
    entries: readonly (readonly [string, unknown])[],
    options: WriteOptions = {},
  ): Promise<number> {
    const results = await this.setEach(entries, options);
    return results.filter((r) => r.status === "rejected").length;
  }

  /**
   * Writes many keys, each with its own quorum, and resolves with each
   * one's outcome: the version written, or why it was not acknowledged.
   */
  async setEach(
    entries: readonly (readonly [string, unknown])[],
    options: WriteOptions = {},
  ): Promise<PromiseSettledResult<Version>[]> {
    this.#checkClock();
    // Refused before any work when too many batched records are in flight
    // already: the client waits and sends it again (after Retry-After),
    // instead of quorums timing out half done.
    if (this.#batchedInFlight + entries.length > BATCHED_IN_FLIGHT_MAX) {
      throw new OverloadedError(
        `Overloaded: ${this.#batchedInFlight} batched writes in flight on ` +
          "this node; send the batch again shortly",
      );
    }
    const records = entries.map(([key, value]) =>
      this.#record(key, value, options)
    );
    if (this.#alone()) {
      // A durable engine commits the whole batch in one transaction.
      await this.#store.applyMany(records);
      return records.map((record) => ({
        status: "fulfilled",
        value: record.version,
      }));
    }
    this.#batchedInFlight += records.length;
    try {
      // During a join or leave a record must reach W on its future
      // replicas as well: one by one, through write().
      if (this.#topology.inTransition) {
        return await Promise.allSettled(
          records.map((record) => this.write(record, options)),
        );
      }
      return await this.#writeBatch(records, options);
    } finally {
      this.#batchedInFlight -= records.length;
    }
  }

  /**
   * Writes many records with a quorum each, as {@link write} would, but
   * as one message to each replica (one transaction on each) rather than
   * a quorum's promises and timers per record. A record whose replica is
   * down or fails, or holds a newer version, goes on through
   * {@link write} alone (stand-ins, another round). Resolves with each
   * record's outcome: the version acknowledged, or why not.
   */
  async #writeBatch(
    records: readonly StoredRecord[],
    options: WriteOptions,
  ): Promise<PromiseSettledResult<Version>[]> {
    const n = this.settings.replicationFactor;
    const need = this.#need(options.consistency, "write");
    const ring = this.ring;
    const byTarget = new Map<string, number[]>();
    for (let i = 0; i < records.length; i++) {
      for (const target of ring.preferenceList(records[i]!.key, n)) {
        let indexes = byTarget.get(target);
        if (indexes === undefined) {
          indexes = [];
          byTarget.set(target, indexes);
        }
        indexes.push(i);
      }
    }
    const acks = new Uint8Array(records.length);
    const answered = new Uint8Array(records.length);
    // Records a replica holds newer: stamped again, through write().
    const newer = new Set<number>();
    // Replicas that failed, by record: hints, or write() if W was missed.
    const failed = new Map<number, string[]>();
    // A replica that is slow is not down: the deadline grows with the batch.
    const deadlineMs = this.#peerDeadlineMs *
      (1 + Math.floor(records.length / BATCH_RECORDS_PER_DEADLINE));
    let settled = 0;
    let done!: () => void;
    const allSettled = new Promise<void>((resolve) => done = resolve);
    const isSettled = (i: number) =>
      acks[i]! >= need || answered[i] === ring.preferenceList(
          records[i]!.key,
          n,
        ).length;
    const mark = (i: number, target: string, ok: boolean) => {
      const was = isSettled(i);
      answered[i]!++;
      if (ok) acks[i]!++;
      else failed.set(i, [...(failed.get(i) ?? []), target]);
      if (!was && isSettled(i) && ++settled === records.length) done();
    };
    const calls = [...byTarget].map(async ([target, indexes]) => {
      if (this.#members.isDown(target)) {
        for (const i of indexes) mark(i, target, false);
        return;
      }
      let held: Map<number, Version> | undefined;
      try {
        held = await this.#writeMany(
          target,
          indexes.map((i) => records[i]!),
          deadlineMs,
        );
      } catch (error) {
        if (!isPeerFailure(error)) throw error;
        for (const i of indexes) mark(i, target, false);
        return;
      }
      indexes.forEach((i, k) => {
        if (held?.has(k) && options.keepVersion !== true) newer.add(i);
        mark(i, target, true);
      });
    });
    // Every record settled, or every call did (whichever is first; a call
    // still in flight then finishes in the background). A small batch
    // also hedges: past the hedge delay, the records short of W go on
    // through write(), whose stand-ins do not wait for a cut-off replica.
    const waits = [allSettled, Promise.all(calls).then(() => {})];
    let hedge: { cancel(): void } | undefined;
    if (records.length <= HEDGED_BATCH_RECORDS_MAX) {
      waits.push(
        new Promise<void>((resolve) =>
          hedge = this.#clock.after(this.#latency.hedgeDelayMs(), resolve)
        ),
      );
    }
    await Promise.race(waits);
    hedge?.cancel();
    const again: number[] = [];
    for (let i = 0; i < records.length; i++) {
      if (newer.has(i) || acks[i]! < need) again.push(i);
      else if (failed.has(i) && options.strict !== true) {
        // Quorum met without a replica: a stand-in keeps its copy, as a
        // single write's would, in the background.
        const record = records[i]!;
        const used = new Set(ring.preferenceList(record.key, n));
        for (const target of failed.get(i)!) {
          this.#writeHinted(target, record, used, "no answer").catch(
            (error) => {
              if (!isPeerFailure(error)) throw error;
            },
          );
        }
      }
    }
    const results: PromiseSettledResult<Version>[] = records.map((record) => ({
      status: "fulfilled",
      value: record.version,
    }));
    const retried = await Promise.allSettled(
      again.map((i) => this.write(records[i]!, options)),
    );
    again.forEach((i, k) => results[i] = retried[k]!);
    return results;
  }

  /**
   * Stores `records` on `target` (this node: its store, in one
   * transaction); resolves with the ones it holds newer, by index.
   */
  async #writeMany(
    target: string,
    records: StoredRecord[],
    deadlineMs: number,
  ): Promise<Map<number, Version> | undefined> {
    if (target === this.#self) {
      const stored = await this.#store.applyMany(records);
      let newer: Map<number, Version> | undefined;
      stored.forEach((ok, k) => {
        if (ok) return;
        const held = this.#newerThan(records[k]!);
        if (held !== undefined) (newer ??= new Map()).set(k, held);
      });
      return newer;
    }
    const answer = await this.#transport.call(
      target,
      { kind: "write", records },
      deadlineMs,
    );
    if (answer.kind !== "write") throw new Error("unexpected answer kind");
    return answer.newer === undefined ? undefined : new Map(answer.newer);
  }

  /** This node's own copy of `key` if live, without asking peers. */
  readLocal(key: string): StoredRecord | undefined {
    const record = this.#store.get(key);
    if (record === undefined || record.tombstone) return undefined;
    // Only a key with an expiry needs the time: most reads skip the clock.
    if (record.expiresAtMs !== null && !isLive(record, this.#clock.now())) {
      return undefined;
    }
    return record;
  }

  /** How many records (tombstones included) this node stores. */
  localRecordCount(): number {
    return this.#store.count();
  }

  /** Stores `value` under `key` on a write quorum; resolves with its version. */
  async set(
    key: string,
    value: unknown,
    options: WriteOptions = {},
  ): Promise<Version> {
    this.#checkClock();
    return await this.write(this.#record(key, value, options), options);
  }

  #record(key: string, value: unknown, options: WriteOptions): StoredRecord {
    return {
      key,
      value,
      version: this.#hlc.now(),
      tombstone: false,
      expiresAtMs: options.expiresAtMs !== undefined
        ? options.expiresAtMs
        : options.ttlSeconds === undefined
        ? null
        : this.#clock.now() + options.ttlSeconds * 1000,
    };
  }

  /** Why this node refuses to stamp writes now, if it does. */
  clockRefusal(): string | undefined {
    return this.#clockRefusal();
  }

  /** Refuses to stamp writes while this node's clock is out of step. */
  #checkClock(): void {
    this.#checkStanding();
    const refusal = this.#clockRefusal();
    if (refusal !== undefined) throw new ClockSkewError(refusal);
  }

  /** Refuses every request while this node may not coordinate at all. */
  #checkStanding(): void {
    const refusal = this.#standing();
    if (refusal !== undefined) throw new UnavailableError(refusal);
  }

  /**
   * Deletes `key` with a tombstone and returns the value it had, or
   * undefined when it had none (then nothing is written).
   */
  async pop(
    key: string,
    options: ReadOptions & Pick<WriteOptions, "strict"> = {},
  ): Promise<StoredRecord | undefined> {
    return (await this.remove(key, options)).prior;
  }

  /**
   * {@link pop}, saying also the version of the tombstone it wrote
   * (undefined when the key had no value, and nothing was written).
   */
  async remove(
    key: string,
    options: ReadOptions & Pick<WriteOptions, "strict"> = {},
  ): Promise<
    { prior: StoredRecord | undefined; version: Version | undefined }
  > {
    this.#checkClock();
    const prior = await this.read(key, options);
    if (prior === undefined) return { prior, version: undefined };
    const version = await this.write({
      key,
      value: null,
      version: this.#hlc.now(),
      tombstone: true,
      expiresAtMs: null,
    }, options);
    return { prior, version };
  }

  /**
   * Sends `record` to its replicas and waits for a write quorum. A replica
   * that is down, or fails, is stood in for by the next healthy node along
   * the ring, which keeps the write as a hint (sloppy quorum); the stand-in
   * counts towards W unless the write is strict. While members join or
   * leave, the future replicas get the write too, without counting.
   *
   * A replica that already holds a newer version of the key says so; the
   * coordinator then takes that version into its clock and writes again,
   * newer than it. So a write that is acknowledged before another begins
   * is always older than it, through any nodes and whatever their clocks
   * (within the skew this node accepts): the quorums of the two writes
   * share a replica, which holds the first. Resolves with the version
   * written last.
   */
  async write(
    record: StoredRecord,
    options: WriteOptions = {},
  ): Promise<Version> {
    if (this.#alone()) {
      await this.#store.apply(record);
      return record.version;
    }
    const n = this.settings.replicationFactor;
    const replicas = this.ring.preferenceList(record.key, n);
    // This node is the only replica (and no member is moving in or out):
    // the write is done when the store has it.
    if (
      replicas.length === 1 && replicas[0] === this.#self &&
      !this.#topology.inTransition
    ) {
      await this.#store.apply(record);
      return record.version;
    }
    const need = this.#need(options.consistency, "write");
    const strict = options.strict === true || options.consistency === "all";
    let current = record;
    for (let round = 1;; round++) {
      const outcome = await this.#writeRound(current, n, need, strict);
      const newer = newestVersion(
        [...outcome.replies.values()].map((ack) => ack.newer),
      );
      if (
        newer === undefined || options.keepVersion === true ||
        round === WRITE_ROUNDS_MAX
      ) return current.version;
      if (!this.#hlc.observe(newer)) {
        throw new ClockSkewError(
          `write refused: a replica holds a version of '${
            record.key.slice(0, 64)
          }' stamped ${
            newer[0] - this.#clock.now()
          } ms ahead of this node's clock`,
        );
      }
      current = { ...current, version: this.#hlc.now() };
      assert(
        compareVersions(current.version, newer) > 0,
        "a version stamped after observing another is newer than it",
      );
    }
  }

  /**
   * One round of a write: every replica (and, during a join or leave,
   * every future replica: both groups must reach W), with a stand-in
   * asked in parallel for any that is down, fails or is late
   * ({@link hedgedWrite}), until a write quorum or its loss.
   */
  async #writeRound(
    record: StoredRecord,
    n: number,
    need: number,
    strict: boolean,
  ): Promise<QuorumOutcome<WriteAck>> {
    const isDown = (m: string) => this.#members.isDown(m);
    const plan = writePlan(record.key, n, {
      current: this.ring,
      future: this.#topology.writeRing,
      steps: this.#topology.stepRings,
    }, isDown);
    const round = hedgedWrite({
      plan,
      need,
      strict,
      isDown,
      direct: (target) => this.#writeOne(target, record),
      hint: (standIn, target) => this.#hintOn(standIn, target, record),
      isFailure: isPeerFailure,
      clock: this.#clock,
      deadlineMs: this.#requestDeadlineMs,
      hedgeDelayMs: this.#latency.hedgeDelayMs(),
    });
    const outcome = await round.outcome;
    this.#observer?.quorum("write", outcomeOf(outcome));
    if (outcome.state === "lost") {
      const why = quorumFailure(
        "write",
        "acknowledgements",
        need,
        await round.all,
      );
      throw new UnavailableError(
        plan.groups.length === 1 ? why : `${why}; a member is joining or ` +
          "leaving, and the key's replicas after the move must reach W too",
      );
    }
    return outcome;
  }

  /** Has `standIn` (maybe this node) keep `record` as a hint for `target`. */
  async #hintOn(
    standIn: string,
    target: string,
    record: StoredRecord,
  ): Promise<void> {
    if (standIn === this.#self) {
      if (!await this.#hints.add(target, record)) {
        throw new UnavailableError("this node's hint store is full");
      }
      return;
    }
    await this.#transport.call(
      standIn,
      { kind: "write", records: [record], hintFor: target },
      this.#peerDeadlineMs,
    );
  }

  /** Stores `record` as a hint for `target` on the first healthy stand-in. */
  async #writeHinted(
    target: string,
    record: StoredRecord,
    used: Set<string>,
    why: string,
  ): Promise<void> {
    const ring = this.ring;
    for (
      const candidate of ring.preferenceList(record.key, ring.members.length)
    ) {
      if (used.has(candidate) || this.#members.isDown(candidate)) continue;
      used.add(candidate);
      try {
        if (candidate === this.#self) {
          if (!await this.#hints.add(target, record)) {
            throw new UnavailableError("this node's hint store is full");
          }
        } else {
          await this.#transport.call(
            candidate,
            { kind: "write", records: [record], hintFor: target },
            this.#peerDeadlineMs,
          );
        }
        return;
      } catch (error) {
        if (!isPeerFailure(error)) throw error;
        // try the next stand-in
      }
    }
    throw new UnavailableError(
      `${why}, and no stand-in could take a hint for it`,
    );
  }

  /**
   * Hands hints to members that are back: one batch per member per call
   * ({@link deliverHints}). Resolves with how many records were handed over.
   */
  deliverHints(): Promise<number> {
    return deliverHints({
      hints: this.#hints,
      members: this.#members,
      transport: this.#transport,
      peerDeadlineMs: this.#peerDeadlineMs,
      writeToReplicas: (record) =>
        this.write(record, { consistency: "one", keepVersion: true }),
    });
  }

  /** One page of live keys across the cluster ({@link KeyListing.listKeys}). */
  async listKeys(options: ListOptions): Promise<KeyPage> {
    this.#checkStanding();
    return await this.#listing.listKeys(options);
  }

  /** This node's own live keys in a range, without asking peers. */
  listLocalKeys(options: ListOptions): KeyPage {
    return this.#listing.listLocalKeys(options);
  }

  /** Every live key in the cluster, in order, up to `LIST_KEYS_MAX`. */
  async allKeys(
    options: { local?: boolean; prefix?: string } = {},
  ): Promise<string[]> {
    this.#checkStanding();
    return await this.#listing.allKeys(options);
  }

  /** Answers a peer's request from this node's own store. */
  async handlePeer(request: PeerRequest): Promise<PeerResponse> {
    switch (request.kind) {
      case "write": {
        const hintFor = request.hintFor;
        for (const record of request.records) this.#hlc.observe(record.version);
        if (hintFor !== undefined && hintFor !== this.#self) {
          // Acknowledged only once every hint is held (durable on a
          // durable engine).
          const held = await Promise.all(
            request.records.map((record) => this.#hints.add(hintFor, record)),
          );
          if (held.includes(false)) {
            throw new UnavailableError("hint store is full");
          }
          return { kind: "write", applied: request.records.length };
        }
        // All at once: a durable engine commits them in one transaction.
        const results = await this.#store.applyMany(request.records);
        let newer: [number, Version][] | undefined;
        results.forEach((stored, i) => {
          if (stored) return;
          const held = this.#newerThan(request.records[i]!);
          if (held !== undefined) (newer ??= []).push([i, held]);
        });
        const applied = results.filter(Boolean).length;
        return newer === undefined
          ? { kind: "write", applied }
          : { kind: "write", applied, newer };
      }
      case "read":
        return {
          kind: "read",
          records: request.keys.map((key) => this.#store.get(key) ?? null),
        };
      case "scan":
        return this.#scanLocal(request);
      default:
        throw new Error(`the coordinator does not answer '${request.kind}'`);
    }
  }

  #scanLocal(
    request: Extract<PeerRequest, { kind: "scan" }>,
  ): Extract<PeerResponse, { kind: "scan" }> {
    const records = this.#store.scan({
      ...(request.prefix !== undefined ? { prefix: request.prefix } : {}),
      ...(request.after !== undefined ? { after: request.after } : {}),
      limit: request.limit,
    });
    const entries: KeyEntry[] = records.map((r) => [
      r.key,
      r.version,
      r.tombstone,
      r.expiresAtMs,
    ]);
    return { kind: "scan", entries, complete: entries.length < request.limit };
  }

  async #readOne(
    target: string,
    key: string,
  ): Promise<StoredRecord | undefined> {
    if (target === this.#self) return this.#store.get(key);
    const answer = await this.#transport.call(
      target,
      { kind: "read", keys: [key] },
      this.#peerDeadlineMs,
    );
    if (answer.kind !== "read") throw new Error("unexpected answer kind");
    return answer.records[0] ?? undefined;
  }

  async #writeOne(target: string, record: StoredRecord): Promise<WriteAck> {
    if (target === this.#self) {
      const stored = await this.#store.apply(record);
      return {
        hinted: false,
        newer: stored ? undefined : this.#newerThan(record),
      };
    }
    const sentAtMs = this.#clock.now();
    const answer = await this.#transport.call(
      target,
      { kind: "write", records: [record] },
      this.#peerDeadlineMs,
    );
    this.#latency.observe(Math.max(0, this.#clock.now() - sentAtMs));
    if (answer.kind !== "write") throw new Error("unexpected answer kind");
    return { hinted: false, newer: answer.newer?.[0]?.[1] };
  }

  /** The version this node holds of `record`'s key if newer than `record`'s. */
  #newerThan(record: StoredRecord): Version | undefined {
    const held = this.#store.get(record.key);
    return held !== undefined &&
        compareVersions(held.version, record.version) > 0
      ? held.version
      : undefined;
  }

  #repair(replies: Map<string, StoredRecord | undefined>): void {
    if (mutants.has("skip_read_repair")) return;
    const best = newest(replies.values());
    if (best === undefined) return;
    for (const [target, record] of replies) {
      if (supersedes(best, record)) {
        // Best effort: a replica that misses this repair is caught by the
        // next read or by anti-entropy.
        this.#writeOne(target, best).catch((error) => {
          if (!isPeerFailure(error)) throw error;
        });
      }
    }
  }

  #need(consistency: Consistency | undefined, op: "read" | "write"): number {
    const s = this.settings;
    switch (consistency ?? "quorum") {
      case "one":
        return 1;
      case "all":
        return s.replicationFactor;
      case "quorum":
        return op === "read" ? s.readQuorum : s.writeQuorum;
    }
  }

  #computeSettings(): ReplicationSettings {
    const n = Math.min(this.#configuredN, this.ring.members.length);
    return {
      replicationFactor: n,
      readQuorum: Math.min(this.#configuredR ?? majority(n), n),
      writeQuorum: Math.min(this.#configuredW ?? majority(n), n),
    };
  }
}

/** The newest of some versions (undefined entries are skipped). */
function newestVersion(
  versions: Iterable<Version | undefined>,
): Version | undefined {
  let best: Version | undefined;
  for (const version of versions) {
    if (
      version !== undefined &&
      (best === undefined || compareVersions(version, best) > 0)
    ) best = version;
  }
  return best;
}

/**
 * Why a quorum was lost, counted once every call settled (or the deadline
 * passed): how many counted, and what the others answered.
 */
function quorumFailure<T>(
  op: "read" | "write",
  what: string,
  need: number,
  all: QuorumOutcome<T>,
): string {
  const reasons = [...all.failures].map(([target, failure]) =>
    `${target}: ${describeFailure(failure)}`
  );
  return `${op} quorum not met: ${all.replies.size} of ${need} ${what}` +
    (all.timedOut ? " before the deadline" : "") +
    (reasons.length > 0 ? ` (${reasons.join("; ")})` : "");
}

function describeFailure(failure: unknown): string {
  if (failure instanceof PeerError) {
    // The message names the peer already; the reason follows its colon.
    return failure.message.slice(failure.peer.length + 2).slice(0, 120);
  }
  if (failure instanceof Error) return failure.message.slice(0, 120);
  if (typeof failure === "string") return failure;
  const ack = failure as Partial<WriteAck> | undefined;
  if (ack?.hinted) return "only a stand-in holds it (not counted: strict)";
  return "no answer";
}
