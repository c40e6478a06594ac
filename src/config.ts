/**
 * A node's configuration: parsed from flags by the CLI, validated here, and
 * handed whole to {@link startNode} (src/node.ts).
 *
 * @module
 */

import { MEMBERS_MAX } from "./limits.ts";
import { AddressPolicy, CLUSTER_ID, secretProblem } from "./security/mod.ts";
import { DEFAULT_PORT, SETTINGS } from "./settings.ts";
import type { StorageEngine, SyncMode } from "./storage/mod.ts";
import type { LogFormat, LogLevel } from "./log.ts";

export { CLUSTER_DEFAULTS, DEFAULT_PORT } from "./settings.ts";

/** Everything a node needs to start. */
export interface NodeConfig {
  /** Interface to listen on, also this node's name in the ring. */
  host: string;
  port: number;
  /** Other members, "host:port" (this node may be listed too). */
  cluster: string[];
  /** N: copies of each key (capped at the cluster size). */
  replicationFactor: number;
  /** Virtual nodes per member on the ring. */
  vnodes: number;
  /** R; default a majority of N. */
  readQuorum?: number;
  /** W; default a majority of N. */
  writeQuorum?: number;
  /** A client request's deadline. */
  requestDeadlineMs: number;
  /** One peer call's deadline. */
  peerDeadlineMs: number;
  /**
   * Where the node keeps its data: "sqlite" (durable, in {@link dataDir})
   * or "memory" (lost on restart). Absent: "memory"; the CLI passes
   * "sqlite" unless told `--memory`.
   */
  engine?: StorageEngine;
  /** The sqlite engine's data directory, one per node; see {@link defaultDataDir}. */
  dataDir?: string;
  /** The sqlite engine's commit durability (docs/storage.md); default "normal". */
  sync?: SyncMode;
  /** The sqlite engine's record cache, in MiB; 0 turns it off. Default 64. */
  cacheMb?: number;
  /** A member to join through ("host:port"): streams this node's ranges first. */
  join?: string;
  /** Failure detection: how often a probe goes out. */
  probeIntervalMs?: number;
  /** Failure detection: how long a suspect member has to refute before it is dead. */
  suspicionTimeoutMs?: number;
  /** How often this node runs an anti-entropy round with a random peer. */
  antiEntropyIntervalMs?: number;
  /** How often hints are handed to members that are back. */
  hintIntervalMs?: number;
  /** Most hinted records this node holds. */
  hintCountMax?: number;
  /** Most bytes of hints this node holds. */
  hintBytesMax?: number;
  /**
   * Most MB (10^6 bytes of keys and values) per second this node's join,
   * leave and handoff streams send, together; 0: no limit.
   */
  streamMbPerS?: number;
  /** How long a tombstone is kept before it may be purged. */
  tombstoneGraceMs?: number;
  /**
   * The largest offset of this node's clock from its peers' at which it
   * coordinates writes (docs/failures.md, "Clocks").
   */
  maxClockOffsetMs?: number;
  /**
   * The token every client request (`POST /`, `GET /metrics`) must carry as
   * `Authorization: Bearer <token>`; several are all accepted (while one is
   * rotated). Absent: clients are not authenticated.
   */
  authToken?: string | readonly string[];
  /**
   * The key peer messages are signed with (HMAC-SHA-256); with several, the
   * first signs and all verify (while one is rotated). Absent: peer
   * messages are not signed, and refused altogether if {@link authToken}
   * is set.
   */
  clusterSecret?: string | readonly string[];
  /** The cluster signed peer messages must name; default {@link DEFAULT_CLUSTER_ID}. */
  clusterId?: string;
  /** TLS certificate chain, PEM (with {@link tlsKey}): serve https, call peers over https. */
  tlsCert?: string;
  /** TLS private key, PEM. */
  tlsKey?: string;
  /** CA certificates, PEM, trusted for peers' certificates besides the system's. */
  caCert?: string;
  /** Accept link-local and cloud metadata member addresses (docs/security.md). */
  allowLinkLocal?: boolean;
  /** Most client requests in flight; see CONCURRENT_REQUESTS_MAX_DEFAULT. */
  concurrentRequestsMax?: number;
  /** Largest request body in bytes; see BODY_BYTES_MAX. */
  bodyBytesMax?: number;
  /** Most ms a request body may take to arrive; see BODY_DEADLINE_MS_DEFAULT. */
  bodyDeadlineMs?: number;
  /** Serve RESP (Redis clients) on this port (0: any free one); absent: off. */
  respPort?: number;
  /** Interface of the RESP port; default {@link host}. */
  respHost?: string;
  /** Ms a RESP client may stay silent; 0: for ever. See RESP_IDLE_TIMEOUT_MS_DEFAULT. */
  respIdleTimeoutMs?: number;
  /** Most RESP clients at once; see RESP_CLIENTS_MAX_DEFAULT. */
  respClientsMax?: number;
  /** Voters per KV database (1, 3 or 5; capped by the members). Default 3. */
  kvVoters?: number;
  /** Log lines as text (default) or JSON. */
  logFormat?: LogFormat;
  /** Least severe level logged; default "info". */
  logLevel?: LogLevel;
}

