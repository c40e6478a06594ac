/**
 * Cluster logic: the coordinator (quorum reads and writes, read repair)
 * and its helpers. No I/O of its own: transport, clock and store are
 * handed in.
 *
 * @module
 */
export {
  type Consistency,
  Coordinator,
  type CoordinatorOptions,
  type KeyPage,
  type ListOptions,
  majority,
  mergeKeyPages,
  type ReadOptions,
  type ReplicationSettings,
  type WriteOptions,
} from "./coordinator.ts";
export { fanOut, type Settled } from "./fan_out.ts";
export { type MemberState, PeerHealth } from "./peer_health.ts";
export {
  gatherQuorum,
  type Quorum,
  type QuorumOutcome,
  type QuorumState,
} from "./quorum.ts";
