/**
 * Membership and failure detection, SWIM-style (Das et al., 2002), with
 * memberlist's refinements: incarnation numbers, suspicion before death,
 * refutation by the suspected node itself, indirect probes.
 *
 * Sans-I/O: probes go through the injected transport, time through the
 * injected clock, choices through the injected random source.
 *
 * Dissemination: every probe and its answer carry this node's whole member
 * table. With at most {@link MEMBERS_MAX} members of ~50 bytes each that
 * is at most ~13 KiB a message, and it makes convergence a plain epidemic:
 * a change reaches every node in O(log n) probe periods.
 *
 * @module
 */

import { type EventLog, type LogFields, NO_LOG } from "../log.ts";
import type { Clock, Timer } from "../clock/mod.ts";
import { MEMBERS_MAX } from "../limits.ts";
import {
  type MemberEntry,
  type MemberPhase,
  type MemberState,
  PeerError,
  type PeerTransport,
} from "../transport/mod.ts";
import { type Random, shuffle } from "./random.ts";

export type { MemberEntry, MemberPhase, MemberState };

/** One member as this node knows it. */
export interface Member {
  address: string;
  state: MemberState;
  /** Raised only by the member itself, to refute suspicion or announce a change. */
  incarnation: number;
  /** Where the member is in joining or leaving the ring. */
  phase: MemberPhase;
}

/**
 * Why {@link Membership.remove} refused: the member is this node, is not
 * known, has already left, or is not dead (alive or suspect).
 */
export type RemoveRefusal = "self" | "unknown" | "left" | "alive" | "suspect";

/** Failure detector timing. */
export interface MembershipTiming {
  /** How often a probe is sent. Default 500 ms: detection within ~1 s. */
  probeIntervalMs: number;
  /** How long a direct or indirect probe may take. Default 250 ms: loopback or LAN round trips are far below. */
  probeTimeoutMs: number;
  /** Members asked to probe indirectly when a direct probe fails. Default 3. */
  indirectProbes: number;
  /** How long a member stays suspect before it is declared dead. Default 2,000 ms: four probe periods to refute. */
  suspicionTimeoutMs: number;
}

/** The defaults; see {@link MembershipTiming}. */
export const MEMBERSHIP_TIMING_DEFAULT: MembershipTiming = {
  probeIntervalMs: 500,
  probeTimeoutMs: 250,
  indirectProbes: 3,
  suspicionTimeoutMs: 2_000,
};

/** Everything membership needs from the world. */
export interface MembershipOptions {
  self: string;
  /** Members known at start (static `-C` list and `--join` seeds). */
  seeds: readonly string[];
  /** This node's phase at start: "joining" with `--join`, else "ready". */
  phase: MemberPhase;
  /**
   * This node's first incarnation. Pass the wall clock in ms so a restarted
   * node's announcements beat what the cluster remembers of its last life.
   */
  incarnation: number;
  transport: PeerTransport;
  clock: Clock;
  random: Random;
  timing?: Partial<MembershipTiming>;
  /** Called after any change to the member table. */
  onChange?: () => void;
  /**
   * Called with each answered probe's times: sent and received on this
   * node's clock, and the peer's clock as its answer gave it.
   */
  onClockSample?: (
    peer: string,
    sentAtMs: number,
    peerNowMs: number,
    receivedAtMs: number,
  ) => void;
  /** Log lines for state changes. */
  log?: EventLog;
  /**
   * When `peer` was last heard from by any means (an answer to any call,
   * its own probe coming in), on this node's clock; undefined: never. A
   * member heard from since a failed probe began is busy, not silent, and
   * is not suspected.
   */
  heardAtMs?: (peer: string) => number | undefined;
}

/**
 * The worst local health score (Lifeguard's "local health multiplier",
 * memberlist's awareness): each point of it stretches this node's probe
 * timeouts and its patience with suspects by one more unit.
 */
export const AWARENESS_MAX = 8;

/**
 * Announcements of a leave, a probe period apart, before the node says it
 * waits for a member to hear it (it goes on announcing until one does).
 */
const LEAVE_ANNOUNCES_LOGGED = 20;

/** Longest probe timeout from measured round trips: this many base timeouts. */
const PROBE_TIMEOUT_STRETCH_MAX = 4;

const STATE_RANK: Record<MemberState, number> = {
  alive: 0,
  suspect: 1,
  dead: 2,
  left: 3,
};

