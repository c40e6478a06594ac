/**
 * Consensus: a sans-I/O Raft core on the model of etcd-io/raft. The node
 * drives a {@link RawNode} with ticks and messages and does what each
 * `Ready` says (persist, then send, then apply).
 *
 * @module
 */
export { RaftLog } from "./log.ts";
export { Inflights, Progress, type ProgressState } from "./progress.ts";
export {
  committedIndex,
  majority,
  type VoteResult,
  voteResult,
} from "./quorum.ts";
export { Raft, type RaftConfig, type RaftStatus } from "./raft.ts";
export { RawNode } from "./raw_node.ts";
export {
  entrySize,
  type InitialState,
  limitSize,
  MemoryStorage,
  type Storage,
} from "./storage.ts";
export * from "./types.ts";
