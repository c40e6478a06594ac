/**
 * Messages between nodes. A discriminated union on `kind`; kinds are only
 * ever added, never renamed, so that nodes of different versions can talk.
 *
 * Everything a peer sends is validated here before the core sees it: a peer
 * can be buggy, old or hostile.
 *
 * @module
 */

import type { Version } from "../clock/mod.ts";
import type { StoredRecord } from "../storage/mod.ts";
import {
  BATCH_KEYS_MAX,
  KEY_BYTES_MAX,
  LIST_KEYS_MAX,
  MEMBERS_MAX,
} from "../limits.ts";
import { BadRequestError } from "../errors.ts";
import {
  type AtomicRequest,
  type AtomicResponse,
  parseAtomicRequest,
  parseAtomicResponse,
  parseScanCursorRequest,
  type ScanCursorRequest,
  type ScanCursorResponse,
} from "./resp_messages.ts";

/** A record's compact summary for key listings: no value. */
export type KeyEntry = readonly [
  key: string,
  version: Version,
  tombstone: boolean,
  expiresAtMs: number | null,
];

/** A member's state as gossip carries it. */
export type MemberState = "alive" | "suspect" | "dead" | "left";

/** Where a member is in joining or leaving the ring. */
export type MemberPhase = "joining" | "ready" | "leaving";

/** One row of a member table: address, state, incarnation, phase. */
export type MemberEntry = readonly [
  address: string,
  state: MemberState,
  incarnation: number,
  phase: MemberPhase,
];

/** Buckets of an anti-entropy comparison: the top byte of the key hash. */
export const AE_BUCKETS = 256;

/** A bucket's (or a leaf's) digest: how many records, and a sum of their hashes. */
export type DigestBucket = readonly [count: number, sum: number];

/** A leaf's index in the digest tree, with its digest. */
export type LeafDigestEntry = readonly [
  leaf: number,
  count: number,
  sum: number,
];

/** A record's summary for anti-entropy: a {@link KeyEntry} and its value's size. */
export type SummaryEntry = readonly [
  key: string,
  version: Version,
  tombstone: boolean,
  expiresAtMs: number | null,
  bytes: number,
];

/** A position on the ring: a key's hash, then the key (a cursor). */
export type HashPosition = [hash: number, key: string];

/** Requests a node sends to a peer. */
export type PeerRequest =
  /**
   * Store these records (each kept only if newer). With `hintFor`, the
   * records belong to that member, which is down: keep them as hints and
   * hand them over when it is back.
   */
  | { kind: "write"; records: StoredRecord[]; hintFor?: string }
  /** Return this node's own records for these keys. */
  | { kind: "read"; keys: string[] }
  /** Return this node's key entries, in order, from a range. */
  | {
    kind: "scan";
    prefix?: string;
    after?: string;
    limit: number;
  }
  /** A probe, carrying the sender's member table (gossip). */
  | { kind: "ping"; from: string; members: MemberEntry[] }
  /** Probe `target` for me (SWIM's indirect probe). */
  | { kind: "ping_req"; target: string }
  /** Records of which `for` is (or is about to be) a replica: join and leave streaming. */
  | { kind: "transfer"; for: string; after?: string; limit: number }
  /**
   * The same by ring position: records of which `for` is (or is about to
   * be) a replica and this node is the one to send, with key hashes in
   * [`from`, `to`), in (hash, key) order, after the position `after`.
   */
  | {
    kind: "transfer_range";
    for: string;
    from: number;
    to: number;
    after?: HashPosition;
    limit: number;
    /**
     * The joiner chose this node to send all of [`from`, `to`) (it is the
     * first holder the joiner sees up): send every record there, whoever
     * this node believes the first holder. Absent: this node's own choice.
     */
    assigned?: boolean;
    /**
     * With `assigned`: only these ranges of [`from`, `to`), [from, to) in
     * ascending order (a join asks for many small ranges of a source at
     * once). A node that does not know the field sends all of [`from`,
     * `to`), and the joiner keeps only what it asked for.
     */
    ranges?: [number, number][];
  }
  /**
   * Anti-entropy: my bucket digests of the leaves we both replicate on the
   * ring `ring` (an id of the ring and N); which differ?
   */
  | {
    kind: "ae_buckets";
    from: string;
    ring: number;
    /**
     * The digests cover the record versions whose wall time is before
     * this (ms); the peer moves its own to the same cut before comparing.
     */
    cut: number;
    buckets: DigestBucket[];
  }
  /** Anti-entropy: your digests of the leaves we both replicate in these buckets. */
  | {
    kind: "ae_leaves";
    from: string;
    ring: number;
    cut: number;
    buckets: number[];
  }
  /**
   * Anti-entropy: your records in these leaves (summaries, no values), of
   * versions whose wall time is before `before` (both sides use one cut).
   */
  | {
    kind: "ae_entries";
    from: string;
    ring: number;
    leaves: number[];
    before: number;
  }
  /** The Redis front end's messages: resp_messages.ts. */
  | AtomicRequest
  | ScanCursorRequest
  /**
   * Raft messages between the replicas of KV database `db`, all from
   * `from` (validated in src/kv/wire.ts).
   */
  | { kind: "raft"; db: string; from: string; messages: unknown[] }
  /** A KV database operation for the replica that can serve it (src/kv). */
  | { kind: "kv"; db: string; op: unknown };

