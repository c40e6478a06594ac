/**
 * One node's cluster logic, assembled: membership, rings, coordinator,
 * repair and the loops that drive them. Sans-I/O: the node's wiring hands
 * in the HTTP transport and the system clock; simulations hand in an
 * in-memory network and a manual clock, and run the very same code.
 *
 * @module
 */

import type { EventLog } from "../log.ts";
import { type Clock, HybridClock, repeat, type Timer } from "../clock/mod.ts";
import { hashKey, Ring } from "../ring/mod.ts";
import type { Store } from "../storage/mod.ts";
import {
  type MemberEntry,
  PeerError,
  type PeerHandler,
  type PeerTransport,
} from "../transport/mod.ts";
import { ClockSkew } from "./clock_skew.ts";
import { AntiEntropy } from "./anti_entropy.ts";
import { Coordinator, type CoordinatorObserver } from "./coordinator.ts";
import { Digests } from "./digests.ts";
import { HintStore } from "./hints.ts";
import { type AtomicOp, KeySerializer } from "./key_serializer.ts";
import { Membership, type MembershipTiming } from "./membership.ts";
import { peerDispatcher } from "./peer_dispatch.ts";
import { isPeerFailure } from "./peer_failure.ts";
import type { Random } from "./random.ts";
import { Repair } from "./repair.ts";
import { otherMove } from "./streams.ts";
import { type RingBuilder, Topology } from "./topology.ts";

/** Longest wait at start for a seed's member table. */
const SEED_TABLE_WAIT_MS = 500;
/** Asks for a joining node's seed table between warnings (about 15 s). */
const SEED_TABLE_ATTEMPTS = 12;
/** Wait before asking the seeds again, times the attempt (up to 8). */
const SEED_TABLE_RETRY_MS = 250;
/** Wait before a join asks again whether another member still moves. */
const MOVE_WAIT_MS = 1_000;

/** How often a node decides again whether its clock may stamp writes. */
const CLOCK_CHECK_INTERVAL_MS = 100;

/** Most tombstones one purge pass removes. */
const TOMBSTONE_PURGE_BATCH_MAX = 1_000;

/** How often the background work runs, and its bounds. */
export interface ClusterTiming extends MembershipTiming {
  antiEntropyIntervalMs: number;
  hintIntervalMs: number;
  /** Time between handoff rounds (keys a node no longer owns). */
  handOffIntervalMs: number;
}

/** Everything a {@link ClusterNode} is built from. */
export interface ClusterNodeOptions {
  self: string;
  /**
   * When a peer was last heard from by any means (the transport knows):
   * membership does not suspect a member that answered something else
   * while its probe failed.
   */
  heardAtMs?: (peer: string) => number | undefined;
  /** Members known at start: the static list and the `--join` seed. */
  seeds: readonly string[];
  /** True to join through the seeds (stream ranges first). */
  join: boolean;
  store: Store;
  transport: PeerTransport;
  clock: Clock;
  random: Random;
  vnodes: number;
  /**
   * Builds the ring for a member set; default `Ring.build` with `vnodes`
   * (Web Crypto digests). A simulation hands in one that resolves on its
   * own schedule, so that a ring change lands at the same step every run.
   */
  buildRing?: RingBuilder;
  replicationFactor: number;
  readQuorum?: number;
  writeQuorum?: number;
  requestDeadlineMs: number;
  peerDeadlineMs: number;
  timing: ClusterTiming;
  hintCountMax: number;
  hintBytesMax: number;
  /**
   * How long a tombstone is kept before it is purged: longer than any
   * replica can stay away and still come back with the deleted value
   * (hints, anti-entropy and read repair all carry the tombstone to it
   * within that time).
   */
  tombstoneGraceMs: number;
  /**
   * Bytes per second this node's join, leave and handoff streams send at
   * most, together; absent or 0: no limit.
   */
  streamBytesPerSecond?: number;
  /**
   * Read-modify-write operations this node serialises for the keys it
   * owns (src/resp registers Redis's); absent: none.
   */
  atomicOps?: ReadonlyMap<string, AtomicOp>;
  /** Most atomic commands waiting here at once. Default 10,000. */
  atomicInFlightMax?: number;
  /** Called when a peer shares a SCAN cursor it issued (src/resp). */
  rememberScanCursor?: (id: number, after: string) => void;
  /**
   * The largest offset of this node's clock from its peers' at which it
   * still coordinates writes. Default 500 (`CLOCK_OFFSET_MS_MAX_DEFAULT`).
   */
  maxClockOffsetMs?: number;
  log?: EventLog;
  /** Told of the coordinator's quorum outcomes, for metrics. */
  observer?: CoordinatorObserver;
}

