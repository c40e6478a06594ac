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
import { BATCH_KEYS_MAX, KEY_BYTES_MAX, LIST_KEYS_MAX } from "../limits.ts";
import { BadRequestError } from "../errors.ts";

/** A record's compact summary for key listings: no value. */
export type KeyEntry = readonly [
  key: string,
  version: Version,
  tombstone: boolean,
  expiresAtMs: number | null,
];

/** Requests a node sends to a peer. */
export type PeerRequest =
  /** Store these records (each kept only if newer). */
  | { kind: "write"; records: StoredRecord[] }
  /** Return this node's own records for these keys. */
  | { kind: "read"; keys: string[] }
  /** Return this node's key entries, in order, from a range. */
  | {
    kind: "scan";
    prefix?: string;
    after?: string;
    limit: number;
  };

/** Answers to {@link PeerRequest}s, by the same kind. */
export type PeerResponse =
  | { kind: "write"; applied: number }
  | { kind: "read"; records: (StoredRecord | null)[] }
  | { kind: "scan"; entries: KeyEntry[]; complete: boolean };

/** The most records or keys one peer message carries. */
export const PEER_BATCH_MAX = BATCH_KEYS_MAX;

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

function parseList<T>(x: unknown, max: number, item: (y: unknown) => T): T[] {
  if (!Array.isArray(x)) fail("expected a list");
  if (x.length > max) fail(`a list is longer than ${max}`);
  return x.map(item);
}

/** Validates a request from a peer; throws BadRequestError when it is not one. */
export function parsePeerRequest(x: unknown): PeerRequest {
  if (!isObject(x)) fail("not an object");
  switch (x.kind) {
    case "write":
      return {
        kind: "write",
        records: parseList(x.records, PEER_BATCH_MAX, parseRecord),
      };
    case "read":
      return {
        kind: "read",
        keys: parseList(x.keys, PEER_BATCH_MAX, parseKey),
      };
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
    default:
      fail(`unknown kind ${JSON.stringify(String(x.kind)).slice(0, 80)}`);
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
    case "write":
      if (!Number.isSafeInteger(x.applied)) fail("bad write answer");
      return { kind: "write", applied: x.applied as number };
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
  }
}