/** Answers to {@link PeerRequest}s, by the same kind. */
export type PeerResponse =
  /**
   * `newer` names the records that were not stored because this node holds
   * a newer version of their key, by index in the request, with that
   * version: the coordinator then writes again with a later one, so that a
   * write acknowledged before another began never wins over it.
   */
  | { kind: "write"; applied: number; newer?: [index: number, Version][] }
  | { kind: "read"; records: (StoredRecord | null)[] }
  | { kind: "scan"; entries: KeyEntry[]; complete: boolean }
  /** `nowMs`: the answering node's wall clock, for clock-offset estimates. */
  | { kind: "ping"; members: MemberEntry[]; nowMs?: number }
  | { kind: "ping_req"; ok: boolean }
  | { kind: "transfer"; records: StoredRecord[]; cursor: string | null }
  /** `cursor`: where the next page starts; null when the range is done. */
  | {
    kind: "transfer_range";
    records: StoredRecord[];
    cursor: HashPosition | null;
  }
  /**
   * `skip`: the answering node cannot compare now (another ring, or its
   * digests are still being counted); `differing` is then empty.
   */
  | {
    kind: "ae_buckets";
    differing: number[];
    /**
     * "cut": this node's digests are past the asked cut already; `cut` is
     * theirs, and the asker may move to it and ask again.
     */
    skip?: "ring" | "counting" | "cut";
    cut?: number;
  }
  | { kind: "ae_leaves"; leaves: LeafDigestEntry[] }
  /** `complete` false: more records than one answer holds; the rest next round. */
  | { kind: "ae_entries"; entries: SummaryEntry[]; complete: boolean }
  | AtomicResponse
  | ScanCursorResponse
  /** With the answering replica's own messages for the sender, if any. */
  | { kind: "raft"; messages?: unknown[] }
  | { kind: "kv"; answer: unknown };

/** The most records or keys one peer message carries. */
export const PEER_BATCH_MAX = BATCH_KEYS_MAX;

/**
 * The most records one `transfer_range` answer carries (besides its byte
 * bound): streaming moves many small records, and a page per round trip
 * is what sets its speed.
 */
export const TRANSFER_RECORDS_MAX = 20_000;

/** The most ranges one `transfer_range` request names. */
export const TRANSFER_RANGES_MAX = 4_096;

/** The most record summaries one anti-entropy answer carries. */
export const AE_ENTRIES_MAX = 20_000;
/** The most leaves one anti-entropy request or answer names. */
export const AE_LEAVES_MAX = 1 << 18;

