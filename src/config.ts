/**
 * A node's configuration: parsed from flags by the CLI, validated here, and
 * handed whole to {@link startNode} (src/node.ts).
 *
 * @module
 */

import { MEMBERS_MAX } from "./limits.ts";

/** The seed's default port. */
export const DEFAULT_PORT = 5878;

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
}

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

/** Checks a configuration as a whole; throws ConfigError naming the bad value. */
export function validateConfig(config: NodeConfig): NodeConfig {
  inRange("port", config.port, 0, 65535);
  inRange("replicationFactor", config.replicationFactor, 1, MEMBERS_MAX);
  inRange("vnodes", config.vnodes, 1, 4096);
  const members = membersOf(config);
  if (members.length > MEMBERS_MAX) {
    throw new ConfigError(
      `Cannot configure node as the cluster has ${members.length} members: at most ${MEMBERS_MAX}`,
    );
  }
  const n = Math.min(config.replicationFactor, members.length);
  if (config.readQuorum !== undefined) {
    inRange("readQuorum", config.readQuorum, 1, n);
  }
  if (config.writeQuorum !== undefined) {
    inRange("writeQuorum", config.writeQuorum, 1, n);
  }
  inRange("requestDeadlineMs", config.requestDeadlineMs, 1, 600_000);
  inRange("peerDeadlineMs", config.peerDeadlineMs, 1, 600_000);
  return config;
}
