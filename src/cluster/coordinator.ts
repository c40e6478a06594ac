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
  KvdbError,
  OverloadedError,
  UnavailableError,
} from "../errors.ts";
import {
  FAN_OUT_MAX,
  LIST_KEYS_MAX,
  PEER_BATCH_BYTES_MAX,
  PEER_DEADLINE_MS_DEFAULT,
  REQUEST_DEADLINE_MS_DEFAULT,
} from "../limits.ts";
import type { Ring } from "../ring/mod.ts";
import { HintStore } from "./hints.ts";
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
  PEER_BATCH_MAX,
  PeerError,
  type PeerRequest,
  type PeerResponse,
  type PeerTransport,
} from "../transport/mod.ts";
import { fanOut } from "./fan_out.ts";
import { gatherQuorum, type QuorumOutcome } from "./quorum.ts";

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
 * a batch that would go beyond is refused before any work (429).
 */
export const BATCHED_IN_FLIGHT_MAX = 20_000;

/** A batch's peer deadline grows by one peer deadline per this many records. */
const BATCH_RECORDS_PER_DEADLINE = 1_000;

/** A page of keys and where the next page starts (null: no more). */
export interface KeyPage {
  keys: string[];
  cursor: string | null;
}

/** Options of a key listing. */
export interface ListOptions {
  prefix?: string;
  /** Keys strictly after this one. */
  cursor?: string;
  limit: number;
}

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
  /** True when the member left the cluster for good. */
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
  readonly #fanOutMax: number;
  readonly #topology: Topology;
  readonly #members: MemberView;
  readonly #hints: HintStore;
  readonly #clockRefusal: () => string | undefined;
  #batchedInFlight = 0;
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
    this.#fanOutMax = options.fanOutMax ?? FAN_OUT_MAX;
    this.#topology = options.topology;
    this.#members = options.members ?? NOBODY_DOWN;
    this.#hints = options.hints ?? new HintStore();
    this.#clockRefusal = options.clockRefusal ?? (() => undefined);
    this.#settings = this.#computeSettings();
    this.#observer = options.observer;
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
    // The whole cluster is this node: no placement, no quorum to gather.
    if (this.#alone()) return this.readLocal(key);
    const replicas = this.replicas(key);
    // This node is the only replica: no quorum to gather.
    if (replicas.length === 1 && replicas[0] === this.#self) {
      return this.readLocal(key);
    }
    const need = this.#need(options.consistency, "read");
    // Ask the replicas believed up; those believed down only when the up
    // ones are too few (a down peer fails fast, see BreakerTransport).
    const up = replicas.filter((r) => !this.#members.isDown(r));
    const targets = up.length >= need ? up : replicas;
    const quorum = gatherQuorum(
      targets,
      need,
      (target) => this.#readOne(target, key),
      this.#clock,
      this.#requestDeadlineMs,
    );
    const outcome = await quorum.outcome;
    this.#observer?.quorum("read", outcomeOf(outcome));
    if (outcome.state === "lost") {
      throw new UnavailableError(
        quorumFailure("read", "replies", need, await quorum.all),
      );
    }
    const best = newest(outcome.replies.values());
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
    this.#checkClock();
    // Refused before any work when too many batched records are in flight
    // already: the client waits and sends it again (429, Retry-After),
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
      return 0;
    }
    this.#batchedInFlight += records.length;
    try {
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
   * {@link write} alone (stand-ins, another round). Resolves with how many
   * did not reach their quorum.
   */
  async #writeBatch(
    records: readonly StoredRecord[],
    options: WriteOptions,
  ): Promise<number> {
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
    if (this.#topology.inTransition) {
      // The future replicas get the batch too, without counting.
      const extra = new Map<string, StoredRecord[]>();
      for (const record of records) {
        const now = ring.preferenceList(record.key, n);
        for (
          const target of this.#topology.writeRing.preferenceList(record.key, n)
        ) {
          if (now.includes(target)) continue;
          extra.set(target, [...(extra.get(target) ?? []), record]);
        }
      }
      for (const [target, batch] of extra) {
        this.#writeMany(target, batch, deadlineMs).catch((error) => {
          if (!isPeerFailure(error)) throw error;
        });
      }
    }
    // Every record settled, or every call did (whichever is first; a call
    // still in flight then finishes in the background).
    await Promise.race([allSettled, Promise.all(calls).then(() => {})]);
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
    const results = await Promise.allSettled(
      again.map((i) => this.write(records[i]!, options)),
    );
    return results.filter((r) => r.status === "rejected").length;
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

  /** Stores `value` under `key` on a write quorum. */
  async set(
    key: string,
    value: unknown,
    options: WriteOptions = {},
  ): Promise<void> {
    this.#checkClock();
    await this.write(this.#record(key, value, options), options);
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
    const refusal = this.#clockRefusal();
    if (refusal !== undefined) throw new ClockSkewError(refusal);
  }

  /**
   * Deletes `key` with a tombstone and returns the value it had, or
   * undefined when it had none (then nothing is written).
   */
  async pop(
    key: string,
    options: ReadOptions & Pick<WriteOptions, "strict"> = {},
  ): Promise<StoredRecord | undefined> {
    this.#checkClock();
    const prior = await this.read(key, options);
    if (prior === undefined) return undefined;
    await this.write({
      key,
      value: null,
      version: this.#hlc.now(),
      tombstone: true,
      expiresAtMs: null,
    }, options);
    return prior;
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
   * share a replica, which holds the first.
   */
  async write(record: StoredRecord, options: WriteOptions = {}): Promise<void> {
    if (this.#alone()) {
      await this.#store.apply(record);
      return;
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
      return;
    }
    const need = this.#need(options.consistency, "write");
    const strict = options.strict === true || options.consistency === "all";
    let current = record;
    for (let round = 1;; round++) {
      const outcome = await this.#writeRound(current, replicas, need, strict);
      const newer = newestVersion(
        [...outcome.replies.values()].map((ack) => ack.newer),
      );
      if (
        newer === undefined || options.keepVersion === true ||
        round === WRITE_ROUNDS_MAX
      ) return;
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

  /** One round of a write: every replica, until a write quorum or its loss. */
  async #writeRound(
    record: StoredRecord,
    replicas: readonly string[],
    need: number,
    strict: boolean,
  ): Promise<QuorumOutcome<WriteAck>> {
    const n = replicas.length;
    const used = new Set(replicas);
    const deliver = async (target: string): Promise<WriteAck> => {
      let why = "down";
      if (!this.#members.isDown(target)) {
        try {
          return await this.#writeOne(target, record);
        } catch (error) {
          if (!isPeerFailure(error)) throw error;
          // fall through to a stand-in
          why = describeFailure(error);
        }
      }
      await this.#writeHinted(target, record, used, why);
      return { hinted: true, newer: undefined };
    };
    if (this.#topology.inTransition) {
      for (
        const target of this.#topology.writeRing.preferenceList(record.key, n)
      ) {
        if (!used.has(target)) {
          used.add(target);
          deliver(target).catch(() => {
            // Not counted: anti-entropy and the transfer cover a miss.
          });
        }
      }
    }
    const quorum = gatherQuorum(
      replicas,
      need,
      deliver,
      this.#clock,
      this.#requestDeadlineMs,
      { counts: (ack) => !strict || !ack.hinted },
    );
    const outcome = await quorum.outcome;
    this.#observer?.quorum("write", outcomeOf(outcome));
    if (outcome.state === "lost") {
      throw new UnavailableError(
        quorumFailure("write", "acknowledgements", need, await quorum.all),
      );
    }
    return outcome;
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
   * Hands hints to members that are back: one batch per member per call.
   * Hints for a member that left are written to the key's current replicas
   * instead. Resolves with how many records were handed over.
   */
  async deliverHints(): Promise<number> {
    let handed = 0;
    for (const target of this.#hints.targets()) {
      const batch = this.#hints.peek(
        target,
        PEER_BATCH_MAX,
        PEER_BATCH_BYTES_MAX,
      );
      try {
        if (this.#members.isGone(target)) {
          await Promise.all(
            batch.map((record) => this.write(record, { consistency: "one" })),
          );
        } else if (this.#members.isDown(target)) {
          continue;
        } else {
          await this.#transport.call(
            target,
            { kind: "write", records: batch },
            this.#peerDeadlineMs,
          );
        }
        await this.#hints.delivered(target, batch);
        handed += batch.length;
      } catch {
        // still unreachable: keep the hints for the next round
      }
    }
    return handed;
  }

  /**
   * One page of live keys across the cluster, in order: every member is
   * asked for its keys in the range, the answers are merged newest version
   * first, and the page ends where the member with the shortest answer ends,
   * so that no key is skipped.
   */
  async listKeys(options: ListOptions): Promise<KeyPage> {
    const request: PeerRequest = { kind: "scan", limit: options.limit };
    if (options.prefix !== undefined) request.prefix = options.prefix;
    if (options.cursor !== undefined) request.after = options.cursor;
    const members = this.ring.members;
    const results = await fanOut(
      members,
      this.#fanOutMax,
      (member) => this.#scanOne(member, request),
    );
    const answers = results.flatMap((r) => r.ok ? [r.value] : []);
    const missing = members.length - answers.length;
    // Every key lives on N distinct members: with fewer than N silent, each
    // key still has a replica that answered.
    if (missing >= this.settings.replicationFactor) {
      throw new UnavailableError(
        `list_keys incomplete: ${missing} of ${members.length} members did not answer`,
      );
    }
    return mergeKeyPages(answers, options.limit, this.#clock.now());
  }

  /** This node's own live keys in a range, without asking peers. */
  listLocalKeys(options: ListOptions): KeyPage {
    const answer = this.#scanLocal({
      kind: "scan",
      limit: options.limit,
      ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
      ...(options.cursor !== undefined ? { after: options.cursor } : {}),
    });
    return mergeKeyPages([answer], options.limit, this.#clock.now());
  }

  /** Every live key in the cluster, in order, up to {@link LIST_KEYS_MAX}. */
  async allKeys(
    options: { local?: boolean; prefix?: string } = {},
  ): Promise<string[]> {
    const keys: string[] = [];
    let cursor: string | undefined;
    const pageLimit = 10_000;
    for (;;) {
      const page = options.local
        ? this.listLocalKeys({ ...options, limit: pageLimit, cursor })
        : await this.listKeys({ ...options, limit: pageLimit, cursor });
      keys.push(...page.keys);
      if (keys.length > LIST_KEYS_MAX) {
        throw new UnavailableError(
          `list_keys: more than ${LIST_KEYS_MAX} keys; page with 'limit' and 'cursor'`,
        );
      }
      if (page.cursor === null) return keys;
      cursor = page.cursor;
    }
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

  async #scanOne(
    member: string,
    request: Extract<PeerRequest, { kind: "scan" }>,
  ): Promise<Extract<PeerResponse, { kind: "scan" }>> {
    if (member === this.#self) return this.#scanLocal(request);
    const answer = await this.#transport.call(
      member,
      request,
      this.#peerDeadlineMs,
    );
    if (answer.kind !== "scan") throw new Error("unexpected answer kind");
    return answer;
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
    const answer = await this.#transport.call(
      target,
      { kind: "write", records: [record] },
      this.#peerDeadlineMs,
    );
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

/**
 * Merges members' scan answers into one page of live keys. A member that
 * returned a full page may hold more keys after its last one, so the page
 * stops at the smallest such last key.
 */
export function mergeKeyPages(
  answers: readonly Extract<PeerResponse, { kind: "scan" }>[],
  limit: number,
  nowMs: number,
): KeyPage {
  let bound: string | undefined;
  for (const answer of answers) {
    const last = answer.entries.at(-1);
    if (!answer.complete && last !== undefined) {
      if (bound === undefined || last[0] < bound) bound = last[0];
    }
  }
  const merged = new Map<string, KeyEntry>();
  for (const answer of answers) {
    for (const entry of answer.entries) {
      if (bound !== undefined && entry[0] > bound) break;
      const seen = merged.get(entry[0]);
      if (seen === undefined || compareVersions(entry[1], seen[1]) > 0) {
        merged.set(entry[0], entry);
      }
    }
  }
  const keys: string[] = [];
  const ordered = [...merged.keys()].sort();
  for (const key of ordered) {
    const [, , tombstone, expiresAtMs] = merged.get(key)!;
    if (tombstone || (expiresAtMs !== null && expiresAtMs <= nowMs)) continue;
    keys.push(key);
    if (keys.length === limit) {
      const more = key !== ordered.at(-1) || bound !== undefined;
      return { keys, cursor: more ? key : null };
    }
  }
  return { keys, cursor: bound ?? null };
}

/** True for the errors a peer call or a store can fail with while running. */
function isPeerFailure(error: unknown): boolean {
  return error instanceof PeerError || error instanceof KvdbError;
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
  const ack = failure as Partial<WriteAck> | undefined;
  if (ack?.hinted) return "only a stand-in holds it (not counted: strict)";
  return "no answer";
}