/** A node's core, assembled. */
export class ClusterNode {
  readonly self: string;
  readonly membership: Membership;
  readonly topology: Topology;
  readonly hints: HintStore;
  readonly coordinator: Coordinator;
  readonly repair: Repair;
  /** Serialises read-modify-write commands per key. */
  readonly serializer: KeySerializer;
  /** The digests anti-entropy compares, kept up to date with the store. */
  readonly digests: Digests;
  readonly antiEntropy: AntiEntropy;
  /** This node's clock offsets to its peers. */
  readonly clockSkew: ClockSkew;
  /** Answers every peer request kind. */
  readonly handlePeer: PeerHandler;
  readonly #options: ClusterNodeOptions;
  readonly #loops: Timer[] = [];

  private constructor(
    options: ClusterNodeOptions,
    membership: Membership,
    topology: Topology,
    clockSkew: ClockSkew,
  ) {
    const o = options;
    this.clockSkew = clockSkew;
    this.#options = o;
    const hlc = new HybridClock(o.clock, o.self);
    const newest = o.store.newestVersion();
    if (newest !== undefined) hlc.resume(newest);
    const startedEmpty = o.store.count() === 0;
    this.self = o.self;
    this.membership = membership;
    this.topology = topology;
    // A durable engine keeps the hints too: a stand-in that crashes still
    // has the writes it acknowledged.
    this.hints = new HintStore({
      countMax: o.hintCountMax,
      bytesMax: o.hintBytesMax,
    }, o.store.hintLog);
    this.coordinator = new Coordinator({
      self: o.self,
      topology,
      members: {
        isDown: (address) => {
          const state = membership.get(address)?.state;
          return state === "dead" || state === "left";
        },
        // Left, or not in the member table at all (removed and forgotten
        // before this node last started): hints for it go to the key's
        // replicas instead of waiting for a member that is not coming.
        isGone: (address) => {
          const member = membership.get(address);
          return member === undefined || member.state === "left";
        },
      },
      hints: this.hints,
      store: o.store,
      transport: o.transport,
      clock: o.clock,
      hlc,
      replicationFactor: o.replicationFactor,
      ...(o.readQuorum !== undefined ? { readQuorum: o.readQuorum } : {}),
      ...(o.writeQuorum !== undefined ? { writeQuorum: o.writeQuorum } : {}),
      requestDeadlineMs: o.requestDeadlineMs,
      peerDeadlineMs: o.peerDeadlineMs,
      clockRefusal: () => this.#clockRefusal(),
      // A joining node knows only its seeds until one answers: a ring built
      // from them would send reads and writes to the wrong replicas. So
      // does one that started with nothing (a lost disk, restarted without
      // `--join`): its `-C` list may name members that left, or miss some
      // that joined since, and it has no table of its own.
      standing: () =>
        membership.heardFromCluster || membership.alone
          ? undefined
          : membership.me.phase === "joining"
          ? "this node is joining and has not heard from the cluster yet; " +
            "retry, or send the request to another member"
          : startedEmpty
          ? "this node started with no data and has not heard from the " +
            "cluster yet; retry, or send the request to another member"
          : undefined,
      ...(o.observer !== undefined ? { observer: o.observer } : {}),
    });
    this.repair = new Repair({
      self: o.self,
      store: o.store,
      transport: o.transport,
      clock: o.clock,
      random: o.random,
      membership,
      topology,
      replicationFactor: () => this.coordinator.settings.replicationFactor,
      peerDeadlineMs: o.peerDeadlineMs,
      // A write is acknowledged only by replicas that stored it within a
      // peer deadline of its sending.
      moveSettleMs: o.peerDeadlineMs,
      ...(o.streamBytesPerSecond !== undefined
        ? { streamBytesPerSecond: o.streamBytesPerSecond }
        : {}),
      ...(o.log !== undefined ? { log: o.log } : {}),
    });
    this.serializer = new KeySerializer({
      self: o.self,
      coordinator: this.coordinator,
      transport: o.transport,
      clock: o.clock,
      // Dead, not merely suspect: moving a key's serialisation on a
      // suspicion (a slow probe) would let two nodes serialise it at once.
      isDown: (address) => {
        const state = membership.get(address)?.state;
        return state === "dead" || state === "left";
      },
      ops: o.atomicOps ?? new Map(),
      // The owner reads and then writes, each within a request deadline.
      forwardDeadlineMs: 2 * o.requestDeadlineMs + o.peerDeadlineMs,
      inFlightMax: o.atomicInFlightMax ?? 10_000,
    });
    this.digests = new Digests(o.store, o.clock);
    // The store's one listener: the digests follow every change, and
    // handoff notices records stored where this node holds nothing.
    o.store.watch((key, before, after) => {
      const hash = hashKey(key);
      this.digests.changed(hash, before, after);
      this.repair.changed(hash, after);
    });
    this.antiEntropy = new AntiEntropy({
      self: o.self,
      store: o.store,
      transport: o.transport,
      clock: o.clock,
      random: o.random,
      membership,
      topology,
      digests: this.digests,
      replicationFactor: () => this.coordinator.settings.replicationFactor,
      peerDeadlineMs: o.peerDeadlineMs,
    });
    this.handlePeer = peerDispatcher({
      membership,
      coordinator: this.coordinator,
      repair: this.repair,
      serializer: this.serializer,
      ...(o.rememberScanCursor !== undefined
        ? { rememberScanCursor: o.rememberScanCursor }
        : {}),
      antiEntropy: this.antiEntropy,
    });
  }

