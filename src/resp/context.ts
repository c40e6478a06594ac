/**
 * What a RESP command sees: the node's core (shared by every connection)
 * and its own connection's session.
 *
 * @module
 */

import type { Coordinator, KeySerializer } from "../cluster/mod.ts";
import type { BearerAuth } from "../security/mod.ts";
import type { ScanCursors } from "./scan_cursors.ts";
import type { RespStats } from "./stats.ts";

/** One client connection's state. */
export interface Session {
  readonly id: number;
  /** "ip:port" of the client. */
  readonly address: string;
  readonly createdMs: number;
  name: string;
  libName: string;
  libVersion: string;
  /** 2 until `HELLO 3`. */
  proto: 2 | 3;
  /** True when no token is needed or AUTH gave the right one. */
  authenticated: boolean;
  /** The last command's name, for CLIENT LIST. */
  lastCommand: string;
  lastActiveMs: number;
  /** Set by QUIT: close once the replies so far are sent. */
  closing: boolean;
}

/** Facts INFO and HELLO report about the node. */
export interface NodeFacts {
  version: string;
  /** "host:port" of the node's HTTP API: its name in the ring. */
  self: string;
  engine: string;
  members(): { address: string; state: string }[];
}

/** The node as every RESP connection shares it. */
export interface RespBackend {
  coordinator: Coordinator;
  serializer: KeySerializer;
  now(): number;
  /**
   * True when this node is the whole cluster and no member moves: every
   * key is read and written here, so a read answers without waiting.
   */
  alone(): boolean;
  /** The client token; absent: open. */
  auth?: BearerAuth;
  cursors: ScanCursors;
  /** Tells the other members about a SCAN cursor (best effort). */
  shareCursor(id: number, after: string): void;
  stats: RespStats;
  sessions: ReadonlyMap<number, Session>;
  facts: NodeFacts;
  /** The RESP port, the TLS flag and the limits, for INFO and CONFIG GET. */
  port: number;
  tls: boolean;
  startedMs: number;
  idleTimeoutMs: number;
  clientsMax: number;
}

/** What one command's handler gets. */
export interface Ctx {
  backend: RespBackend;
  session: Session;
}
