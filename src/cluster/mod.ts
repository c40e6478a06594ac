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
  type CoordinatorObserver,
  type CoordinatorOptions,
  majority,
  type MemberView,
  type ReadOptions,
  type ReplicationSettings,
  type WriteAck,
  type WriteOptions,
} from "./coordinator.ts";
export {
  type KeyPage,
  type ListOptions,
  mergeKeyPages,
} from "./key_listing.ts";
export { deliverHints, type HandoffOptions } from "./hinted_handoff.ts";
export { isPeerFailure } from "./peer_failure.ts";
export {
  AE_KEYS_PER_ROUND_DEFAULT,
  AE_SETTLE_MS,
  AntiEntropy,
  type AntiEntropyOptions,
  type AntiEntropyStats,
} from "./anti_entropy.ts";
export { Digests, type DigestStatus, ringId } from "./digests.ts";
export { DigestTree, leafStarts, recordHash } from "./digest_tree.ts";
export {
  CLOCK_OFFSET_MS_MAX_DEFAULT,
  ClockSkew,
  type ClockSkewOptions,
  type OffsetEstimate,
} from "./clock_skew.ts";
export {
  ClusterNode,
  type ClusterNodeOptions,
  type ClusterTiming,
} from "./cluster_node.ts";
export { fanOut, type Settled } from "./fan_out.ts";
export {
  HINT_LIMITS_DEFAULT,
  type HintLimits,
  type HintStats,
  HintStore,
} from "./hints.ts";
export {
  type Member,
  type MemberEntry,
  type MemberPhase,
  Membership,
  MEMBERSHIP_TIMING_DEFAULT,
  type MembershipOptions,
  type MembershipTiming,
  type RemoveRefusal,
} from "./membership.ts";
export {
  ATOMIC_KEYS_MAX,
  type AtomicOp,
  type AtomicOutcome,
  type AtomicWrite,
  KeySerializer,
  type KeySerializerOptions,
  type KeySerializerStats,
  OwnerUnreachableError,
} from "./key_serializer.ts";
export { peerDispatcher } from "./peer_dispatch.ts";
export { mulberry32, type Random, seededRandom, shuffle } from "./random.ts";
export {
  Repair,
  type RepairOptions,
  type RepairStats,
  type TransferProgress,
} from "./repair.ts";
export {
  readMembers,
  type RingBuilder,
  Topology,
  writeMembers,
} from "./topology.ts";
export {
  gatherQuorum,
  type Quorum,
  type QuorumCounts,
  type QuorumOutcome,
  type QuorumState,
  quorumState,
} from "./quorum.ts";
