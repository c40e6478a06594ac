/**
 * The one table of a node's settings: flag, unit, range, default and what
 * it does. The `node` command's flags (src/cli/node_command.ts),
 * `validateConfig`'s ranges (config.ts) and README.md's flag table
 * (`deno task docs`, checked by tests/tables_test.ts) all come from it.
 *
 * To add a setting: add a row (with `key`, the {@link NodeConfig} field it
 * fills); an integer or a choice needs nothing else. A setting that
 * needs reading or combining (files, secrets) is mapped by hand in
 * src/cli/node_command.ts.
 *
 * @module
 */

import {
  BODY_BYTES_MAX,
  BODY_DEADLINE_MS_DEFAULT,
  CONCURRENT_REQUESTS_MAX_DEFAULT,
  KV_VOTERS_DEFAULT,
  MEMBERS_MAX,
  PEER_DEADLINE_MS_DEFAULT,
  REQUEST_DEADLINE_MS_DEFAULT,
  RESP_CLIENTS_MAX_DEFAULT,
  RESP_IDLE_TIMEOUT_MS_DEFAULT,
} from "./limits.ts";
import { VNODES_DEFAULT } from "./ring/mod.ts";

/** The seed's default port. */
export const DEFAULT_PORT = 5878;

/** Failure detector and repair defaults; see docs/failures.md for why. */
export const CLUSTER_DEFAULTS = {
  probeIntervalMs: 500,
  suspicionTimeoutMs: 2_000,
  antiEntropyIntervalMs: 2_000,
  hintIntervalMs: 500,
  hintCountMax: 100_000,
  hintBytesMax: 64 * 1024 * 1024,
  tombstoneGraceMs: 24 * 3600 * 1000,
  maxClockOffsetMs: 500,
  streamMbPerS: 0,
} as const;

/** What a setting's value is and how its flag reads it. */
export type SettingKind =
  /** An integer in [min, max]. */
  | "integer"
  /** One of `choices`. */
  | "choice"
  /** A string as given. */
  | "string"
  /** A path to a file or directory. */
  | "file"
  /** A flag without a value. */
  | "switch"
  /** A comma-separated member list. */
  | "members"
  /** One member, `host:port`. */
  | "member";

/** One row of {@link SETTINGS}. */
export interface SettingDef {
  /** The long flag, `--request-timeout`. */
  readonly flag: string;
  /** The short flag, `-P`, if any. */
  readonly short?: string;
  /** The value's placeholder in help, `<ms>`; absent for a switch. */
  readonly arg?: string;
  readonly kind: SettingKind;
  /** The NodeConfig field it fills, when it maps one to one. */
  readonly key?: string;
  /** The unit (`ms`, `bytes`, `MiB`, `s`), for the docs. */
  readonly unit?: string;
  /** Inclusive bounds of an integer. */
  readonly min?: number;
  readonly max?: number;
  /** The values a choice takes. */
  readonly choices?: readonly string[];
  /** The default the flag has; absent: none (or computed, see `defaultDoc`). */
  readonly default?: number | string | readonly string[];
  /** How the docs show the default, when the value alone does not say it. */
  readonly defaultDoc?: string;
  /** The flag's help line. */
  readonly description: string;
  /** More for the README's table, if the help line is not enough (Markdown). */
  readonly doc?: string;
  /** Another setting (its key) this one cannot be given with. */
  readonly conflicts?: string;
}

const DAY_MS = 86_400_000;

