/**
 * The KV databases' peer messages, validated: Raft messages between the
 * replicas of a database, and operations forwarded to the replica that
 * can serve them. A peer can be buggy, old or hostile: everything is
 * checked before the core sees it.
 *
 * @module
 */

import {
  type Entry,
  type Message,
  type MessageType,
  REMOTE_MESSAGE_TYPES,
  type Snapshot,
} from "../consensus/mod.ts";
import { BadRequestError } from "../errors.ts";

/** Most Raft messages one peer request carries. */
export const RAFT_MESSAGES_MAX = 10_000;
/** Most entries one append carries. */
const ENTRIES_MAX = 100_000;
const ID = /^[^\s]{1,262}$/;

function fail(what: string): never {
  throw new BadRequestError(`Bad peer message: ${what}.`);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function count(x: unknown, what: string): number {
  if (!Number.isSafeInteger(x) || (x as number) < 0) fail(`bad ${what}`);
  return x as number;
}

function optCount(x: unknown, what: string): number | undefined {
  return x === undefined ? undefined : count(x, what);
}

function nodeId(x: unknown): string {
  if (typeof x !== "string" || !ID.test(x)) fail("bad node id");
  return x;
}

function ids(x: unknown): string[] {
  if (!Array.isArray(x) || x.length > 256) fail("bad member list");
  return x.map(nodeId);
}

function entry(x: unknown): Entry {
  if (!isObject(x)) fail("bad entry");
  if (x.type !== "normal" && x.type !== "conf") fail("bad entry type");
  if (typeof x.data !== "string") fail("bad entry data");
  return {
    term: count(x.term, "entry term"),
    index: count(x.index, "entry index"),
    type: x.type,
    data: x.data,
  };
}

function snapshot(x: unknown): Snapshot {
  if (!isObject(x) || !isObject(x.meta) || typeof x.data !== "string") {
    fail("bad snapshot");
  }
  const conf = x.meta.conf;
  if (!isObject(conf)) fail("bad snapshot configuration");
  return {
    meta: {
      index: count(x.meta.index, "snapshot index"),
      term: count(x.meta.term, "snapshot term"),
      conf: { voters: ids(conf.voters), learners: ids(conf.learners) },
    },
    data: x.data,
  };
}

/** One Raft message from a peer. */
export function parseRaftMessage(x: unknown, from: string): Message {
  if (!isObject(x)) fail("a Raft message is not an object");
  if (!REMOTE_MESSAGE_TYPES.includes(x.type as MessageType)) {
    fail("bad Raft message type");
  }
  const m: Message = {
    type: x.type as MessageType,
    from: nodeId(x.from),
    to: nodeId(x.to),
    term: count(x.term, "term"),
  };
  // A member speaks only for itself.
  if (m.from !== from) fail("a Raft message from another member");
  if (m.term === 0) fail("a Raft message without a term");
  const logTerm = optCount(x.logTerm, "log term");
  if (logTerm !== undefined) m.logTerm = logTerm;
  const index = optCount(x.index, "index");
  if (index !== undefined) m.index = index;
  const commit = optCount(x.commit, "commit");
  if (commit !== undefined) m.commit = commit;
  const hint = optCount(x.rejectHint, "reject hint");
  if (hint !== undefined) m.rejectHint = hint;
  const termHint = optCount(x.logTermHint, "log term hint");
  if (termHint !== undefined) m.logTermHint = termHint;
  if (x.reject !== undefined) {
    if (typeof x.reject !== "boolean") fail("bad reject flag");
    m.reject = x.reject;
  }
  if (x.context !== undefined) {
    if (typeof x.context !== "string" || x.context.length > 512) {
      fail("bad context");
    }
    m.context = x.context;
  }
  if (x.entries !== undefined) {
    if (!Array.isArray(x.entries) || x.entries.length > ENTRIES_MAX) {
      fail("bad entries");
    }
    m.entries = x.entries.map(entry);
    // Entries follow one another from index + 1.
    m.entries.forEach((e, i) => {
      if (e.index !== (m.index ?? 0) + 1 + i) fail("entries out of order");
    });
  }
  if (x.snapshot !== undefined) m.snapshot = snapshot(x.snapshot);
  if (m.type === "app" && (m.entries === undefined || m.index === undefined)) {
    fail("an append without entries or index");
  }
  if (m.type === "snap" && m.snapshot === undefined) {
    fail("a snapshot message without a snapshot");
  }
  return m;
}

/** The Raft messages of a `raft` peer request, all from `from`. */
export function parseRaftMessages(x: unknown, from: string): Message[] {
  if (!Array.isArray(x) || x.length > RAFT_MESSAGES_MAX) {
    fail("bad Raft message list");
  }
  return x.map((m) => parseRaftMessage(m, from));
}

/** A database name: letters, digits, '_' and '-', up to 64. */
export const DB_NAME = /^[A-Za-z0-9_-]{1,64}$/;
