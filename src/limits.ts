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
/**
 * Most bytes of values (as JSON) one peer message carries when a node
 * moves many records (hints, anti-entropy, join, leave, handoff): well
 * under the peer body limit, so that no batch is refused for its size. A
 * single larger record still travels, alone.
 */
export const PEER_BATCH_BYTES_MAX = 4 * 1024 * 1024;
/**
 * Largest peer message body a node accepts (`POST /peer`), whatever its
 * client body limit: a write of one largest value must always get through.
 * A node splits a write message that would be larger than half of it.
 */
export const PEER_BODY_BYTES_MAX = 16 * 1024 * 1024;
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

/**
 * Most client requests (`POST /`, `GET /metrics`) one node works on at once;
 * beyond it the node answers 503 with `Retry-After`. Bounds the memory that
 * bodies in flight pin (each up to {@link BODY_BYTES_MAX}) and keeps
 * latency from growing without bound under overload. `--max-concurrent-requests`.
 */
export const CONCURRENT_REQUESTS_MAX_DEFAULT = 1024;
/**
 * Most peer requests (`POST /peer`) one node works on at once. A separate
 * pool from clients', so that client overload never starves replication
 * (a refused replica write becomes a hint, a refused read a missing reply).
 * Peer traffic is bounded by design: one batched request per peer, kind
 * and event-loop turn.
 */
export const PEER_CONCURRENT_REQUESTS_MAX = 1024;
/** Seconds a client is told to wait (`Retry-After`) when the node is at its limit. */
export const RETRY_AFTER_SECONDS = 1;
/**
 * How long a request body may take to arrive, from the headers to its last
 * byte: a client that trickles its body must not hold a request slot for
 * ever (slowloris). 408 after it. `--body-timeout`.
 */
export const BODY_DEADLINE_MS_DEFAULT = 30_000;

/** Shortest client token or cluster secret accepted (`openssl rand -hex 32` gives 64). */
export const SECRET_CHARS_MIN = 16;
/** Longest client token or cluster secret accepted. */
export const SECRET_CHARS_MAX = 1024;
/** Longest cluster id (`--cluster-id`). */
export const CLUSTER_ID_CHARS_MAX = 64;
/**
 * How far a signed peer message's timestamp may be from this node's clock,
 * either way. Older messages are refused as stale; a nonce is remembered
 * for as long as its message could still be accepted.
 */
export const PEER_CLOCK_SKEW_MS_MAX = 30_000;
/**
 * Most nonces of signed peer messages remembered against replay. Each is
 * kept for up to {@link PEER_CLOCK_SKEW_MS_MAX} after its timestamp, about
 * 70 bytes; when full, new messages are refused (503) rather than the
 * replay check weakened.
 */
export const REPLAY_NONCES_MAX = 500_000;

/** A client request's deadline: a quorum not met by then answers 503. */
export const REQUEST_DEADLINE_MS_DEFAULT = 5_000;
/** A single peer call's deadline within a request. */
export const PEER_DEADLINE_MS_DEFAULT = 2_000;
/** Most peer calls one fan-out (e.g. `list_keys`) has in flight at once. */
export const FAN_OUT_MAX = 16;

/**
 * Most writes one group-commit transaction of the SQLite engine holds; a
 * turn with more commits in several. Bounds the memory a burst pins and how
 * long one commit blocks the event loop.
 */
export const STORE_BATCH_RECORDS_MAX = 10_000;
/**
 * Decoded records the SQLite engine keeps for reads, in bytes (estimated):
 * 64 MiB holds ~200,000 records of 16-byte keys and 100-byte values.
 * `--cache-mb` sets it per node.
 */
export const SQLITE_RECORD_CACHE_BYTES = 64 * 1024 * 1024;
/** SQLite page cache per store, in KiB (SQLite's default is 2 MiB). */
export const SQLITE_CACHE_KIB = 32 * 1024;
/**
 * WAL pages after which a commit checkpoints them into the database file
 * (SQLite's default is 1,000). Each checkpoint fsyncs, and a page written
 * by many commits is copied once per checkpoint: fewer, larger checkpoints
 * cut the disk writes of random-key inserts by a third, for a WAL of up to
 * 40 MiB that a restart replays in well under a second.
 */
