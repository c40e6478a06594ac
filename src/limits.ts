/**
 * Every limit KVDB enforces, in one place. Units are last in the name.
 *
 * Bad input from a client or a peer is refused against these numbers with a
 * clear error; nothing in the node waits, queues or allocates without one.
 *
 * @module
 */

/** Largest request body accepted, checked before the body is read whole. */
export const BODY_BYTES_MAX = 8 * 1024 * 1024;
/** Largest key, in UTF-8 bytes. etcd allows 1.5 MiB; 4 KiB keeps indexes small. */
export const KEY_BYTES_MAX = 4096;
/** Largest value, as serialized JSON bytes. */
export const VALUE_BYTES_MAX = 4 * 1024 * 1024;
/** Deepest JSON nesting accepted in a request body. */
export const JSON_DEPTH_MAX = 64;
/** Most keys in one `mget` / `mset`. */
export const BATCH_KEYS_MAX = 1000;
/** Most keys in one `list_keys` page. */
export const LIST_PAGE_KEYS_MAX = 10_000;
/** Most keys one node returns for an unpaged `list_keys` (the seed's form). */
export const LIST_KEYS_MAX = 1_000_000;
/** Most members in a cluster. */
export const MEMBERS_MAX = 256;
/** Longest TTL: 10 years, in seconds. */
export const TTL_SECONDS_MAX = 10 * 365 * 24 * 3600;

/** A client request's deadline: a quorum not met by then answers 503. */
export const REQUEST_DEADLINE_MS_DEFAULT = 5_000;
/** A single peer call's deadline within a request. */
export const PEER_DEADLINE_MS_DEFAULT = 2_000;
/** Most peer calls one fan-out (e.g. `list_keys`) has in flight at once. */
export const FAN_OUT_MAX = 16;