function fail(what: string): never {
  throw new BadRequestError(`Bad peer message: ${what}.`);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function parseKey(x: unknown): string {
  if (typeof x !== "string") fail("a key is not a string");
  if (x.length > KEY_BYTES_MAX) fail("a key is too long");
  return x;
}

/** Validates a version from the wire. */
export function parseVersion(x: unknown): Version {
  if (
    !Array.isArray(x) || x.length !== 3 ||
    !Number.isSafeInteger(x[0]) || x[0] < 0 ||
    !Number.isSafeInteger(x[1]) || x[1] < 0 ||
    typeof x[2] !== "string" || x[2].length > 512
  ) fail("bad version");
  return [x[0], x[1], x[2]];
}

/** Validates a record from the wire. */
export function parseRecord(x: unknown): StoredRecord {
  if (!isObject(x)) fail("a record is not an object");
  const key = parseKey(x.key);
  const version = parseVersion(x.version);
  if (typeof x.tombstone !== "boolean") fail("bad tombstone flag");
  const expiresAtMs = x.expiresAtMs ?? null;
  if (expiresAtMs !== null && !Number.isSafeInteger(expiresAtMs)) {
    fail("bad expiry");
  }
  if (!("value" in x)) fail("a record has no value");
  return {
    key,
    value: x.tombstone ? null : x.value,
    version,
    tombstone: x.tombstone,
    expiresAtMs: expiresAtMs as number | null,
  };
}

const MEMBER_STATES: readonly string[] = ["alive", "suspect", "dead", "left"];
const MEMBER_PHASES: readonly string[] = ["joining", "ready", "leaving"];
const ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

function parseAddress(x: unknown): string {
  if (typeof x !== "string" || x.length > 262 || !ADDRESS.test(x)) {
    fail("bad member address");
  }
  // A port past 65535 or a host no URL can hold ("999.1.1.1") fits the
  // pattern but could never be called: refused with the message that names
  // it, not found out when this node calls it.
  if (
    Number(x.slice(x.lastIndexOf(":") + 1)) > 65_535 ||
    !URL.canParse(`http://${x}/`)
  ) fail("bad member address");
  return x;
}

function parseMemberEntry(x: unknown): MemberEntry {
  if (!Array.isArray(x) || x.length !== 4) fail("bad member entry");
  const [address, state, incarnation, phase] = x;
  if (!MEMBER_STATES.includes(state)) fail("bad member state");
  if (!Number.isSafeInteger(incarnation) || incarnation < 0) {
    fail("bad incarnation");
  }
  if (!MEMBER_PHASES.includes(phase)) fail("bad member phase");
  return [parseAddress(address), state, incarnation, phase];
}

const DB_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function parseDbName(x: unknown): string {
  if (typeof x !== "string" || !DB_NAME.test(x)) fail("bad database name");
  return x;
}

function parseLimit(x: unknown, max: number): number {
  if (!Number.isSafeInteger(x) || (x as number) < 1 || (x as number) > max) {
    fail(`limit must be an integer in [1, ${max}]`);
  }
  return x as number;
}

function parseBucketIndex(x: unknown): number {
  if (
    !Number.isSafeInteger(x) || (x as number) < 0 || (x as number) >= AE_BUCKETS
  ) {
    fail("bad bucket index");
  }
  return x as number;
}

function parseDigestBucket(x: unknown): DigestBucket {
  if (
    !Array.isArray(x) || x.length !== 2 || !Number.isSafeInteger(x[0]) ||
    x[0] < 0 || !Number.isSafeInteger(x[1]) || x[1] < 0
  ) fail("bad digest bucket");
  return [x[0], x[1]];
}

/** A bound of a hash range: [0, 2^32] (an end is exclusive). */
function parseHashBound(x: unknown): number {
  if (
    !Number.isSafeInteger(x) || (x as number) < 0 || (x as number) > 2 ** 32
  ) {
    fail("bad hash bound");
  }
  return x as number;
}

/** Ranges [from, to) of hashes, ascending, apart and within [lo, hi). */
function parseRanges(x: unknown, lo: number, hi: number): [number, number][] {
  let last = lo;
  return parseList(x, TRANSFER_RANGES_MAX, (y) => {
    if (!Array.isArray(y) || y.length !== 2) fail("bad hash range");
    const from = parseHashBound(y[0]);
    const to = parseHashBound(y[1]);
    if (from < last || to <= from || to > hi) {
      fail("hash ranges must be ascending, apart and within from and to");
    }
    last = to;
    return [from, to];
  });
}

function parseHashPosition(x: unknown): HashPosition {
  if (!Array.isArray(x) || x.length !== 2) fail("bad ring position");
  return [parseUint32(x[0], "hash"), parseKey(x[1])];
}

function parseUint32(x: unknown, what: string): number {
  if (
    !Number.isSafeInteger(x) || (x as number) < 0 || (x as number) >= 2 ** 32
  ) {
    fail(`bad ${what}`);
  }
  return x as number;
}

function parseWallMs(x: unknown): number {
  if (!Number.isSafeInteger(x) || (x as number) < 0) fail("bad wall time");
  return x as number;
}

function parseCursor(x: unknown): string | null {
  return x === null ? null : parseKey(x);
}

function parseList<T>(x: unknown, max: number, item: (y: unknown) => T): T[] {
  if (!Array.isArray(x)) fail("expected a list");
  if (x.length > max) fail(`a list is longer than ${max}`);
  return x.map(item);
}

/** Validates a request from a peer; throws BadRequestError when it is not one. */
export function parsePeerRequest(x: unknown): PeerRequest {
  if (!isObject(x)) fail("not an object");
  switch (x.kind) {
    case "write": {
      const request: PeerRequest = {
        kind: "write",
        records: parseList(x.records, PEER_BATCH_MAX, parseRecord),
      };
      if (x.hintFor !== undefined) request.hintFor = parseAddress(x.hintFor);
      return request;
    }
    case "ping":
      return {
        kind: "ping",
        from: parseAddress(x.from),
        members: parseList(x.members, MEMBERS_MAX, parseMemberEntry),
      };
    case "ping_req":
      return { kind: "ping_req", target: parseAddress(x.target) };
    case "transfer": {
      const request: PeerRequest = {
        kind: "transfer",
        for: parseAddress(x.for),
        limit: parseLimit(x.limit, PEER_BATCH_MAX),
      };
      if (x.after !== undefined) request.after = parseKey(x.after);
      return request;
    }
    case "transfer_range": {
      const request: PeerRequest = {
        kind: "transfer_range",
        for: parseAddress(x.for),
        from: parseHashBound(x.from),
        to: parseHashBound(x.to),
        limit: parseLimit(x.limit, TRANSFER_RECORDS_MAX),
      };
      if (x.after !== undefined) request.after = parseHashPosition(x.after);
      if (x.assigned === true) request.assigned = true;
      if (x.ranges !== undefined) {
        request.ranges = parseRanges(x.ranges, request.from, request.to);
      }
      return request;
    }
    case "ae_buckets": {
      const buckets = parseList(x.buckets, AE_BUCKETS, parseDigestBucket);
      if (buckets.length !== AE_BUCKETS) {
        fail(`a digest has exactly ${AE_BUCKETS} buckets`);
      }
      return {
        kind: "ae_buckets",
        from: parseAddress(x.from),
        ring: parseUint32(x.ring, "ring id"),
        cut: parseWallMs(x.cut),
        buckets,
      };
    }
    case "ae_leaves":
      return {
        kind: "ae_leaves",
        from: parseAddress(x.from),
        ring: parseUint32(x.ring, "ring id"),
        cut: parseWallMs(x.cut),
        buckets: parseList(x.buckets, AE_BUCKETS, parseBucketIndex),
      };
    case "ae_entries":
      return {
        kind: "ae_entries",
        from: parseAddress(x.from),
        ring: parseUint32(x.ring, "ring id"),
        leaves: parseList(
          x.leaves,
          AE_LEAVES_MAX,
          (y) => parseUint32(y, "leaf"),
        ),
        before: parseWallMs(x.before),
      };
    case "read":
      return {
        kind: "read",
        keys: parseList(x.keys, PEER_BATCH_MAX, parseKey),
      };
    case "raft":
      if (!Array.isArray(x.messages)) fail("bad Raft messages");
      return {
        kind: "raft",
        db: parseDbName(x.db),
        from: parseAddress(x.from),
        messages: x.messages,
      };
    case "kv":
      if (!isObject(x.op)) fail("bad KV operation");
      return { kind: "kv", db: parseDbName(x.db), op: x.op };
    case "scan": {
      const limit = x.limit;
      if (
        !Number.isSafeInteger(limit) || (limit as number) < 1 ||
        (limit as number) > LIST_KEYS_MAX
      ) fail(`scan limit must be an integer in [1, ${LIST_KEYS_MAX}]`);
      const request: PeerRequest = { kind: "scan", limit: limit as number };
      if (x.prefix !== undefined) request.prefix = parseKey(x.prefix);
      if (x.after !== undefined) request.after = parseKey(x.after);
      return request;
    }
    case "atomic":
      return parseAtomicRequest(x);
    case "scan_cursor":
      return parseScanCursorRequest(x);
    default:
      // Never String() an arbitrary value: an object whose "toString" is
      // not a function throws, and that would be a bug, not a bad request.
      fail(
        typeof x.kind === "string"
          ? `unknown kind ${JSON.stringify(x.kind.slice(0, 64))}`
          : x.kind === undefined
          ? "no 'kind'"
          : `'kind' must be a string: got ${
            x.kind === null
              ? "null"
              : Array.isArray(x.kind)
              ? "list"
              : typeof x.kind
          }`,
      );
  }
}

function parseEntry(x: unknown): KeyEntry {
  if (!Array.isArray(x) || x.length !== 4) fail("bad key entry");
  const expiresAtMs = x[3];
  if (expiresAtMs !== null && !Number.isSafeInteger(expiresAtMs)) {
    fail("bad expiry");
  }
  if (typeof x[2] !== "boolean") fail("bad tombstone flag");
  return [parseKey(x[0]), parseVersion(x[1]), x[2], expiresAtMs];
}

function parseSummaryEntry(x: unknown): SummaryEntry {
  if (!Array.isArray(x) || x.length !== 5) fail("bad summary entry");
  const [key, version, tombstone, expiresAtMs] = parseEntry(x.slice(0, 4));
  return [key, version, tombstone, expiresAtMs, parseUint32(x[4], "size")];
}

/**
 * Validates a peer's answer to `request`: the kind must match and the
 * shape must be right, else the answer counts as a failed call.
 */
export function parsePeerResponse(
  request: PeerRequest,
  x: unknown,
): PeerResponse {
  if (!isObject(x) || x.kind !== request.kind) fail("answer of the wrong kind");
  switch (request.kind) {
    case "write": {
      if (!Number.isSafeInteger(x.applied)) fail("bad write answer");
      const answer: PeerResponse = {
        kind: "write",
        applied: x.applied as number,
      };
      if (x.newer !== undefined) {
        const count = request.records.length;
        answer.newer = parseList(x.newer, count, (y) => {
          if (
            !Array.isArray(y) || y.length !== 2 ||
            !Number.isSafeInteger(y[0]) ||
            y[0] < 0 || y[0] >= count
          ) fail("bad newer entry");
          return [y[0] as number, parseVersion(y[1])];
        });
      }
      return answer;
    }
    case "read": {
      const records = parseList(
        x.records,
        PEER_BATCH_MAX,
        (r) => r === null ? null : parseRecord(r),
      );
      if (records.length !== request.keys.length) fail("bad read answer");
      return { kind: "read", records };
    }
    case "scan":
      if (typeof x.complete !== "boolean") fail("bad scan answer");
      return {
        kind: "scan",
        entries: parseList(x.entries, request.limit, parseEntry),
        complete: x.complete,
      };
    case "ping": {
      const answer: PeerResponse = {
        kind: "ping",
        members: parseList(x.members, MEMBERS_MAX, parseMemberEntry),
      };
      if (x.nowMs !== undefined) answer.nowMs = parseWallMs(x.nowMs);
      return answer;
    }
    case "ping_req":
      if (typeof x.ok !== "boolean") fail("bad ping_req answer");
      return { kind: "ping_req", ok: x.ok };
    case "transfer":
      return {
        kind: "transfer",
        records: parseList(x.records, request.limit, parseRecord),
        cursor: parseCursor(x.cursor),
      };
    case "transfer_range":
      return {
        kind: "transfer_range",
        records: parseList(x.records, request.limit, parseRecord),
        cursor: x.cursor === null ? null : parseHashPosition(x.cursor),
      };
    case "ae_buckets": {
      const answer: PeerResponse = {
        kind: "ae_buckets",
        differing: parseList(x.differing, AE_BUCKETS, parseBucketIndex),
      };
      if (x.skip !== undefined) {
        if (x.skip !== "ring" && x.skip !== "counting" && x.skip !== "cut") {
          fail("bad skip");
        }
        answer.skip = x.skip;
      }
      if (x.cut !== undefined) answer.cut = parseWallMs(x.cut);
      return answer;
    }
    case "ae_leaves":
      return {
        kind: "ae_leaves",
        leaves: parseList(x.leaves, AE_LEAVES_MAX, (y) => {
          if (!Array.isArray(y) || y.length !== 3) fail("bad leaf digest");
          return [
            parseUint32(y[0], "leaf"),
            parseUint32(y[1], "leaf count"),
            parseUint32(y[2], "leaf sum"),
          ] as const;
        }),
      };
    case "ae_entries":
      if (typeof x.complete !== "boolean") fail("bad entries answer");
      return {
        kind: "ae_entries",
        entries: parseList(x.entries, AE_ENTRIES_MAX, parseSummaryEntry),
        complete: x.complete,
      };
    case "atomic":
      return parseAtomicResponse(x);
    case "scan_cursor":
      return { kind: "scan_cursor" };
    case "raft":
      if (x.messages === undefined) return { kind: "raft" };
      if (!Array.isArray(x.messages)) fail("bad Raft answer");
      return { kind: "raft", messages: x.messages };
    case "kv":
      if (!isObject(x.answer)) fail("bad KV answer");
      return { kind: "kv", answer: x.answer };
  }
}