export const SQLITE_AUTOCHECKPOINT_PAGES = 10_000;
/** The WAL is truncated back to this size after a checkpoint. */
export const SQLITE_WAL_BYTES_MAX = 64 * 1024 * 1024;
/** Most records one purge pass deletes, so a pass never stalls the node. */
export const PURGE_BATCH_RECORDS_MAX = 1_000;
/** How often the background purge looks for expired records. */
export const PURGE_INTERVAL_MS = 1_000;
/**
 * How long an expired record is kept (unreadable) before it is purged when
 * keys have several replicas: a replica that missed the write that set the
 * expiry could otherwise bring an older value back through read repair once
 * the expired one is gone. One node (N = 1) purges at once.
 */
export const EXPIRED_PURGE_GRACE_MS = 60 * 60 * 1000;

/** Longest inline RESP request, and longest `*`/`$` count line (Redis's 64 KiB). */
export const RESP_INLINE_BYTES_MAX = 64 * 1024;
/** Most arguments in one RESP command. */
export const RESP_ARGS_MAX = 1024 * 1024;
/** Largest RESP bulk string: a value (Redis allows 512 MiB). */
export const RESP_BULK_BYTES_MAX = VALUE_BYTES_MAX;
/** Most bytes of arguments in one RESP command (MSET of several large values). */
export const RESP_COMMAND_BYTES_MAX = 16 * 1024 * 1024;
/** Most bytes of replies a RESP client may have pending; more closes it. */
export const RESP_OUTPUT_BYTES_MAX = 64 * 1024 * 1024;
/** Pending RESP replies are sent once they reach this size. */
export const RESP_FLUSH_BYTES = 1024 * 1024;
/** Most RESP clients connected at once (Redis's maxclients). `--resp-max-clients`. */
export const RESP_CLIENTS_MAX_DEFAULT = 10_000;
/** A RESP client silent this long is disconnected. `--resp-idle-timeout`. */
export const RESP_IDLE_TIMEOUT_MS_DEFAULT = 300_000;
/** KV databases (Deno KV's limits): a key written, encoded, in bytes. */
export const KV_KEY_BYTES_MAX = 2048;
/** A key read may be one byte longer (a range end past a key). */
export const KV_READ_KEY_BYTES_MAX = 2049;
/** A value, encoded, in bytes. */
export const KV_VALUE_BYTES_MAX = 65_536;
/** Keys in one `kv_get_many`. */
export const KV_GET_MANY_KEYS_MAX = 10;
/** Entries in one `kv_list` page. */
export const KV_LIST_ENTRIES_MAX = 1_000;
/** Checks in one commit. */
export const KV_CHECKS_MAX = 100;
/** Mutations in one commit. */
export const KV_MUTATIONS_MAX = 1_000;
/** Keys and values of one commit's mutations, in bytes. */
export const KV_COMMIT_BYTES_MAX = 819_200;
/** Keys of one commit's checks and mutations, in bytes. */
export const KV_COMMIT_KEY_BYTES_MAX = 81_920;
/** Keys one watch follows (Deno KV's limit). */
export const KV_WATCH_KEYS_MAX = 10;
/** Longest a watch's long poll is held by a replica on another node. */
export const KV_WATCH_POLL_MS_MAX = 30_000;
/**
 * Long polls of other nodes' watches a replica holds at once; past it, a
 * poll is answered at once and its node polls again a little later, so
 * that watches never take the peer pool from Raft's own messages.
 */
export const KV_WATCH_HELD_MAX = 256;
/** Ranges in one KV Connect snapshot read (Deno KV's limit). */
export const KV_READ_RANGES_MAX = 10;
/** Voters per KV database by default (`--kv-voters`). */
export const KV_VOTERS_DEFAULT = 3;
