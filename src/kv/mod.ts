/**
 * KV databases: Deno KV's data model (tuple keys, versioned values,
 * atomic checked commits) in keyspaces each replicated by its own Raft
 * group over a few members (src/consensus). `KvDatabases` hosts a node's
 * replicas and routes operations; `KvService` is their JSON surface.
 *
 * @module
 */
export {
  compareBytes,
  fromBase64,
  fromBase64Url,
  toBase64,
  toBase64Url,
} from "./bytes.ts";
export {
  type Check,
  type Command,
  type CommitResult,
  decodeCommand,
  encodeCommand,
  indexOfVersionstamp,
  type Mutation,
  type MutationType,
  versionstampOf,
} from "./command.ts";
export {
  type ChangeListener,
  KvDatabase,
  type KvDatabaseOptions,
  NotLeaderError,
  RAFT_TIMING,
  type RaftTiming,
} from "./database.ts";
export {
  decodeKey,
  encodeKey,
  keyFromJson,
  keyToJson,
  type KvKey,
  type KvKeyPart,
  partFromJson,
  partToJson,
} from "./key.ts";
export {
  KvDatabases,
  type KvDatabasesOptions,
  type KvMember,
  type KvOp,
  type KvOpResult,
  type KvRange,
  type OpenStoreOptions,
} from "./manager.ts";
export {
  nextPlacementStep,
  type PlacementStep,
  placeVoters,
  rankMembers,
} from "./placement.ts";
export { type Applied, type KvRow, ReplicaStore } from "./replica_store.ts";
export {
  type KvConsistency,
  type KvEntryJson,
  type KvListOptions,
  type KvListSelector,
  type KvReadOptions,
  KvService,
  parseAtomic,
} from "./service.ts";
export {
  type KvValue,
  readU64,
  U64_MAX,
  u64Value,
  type ValueEncoding,
  valueFromJs,
  valueFromJson,
  valueToJson,
} from "./value.ts";
export { DB_NAME, parseRaftMessage, parseRaftMessages } from "./wire.ts";
export { changedSince, indexesOf, ReplicaWatches } from "./watch.ts";