  #refusal: string | undefined;
  #refusalAtMs = -Infinity;

  /**
   * Whether this node's clock is too far off to stamp writes, decided at
   * most every {@link CLOCK_CHECK_INTERVAL_MS}: it changes with probes,
   * which come every few hundred ms, not with every write.
   */
  #clockRefusal(): string | undefined {
    const now = this.#options.clock.now();
    if (now - this.#refusalAtMs >= CLOCK_CHECK_INTERVAL_MS) {
      this.#refusalAtMs = now;
      this.#refusal = this.clockSkew.refusal(
        now,
        this.membership.members()
          .filter((m) => m.address !== this.self && m.state === "alive")
          .map((m) => m.address),
      );
    }
    return this.#refusal;
  }

  /**
   * The member table of the first seed to answer, asked with a ping that
   * carries no entry of this node's own (so the answer is the seed's view,
   * this node's entry included); an empty table when no seed sends one
   * but one refuses this node (it does not know it); undefined when none
   * answers in time.
   * A node that starts from its `-C` list alone would take every member
   * listed for a ready replica: one still joining, or since removed, would
   * be read from for ranges it does not hold.
   */
  static #seedTable(
    options: ClusterNodeOptions,
    ask: readonly string[] = options.seeds,
  ): Promise<{ from: string; entries: MemberEntry[] } | undefined> {
    const seeds = ask.filter((s) => s !== options.self);
    if (seeds.length === 0) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      let left = seeds.length;
      let refusedBy: string | undefined;
      for (const seed of seeds) {
        ClusterNode.#askTable(options, seed).then((answer) => {
          // An empty table: the seed has not heard from the cluster yet.
          if (Array.isArray(answer) && answer.length > 0) {
            resolve({ from: seed, entries: answer });
            return;
          }
          // Up, but refusing a node it does not know: once no seed has
          // sent a table, an answer (no table lists this node) all the same.
          if (answer === "refused") refusedBy ??= seed;
          if (--left === 0) {
            resolve(
              refusedBy === undefined
                ? undefined
                : { from: refusedBy, entries: [] },
            );
          }
        }, reject);
      }
    });
  }

  /** The member tables of those of `ask` that answer within a seed wait. */
  static async #tables(
    options: ClusterNodeOptions,
    ask: readonly string[],
  ): Promise<MemberEntry[][]> {
    const answers = await Promise.all(
      ask.filter((m) => m !== options.self).map((member) =>
        ClusterNode.#askTable(options, member)
      ),
    );
    // Down, cut off or refusing: it knows nothing to add.
    return answers.map((answer) => Array.isArray(answer) ? answer : []);
  }

  /**
   * Asks `member` for its member table, saying nothing of this node: the
   * table (empty when it has not heard from the cluster), "refused" when it
   * refuses a node it does not know, or null when it does not answer
   * within a seed wait.
   */
  static async #askTable(
    options: ClusterNodeOptions,
    member: string,
  ): Promise<MemberEntry[] | "refused" | null> {
    try {
      const answer = await options.transport.call(
        member,
        { kind: "ping", from: options.self, members: [] },
        Math.min(options.peerDeadlineMs, SEED_TABLE_WAIT_MS),
      );
      return answer.kind === "ping" ? answer.members : [];
    } catch (error) {
      if (!isPeerFailure(error)) throw error;
      return error instanceof PeerError && error.failure === "refused"
        ? "refused"
        : null;
    }
  }

  /** Builds the node's core (the first ring needs async digests). */
  static async create(options: ClusterNodeOptions): Promise<ClusterNode> {
    const clockSkew = new ClockSkew(
      options.maxClockOffsetMs !== undefined
        ? { maxOffsetMs: options.maxClockOffsetMs }
        : {},
    );
    let table = await ClusterNode.#seedTable(options);
    // Whether a node started with `--join` joins or comes back depends on
    // the seed's table: wait for a seed, however long. Deciding without
    // one could take a member off the ring reads use (it would join
    // again), or start a join beside another member's move.
    for (let attempt = 1; options.join && table === undefined; attempt++) {
      if (attempt % SEED_TABLE_ATTEMPTS === 0) {
        options.log?.("join.seed_unreachable", {
          seeds: options.seeds,
          attempts: attempt,
        }, "warn");
      }
      const waitMs = SEED_TABLE_RETRY_MS * Math.min(attempt, 8);
      await new Promise<void>((r) => options.clock.after(waitMs, r));
      table = await ClusterNode.#seedTable(options);
    }
    // Started with `--join` but a member on the ring already (the seed
    // lists it ready): it comes back as any restart does, on the ring reads
    // use. Joining again would take it off that ring, handing its ranges to
    // nodes that never held them, and reads there would miss acknowledged
    // writes. If its disk was lost (no records), it also streams its ranges
    // in from the others while it serves (see Repair.refill). One whose
    // join was cut short (still joining there), or that left (or was
    // removed), joins.
    // A new join waits while another member joins or leaves: one member
    // moves at a time (see otherMove). One already joining (a join cut
    // short, resumed) goes on.
    // This node's own entry counts only once it has been heard from: at
    // incarnation 0 it is a seed some member was started with (see
    // Membership), which says nothing of the ring.
    const own = (entries: readonly MemberEntry[] | undefined) =>
      entries?.find((e) => e[0] === options.self && e[2] > 0);
    for (let logged = false;;) {
      const mine = own(table?.entries);
      const resumes = mine !== undefined && mine[1] !== "left" &&
        (mine[3] === "joining" || mine[3] === "ready");
      const other = !options.join || resumes || table === undefined
        ? undefined
        : otherMove(
          table.entries.map(([address, state, , phase]) => ({
            address,
            state,
            phase,
          })),
          options.self,
        );
      if (other === undefined) break;
      if (!logged) {
        options.log?.("join.waiting", { for: other }, "warn");
        logged = true;
      }
      await new Promise<void>((r) => options.clock.after(MOVE_WAIT_MS, r));
      // No seed answers any more (it may have been the member leaving, or
      // be cut off): the members of the last table are asked. While none
      // answers, the join waits on: joining beside another move could
      // leave a range with no copy on the ring after both.
      const fresh = await ClusterNode.#seedTable(options) ??
        await ClusterNode.#seedTable(
          options,
          table!.entries.filter((e) => e[1] !== "left").map((e) => e[0]),
        );
      if (fresh !== undefined) table = fresh;
    }
    let me = own(table?.entries);
    // On the ring in the seed's table, but down until now: it may have been
    // removed meanwhile, and the seed not heard of it yet. The table's other
    // members are asked too, and a removal counts wherever it is known:
    // coming back on the ring then would hand this node ranges it never
    // streamed in.
    if (options.join && me !== undefined && me[1] !== "left") {
      const others = table!.entries
        .filter((e) => e[1] !== "left" && e[0] !== table!.from)
        .map((e) => e[0]);
      for (const entries of await ClusterNode.#tables(options, others)) {
        const theirs = own(entries);
        if (theirs?.[1] === "left" && theirs[2] >= me[2]) me = theirs;
      }
    }
    const onRing = me !== undefined && me[1] !== "left" && me[3] === "ready";
    const joins = options.join && !onRing;
    const refills = options.join && onRing && options.store.count() === 0;
    const membership = new Membership({
      self: options.self,
      seeds: options.seeds,
      phase: joins ? "joining" : "ready",
      // The wall clock as incarnation: a restarted node's word about
      // itself beats whatever the cluster remembers of its previous life.
      incarnation: options.clock.now(),
      transport: options.transport,
      clock: options.clock,
      random: options.random,
      timing: options.timing,
      // Called only once gossip runs, after the topology exists.
      onChange: () => void topology.update(membership.members()),
      onClockSample: (peer, sent, peerNow, received) =>
        clockSkew.record(peer, sent, peerNow, received),
      ...(options.log !== undefined ? { log: options.log } : {}),
      ...(options.heardAtMs !== undefined
        ? { heardAtMs: options.heardAtMs }
        : {}),
    });
    const topology: Topology = await Topology.create(
      options.buildRing ??
        ((members) => Ring.build(members, { vnodes: options.vnodes })),
      membership.members(),
    );
    if (table !== undefined && table.entries.length > 0) {
      membership.adoptSeedTable(table.from, table.entries);
      await topology.update(membership.members());
    }
    const node = new ClusterNode(options, membership, topology, clockSkew);
    node.#refills = refills;
    return node;
  }

  /** Started with `--join` on the ring already, with no records: refill. */
  #refills = false;

  /**
   * Starts gossip, hinted handoff, anti-entropy, handoff and (if asked) the
   * join; resolves once the first announcement to the peers has been
   * answered or failed.
   */
  start(): Promise<void> {
    const { clock, timing, log } = this.#options;
    const report = (what: string) => (error: unknown) =>
      log?.("loop.failed", { loop: what, error }, "error");
    const announced = this.membership.start();
    this.#loops.push(
      repeat(
        clock,
        timing.hintIntervalMs,
        () => this.coordinator.deliverHints(),
        report("hinted handoff"),
      ),
      repeat(
        clock,
        timing.antiEntropyIntervalMs,
        () => this.antiEntropy.round(),
        report("anti-entropy"),
      ),
      repeat(
        clock,
        timing.handOffIntervalMs,
        () => this.repair.handOffRound(),
        report("handoff"),
      ),
      repeat(
        clock,
        Math.max(1_000, Math.min(this.#options.tombstoneGraceMs, 60_000)),
        () =>
          this.#options.store.purgeTombstones(
            clock.now() - this.#options.tombstoneGraceMs,
            TOMBSTONE_PURGE_BATCH_MAX,
          ),
        report("tombstone purge"),
      ),
    );
    if (this.membership.me.phase === "joining") {
      this.repair.join().catch(report("join failed"));
    } else if (this.#refills) {
      this.repair.refill().catch(report("refill failed"));
    }
    return announced.then(() => {});
  }

  /** Stops every loop (the store is the caller's to close). */
  stop(): void {
    this.membership.stop();
    for (const loop of this.#loops.splice(0)) loop.cancel();
  }
}
