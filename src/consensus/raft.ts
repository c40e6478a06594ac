/**
 * The Raft state machine (etcd-io/raft's `raft.go`), sans-I/O: it takes
 * messages ({@link Raft.step}) and ticks ({@link Raft.tick}) and produces
 * messages to send and log changes to persist, which {@link RawNode}
 * hands out as a `Ready`. Time is ticks, randomness is injected, nothing
 * here touches a clock, a socket or a disk.
 *
 * What it does: leader election with pre-vote (a partitioned node that
 * rejoins does not depose a healthy leader) and check-quorum (a leader
 * that cannot reach a quorum steps down; a follower that heard from its
 * leader within an election timeout ignores votes: the leader's lease);
 * log replication with batching (up to `maxSizePerMsg` per append) and
 * pipelining (up to `maxInflightMsgs` appends in flight per follower, fast
 * backtracking by term on a rejection); commit by a quorum of voters, in
 * the leader's own term only (§5.4.2); snapshots for followers that are
 * behind the compaction point; single-server membership changes, taking
 * effect when applied, one at a time; leader transfer; and ReadIndex
 * (§6.4: a read is served at the commit index once a quorum confirmed the
 * leader still leads, after it committed an entry of its own term).
 *
 * @module
 */

import { RaftLog } from "./log.ts";
import { Progress } from "./progress.ts";
import { committedIndex, majority, voteResult } from "./quorum.ts";
import type { Storage } from "./storage.ts";
import {
  assert,
  CompactedError,
  type ConfState,
  decodeConf,
  type Entry,
  isEmptyHardState,
  type Message,
  type MessageType,
  type NodeId,
  ProposalDroppedError,
  type ReadState,
  type Snapshot,
  type StateType,
} from "./types.ts";

/** How a {@link Raft} behaves; ticks are the unit of time. */
export interface RaftConfig {
  id: NodeId;
  storage: Storage;
  /** Ticks without a leader before a follower campaigns. Default 10. */
  electionTick?: number;
  /** Ticks between a leader's heartbeats. Default 1. */
  heartbeatTick?: number;
  /** The last index the state machine applied (on restart). Default 0. */
  applied?: number;
  /** Most entry bytes in one append. Default 1 MiB. */
  maxSizePerMsg?: number;
  /** Most appends in flight to one follower. Default 256. */
  maxInflightMsgs?: number;
  /** Most committed entry bytes handed out in one Ready. Default 4 MiB. */
  maxCommittedSizePerReady?: number;
  /** Step down without a quorum; ignore votes within a leader's lease. Default true. */
  checkQuorum?: boolean;
  /** Ask before campaigning. Default true. */
  preVote?: boolean;
  /** A uniform draw in [0, 1): election timeouts are randomized with it. */
  random: () => number;
  /**
   * Serve the leader's ReadIndex requests from a lease instead of a
   * heartbeat round, while a quorum acknowledged a heartbeat sent less
   * than {@link leaseTicks} ago (needs checkQuorum). Safe while the nodes'
   * clocks run at rates within 10% of each other: followers that
   * acknowledged refuse votes for an election timeout of their own ticks.
   * Default false.
   */
  leaseReads?: boolean;
  /**
   * A monotonic clock, in ms, and the lease's length in it: with them a
   * lease also ends by time, not only by ticks, so that a leader whose
   * process was paused (SIGSTOP, a long GC, a VM migration) and so missed
   * ticks does not take its lease for running when it resumes.
   */
  now?: () => number;
  leaseMs?: number;
  /**
   * Test-only: serve a follower's ReadIndex from its own commit index
   * without asking the leader. Unsafe; it exists so that the simulator's
   * linearizability checker can be shown to catch stale reads.
   */
  unsafeFollowerReads?: boolean;
}

/** A node's view of the group, for status pages. */
export interface RaftStatus {
  id: NodeId;
  term: number;
  vote: NodeId | null;
  commit: number;
  applied: number;
  lead: NodeId | null;
  state: StateType;
  conf: ConfState;
  lastIndex: number;
  /** The leader's view of each member: match and next index, state. */
  progress?: Record<
    NodeId,
    { match: number; next: number; state: string; learner: boolean }
  >;
  leadTransferee: NodeId | null;
}

