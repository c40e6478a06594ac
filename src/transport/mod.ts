/**
 * Peer transports: the {@link PeerTransport} interface, the messages it
 * carries, HTTP, and an in-memory network for tests.
 *
 * @module
 */
export { BatchingTransport } from "./batching.ts";
export {
  type BreakerStats,
  BreakerTransport,
  SILENT_FAILURES_MAX,
  TRIAL_INTERVAL_MS,
} from "./breaker.ts";
export {
  CONNECTIONS_PER_PEER_MAX,
  CONNECTS_PER_PEER_MAX,
  ERROR_CODE_HEADER,
  HttpTransport,
  type HttpTransportOptions,
  PEER_PATH,
  type PoolStats,
  type RequestSigner,
} from "./http.ts";
export { codeOfLegacyStatus, LEGACY_STATUSES } from "./legacy_status.ts";
export { MemoryNetwork } from "./memory.ts";
export {
  AE_BUCKETS,
  AE_ENTRIES_MAX,
  AE_LEAVES_MAX,
  type DigestBucket,
  type HashPosition,
  type KeyEntry,
  type LeafDigestEntry,
  type MemberEntry,
  type MemberPhase,
  type MemberState,
  parsePeerRequest,
  parsePeerResponse,
  parseRecord,
  parseVersion,
  PEER_BATCH_MAX,
  type PeerRequest,
  type PeerResponse,
  type SummaryEntry,
  TRANSFER_RECORDS_MAX,
} from "./messages.ts";
export {
  ATOMIC_ITEMS_MAX,
  type AtomicRequest,
  type AtomicResponse,
  type ScanCursorRequest,
  type ScanCursorResponse,
} from "./resp_messages.ts";
export {
  PeerError,
  type PeerFailure,
  type PeerHandler,
  type PeerTransport,
} from "./transport.ts";
