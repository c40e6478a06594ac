/**
 * The application's door to Raft (etcd's `RawNode`): feed it ticks,
 * messages and proposals; take a {@link Ready}; do what it says in order;
 * call {@link RawNode.advance}.
 *
 * @module
 */

import { Raft, type RaftConfig, type RaftStatus } from "./raft.ts";
import {
  assert,
  type ConfState,
  decodeConf,
  encodeConf,
  type HardState,
  type Message,
  type NodeId,
  ProposalDroppedError,
  type Ready,
  REMOTE_MESSAGE_TYPES,
  type SoftState,
} from "./types.ts";

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** One member of one Raft group, driven by the application. */
export class RawNode {
  readonly raft: Raft;
  #prevSoft: SoftState;
  #prevHard: HardState;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.#prevSoft = this.raft.softState();
    this.#prevHard = this.raft.hardState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (pre-vote first, if on). */
  campaign(): void {
    this.raft.step({ type: "hup", from: this.id, to: this.id, term: 0 });
  }

  /** Proposes a command; throws ProposalDroppedError unless this node leads. */
  propose(data: string): void {
    this.raft.step({
      type: "prop",
      from: this.id,
      to: this.id,
      term: 0,
      entries: [{ term: 0, index: 0, type: "normal", data }],
    });
  }

  /** Proposes a new configuration (one member added or removed). */
  proposeConfChange(conf: ConfState): void {
    this.raft.step({
      type: "prop",
      from: this.id,
      to: this.id,
      term: 0,
      entries: [{ term: 0, index: 0, type: "conf", data: encodeConf(conf) }],
    });
  }

  /**
   * Asks for a read index; the answer comes as a read state with this
   * `context` in a later Ready. Throws ProposalDroppedError without a leader.
   */
  readIndex(context: string): void {
    this.raft.step({
      type: "read_index",
      from: this.id,
      to: this.id,
      term: 0,
      context,
    });
  }

  /** Asks the leader to hand leadership to `transferee`. */
  transferLeader(transferee: NodeId): void {
    this.raft.step({
      type: "transfer_leader",
      from: transferee,
      to: this.id,
      term: 0,
    });
  }

  /** The transport could not deliver to `id`. */
  reportUnreachable(id: NodeId): void {
    this.raft.step({ type: "unreachable", from: id, to: this.id, term: 0 });
  }

  /** A snapshot sent to `id` was taken, or failed. */
  reportSnapshot(id: NodeId, failed: boolean): void {
    this.raft.step({
      type: "snap_status",
      from: id,
      to: this.id,
      term: 0,
      reject: failed,
    });
  }

  /** Takes a message from a peer; local message types are refused. */
  step(m: Message): void {
    assert(
      REMOTE_MESSAGE_TYPES.includes(m.type) && m.term > 0,
      `a peer's message is a remote type with a term (${m.type}, ${m.term})`,
    );
    try {
      this.raft.step(m);
    } catch (error) {
      // A read or transfer forwarded to a node that cannot take it now (no
      // leader any more): dropped, as a lost message is; the sender retries.
      if (!(error instanceof ProposalDroppedError)) throw error;
    }
  }

  status(): RaftStatus {
    return this.raft.status();
  }

  /** Whether there is anything to do. */
  hasReady(): boolean {
    const r = this.raft;
    const soft = r.softState();
    if (
      soft.lead !== this.#prevSoft.lead || soft.state !== this.#prevSoft.state
    ) {
      return true;
    }
    if (!sameHard(r.hardState(), this.#prevHard)) return true;
    if (r.log.unstable.snapshot !== undefined) return true;
    return r.msgs.length > 0 || r.log.unstableEntries().length > 0 ||
      r.readStates.length > 0 || r.log.hasNextCommittedEntries();
  }

  /** What to persist, send and apply now (see {@link Ready} for the order). */
  ready(): Ready {
    const r = this.raft;
    const rd: Ready = {
      entries: [...r.log.unstableEntries()],
      committedEntries: r.log.nextCommittedEntries(r.maxCommittedSize),
      messages: r.msgs,
      readStates: r.readStates,
      mustSync: false,
    };
    const snap = r.log.unstable.snapshot;
    if (snap !== undefined) rd.snapshot = snap;
    const soft = r.softState();
    if (
      soft.lead !== this.#prevSoft.lead || soft.state !== this.#prevSoft.state
    ) {
      rd.softState = soft;
      this.#prevSoft = soft;
    }
    const hard = r.hardState();
    if (!sameHard(hard, this.#prevHard)) {
      rd.hardState = hard;
      rd.mustSync = hard.term !== this.#prevHard.term ||
        hard.vote !== this.#prevHard.vote;
    }
    rd.mustSync ||= rd.entries.length > 0 || snap !== undefined;
    r.msgs = [];
    r.readStates = [];
    return rd;
  }

  /**
   * The Ready was persisted, sent and applied: configuration changes in it
   * take effect, and the next Ready starts after it.
   */
  advance(rd: Ready): void {
    const r = this.raft;
    if (rd.hardState !== undefined) this.#prevHard = rd.hardState;
    if (rd.snapshot !== undefined) {
      r.log.stableSnapTo(rd.snapshot.meta.index);
      if (rd.snapshot.meta.index > r.log.applied) {
        r.log.appliedTo(rd.snapshot.meta.index);
      }
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      r.log.stableTo(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) {
      for (const e of rd.committedEntries) {
        if (e.type === "conf") r.applyConfChange(decodeConf(e.data));
      }
      r.log.appliedTo(
        rd.committedEntries[rd.committedEntries.length - 1]!.index,
      );
    }
  }
}