/** Every `node` flag, in the order help and the README list them. */
export const SETTINGS: readonly SettingDef[] = [
  {
    flag: "--host",
    short: "-H",
    arg: "<host>",
    kind: "string",
    key: "host",
    default: "127.0.0.1",
    description: "interface to listen on; also the node's name in the ring",
  },
  {
    flag: "--port",
    short: "-P",
    arg: "<port>",
    kind: "integer",
    key: "port",
    min: 1,
    max: 65535,
    default: DEFAULT_PORT,
    description: "port",
  },
  {
    flag: "--cluster",
    short: "-C",
    arg: "<members>",
    kind: "members",
    key: "cluster",
    default: [],
    defaultDoc: "none",
    description:
      "comma-separated members, host[:port] (port 5878 by default); may include this node",
  },
  {
    flag: "--replication-factor",
    short: "-R",
    arg: "<n>",
    kind: "integer",
    key: "replicationFactor",
    min: 1,
    max: MEMBERS_MAX,
    default: 1,
    description:
      "N: copies of each key, on distinct nodes (capped at the cluster size)",
  },
  {
    flag: "--read-quorum",
    arg: "<r>",
    kind: "integer",
    key: "readQuorum",
    min: 1,
    max: MEMBERS_MAX,
    defaultDoc: "majority of N",
    description: "R: replies a read waits for",
  },
  {
    flag: "--write-quorum",
    arg: "<w>",
    kind: "integer",
    key: "writeQuorum",
    min: 1,
    max: MEMBERS_MAX,
    defaultDoc: "majority of N",
    description: "W: acknowledgements a write waits for",
  },
  {
    flag: "--kv-voters",
    arg: "<n>",
    kind: "integer",
    key: "kvVoters",
    min: 1,
    max: 5,
    default: KV_VOTERS_DEFAULT,
    description:
      "voters per KV database (1, 3 or 5; capped by the members): each database is a Raft group",
    doc: "([docs/consistency.md](docs/consistency.md))",
  },
  {
    flag: "--vnodes",
    arg: "<n>",
    kind: "integer",
    key: "vnodes",
    min: 1,
    max: 4096,
    default: VNODES_DEFAULT,
    description:
      "virtual nodes per member on the ring; every member must use the same value",
    doc: "([docs/ring.md](docs/ring.md))",
  },
  {
    flag: "--request-timeout",
    arg: "<ms>",
    kind: "integer",
    key: "requestDeadlineMs",
    unit: "ms",
    min: 1,
    max: 600_000,
    default: REQUEST_DEADLINE_MS_DEFAULT,
    description: "a client request's deadline; without its quorum by then, 503",
  },
  {
    flag: "--peer-timeout",
    arg: "<ms>",
    kind: "integer",
    key: "peerDeadlineMs",
    unit: "ms",
    min: 1,
    max: 600_000,
    default: PEER_DEADLINE_MS_DEFAULT,
    description: "one call to a peer's deadline",
  },
  {
    flag: "--data-dir",
    arg: "<dir>",
    kind: "file",
    defaultDoc: "`./data/<host>_<port>`",
    description:
      "where this node keeps its data (SQLite); one directory per node, locked while it runs",
    conflicts: "memory",
  },
  {
    flag: "--memory",
    kind: "switch",
    defaultDoc: "off",
    description:
      "keep everything in memory, as the seed did: nothing survives a restart",
  },
  {
    flag: "--sync",
    arg: "<mode>",
    kind: "choice",
    key: "sync",
    choices: ["normal", "full"],
    default: "normal",
    description:
      "normal: an acknowledged write survives a crash of the process; full: fsync per commit batch, it also survives power loss",
  },
  {
    flag: "--cache-mb",
    arg: "<n>",
    kind: "integer",
    key: "cacheMb",
    unit: "MiB",
    min: 0,
    max: 1024 * 1024,
    default: 64,
    description:
      "MiB of decoded records the SQLite engine keeps for reads (0: none)",
    doc: "([docs/storage.md](docs/storage.md#record-cache))",
    conflicts: "memory",
  },
  {
    flag: "--join",
    arg: "<member>",
    kind: "member",
    key: "join",
    defaultDoc: "none",
    description:
      "join a running cluster through this member (host:port, not this node); waits until it answers; streams this node's ranges before it serves reads",
  },
  {
    flag: "--probe-interval",
    arg: "<ms>",
    kind: "integer",
    key: "probeIntervalMs",
    unit: "ms",
    min: 10,
    max: 60_000,
    default: CLUSTER_DEFAULTS.probeIntervalMs,
    description: "failure detection: time between probes",
  },
  {
    flag: "--suspicion-timeout",
    arg: "<ms>",
    kind: "integer",
    key: "suspicionTimeoutMs",
    unit: "ms",
    min: 10,
    max: 600_000,
    default: CLUSTER_DEFAULTS.suspicionTimeoutMs,
    description:
      "failure detection: time a suspect member has to refute before it is dead",
  },
  {
    flag: "--anti-entropy-interval",
    arg: "<ms>",
    kind: "integer",
    key: "antiEntropyIntervalMs",
    unit: "ms",
    min: 10,
    max: DAY_MS,
    default: CLUSTER_DEFAULTS.antiEntropyIntervalMs,
    description: "time between anti-entropy rounds with a random peer",
  },
  {
    flag: "--hint-interval",
    arg: "<ms>",
    kind: "integer",
    key: "hintIntervalMs",
    unit: "ms",
    min: 10,
    max: 600_000,
    default: CLUSTER_DEFAULTS.hintIntervalMs,
    description: "time between deliveries of hints to members that are back",
  },
  {
    flag: "--hint-max-count",
    arg: "<n>",
    kind: "integer",
    key: "hintCountMax",
    min: 0,
    max: 100_000_000,
    default: CLUSTER_DEFAULTS.hintCountMax,
    description: "most hinted writes held for down members",
  },
  {
    flag: "--hint-max-bytes",
    arg: "<n>",
    kind: "integer",
    key: "hintBytesMax",
    unit: "bytes",
    min: 0,
    max: 2 ** 40,
    default: CLUSTER_DEFAULTS.hintBytesMax,
    defaultDoc: "64 MiB",
    description: "most bytes of hints held",
  },
  {
    flag: "--stream-mb-per-s",
    arg: "<n>",
    kind: "integer",
    key: "streamMbPerS",
    unit: "MB/s",
    min: 0,
    max: 100_000,
    default: CLUSTER_DEFAULTS.streamMbPerS,
    defaultDoc: "0 (no limit)",
    description:
      "most MB/s (10^6 bytes of keys and values) that this node's join, leave and handoff streams send, together; 0: no limit",
    doc: "([docs/operations.md](docs/operations.md#rebalancing-speed))",
  },
  {
    flag: "--tombstone-grace",
    arg: "<ms>",
    kind: "integer",
    key: "tombstoneGraceMs",
    unit: "ms",
    min: 0,
    max: 10 * 365 * DAY_MS,
    default: CLUSTER_DEFAULTS.tombstoneGraceMs,
    defaultDoc: "24 h",
    description:
      "how long a delete is remembered before its tombstone may be purged",
  },
  {
    flag: "--max-clock-offset",
    arg: "<ms>",
    kind: "integer",
    key: "maxClockOffsetMs",
    unit: "ms",
    min: 1,
    max: 600_000,
    default: CLUSTER_DEFAULTS.maxClockOffsetMs,
    description:
      "refuse to coordinate writes while this node's clock is further than this from most peers'",
    doc: "([docs/failures.md](docs/failures.md))",
  },
  {
    flag: "--auth-token",
    arg: "<token>",
    kind: "string",
    defaultDoc: "none (open)",
    description:
      "clients must send 'Authorization: Bearer <token>' (also $KVDB_AUTH_TOKEN; visible in ps: prefer the file or the variable)",
  },
  {
    flag: "--auth-token-file",
    arg: "<file>",
    kind: "file",
    defaultDoc: "none",
    description:
      "read the auth token from a file (one or more, one a line); read again on SIGHUP, for rotation",
    conflicts: "authToken",
  },
  {
    flag: "--cluster-secret",
    arg: "<secret>",
    kind: "string",
    defaultDoc: "none",
    description:
      "sign and verify peer messages with this key, HMAC-SHA-256 (also $KVDB_CLUSTER_SECRET; same on every node)",
  },
  {
    flag: "--cluster-secret-file",
    arg: "<file>",
    kind: "file",
    defaultDoc: "none",
    description:
      "read the cluster secret from a file; read again on SIGHUP, for rotation",
    conflicts: "clusterSecret",
  },
  {
    flag: "--cluster-id",
    arg: "<id>",
    kind: "string",
    key: "clusterId",
    default: "kvdb",
    description: "the cluster signed peer messages belong to",
  },
  {
    flag: "--tls-cert",
    arg: "<file>",
    kind: "file",
    defaultDoc: "none",
    description:
      "serve https with this PEM certificate chain; peers are then called over https",
  },
  {
    flag: "--tls-key",
    arg: "<file>",
    kind: "file",
    defaultDoc: "none",
    description: "the PEM private key of --tls-cert",
  },
  {
    flag: "--ca-cert",
    arg: "<file>",
    kind: "file",
    defaultDoc: "system CAs",
    description:
      "PEM CA certificate to trust for peers' certificates (self-signed or private CA)",
  },
  {
    flag: "--allow-link-local",
    kind: "switch",
    defaultDoc: "off",
    description:
      "accept link-local and cloud metadata member addresses (169.254.0.0/16, fe80::/10, metadata.google.internal, ...)",
  },
  {
    flag: "--max-concurrent-requests",
    arg: "<n>",
    kind: "integer",
    key: "concurrentRequestsMax",
    min: 1,
    max: 1_000_000,
    default: CONCURRENT_REQUESTS_MAX_DEFAULT,
    description:
      "client requests in flight before the node answers 503 with Retry-After",
  },
  {
    flag: "--max-body-bytes",
    arg: "<n>",
    kind: "integer",
    key: "bodyBytesMax",
    unit: "bytes",
    min: 1024,
    max: 1024 * 1024 * 1024,
    default: BODY_BYTES_MAX,
    defaultDoc: "8 MiB",
    description: "largest request body",
  },
  {
    flag: "--body-timeout",
    arg: "<ms>",
    kind: "integer",
    key: "bodyDeadlineMs",
    unit: "ms",
    min: 1,
    max: 600_000,
    default: BODY_DEADLINE_MS_DEFAULT,
    description:
      "time a request body may take to arrive before the node answers 408",
  },
  {
    flag: "--resp-port",
    arg: "<port>",
    kind: "integer",
    key: "respPort",
    min: 0,
    max: 65535,
    defaultDoc: "off",
    description:
      "also serve the Redis protocol (RESP2/RESP3) on this port, for redis-cli, ioredis, node-redis (docs/resp.md)",
  },
  {
    flag: "--resp-host",
    arg: "<host>",
    kind: "string",
    key: "respHost",
    defaultDoc: "the -H host",
    description: "interface of the RESP port",
  },
  {
    flag: "--resp-idle-timeout",
    arg: "<ms>",
    kind: "integer",
    key: "respIdleTimeoutMs",
    unit: "ms",
    min: 0,
    max: 86_400_000,
    default: RESP_IDLE_TIMEOUT_MS_DEFAULT,
    description: "disconnect a RESP client silent this long (0: never)",
  },
  {
    flag: "--resp-max-clients",
    arg: "<n>",
    kind: "integer",
    key: "respClientsMax",
    min: 1,
    max: 1_000_000,
    default: RESP_CLIENTS_MAX_DEFAULT,
    description:
      "most RESP clients connected at once; more are refused with an error",
  },
  {
    flag: "--log-format",
    arg: "<format>",
    kind: "choice",
    key: "logFormat",
    choices: ["text", "json"],
    default: "text",
    description:
      "text: one readable line per event; json: one JSON object per line (ts, level, node, event, fields)",
  },
  {
    flag: "--log-level",
    arg: "<level>",
    kind: "choice",
    key: "logLevel",
    choices: ["debug", "info", "warn", "error"],
    default: "info",
    description: "the least severe events logged",
  },
];

/** The row whose NodeConfig field is `key`. */
export function settingOf(key: string): SettingDef | undefined {
  return SETTINGS.find((s) => s.key === key);
}

/** The option name commander gives a flag: `--cache-mb` is `cacheMb`. */
export function optionName(flag: string): string {
  return flag.replace(/^--/, "").replace(
    /-([a-z])/g,
    (_, c) => c.toUpperCase(),
  );
}
