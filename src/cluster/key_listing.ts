/**
 * Key listings: one page of live keys across the cluster, from every
 * member's own keys in a range, merged newest version first; and every
 * live key, page by page, up to {@link LIST_KEYS_MAX}.
 *
 * @module
 */

import type { Clock } from "../clock/mod.ts";
import { compareVersions } from "../clock/mod.ts";
import { UnavailableError } from "../errors.ts";
import { LIST_KEYS_MAX } from "../limits.ts";
import type {
  KeyEntry,
  PeerRequest,
  PeerResponse,
  PeerTransport,
} from "../transport/mod.ts";
import type { ReplicationSettings } from "./coordinator.ts";
import { fanOut } from "./fan_out.ts";
import { isPeerFailure } from "./peer_failure.ts";

/** A page of keys and where the next page starts (null: no more). */
export interface KeyPage {
  keys: string[];
  cursor: string | null;
}

/** Options of a key listing. */
export interface ListOptions {
  prefix?: string;
  /** Keys strictly after this one. */
  cursor?: string;
  limit: number;
}

/** A member's answer to a scan. */
export type ScanAnswer = Extract<PeerResponse, { kind: "scan" }>;

/** What a listing needs of its node. */
export interface KeyListingOptions {
  self: string;
  /** The members of the ring reads use. */
  members: () => readonly string[];
  settings: () => ReplicationSettings;
  /** This node's own answer to a scan. */
  scanLocal: (request: Extract<PeerRequest, { kind: "scan" }>) => ScanAnswer;
  transport: PeerTransport;
  clock: Clock;
  peerDeadlineMs: number;
  /** Members asked at once. */
  fanOutMax: number;
}

/** Lists keys across the cluster. */
export class KeyListing {
  readonly #o: KeyListingOptions;

  constructor(options: KeyListingOptions) {
    this.#o = options;
  }

  /**
   * One page of live keys across the cluster, in order: every member is
   * asked for its keys in the range, the answers are merged newest version
   * first, and the page ends where the member with the shortest answer ends,
   * so that no key is skipped.
   */
  async listKeys(options: ListOptions): Promise<KeyPage> {
    const request: PeerRequest = { kind: "scan", limit: options.limit };
    if (options.prefix !== undefined) request.prefix = options.prefix;
    if (options.cursor !== undefined) request.after = options.cursor;
    const members = this.#o.members();
    const results = await fanOut(
      members,
      this.#o.fanOutMax,
      (member) => this.#scanOne(member, request),
    );
    for (const r of results) {
      // A member that failed to answer is missing; a bug is not.
      if (!r.ok && !isPeerFailure(r.error)) throw r.error;
    }
    const answers = results.flatMap((r) => r.ok ? [r.value] : []);
    const missing = members.length - answers.length;
    // Every key lives on N distinct members: with at most N - R silent,
    // R of each key's replicas answered, and one of them holds its newest
    // acknowledged write (R + W > N). With more, a key whose writers'
    // replicas are all silent would be missed.
    const { replicationFactor, readQuorum } = this.#o.settings();
    if (missing > replicationFactor - readQuorum) {
      throw new UnavailableError(
        `list_keys incomplete: ${missing} of ${members.length} members did not answer`,
      );
    }
    return mergeKeyPages(answers, options.limit, this.#o.clock.now());
  }

  /** This node's own live keys in a range, without asking peers. */
  listLocalKeys(options: ListOptions): KeyPage {
    const answer = this.#o.scanLocal({
      kind: "scan",
      limit: options.limit,
      ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
      ...(options.cursor !== undefined ? { after: options.cursor } : {}),
    });
    return mergeKeyPages([answer], options.limit, this.#o.clock.now());
  }

  /** Every live key in the cluster, in order, up to {@link LIST_KEYS_MAX}. */
  async allKeys(
    options: { local?: boolean; prefix?: string } = {},
  ): Promise<string[]> {
    const keys: string[] = [];
    let cursor: string | undefined;
    const pageLimit = 10_000;
    for (;;) {
      const page = options.local
        ? this.listLocalKeys({ ...options, limit: pageLimit, cursor })
        : await this.listKeys({ ...options, limit: pageLimit, cursor });
      keys.push(...page.keys);
      if (keys.length > LIST_KEYS_MAX) {
        throw new UnavailableError(
          `list_keys: more than ${LIST_KEYS_MAX} keys; page with 'limit' and 'cursor'`,
        );
      }
      if (page.cursor === null) return keys;
      cursor = page.cursor;
    }
  }

  async #scanOne(
    member: string,
    request: Extract<PeerRequest, { kind: "scan" }>,
  ): Promise<Extract<PeerResponse, { kind: "scan" }>> {
    if (member === this.#o.self) return this.#o.scanLocal(request);
    const answer = await this.#o.transport.call(
      member,
      request,
      this.#o.peerDeadlineMs,
    );
    if (answer.kind !== "scan") throw new Error("unexpected answer kind");
    return answer;
  }
}

/**
 * Merges members' scan answers into one page of live keys. A member that
 * returned a full page may hold more keys after its last one, so the page
 * stops at the smallest such last key.
 */
export function mergeKeyPages(
  answers: readonly Extract<PeerResponse, { kind: "scan" }>[],
  limit: number,
  nowMs: number,
): KeyPage {
  let bound: string | undefined;
  for (const answer of answers) {
    const last = answer.entries.at(-1);
    if (!answer.complete && last !== undefined) {
      if (bound === undefined || last[0] < bound) bound = last[0];
    }
  }
  const merged = new Map<string, KeyEntry>();
  for (const answer of answers) {
    for (const entry of answer.entries) {
      if (bound !== undefined && entry[0] > bound) break;
      const seen = merged.get(entry[0]);
      if (seen === undefined || compareVersions(entry[1], seen[1]) > 0) {
        merged.set(entry[0], entry);
      }
    }
  }
  const keys: string[] = [];
  const ordered = [...merged.keys()].sort();
  for (const key of ordered) {
    const [, , tombstone, expiresAtMs] = merged.get(key)!;
    if (tombstone || (expiresAtMs !== null && expiresAtMs <= nowMs)) continue;
    keys.push(key);
    if (keys.length === limit) {
      const more = key !== ordered.at(-1) || bound !== undefined;
      return { keys, cursor: more ? key : null };
    }
  }
  return { keys, cursor: bound ?? null };
}