/** The cluster id signed peer messages carry unless `--cluster-id` says otherwise. */
export const DEFAULT_CLUSTER_ID = "kvdb";

/** A configuration value that cannot be used. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Normalizes a member address: `host` or `host:port` (default port 5878),
 * `[v6]:port` for IPv6.
 */
export function parseMember(text: string): string {
  const s = text.trim();
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(s);
  if (match === null) {
    throw new ConfigError(
      `Cannot use cluster member '${text}': expected host or host:port`,
    );
  }
  const port = match[2] === undefined ? DEFAULT_PORT : Number(match[2]);
  if (port < 1 || port > 65535) {
    throw new ConfigError(
      `Cannot use cluster member '${text}': the port must be in [1, 65535]`,
    );
  }
  // "999.1.1.1" fits the pattern, but no URL (so no peer call) can hold it.
  if (!URL.canParse(`http://${match[1]}:${port}/`)) {
    throw new ConfigError(
      `Cannot use cluster member '${text}': '${match[1]}' is not a valid host`,
    );
  }
  return `${match[1]}:${port}`;
}

/** Parses a comma-separated member list. */
export function parseMembers(text: string): string[] {
  return text.split(",").filter((s) => s.trim() !== "").map(parseMember);
}

/** This node's address as peers know it. */
export function selfAddress(config: NodeConfig): string {
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  return `${host}:${config.port}`;
}

/** Every member, this node included, de-duplicated, in the order given. */
export function membersOf(config: NodeConfig): string[] {
  return [...new Set([...config.cluster, selfAddress(config)])];
}

function inRange(name: string, value: number, min: number, max: number) {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(
      `Cannot configure node as '${name}' must be an integer in [${min}, ${max}]: current value is ${value}`,
    );
  }
}

/** The CLI's data directory for a node: `./data/<host>_<port>`. */
export function defaultDataDir(host: string, port: number): string {
  // Only characters that are safe in a file name on every platform (an
  // IPv6 host has colons).
  return `./data/${host.replace(/[^A-Za-z0-9.-]/g, "_")}_${port}`;
}

function validateStorage(config: NodeConfig): void {
  const engines: readonly string[] = ["memory", "sqlite"];
  const modes: readonly string[] = ["normal", "full"];
  if (config.engine !== undefined && !engines.includes(config.engine)) {
    throw new ConfigError(
      `Cannot configure node as 'engine' must be one of ${
        engines.join(", ")
      }: current value is ${config.engine}`,
    );
  }
  if (config.sync !== undefined && !modes.includes(config.sync)) {
    throw new ConfigError(
      `Cannot configure node as 'sync' must be one of ${
        modes.join(", ")
      }: current value is ${config.sync}`,
    );
  }
  if (config.engine === "sqlite" && !config.dataDir?.trim()) {
    throw new ConfigError(
      "Cannot configure node as the sqlite engine needs 'dataDir': current value is empty",
    );
  }
}

/**
 * Secrets as {@link resolveSecret} finds them, except that a file may hold
 * several, one per line (blank lines and `#` comments skipped): for
 * rotation. A file without any is refused.
 */
export function resolveSecrets(
  name: string,
  sources: SecretSources,
  reader: SecretReader = DENO_READER,
): string[] | undefined {
  if (sources.value === undefined && sources.file !== undefined) {
    let text: string;
    try {
      text = reader.readTextFile(sources.file);
    } catch (error) {
      throw new ConfigError(
        `Cannot read --${name}-file '${sources.file}': ${
          (error as Error).message
        }`,
      );
    }
    const lines = text.split(/\r?\n/).map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#"));
    if (lines.length === 0) {
      throw new ConfigError(
        `Cannot use --${name}-file '${sources.file}': it holds no ${name}`,
      );
    }
    return lines;
  }
  const one = resolveSecret(name, sources, reader);
  return one === undefined ? undefined : [one];
}

/** Where a secret may come from, in the order they are tried. */
export interface SecretSources {
  /** Given on the command line (visible in `ps`). */
  value?: string;
  /** A file holding it; surrounding whitespace (a final newline) is dropped. */
  file?: string;
  /** The name of an environment variable holding it. */
  env: string;
}

/** How {@link resolveSecret} reads files and the environment (tests inject). */
export interface SecretReader {
  readTextFile(path: string): string;
  env(name: string): string | undefined;
}

const DENO_READER: SecretReader = {
  readTextFile: (path) => Deno.readTextFileSync(path),
  env: (name) => Deno.env.get(name),
};

/**
 * A secret from the flag `name`, its `-file` variant or an environment
 * variable; `undefined` when none is set. The flag and the file together
 * are a mistake, refused. An empty environment variable counts as unset.
 */