type CampaignType = "pre" | "election" | "transfer";

interface ReadRequest {
  index: number;
  request: Message;
  acks: Set<NodeId>;
}

/** The Raft protocol for one member of one group. */
export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId | null = null;
  lead: NodeId | null = null;
  state: StateType = "follower";
  readonly log: RaftLog;
  /** Every member's progress (the leader's view; others keep the set only). */
  prs = new Map<NodeId, Progress>();
  voters = new Set<NodeId>();
  learners = new Set<NodeId>();
  votes = new Map<NodeId, boolean>();
  /** Messages to send, taken by the next Ready. */
  msgs: Message[] = [];
  /** Answers to ReadIndex requests, taken by the next Ready. */
  readStates: ReadState[] = [];
  leadTransferee: NodeId | null = null;
  /** No configuration change may be proposed until this index is applied. */
  pendingConfIndex = 0;
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;

  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  readonly maxMsgSize: number;
  readonly maxInflight: number;
  readonly maxCommittedSize: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly #random: () => number;
  readonly #unsafeFollowerReads: boolean;
  /**
   * Ticks before this node may grant a vote: set when it starts without a
   * configuration (a replica created empty, possibly after losing its
   * disk: it may have voted in a term it no longer remembers). It votes
   * only once a leader has given it a configuration and every candidacy
   * it could have voted in before has timed out.
   */
  #voteGuardTicks = 0;
  /** Ticks since start: heartbeats carry the tick they were sent at, for leases. */
  #ticks = 0;
  /** Per member: the send tick of the latest heartbeat it acknowledged. */
  #acked = new Map<NodeId, number>();
  /** When (by `now`) the heartbeats of recent ticks were sent. */
  #sentAtMs = new Map<number, number>();
  readonly #now: (() => number) | undefined;
  readonly #leaseMs: number;
  readonly #leaseReads: boolean;
  #readQueue: string[] = [];
  #reads = new Map<string, ReadRequest>();
  #pendingReadIndex: Message[] = [];

  constructor(config: RaftConfig) {
    this.id = config.id;
    this.electionTimeout = config.electionTick ?? 10;
    this.heartbeatTimeout = config.heartbeatTick ?? 1;
    assert(
      this.heartbeatTimeout > 0 && this.electionTimeout > this.heartbeatTimeout,
      "election timeout longer than the heartbeat",
    );
    this.maxMsgSize = config.maxSizePerMsg ?? 1024 * 1024;
    this.maxInflight = config.maxInflightMsgs ?? 256;
    this.maxCommittedSize = config.maxCommittedSizePerReady ?? 4 * 1024 * 1024;
    this.checkQuorum = config.checkQuorum ?? true;
    this.preVote = config.preVote ?? true;
    this.#random = config.random;
    this.#unsafeFollowerReads = config.unsafeFollowerReads ?? false;
    this.#leaseReads = (config.leaseReads ?? false) && this.checkQuorum;
    this.#now = config.now;
    this.#leaseMs = config.leaseMs ?? 0;
    this.log = new RaftLog(config.storage);
    const { hardState, conf } = config.storage.initialState();
    this.#setConf(conf);
    // Votes wait an election timeout after every start: a follower that
    // acknowledged a leader's heartbeat just before it crashed must not
    // help elect another while that leader's lease may still run.
    if (this.#leaseReads) this.#voteGuardTicks = this.electionTimeout;
    if (conf.voters.length === 0) {
      this.#voteGuardTicks = 2 * this.electionTimeout;
    }
    if (!isEmptyHardState(hardState)) {
      assert(
        hardState.commit >= this.log.committed &&
          hardState.commit <= this.log.lastIndex(),
        `commit ${hardState.commit} within [${this.log.committed}, ${this.log.lastIndex()}]`,
      );
      this.term = hardState.term;
      this.vote = hardState.vote;
      this.log.committed = hardState.commit;
    }
    if (config.applied !== undefined && config.applied > 0) {
      this.log.appliedTo(Math.min(config.applied, this.log.committed));
    }
    this.becomeFollower(this.term, null);
  }

  /** Whether this node may campaign: it is a voter. */
  promotable(): boolean {
    return this.voters.has(this.id);
  }

  hardState() {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState() {
    return { lead: this.lead, state: this.state };
  }

  confState(): ConfState {
    return {
      voters: [...this.voters].sort(),
      learners: [...this.learners].sort(),
    };
  }

  status(): RaftStatus {
    const s: RaftStatus = {
      id: this.id,
      term: this.term,
      vote: this.vote,
      commit: this.log.committed,
      applied: this.log.applied,
      lead: this.lead,
      state: this.state,
      conf: this.confState(),
      lastIndex: this.log.lastIndex(),
      leadTransferee: this.leadTransferee,
    };
    if (this.state === "leader") {
      s.progress = {};
      for (const [id, pr] of this.prs) {
        s.progress[id] = {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          learner: pr.isLearner,
        };
      }
    }
    return s;
  }

  // ---------------------------------------------------------------- sending

  #send(m: Message): void {
    // Votes carry the term they are for (a pre-vote the next one); every
    // other message the sender's current term.
    if (
      m.type !== "vote" && m.type !== "vote_resp" && m.type !== "pre_vote" &&
      m.type !== "pre_vote_resp"
    ) {
      m.term = this.term;
    }
    this.msgs.push(m);
  }

  /** Sends an append (or a snapshot) to `to` if flow control allows; true if sent. */
  #maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    let entries: Entry[] | undefined;
    let prevTerm = 0;
    if (prevIndex >= this.log.firstIndex() - 1) {
      prevTerm = this.log.term(prevIndex);
      try {
        entries = this.log.entriesFrom(pr.next, this.maxMsgSize);
      } catch (error) {
        if (!(error instanceof CompactedError)) throw error;
      }
    }
    if (entries === undefined) {
      // The follower needs entries that are compacted: send a snapshot,
      // to a follower that answers (a dead one would only pin it).
      if (!pr.recentActive) return false;
      const snapshot = this.log.snapshot();
      assert(snapshot.meta.index > 0, "a compacted log has a snapshot");
      this.#send({
        type: "snap",
        from: this.id,
        to,
        term: this.term,
        snapshot,
      });
      pr.becomeSnapshot(snapshot.meta.index);
      return true;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.#send({
      type: "app",
      from: this.id,
      to,
      term: this.term,
      index: prevIndex,
      logTerm: prevTerm,
      entries,
      commit: this.log.committed,
    });
    pr.sentEntries(
      entries.length,
      entries.length > 0 ? entries[entries.length - 1]!.index : prevIndex,
    );
    return true;
  }

  #sendAppend(to: NodeId): void {
    this.#maybeSendAppend(to, true);
  }

  #bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.#sendAppend(id);
  }

  #bcastHeartbeat(context?: string): void {
    if (context === undefined && this.#now !== undefined) {
      // Recorded before the messages leave: a lease counts from no later
      // than the send.
      // The first send of a tick: a later one would stretch the lease.
      if (!this.#sentAtMs.has(this.#ticks)) {
        this.#sentAtMs.set(this.#ticks, this.#now());
      }
      if (this.#sentAtMs.size > 4 * this.electionTimeout) {
        const oldest = this.#sentAtMs.keys().next().value!;
        this.#sentAtMs.delete(oldest);
      }
    }
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      // Never tell a follower a commit index past what it is known to have.
      const m: Message = {
        type: "heartbeat",
        from: this.id,
        to: id,
        term: this.term,
        commit: Math.min(pr.match, this.log.committed),
      };
      // A plain heartbeat carries its send tick: its acknowledgement
      // extends the leader's lease from then on.
      m.context = context ?? `@${this.#ticks}`;
      this.#send(m);
    }
  }

  /** Ticks a lease lasts: 0.7 of an election timeout (clock rates within 10%, a tick of slack). */
  get leaseTicks(): number {
    return Math.floor(this.electionTimeout * 0.8) - 1;
  }

  /** Whether a quorum acknowledged a heartbeat recent enough for a lease read. */
  #inLease(): boolean {
    if (!this.#leaseReads || this.leadTransferee !== null) return false;
    const sent = [...this.voters].map((id) =>
      id === this.id ? this.#ticks : this.#acked.get(id) ?? -Infinity
    ).sort((a, b) => b - a);
    const quorumSent = sent[majority(this.voters.size) - 1] ?? -Infinity;
    if (this.#ticks - quorumSent >= this.leaseTicks) return false;
    if (this.#now === undefined) return true;
    // By time too: ticks stop while the process is paused, time does not.
    const sentMs = this.#sentAtMs.get(quorumSent);
    return sentMs !== undefined && this.#now() - sentMs < this.#leaseMs;
  }

  // ------------------------------------------------------------ transitions

  #reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout +
      Math.floor(this.#random() * this.electionTimeout);
    this.leadTransferee = null;
    this.votes = new Map();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.prs) {
      const fresh = new Progress(0, last + 1, this.maxInflight, pr.isLearner);
      if (id === this.id) fresh.match = last;
      this.prs.set(id, fresh);
    }
    this.pendingConfIndex = 0;
    this.#readQueue = [];
    this.#reads = new Map();
    this.#pendingReadIndex = [];
    this.#acked = new Map();
    this.#sentAtMs = new Map();
  }

  becomeFollower(term: number, lead: NodeId | null): void {
    this.#reset(term);
    this.lead = lead;
    this.state = "follower";
  }

  becomePreCandidate(): void {
    assert(this.state !== "leader", "a leader does not pre-campaign");
    // No term change: a pre-vote must not disturb anyone.
    this.votes = new Map();
    this.lead = null;
    this.state = "pre_candidate";
  }

  becomeCandidate(): void {
    assert(this.state !== "leader", "a leader does not campaign");
    this.#reset(this.term + 1);
    this.vote = this.id;
    this.state = "candidate";
  }

  becomeLeader(): void {
    assert(
      this.state !== "follower",
      "a follower does not lead without a vote",
    );
    this.#reset(this.term);
    this.lead = this.id;
    this.state = "leader";
    this.prs.get(this.id)?.becomeReplicate();
    // Every configuration change in the log may still be pending.
    this.pendingConfIndex = this.log.lastIndex();
    // An empty entry of the new term: committing it commits everything
    // before it (§5.4.2) and lets ReadIndex start (§6.4).
    this.#appendEntries([{ term: 0, index: 0, type: "normal", data: "" }]);
  }

  // ---------------------------------------------------------------- ticking

  /** Advances time by one tick. */
  tick(): void {
    this.#ticks++;
    if (this.#voteGuardTicks > 0 && this.voters.size > 0) {
      this.#voteGuardTicks--;
    }
    if (this.state === "leader") this.#tickHeartbeat();
    else this.#tickElection();
  }

  #pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  #tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.#pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step({ type: "hup", from: this.id, to: this.id, term: 0 });
    }
  }

  #tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        this.step({
          type: "check_quorum",
          from: this.id,
          to: this.id,
          term: 0,
        });
      }
      // A transfer that did not finish within an election timeout is given up.
      if (this.state === "leader" && this.leadTransferee !== null) {
        this.leadTransferee = null;
      }
    }
    if (this.state !== "leader") return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step({ type: "beat", from: this.id, to: this.id, term: 0 });
    }
  }

  // -------------------------------------------------------------- elections

  #hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    if (lo > this.log.committed) return false;
    return this.log.slice(lo, this.log.committed + 1, Number.MAX_SAFE_INTEGER)
      .some((e) => e.type === "conf");
  }

  #hup(t: CampaignType): void {
    if (this.state === "leader" || !this.promotable()) return;
    // A configuration change committed but not applied: the voters this
    // node would ask may not be the group's.
    if (this.#hasUnappliedConfChanges()) return;
    this.#campaign(t);
  }

  #campaign(t: CampaignType): void {
    let voteType: MessageType;
    let term: number;
    if (t === "pre") {
      this.becomePreCandidate();
      voteType = "pre_vote";
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = "vote";
      term = this.term;
    }
    const respType = voteType === "vote" ? "vote_resp" : "pre_vote_resp";
    if (this.#poll(this.id, respType, true) === "won") {
      // A single voter wins at once.
      if (t === "pre") this.#campaign("election");
      else this.becomeLeader();
      return;
    }
    for (const id of this.voters) {
      if (id === this.id) continue;
      const m: Message = {
        type: voteType,
        from: this.id,
        to: id,
        term,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
      };
      if (t === "transfer") m.context = "transfer";
      this.#send(m);
    }
  }

  #poll(id: NodeId, _type: MessageType, granted: boolean) {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    return voteResult(this.voters, this.votes);
  }

  // ---------------------------------------------------------------- stepping

  /**
   * Takes one message: local (term 0) or from a peer. Throws
   * {@link ProposalDroppedError} for a proposal or a read this node cannot
   * take now.
   */
  step(m: Message): void {
    if (m.term === 0) {
      // Local message.
    } else if (m.term > this.term) {
      if (m.type === "vote" || m.type === "pre_vote") {
        const force = m.context === "transfer";
        const inLease = this.checkQuorum && this.lead !== null &&
          this.electionElapsed < this.electionTimeout;
        // Within the lease a vote could only depose a live leader.
        if (!force && inLease) return;
      }
      if (m.type === "pre_vote") {
        // A pre-vote changes no term.
      } else if (m.type === "pre_vote_resp" && !m.reject) {
        // The term is taken when the pre-vote is won.
      } else if (
        m.type === "app" || m.type === "heartbeat" || m.type === "snap"
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this.term) {
      if (
        (this.checkQuorum || this.preVote) &&
        (m.type === "heartbeat" || m.type === "app")
      ) {
        // A stale leader, cut off while the others moved on (check-quorum
        // and pre-vote keep it from raising its own term): tell it the term.
        this.#send({ type: "app_resp", from: this.id, to: m.from, term: 0 });
      } else if (m.type === "pre_vote") {
        this.#send({
          type: "pre_vote_resp",
          from: this.id,
          to: m.from,
          term: this.term,
          reject: true,
        });
      }
      return;
    }

    switch (m.type) {
      case "hup":
        this.#hup(this.preVote ? "pre" : "election");
        return;
      case "vote":
      case "pre_vote":
        this.#stepVote(m);
        return;
      default:
        break;
    }
    switch (this.state) {
      case "leader":
        this.#stepLeader(m);
        return;
      case "candidate":
      case "pre_candidate":
        this.#stepCandidate(m);
        return;
      case "follower":
        this.#stepFollower(m);
        return;
    }
  }

  #stepVote(m: Message): void {
    const respType = m.type === "vote" ? "vote_resp" : "pre_vote_resp";
    const guarded = this.#voteGuardTicks > 0 && m.context !== "transfer";
    const canVote = !guarded &&
      (this.vote === m.from ||
        (this.vote === null && this.lead === null) ||
        (m.type === "pre_vote" && m.term > this.term));
    if (canVote && this.log.isUpToDate(m.index ?? 0, m.logTerm ?? 0)) {
      // A granted vote carries the term it was asked for.
      this.#send({
        type: respType,
        from: this.id,
        to: m.from,
        term: m.term,
        reject: false,
      });
      if (m.type === "vote") {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.#send({
        type: respType,
        from: this.id,
        to: m.from,
        term: this.term,
        reject: true,
      });
    }
  }

  #stepLeader(m: Message): void {
    switch (m.type) {
      case "beat":
        this.#bcastHeartbeat();
        return;
      case "check_quorum":
        if (!this.#quorumActive()) this.becomeFollower(this.term, null);
        for (const [id, pr] of this.prs) pr.recentActive = id === this.id;
        return;
      case "prop":
        this.#propose(m);
        return;
      case "read_index":
        this.#leaderReadIndex(m);
        return;
      default:
        break;
    }
    const pr = this.prs.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case "app_resp":
        this.#handleAppendResponse(m, pr);
        return;
      case "heartbeat_resp":
        pr.recentActive = true;
        pr.msgAppFlowPaused = false;
        if (pr.match < this.log.lastIndex()) this.#sendAppend(m.from);
        if (m.context?.startsWith("@")) {
          const sentAt = Number(m.context.slice(1));
          if (
            sentAt <= this.#ticks && sentAt > (this.#acked.get(m.from) ?? -1)
          ) {
            this.#acked.set(m.from, sentAt);
          }
        } else if (m.context !== undefined) this.#readAck(m.from, m.context);
        return;
      case "snap_status":
        if (pr.state !== "snapshot") return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for a heartbeat answer before probing again.
        pr.msgAppFlowPaused = true;
        return;
      case "unreachable":
        if (pr.state === "replicate") pr.becomeProbe();
        return;
      case "transfer_leader":
        this.#transferLeader(m.from, pr);
        return;
      default:
        return;
    }
  }

  #handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let nextProbe = m.rejectHint ?? 0;
      if ((m.logTermHint ?? 0) > 0) {
        nextProbe =
          this.log.findConflictByTerm(m.rejectHint ?? 0, m.logTermHint!)[0];
      }
      if (pr.maybeDecrTo(m.index ?? 0, nextProbe)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.#sendAppend(m.from);
      }
      return;
    }
    if (m.index === undefined) return; // a stale leader's notice, not an ack
    const oldPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === "probe") {
      pr.becomeReplicate();
    } else if (
      pr.state === "snapshot" && pr.match + 1 >= this.log.firstIndex()
    ) {
      // The snapshot took: the log has what comes after it.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === "replicate") {
      pr.inflights.freeLE(m.index);
    }
    if (this.#maybeCommit()) {
      this.#releasePendingReadIndex();
      this.#bcastAppend();
    } else if (oldPaused) {
      this.#sendAppend(m.from);
    }
    // Pipelining: fill the window while there is something to send.
    while (this.#maybeSendAppend(m.from, false)) { /* keep sending */ }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.#sendTimeoutNow(m.from);
    }
  }

  #propose(m: Message): void {
    assert(
      m.entries !== undefined && m.entries.length > 0,
      "a proposal has entries",
    );
    if (!this.prs.has(this.id)) {
      throw new ProposalDroppedError("this node was removed from the group");
    }
    if (this.leadTransferee !== null) {
      throw new ProposalDroppedError(
        `leadership is being transferred to ${this.leadTransferee}`,
      );
    }
    for (const e of m.entries) {
      if (e.type !== "conf") continue;
      if (this.pendingConfIndex > this.log.applied) {
        throw new ProposalDroppedError(
          "a configuration change is still being applied",
        );
      }
      this.#checkConfChange(decodeConf(e.data));
      this.pendingConfIndex = this.log.lastIndex() + 1;
    }
    this.#appendEntries(m.entries);
    this.#bcastAppend();
  }

  /** Single-server changes only: at most one member joins or leaves at once. */
  #checkConfChange(next: ConfState): void {
    const now = new Set([...this.voters, ...this.learners]);
    const after = new Set([...next.voters, ...next.learners]);
    const votersAdded = next.voters.filter((v) => !this.voters.has(v));
    const votersRemoved = [...this.voters].filter((v) =>
      !next.voters.includes(v)
    );
    const changed = [...after].filter((v) => !now.has(v)).length +
      [...now].filter((v) => !after.has(v)).length;
    if (
      votersAdded.length + votersRemoved.length > 1 || changed > 1 ||
      next.voters.length === 0
    ) {
      throw new ProposalDroppedError(
        "a configuration change adds or removes at most one member and keeps a voter",
      );
    }
  }

  #appendEntries(entries: Entry[]): void {
    let li = this.log.lastIndex();
    const stamped = entries.map((e) => ({
      ...e,
      term: this.term,
      index: ++li,
    }));
    this.log.append(stamped);
    this.prs.get(this.id)?.maybeUpdate(this.log.lastIndex());
    this.#maybeCommit();
  }

  #maybeCommit(): boolean {
    const mci = committedIndex(
      this.voters,
      (id) => this.prs.get(id)?.match ?? 0,
    );
    if (mci === Number.MAX_SAFE_INTEGER) return false;
    return this.log.maybeCommit(mci, this.term);
  }

  #quorumActive(): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === this.id || this.prs.get(id)?.recentActive) active++;
    }
    return active >= majority(this.voters.size);
  }

  #committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  #leaderReadIndex(m: Message): void {
    if (this.voters.size === 1 && this.voters.has(this.id)) {
      this.#answerRead(m, this.log.committed);
      return;
    }
    // Until it commits an entry of its term, a new leader does not know
    // the commit index (§6.4): hold the read until then.
    if (!this.#committedEntryInCurrentTerm()) {
      this.#pendingReadIndex.push(m);
      return;
    }
    if (this.#inLease()) {
      this.#answerRead(m, this.log.committed);
      return;
    }
    this.#startRead(m);
  }

  #startRead(m: Message): void {
    const ctx = m.context;
    assert(ctx !== undefined, "a read has a context");
    if (!this.#reads.has(ctx)) {
      this.#reads.set(ctx, {
        index: this.log.committed,
        request: m,
        acks: new Set([this.id]),
      });
      this.#readQueue.push(ctx);
    }
    this.#bcastHeartbeat(ctx);
  }

  #releasePendingReadIndex(): void {
    if (!this.#committedEntryInCurrentTerm()) return;
    const pending = this.#pendingReadIndex;
    this.#pendingReadIndex = [];
    for (const m of pending) this.#startRead(m);
  }

  #readAck(from: NodeId, ctx: string): void {
    const read = this.#reads.get(ctx);
    if (read === undefined) return;
    read.acks.add(from);
    let granted = 0;
    for (const id of this.voters) if (read.acks.has(id)) granted++;
    if (granted < majority(this.voters.size)) return;
    // This read and every one queued before it are confirmed.
    const upTo = this.#readQueue.indexOf(ctx);
    assert(upTo >= 0, "a pending read is queued");
    const done = this.#readQueue.slice(0, upTo + 1);
    this.#readQueue = this.#readQueue.slice(upTo + 1);
    for (const c of done) {
      const r = this.#reads.get(c)!;
      this.#reads.delete(c);
      this.#answerRead(r.request, r.index);
    }
  }

  #answerRead(m: Message, index: number): void {
    if (m.from === this.id) {
      this.readStates.push({ index, context: m.context! });
    } else {
      this.#send({
        type: "read_index_resp",
        from: this.id,
        to: m.from,
        term: this.term,
        index,
        context: m.context!,
      });
    }
  }

  #transferLeader(transferee: NodeId, pr: Progress): void {
    if (pr.isLearner) return;
    if (this.leadTransferee === transferee) return;
    this.leadTransferee = null;
    if (transferee === this.id) return;
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.log.lastIndex()) this.#sendTimeoutNow(transferee);
    else this.#sendAppend(transferee);
  }

  #sendTimeoutNow(to: NodeId): void {
    this.#send({ type: "timeout_now", from: this.id, to, term: this.term });
  }

  #stepCandidate(m: Message): void {
    const myResp = this.state === "pre_candidate"
      ? "pre_vote_resp"
      : "vote_resp";
    switch (m.type) {
      case "prop":
        throw new ProposalDroppedError("no leader");
      case "read_index":
        throw new ProposalDroppedError("no leader");
      case "app":
        this.becomeFollower(m.term, m.from);
        this.#handleAppend(m);
        return;
      case "heartbeat":
        this.becomeFollower(m.term, m.from);
        this.#handleHeartbeat(m);
        return;
      case "snap":
        this.becomeFollower(m.term, m.from);
        this.#handleSnapshot(m);
        return;
      case "vote_resp":
      case "pre_vote_resp": {
        if (m.type !== myResp) return;
        const result = this.#poll(m.from, m.type, !m.reject);
        if (result === "won") {
          if (this.state === "pre_candidate") this.#campaign("election");
          else {
            this.becomeLeader();
            this.#bcastAppend();
          }
        } else if (result === "lost") {
          this.becomeFollower(this.term, null);
        }
        return;
      }
      default:
        return;
    }
  }

  #stepFollower(m: Message): void {
    switch (m.type) {
      case "prop":
        throw new ProposalDroppedError(
          this.lead === null ? "no leader" : `not the leader (${this.lead} is)`,
        );
      case "app":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleAppend(m);
        return;
      case "heartbeat":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleHeartbeat(m);
        return;
      case "snap":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleSnapshot(m);
        return;
      case "transfer_leader":
        if (this.lead === null) {
          throw new ProposalDroppedError("no leader to transfer from");
        }
        this.#send({ ...m, to: this.lead });
        return;
      case "timeout_now":
        // The leader asked this node to take over now, lease or not.
        if (this.promotable()) this.#campaign("transfer");
        return;
      case "read_index":
        if (this.#unsafeFollowerReads && m.from === this.id) {
          this.readStates.push({
            index: this.log.committed,
            context: m.context!,
          });
          return;
        }
        if (this.lead === null) throw new ProposalDroppedError("no leader");
        this.#send({ ...m, to: this.lead });
        return;
      case "read_index_resp":
        this.readStates.push({ index: m.index ?? 0, context: m.context ?? "" });
        return;
      default:
        return;
    }
  }

  #handleAppend(m: Message): void {
    const index = m.index ?? 0;
    if (index < this.log.committed) {
      this.#send({
        type: "app_resp",
        from: this.id,
        to: m.from,
        term: this.term,
        index: this.log.committed,
      });
      return;
    }
    const last = this.log.maybeAppend(
      index,
      m.logTerm ?? 0,
      m.commit ?? 0,
      m.entries ?? [],
    );
    if (last !== undefined) {
      this.#send({
        type: "app_resp",
        from: this.id,
        to: m.from,
        term: this.term,
        index: last,
      });
      return;
    }
    // Tell the leader where our logs may agree, by term, so that it skips
    // a whole term of mismatching entries at once.
    const [hintIndex, hintTerm] = this.log.findConflictByTerm(
      Math.min(index, this.log.lastIndex()),
      m.logTerm ?? 0,
    );
    this.#send({
      type: "app_resp",
      from: this.id,
      to: m.from,
      term: this.term,
      index,
      reject: true,
      rejectHint: hintIndex,
      logTermHint: hintTerm,
    });
  }

  #handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit ?? 0, this.log.lastIndex()));
    const r: Message = {
      type: "heartbeat_resp",
      from: this.id,
      to: m.from,
      term: this.term,
    };
    if (m.context !== undefined) r.context = m.context;
    this.#send(r);
  }

  #handleSnapshot(m: Message): void {
    const s = m.snapshot;
    assert(s !== undefined, "a snap message has a snapshot");
    const index = this.#restore(s) ? this.log.lastIndex() : this.log.committed;
    this.#send({
      type: "app_resp",
      from: this.id,
      to: m.from,
      term: this.term,
      index,
    });
  }

  /** Takes a snapshot in place of the log; false if the log already has it. */
  #restore(s: Snapshot): boolean {
    if (s.meta.index <= this.log.committed) return false;
    if (this.log.matchTerm(s.meta.index, s.meta.term)) {
      // The log has the entry: just commit up to it.
      this.log.commitTo(s.meta.index);
      return false;
    }
    this.log.restore(s);
    this.#setConf(s.meta.conf);
    return true;
  }

  // ---------------------------------------------------------- configuration

  #setConf(conf: ConfState): void {
    const next = new Map<NodeId, Progress>();
    const last = this.log.lastIndex();
    for (const id of [...conf.voters, ...conf.learners]) {
      const learner = !conf.voters.includes(id);
      const old = this.prs.get(id);
      if (old !== undefined) {
        old.isLearner = learner;
        next.set(id, old);
      } else {
        next.set(id, new Progress(0, last + 1, this.maxInflight, learner));
      }
    }
    this.prs = next;
    this.voters = new Set(conf.voters);
    this.learners = new Set(conf.learners.filter((l) => !this.voters.has(l)));
  }

  /** Applies a configuration change (when its entry is applied). */
  applyConfChange(conf: ConfState): void {
    this.#setConf(conf);
    if (this.state !== "leader") return;
    if (!this.voters.has(this.id)) {
      // A leader removed from the group leaves it leaderless: the others
      // elect a new leader after an election timeout (a planned removal
      // transfers leadership first).
      this.becomeFollower(this.term, null);
      return;
    }
    const self = this.prs.get(this.id)!;
    self.match = this.log.lastIndex();
    if (this.leadTransferee !== null && !this.voters.has(this.leadTransferee)) {
      this.leadTransferee = null;
    }
    if (this.#maybeCommit()) this.#bcastAppend();
    else {
      for (const id of this.prs.keys()) {
        if (id !== this.id) this.#maybeSendAppend(id, false);
      }
    }
  }
}