/** The member table and the probe loop. */
export class Membership {
  readonly self: string;
  readonly timing: MembershipTiming;
  readonly #members = new Map<string, Member>();
  readonly #suspectSince = new Map<string, number>();
  readonly #transport: PeerTransport;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #onChange: () => void;
  readonly #onClockSample: NonNullable<MembershipOptions["onClockSample"]>;
  readonly #log: EventLog;
  readonly #heardAtMs: (peer: string) => number | undefined;
  #probeOrder: string[] = [];
  /**
   * Local health: 0 when this node's probes go as expected; raised when
   * its own timers run late, when it must refute suspicion of itself, or
   * when a peer it could not reach answers others; lowered by each
   * answered probe.
   */
  #awareness = 0;
  /** Smoothed probe round trip and its variation (TCP's RTO estimate). */
  #srttMs: number | undefined;
  #rttVarMs = 0;
  #timer: Timer | undefined;
  #probing = false;
  #stopped = true;

  constructor(options: MembershipOptions) {
    this.self = options.self;
    this.timing = { ...MEMBERSHIP_TIMING_DEFAULT, ...options.timing };
    this.#transport = options.transport;
    this.#clock = options.clock;
    this.#random = options.random;
    this.#onChange = options.onChange ?? (() => {});
    this.#onClockSample = options.onClockSample ?? (() => {});
    this.#log = options.log ?? NO_LOG;
    this.#heardAtMs = options.heardAtMs ?? (() => undefined);
    this.#members.set(this.self, {
      address: this.self,
      state: "alive",
      incarnation: options.incarnation,
      phase: options.phase,
    });
    for (const seed of options.seeds) {
      if (seed === this.self || this.#members.has(seed)) continue;
      // Seeds start alive at incarnation 0: anything the seed says of itself
      // wins, and a failed probe makes it suspect.
      this.#members.set(seed, {
        address: seed,
        state: "alive",
        incarnation: 0,
        phase: "ready",
      });
    }
  }

  /** Every member, sorted by address. */
  members(): Member[] {
    return [...this.#members.values()]
      .sort((a, b) => a.address < b.address ? -1 : 1)
      .map((m) => ({ ...m }));
  }

  /** This node's own entry. */
  get me(): Member {
    return { ...this.#members.get(this.self)! };
  }

  /** A member by address. */
  get(address: string): Member | undefined {
    const m = this.#members.get(address);
    return m === undefined ? undefined : { ...m };
  }

  /** True for a member believed down (suspect or dead) or gone. */
  isDown(address: string): boolean {
    const state = this.#members.get(address)?.state;
    return state !== "alive";
  }

  /** The member table as it travels on the wire. */
  entries(): MemberEntry[] {
    return [...this.#members.values()].map((
      m,
    ) => [m.address, m.state, m.incarnation, m.phase]);
  }

  /**
   * Starts probing, after announcing this node to every known member.
   * Resolves once that announcement was answered or failed (a node serves
   * from then on: its peers have heard it is back).
   */
  start(): Promise<number> {
    if (!this.#stopped) return Promise.resolve(0);
    this.#stopped = false;
    const announced = this.announce();
    this.#schedule();
    return announced;
  }

  /** Stops probing. */
  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /**
   * Sends this node's table to every other member that is not gone and
   * merges the answers: a join, a return after restart, or a phase change
   * reaches everyone at once instead of by epidemic. Resolves with how
   * many answered.
   */
  async announce(): Promise<number> {
    const others = [...this.#members.values()]
      .filter((m) => m.address !== this.self && m.state !== "left");
    const answers = await Promise.all(others.map((m) => this.#ping(m.address)));
    return answers.filter(Boolean).length;
  }

  /** Changes this node's phase and tells the cluster. */
  async setPhase(phase: MemberPhase): Promise<number> {
    const me = this.#members.get(this.self)!;
    me.phase = phase;
    me.incarnation++;
    this.#changed("member.phase", { member: this.self, phase });
    return await this.announce();
  }

  /** Marks this node as having left the cluster and tells everyone. */
  async leave(): Promise<number> {
    const me = this.#members.get(this.self)!;
    me.state = "left";
    me.incarnation++;
    this.#changed("member.left", { member: this.self });
    // A node that went before anyone heard would be taken for dead while
    // still leaving: a move that never ends, which holds up every later
    // join and leave until someone removes it.
    // Every member up hears it (as a move's start): one alone could crash
    // or leave before passing it on.
    for (let attempt = 1;; attempt++) {
      const answered = await this.announce();
      const others = [...this.#members.values()].filter((m) =>
        m.address !== this.self && m.state !== "left"
      );
      const up = others.filter((m) => !this.isDown(m.address)).length;
      // Cut off, it sees every member dead: at least one must hear it, or
      // none ever will (the cluster would keep it as a dead replica).
      if (answered >= up && (answered > 0 || others.length === 0)) {
        return answered;
      }
      if (attempt === LEAVE_ANNOUNCES_LOGGED) {
        this.#log("member.left_unheard", { attempts: attempt });
      }
      await new Promise((resolve) =>
        this.#clock.after(this.timing.probeIntervalMs, () => resolve(null))
      );
    }
  }

  /**
   * Removes a member that is dead for good: marks it `left` on its own
   * behalf, so it leaves the ring and its ranges get new replicas (filled
   * by anti-entropy), and tells everyone. `left` outranks `dead` at the
   * same incarnation, so the removal wins wherever gossip takes it. The
   * member may come back later: a restarted node announces itself with a
   * higher incarnation, which outranks the removal, as any return does.
   *
   * Only a dead member can be removed: a live one should `leave`, which
   * hands its data over first, and a suspect one may yet refute. Resolves
   * with the refusal, or null once removed and announced.
   */
  async remove(address: string): Promise<RemoveRefusal | null> {
    if (address === this.self) return "self";
    const member = this.#members.get(address);
    if (member === undefined) return "unknown";
    if (member.state === "left") return "left";
    if (member.state !== "dead") return member.state;
    member.state = "left";
    this.#suspectSince.delete(address);
    this.#probeOrder = this.#probeOrder.filter((a) => a !== address);
    this.#changed("member.removed", { member: address });
    await this.announce();
    return null;
  }

  /**
   * Merges a peer's member table. Returns false (and changes nothing) when
   * the sender is neither a known member nor announcing itself: gossip
   * about the cluster comes only from members.
   */
  /**
   * True once a member's table was merged: until then, a node that joins
   * knows only its seeds, and a ring built from them is not the cluster's.
   */
  get heardFromCluster(): boolean {
    return this.#heardFromCluster;
  }

  /** True when this node is the only member that has not left. */
  get alone(): boolean {
    return [...this.#members.values()].every((m) =>
      m.address === this.self || m.state === "left"
    );
  }
  #heardFromCluster = false;

  merge(from: string, entries: readonly MemberEntry[]): boolean {
    const sender = this.#members.get(from);
    const selfEntry = entries.find((e) => e[0] === from);
    const known = sender !== undefined && sender.state !== "left";
    if (!known && selfEntry === undefined) return false;
    const heard = this.#heardFromCluster;
    if (known && entries.length > 0) this.#heardFromCluster = true;
    let changed = false;
    for (const entry of entries.slice(0, MEMBERS_MAX)) {
      // An unknown sender may only speak for itself until it is a member.
      if (!known && entry[0] !== from) continue;
      // A member nobody has heard from yet (incarnation 0) is another
      // node's start-up seed: once this node knows the cluster, it learns
      // new members from their own word only.
      if (heard && entry[2] === 0 && !this.#members.has(entry[0])) continue;
      if (this.#apply(entry)) changed = true;
    }
    if (changed) this.#onChange();
    return true;
  }

  /**
   * Takes the table a seed sent at start, before gossip runs. This node
   * asked for it, and only a node that has heard from the cluster sends
   * one (see {@link handlePing}), so every entry of a member heard from
   * counts, whoever sent it (it may be a member this node did not list),
   * and a start-up seed the table does not list so is dropped. Two nodes
   * that start at once thus do not take each other's seed lists for the
   * cluster.
   */
  adoptSeedTable(from: string, entries: readonly MemberEntry[]): void {
    if (entries.length === 0) return;
    this.#heardFromCluster = true;
    // An entry at incarnation 0 is the seed's own start-up seed, never
    // heard from: it keeps one of this node's own seeds, but names no new
    // member (taken as one, it would pass from table to table as a phantom
    // on some nodes' rings only).
    const heard = entries.slice(0, MEMBERS_MAX).filter((e) =>
      e[2] > 0 || e[0] === from || this.#members.has(e[0])
    );
    const listed = new Set(heard.map((e) => e[0]));
    for (const entry of heard) this.#apply(entry);
    // A start-up seed (incarnation 0, never heard from) the table does not
    // list is not a member: an operator may list a node before it joins,
    // or after it left.
    for (const m of [...this.#members.values()]) {
      if (
        m.address === this.self || m.address === from || m.incarnation !== 0 ||
        listed.has(m.address)
      ) continue;
      this.#members.delete(m.address);
      this.#suspectSince.delete(m.address);
      this.#probeOrder = this.#probeOrder.filter((a) => a !== m.address);
      this.#log("member.dropped", { member: m.address, by: from });
    }
    this.#onChange();
  }

  /**
   * Answers a probe: merge the sender's table, reply with ours and this
   * node's wall time (for the sender's clock-offset estimate).
   */
  handlePing(
    from: string,
    entries: readonly MemberEntry[],
  ): { members: MemberEntry[]; nowMs: number } | null {
    if (this.merge(from, entries)) {
      return { members: this.entries(), nowMs: this.#clock.now() };
    }
    // A node about to join asks for the table first, saying nothing of
    // itself (so nothing is merged): whether it comes back or joins, and
    // whether another member moves, depends on the answer. A node that
    // has not heard from the cluster yet (it knows only its own seeds)
    // has no table to give, unless it is alone.
    if (entries.length !== 0) return null;
    return {
      members: this.#heardFromCluster || this.alone ? this.entries() : [],
      nowMs: this.#clock.now(),
    };
  }

  /** Probes `target` on behalf of another member. */
  async handlePingRequest(target: string): Promise<boolean> {
    if (!this.#members.has(target)) return false;
    return await this.#ping(target);
  }

  /** This node's local health score, 0 (healthy) to {@link AWARENESS_MAX}. */
  get awareness(): number {
    return this.#awareness;
  }

  /**
   * How long a direct probe may take now: the base timeout, or four
   * round-trip deviations above the smoothed round trip when probes have
   * grown slower (a loaded cluster), up to four base timeouts; times one
   * plus the local health score, so that a node that is itself slow does
   * not blame its peers.
   */
  probeTimeoutMs(): number {
    const base = this.timing.probeTimeoutMs;
    const rto = this.#srttMs === undefined
      ? base
      : this.#srttMs + 4 * this.#rttVarMs;
    return Math.round(
      Math.min(Math.max(base, rto), base * PROBE_TIMEOUT_STRETCH_MAX) *
        (this.#awareness + 1),
    );
  }

  #health(delta: number): void {
    this.#awareness = Math.max(
      0,
      Math.min(AWARENESS_MAX, this.#awareness + delta),
    );
  }

  /** One protocol period: probe the next member; exposed for simulations. */
  async probeOnce(): Promise<void> {
    this.#expireSuspicions();
    const target = this.#nextTarget();
    if (target === undefined) return;
    const started = this.#clock.now();
    const timeoutMs = this.probeTimeoutMs();
    if (await this.#ping(target, timeoutMs)) {
      this.#health(-1);
      return;
    }
    const member = this.#members.get(target);
    if (member === undefined || member.state !== "alive") return;
    if (await this.#probeIndirectly(target, timeoutMs)) {
      // Others reach it: the fault is likelier on this side.
      this.#health(1);
      return;
    }
    // Both probes together took far longer than their timeouts: this
    // node's own event loop was held up, and its verdict means nothing.
    if (this.#clock.now() - started > 3 * timeoutMs + timeoutMs) {
      this.#health(1);
      return;
    }
    // It answered something else meanwhile (a write, a read, its own
    // probe): busy under load, not gone. A frozen or dead member sends
    // nothing and is suspected as before.
    const heard = this.#heardAtMs(target);
    if (heard !== undefined && heard >= started) {
      this.#health(1);
      return;
    }
    this.#suspect(target);
  }

  #schedule(): void {
    if (this.#stopped) return;
    const due = this.#clock.now() + this.timing.probeIntervalMs;
    this.#timer = this.#clock.after(this.timing.probeIntervalMs, () => {
      // A timer that fires late is this node's own lag.
      if (this.#clock.now() - due > this.timing.probeTimeoutMs) {
        this.#health(1);
      }
      if (!this.#probing) {
        this.#probing = true;
        this.probeOnce().finally(() => this.#probing = false);
      }
      this.#schedule();
    });
  }

  #nextTarget(): string | undefined {
    if (this.#probeOrder.length === 0) {
      this.#probeOrder = shuffle(
        [...this.#members.values()]
          .filter((m) => m.address !== this.self && m.state !== "left")
          .map((m) => m.address),
        this.#random,
      );
    }
    return this.#probeOrder.pop();
  }

  async #ping(
    target: string,
    timeoutMs = this.probeTimeoutMs(),
  ): Promise<boolean> {
    const sentAtMs = this.#clock.now();
    let answer;
    try {
      answer = await this.#transport.call(
        target,
        { kind: "ping", from: this.self, members: this.entries() },
        timeoutMs,
      );
    } catch (error) {
      if (error instanceof PeerError) return false;
      throw error;
    }
    if (answer.kind !== "ping") return false;
    const receivedAtMs = this.#clock.now();
    this.#sampleRtt(receivedAtMs - sentAtMs);
    if (answer.nowMs !== undefined) {
      this.#onClockSample(target, sentAtMs, answer.nowMs, receivedAtMs);
    }
    this.merge(target, answer.members);
    return true;
  }

  /** Folds one probe round trip into the smoothed estimate (RFC 6298). */
  #sampleRtt(rttMs: number): void {
    if (this.#srttMs === undefined) {
      this.#srttMs = rttMs;
      this.#rttVarMs = rttMs / 2;
      return;
    }
    this.#rttVarMs = 0.75 * this.#rttVarMs +
      0.25 * Math.abs(this.#srttMs - rttMs);
    this.#srttMs = 0.875 * this.#srttMs + 0.125 * rttMs;
  }

  async #probeIndirectly(target: string, timeoutMs: number): Promise<boolean> {
    const helpers = shuffle(
      [...this.#members.values()]
        .filter((m) =>
          m.address !== this.self && m.address !== target &&
          m.state === "alive"
        )
        .map((m) => m.address),
      this.#random,
    ).slice(0, this.timing.indirectProbes);
    if (helpers.length === 0) return false;
    const answers = await Promise.all(helpers.map(async (helper) => {
      try {
        const answer = await this.#transport.call(
          helper,
          { kind: "ping_req", target },
          timeoutMs * 2,
        );
        return answer.kind === "ping_req" && answer.ok;
      } catch (error) {
        if (error instanceof PeerError) return false;
        throw error;
      }
    }));
    return answers.some(Boolean);
  }

  #suspect(target: string): void {
    const member = this.#members.get(target);
    if (member === undefined || member.state !== "alive") return;
    member.state = "suspect";
    this.#suspectSince.set(target, this.#clock.now());
    this.#changed("member.state", { member: target, state: "suspect" });
  }

  #expireSuspicions(): void {
    const now = this.#clock.now();
    for (const [address, since] of this.#suspectSince) {
      const member = this.#members.get(address);
      if (member?.state !== "suspect") {
        this.#suspectSince.delete(address);
      } else if (
        now - since >=
          this.timing.suspicionTimeoutMs * Math.min(3, this.#awareness + 1)
      ) {
        member.state = "dead";
        this.#suspectSince.delete(address);
        this.#changed("member.state", { member: address, state: "dead" });
      }
    }
  }

  /** Applies one entry by SWIM's precedence; true if anything changed. */
  #apply([address, state, incarnation, phase]: MemberEntry): boolean {
    if (address === this.self) return this.#refute(state, incarnation);
    const known = this.#members.get(address);
    if (known === undefined) {
      if (this.#members.size >= MEMBERS_MAX) return false;
      this.#members.set(address, { address, state, incarnation, phase });
      if (state === "suspect") {
        this.#suspectSince.set(address, this.#clock.now());
      }
      this.#log("member.state", { member: address, state, phase });
      return true;
    }
    const newer = incarnation > known.incarnation ||
      (incarnation === known.incarnation &&
        STATE_RANK[state] > STATE_RANK[known.state]);
    if (!newer) return false;
    const was = known.state;
    known.state = state;
    known.incarnation = incarnation;
    known.phase = phase;
    if (state === "suspect" && was !== "suspect") {
      this.#suspectSince.set(address, this.#clock.now());
    }
    if (was !== state) {
      this.#log("member.state", { member: address, state, was, phase });
    }
    this.#probeOrder = this.#probeOrder.filter((a) => a !== address);
    return true;
  }

  /** Someone says this node is suspect or dead: prove it wrong. */
  #refute(state: MemberState, incarnation: number): boolean {
    const me = this.#members.get(this.self)!;
    if (me.state === "left") return false;
    if (state === "alive" || incarnation < me.incarnation) return false;
    me.incarnation = incarnation + 1;
    // Others could not reach this node in time: it may be the slow one.
    this.#health(1);
    this.#log("member.refuted", { state, incarnation: me.incarnation });
    return true;
  }

  #changed(event: string, fields: LogFields): void {
    this.#log(event, fields);
    this.#onChange();
  }
}