export function resolveSecret(
  name: string,
  sources: SecretSources,
  reader: SecretReader = DENO_READER,
): string | undefined {
  if (sources.value !== undefined && sources.file !== undefined) {
    throw new ConfigError(
      `Cannot use both --${name} and --${name}-file: give one`,
    );
  }
  if (sources.value !== undefined) return sources.value;
  if (sources.file !== undefined) {
    try {
      return reader.readTextFile(sources.file).trim();
    } catch (error) {
      throw new ConfigError(
        `Cannot read --${name}-file '${sources.file}': ${
          (error as Error).message
        }`,
      );
    }
  }
  const fromEnv = reader.env(sources.env);
  return fromEnv === undefined || fromEnv === "" ? undefined : fromEnv;
}

function validateSecurity(config: NodeConfig): void {
  // Never echo a secret in an error: it would land in logs.
  for (const name of ["authToken", "clusterSecret"] as const) {
    const value = config[name];
    if (value === undefined) continue;
    const values = typeof value === "string" ? [value] : value;
    if (values.length === 0) {
      throw new ConfigError(`Cannot configure node as '${name}' is empty`);
    }
    for (const one of values) {
      const problem = secretProblem(one);
      if (problem !== undefined) {
        throw new ConfigError(`Cannot configure node as '${name}' ${problem}`);
      }
    }
  }
  if (config.clusterId !== undefined && !CLUSTER_ID.test(config.clusterId)) {
    throw new ConfigError(
      `Cannot configure node as 'clusterId' must be 1 to 64 of A-Z a-z 0-9 . _ -: current value is ${
        JSON.stringify(config.clusterId.slice(0, 80))
      }`,
    );
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new ConfigError(
      "Cannot configure node as TLS needs both 'tlsCert' and 'tlsKey'",
    );
  }
  if (config.caCert !== undefined && config.tlsCert === undefined) {
    throw new ConfigError(
      "Cannot configure node as 'caCert' is for calling peers over TLS: give 'tlsCert' and 'tlsKey' too",
    );
  }
  const others = membersOf(config).filter((m) => m !== selfAddress(config));
  if (
    config.authToken !== undefined && config.clusterSecret === undefined &&
    (others.length > 0 || config.join !== undefined)
  ) {
    // Peers cannot use the client token (it would open internal functions
    // to every client), so without a secret they could not talk at all.
    throw new ConfigError(
      "Cannot configure node as a cluster with an auth token needs a cluster secret too (--cluster-secret): peer messages are signed with it",
    );
  }
  const policy = new AddressPolicy({ allowLinkLocal: config.allowLinkLocal });
  const addresses = membersOf(config);
  if (config.join !== undefined) addresses.push(parseMember(config.join));
  for (const member of addresses) {
    const refusal = policy.refusal(member);
    if (refusal !== undefined) {
      throw new ConfigError(`Cannot use cluster member: ${refusal}`);
    }
  }
}

function validateResp(config: NodeConfig): void {
  const limits: [string, number | undefined, number, number][] = [
    ["respPort", config.respPort, 0, 65535],
    ["respIdleTimeoutMs", config.respIdleTimeoutMs, 0, 86_400_000],
    ["respClientsMax", config.respClientsMax, 1, 1_000_000],
  ];
  for (const [name, value, min, max] of limits) {
    if (value !== undefined) inRange(name, value, min, max);
  }
  if (
    config.respPort !== undefined && config.respPort !== 0 &&
    config.respPort === config.port &&
    (config.respHost ?? config.host) === config.host
  ) {
    throw new ConfigError(
      `Cannot configure node as 'respPort' must differ from 'port': current value is ${config.respPort}`,
    );
  }
  if (config.respHost !== undefined && config.respHost.trim() === "") {
    throw new ConfigError(
      "Cannot configure node as 'respHost' is empty",
    );
  }
}

/** Checks a configuration as a whole; throws ConfigError naming the bad value. */
export function validateConfig(config: NodeConfig): NodeConfig {
  validateStorage(config);
  // Port 0 (any free port) is for tests that start nodes in-process.
  inRange("port", config.port, 0, 65535);
  const values = config as unknown as Record<string, unknown>;
  for (const setting of SETTINGS) {
    if (setting.kind !== "integer" || setting.key === undefined) continue;
    if (setting.key === "port") continue;
    const value = values[setting.key];
    if (value === undefined) continue;
    inRange(setting.key, value as number, setting.min!, setting.max!);
  }
  const members = membersOf(config);
  if (members.length > MEMBERS_MAX) {
    throw new ConfigError(
      `Cannot configure node as the cluster has ${members.length} members: at most ${MEMBERS_MAX}`,
    );
  }
  // The quorums' upper bound is N as it will be: capped at the cluster size.
  const n = Math.min(config.replicationFactor, members.length);
  if (config.readQuorum !== undefined) {
    inRange("readQuorum", config.readQuorum, 1, n);
  }
  if (config.writeQuorum !== undefined) {
    inRange("writeQuorum", config.writeQuorum, 1, n);
  }
  if (
    config.join !== undefined &&
    parseMember(config.join) === selfAddress(config)
  ) {
    // It would wait for itself: a join needs a member to ask.
    throw new ConfigError(
      `Cannot configure join as '${config.join}' is this node itself: give a member of the cluster`,
    );
  }
  validateResp(config);
  validateSecurity(config);
  return config;
}
