/**
 * The data a Raft group exchanges and keeps: entries, hard state,
 * configurations, snapshots, messages and the {@link Ready} batch. Shaped
 * after etcd-io/raft's `raftpb`, with node ids as strings (a member's
 * "host:port").
 *
 * @module
 */

/** A member of a Raft group: its "host:port". */
export type NodeId = string;

/** What an entry carries: a command for the state machine, or a configuration. */
export type EntryType = "normal" | "conf";

/** One log entry. `data` is opaque to Raft (the state machine's encoding). */
export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: string;
}

/** What must be on disk before a node sends a message or acknowledges. */
export interface HardState {
  term: number;
  vote: NodeId | null;
  commit: number;
}

/** The group's voters and learners (learners replicate but do not vote). */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

/** Where a snapshot stands in the log, and the configuration at that point. */
export interface SnapshotMeta {
  index: number;
  term: number;
  conf: ConfState;
}

/** A state machine image up to `meta.index`; `data` is the state machine's. */
export interface Snapshot {
  meta: SnapshotMeta;
  data: string;
}

/** Every message type. Local types never cross the network. */
export type MessageType =
  // Local: start an election (a tick that ran out, or a caller).
  | "hup"
  // Local: leader, send heartbeats now.
  | "beat"
  // Local: append a proposal (leader only; followers drop it).
  | "prop"
  // Local: leader, check that a quorum heard from you lately.
  | "check_quorum"
  // Local or forwarded: hand leadership to `from` (or the given node).
  | "transfer_leader"
  // Local: the transport could not reach `from`.
  | "unreachable"
  // Local: a snapshot sent to `from` was applied or failed.
  | "snap_status"
  | "app"
  | "app_resp"
  | "vote"
  | "vote_resp"
  | "pre_vote"
  | "pre_vote_resp"
  | "snap"
  | "heartbeat"
  | "heartbeat_resp"
  | "timeout_now"
  | "read_index"
  | "read_index_resp";

/** The message types that travel between nodes. */
export const REMOTE_MESSAGE_TYPES: readonly MessageType[] = [
  "app",
  "app_resp",
  "vote",
  "vote_resp",
  "pre_vote",
  "pre_vote_resp",
  "snap",
  "heartbeat",
  "heartbeat_resp",
  "timeout_now",
  "read_index",
  "read_index_resp",
  "transfer_leader",
];

/**
 * A message, as etcd's `raftpb.Message`: one shape for every type, the
 * fields each type uses set. `index`/`logTerm` name the entry that
 * precedes `entries` (app), the candidate's last entry (vote), or the
 * highest index a follower has (app_resp).
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  logTerm?: number;
  index?: number;
  entries?: Entry[];
  commit?: number;
  reject?: boolean;
  /** On a rejected append: the follower's guess at where logs agree. */
  rejectHint?: number;
  /** On a rejected append: the term at `rejectHint`. */
  logTermHint?: number;
  snapshot?: Snapshot;
  /** A vote for a leader transfer ("transfer"), or a read's request id. */
  context?: string;
}

/** A node's role. */
export type StateType = "follower" | "pre_candidate" | "candidate" | "leader";

/** What changes often and need not be persisted. */
export interface SoftState {
  lead: NodeId | null;
  state: StateType;
}

/**
 * The answer to a ReadIndex request: once the state machine has applied
 * `index`, a read started before the request sees every write committed
 * before it.
 */
export interface ReadState {
  index: number;
  context: string;
}

/**
 * What the node must do, in order (etcd's `Ready` contract):
 *
 * 1. persist `snapshot` (if any), `entries` and `hardState` (if any);
 *    `mustSync` says whether that write must reach the disk;
 * 2. then send `messages` (never before: a vote or an append
 *    acknowledgement promises what is on disk);
 * 3. apply `committedEntries` to the state machine, and serve the reads of
 *    `readStates` once their index is applied;
 * 4. call `advance(ready)`.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  readStates: ReadState[];
  entries: Entry[];
  snapshot?: Snapshot;
  committedEntries: Entry[];
  messages: Message[];
  mustSync: boolean;
}

/** Raft could not take a proposal: not the leader, or a transfer is under way. */
export class ProposalDroppedError extends Error {
  constructor(why: string) {
    super(`proposal dropped: ${why}`);
    this.name = "ProposalDroppedError";
  }
}

/** Compaction or a snapshot asked for entries that are gone or not there yet. */
export class CompactedError extends Error {
  constructor(message = "requested index is unavailable due to compaction") {
    super(message);
    this.name = "CompactedError";
  }
}

/** An entry past the end of the log. */
export class UnavailableEntryError extends Error {
  constructor(message = "requested entry at index is unavailable") {
    super(message);
    this.name = "UnavailableEntryError";
  }
}

/** Asserts an invariant of the core: a failure is a bug, never an input. */
export function assert(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`raft invariant violated: ${what}`);
}

/** Whether a hard state is the zero one. */
export function isEmptyHardState(h: HardState): boolean {
  return h.term === 0 && h.vote === null && h.commit === 0;
}

/** The configuration change an entry of type "conf" carries: the new sets. */
export function encodeConf(conf: ConfState): string {
  return JSON.stringify({
    voters: [...conf.voters].sort(),
    learners: [...conf.learners].sort(),
  });
}

/** Reads a "conf" entry's data; throws on a malformed one (a bug upstream). */
export function decodeConf(data: string): ConfState {
  const x = JSON.parse(data) as { voters?: unknown; learners?: unknown };
  assert(
    Array.isArray(x.voters) && Array.isArray(x.learners) &&
      x.voters.every((v) => typeof v === "string") &&
      x.learners.every((v) => typeof v === "string"),
    "a conf entry holds voters and learners",
  );
  return { voters: x.voters as NodeId[], learners: x.learners as NodeId[] };
}
