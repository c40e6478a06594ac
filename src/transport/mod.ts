/**
 * Peer transports: the {@link PeerTransport} interface, the messages it
 * carries, HTTP, and an in-memory network for tests.
 *
 * @module
 */
export { BatchingTransport } from "./batching.ts";
export {
  HttpTransport,
  type HttpTransportOptions,
  PEER_PATH,
  type RequestSigner,
} from "./http.ts";
export { MemoryNetwork } from "./memory.ts";
export {
  AE_BUCKETS,
  AE_KEYS_MAX,
  type DigestBucket,
  type KeyEntry,
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
  type PeerHandler,
  type PeerTransport,
} from "./transport.ts";
