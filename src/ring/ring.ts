/**
 * The consistent-hashing ring: virtual-node tokens and preference lists.
 *
 * Pure: no I/O, no clock, no randomness. Every node that builds a ring from
 * the same member set computes the same placement, whatever order the
 * members were given in.
 *
 * @module
 */

import { assert } from "@std/assert";
import { hashKey } from "./hash.ts";

/**
 * Virtual nodes per member when {@linkcode RingOptions.vnodes} is not given.
 *
 * Chosen by measurement (`deno run bench/ring_balance.ts`, table in
 * docs/ring.md): the smallest power of two for which the worst of 50
 * five-member sets keeps every member's primary share of 100,000 keys
 * within ±10 % of the mean (worst ±6.3 %) and moves at most 1.2 × the
 * ideal 1/6 of the keys when a sixth member joins (worst 1.05 ×). A
 * member's share spreads by about 1/sqrt(vnodes), so 1024 still left one
 * set at ±11.2 %. The price is paid once per membership change: 100 to
 * 180 ms of SHA-256 digests to build a five-member ring, and 124 KiB for
 * tokens, owners and lookup index; a lookup costs the same at any count.
 */
export const VNODES_DEFAULT = 2048;

/** Upper bound for {@linkcode RingOptions.vnodes}. */
export const VNODES_MAX = 4096;

/**
 * Upper bound on distinct ring members. Owner indexes are stored as
 * uint16, and a gossip-based cluster is far smaller than this.
 */
export const MEMBERS_MAX = 1024;

/** Options for {@linkcode Ring.build}. */
export interface RingOptions {
  /**
   * Virtual nodes (tokens) per member: an integer in [1, 4096]. More
   * vnodes balance load better and cost memory and build time.
   *
   * @default {2048} ({@linkcode VNODES_DEFAULT})
   */
  vnodes?: number;
}

const HASH_MAX = 0xffffffff;

// A 14-step binary search over 10,240 tokens measured ~100 ns, mostly
// mispredicted branches. Bucketing positions by their top bits, with about
// one token per bucket, narrows the search to a step or two. Capped so the
// index stays at most 4 MiB on the largest ring.
const BUCKET_BITS_MAX = 20;

/**
 * An immutable consistent-hashing ring over a set of members.
 *
 * Each member owns `vnodes` tokens on a 32-bit circle. A key is hashed with
 * {@linkcode hashKey} and belongs to the first token at or after its hash,
 * wrapping around; its preference list is the first N distinct members met
 * walking clockwise from there.
 *
 * @example Usage
 * ```ts
 * import { Ring } from "./ring.ts";
 * const ring = await Ring.build(["127.0.0.1:5878", "127.0.0.1:5879"]);
 * ring.primary("user:42"); // one of the two members
 * ring.preferenceList("user:42", 3); // both members, primary first
 * ```
 */
export class Ring {
  /** The distinct members, sorted by UTF-16 code units. */
  readonly members: readonly string[];
  /** Virtual nodes per member. */
  readonly vnodes: number;

  // Sorted tokens and, at the same index, the index in `members` of the
  // token's owner. Typed arrays keep the search compact and cache-friendly.
  readonly #tokens: Uint32Array;
  readonly #owners: Uint16Array;
  // `#starts[b]` is the index of the first token whose top bits are >= b,
  // and `#starts[buckets]` is the token count, so bucket b's tokens are
  // [#starts[b], #starts[b + 1]).
  readonly #starts: Uint32Array;
  readonly #shift: number;
  // For each list length, the frozen preference list that starts at each
  // token index, filled on first use: a lookup is then one hash, one
  // bucketed search and one array read. At most `members.length` entries.
  readonly #lists = new Map<number, (string[] | undefined)[]>();
  // Thousands of token indexes share a few distinct lists (at most 60 for
  // 5 members and n = 3), so equal lists are stored once, keyed by their
  // owner indexes. At most one entry per token index and list length.
  readonly #interned = new Map<string, string[]>();

  private constructor(
    members: readonly string[],
    vnodes: number,
    tokens: Uint32Array,
    owners: Uint16Array,
  ) {
    this.members = members;
    this.vnodes = vnodes;
    this.#tokens = tokens;
    this.#owners = owners;
    const bits = Math.min(
      Math.max(1, Math.ceil(Math.log2(tokens.length))),
      BUCKET_BITS_MAX,
    );
    this.#shift = 32 - bits;
    this.#starts = bucketStarts(tokens, this.#shift, 2 ** bits);
  }

  /**
   * Builds the ring for a member set. Member `m`'s token `i` (for `i` in
   * [0, vnodes)) is the first 4 bytes, read as a big-endian uint32, of
   * SHA-256(`${m}#${i}`). Members are de-duplicated and sorted first, so
   * the order they are given in does not matter. Equal tokens are ordered
   * by member name, then by `i`.
   *
   * @param members Member names, e.g. `"127.0.0.1:5878"`. Duplicates are
   * ignored.
   * @param options See {@linkcode RingOptions}.
   * @returns The ring.
   * @throws {RangeError} If there is no member, more than
   * {@linkcode MEMBERS_MAX} distinct members, an empty member name, or
   * `vnodes` is not an integer in [1, {@linkcode VNODES_MAX}].
   */
  static async build(
    members: readonly string[],
    options: RingOptions = {},
  ): Promise<Ring> {
    const vnodes = options.vnodes ?? VNODES_DEFAULT;
    if (!Number.isInteger(vnodes) || vnodes < 1 || vnodes > VNODES_MAX) {
      throw new RangeError(
        `Cannot build ring as 'vnodes' must be an integer in [1, ${VNODES_MAX}]: current value is ${
          String(vnodes)
        }`,
      );
    }
    const distinct = Object.freeze([...new Set(members)].sort());
    validateMembers(distinct);

    const count = distinct.length * vnodes;
    const raw = new Uint32Array(count);
    // One member at a time bounds the digests in flight to `vnodes`.
    for (let m = 0; m < distinct.length; m++) {
      const digests = await Promise.all(
        Array.from({ length: vnodes }, (_, i) => tokenOf(distinct[m]!, i)),
      );
      raw.set(digests, m * vnodes);
    }

    // Slot `m * vnodes + i` holds member m's token i and members are
    // sorted, so breaking ties by slot breaks them by member name, then i.
    const order = new Uint32Array(count);
    for (let slot = 0; slot < count; slot++) order[slot] = slot;
    order.sort((a, b) => raw[a]! - raw[b]! || a - b);

    const tokens = new Uint32Array(count);
    const owners = new Uint16Array(count);
    for (let index = 0; index < count; index++) {
      const slot = order[index]!;
      tokens[index] = raw[slot]!;
      owners[index] = Math.floor(slot / vnodes);
    }
    return new Ring(distinct, vnodes, tokens, owners);
  }

  /**
   * Every token's position, ascending (a copy). A key belongs to the first
   * token at or after its hash, wrapping around: token `i` owns the hashes
   * in (`tokens[i - 1]`, `tokens[i]`]. For anti-entropy, which keeps digests
   * per range.
   */
  tokenPositions(): Uint32Array {
    return this.#tokens.slice();
  }

  /**
   * Bytes held by the token table: tokens, their owners' indexes and the
   * bucket index that speeds up lookups. Lazily cached preference lists
   * are not counted.
   */
  get tokenBytes(): number {
    return this.#tokens.byteLength + this.#owners.byteLength +
      this.#starts.byteLength;
  }

  /**
   * The first min(n, members.length) distinct members clockwise from the
   * key's hash, primary first.
   *
   * The returned array is shared between calls and frozen: callers must
   * not mutate it (copy it first if needed).
   *
   * @param key The key to place.
   * @param n How many replicas are wanted: an integer >= 1. Capped at the
   * number of members.
   * @returns The preference list.
   * @throws {RangeError} If `n` is not an integer >= 1.
   */
  preferenceList(key: string, n: number): string[] {
    validateN(n);
    return this.#listAt(this.#indexOf(hashKey(key)), n);
  }

  /**
   * The primary replica of a key: `preferenceList(key, 1)[0]`.
   *
   * @param key The key to place.
   * @returns The member that owns the key's position.
   */
  primary(key: string): string {
    return this.#listAt(this.#indexOf(hashKey(key)), 1)[0]!;
  }

  /**
   * {@linkcode Ring.preferenceList} from a precomputed position on the
   * ring, for anti-entropy and rebalancing which walk ranges of hashes.
   *
   * @param hash A position: an integer in [0, 2^32 - 1].
   * @param n How many replicas are wanted: an integer >= 1. Capped at the
   * number of members.
   * @returns The preference list, frozen and shared like
   * {@linkcode Ring.preferenceList}'s.
   * @throws {RangeError} If `hash` or `n` is out of range.
   */
  preferenceListForHash(hash: number, n: number): string[] {
    if (!Number.isInteger(hash) || hash < 0 || hash > HASH_MAX) {
      throw new RangeError(
        `Cannot compute preference list as 'hash' must be an integer in [0, ${HASH_MAX}]: current value is ${
          String(hash)
        }`,
      );
    }
    validateN(n);
    return this.#listAt(this.#indexOf(hash), n);
  }

  // Index of the first token >= hash, wrapping to 0 past the last token.
  #indexOf(hash: number): number {
    const tokens = this.#tokens;
    const bucket = hash >>> this.#shift;
    let low = this.#starts[bucket]!;
    let high = this.#starts[bucket + 1]!;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (tokens[middle]! < hash) low = middle + 1;
      else high = middle;
    }
    return low === tokens.length ? 0 : low;
  }

  #listAt(index: number, n: number): string[] {
    const length = Math.min(n, this.members.length);
    let lists = this.#lists.get(length);
    if (lists === undefined) {
      lists = new Array(this.#tokens.length);
      this.#lists.set(length, lists);
    }
    return lists[index] ??= this.#walk(index, length);
  }

  #walk(index: number, length: number): string[] {
    const tokens = this.#tokens.length;
    const seen = new Uint8Array(this.members.length);
    const owners: number[] = [];
    // Every member owns at least one token, so one lap finds them all.
    for (let step = 0; step < tokens && owners.length < length; step++) {
      const owner = this.#owners[(index + step) % tokens]!;
      if (seen[owner] === 0) {
        seen[owner] = 1;
        owners.push(owner);
      }
    }
    assert(owners.length === length, "a ring lap must meet every member");
    const id = owners.join(",");
    let list = this.#interned.get(id);
    if (list === undefined) {
      list = Object.freeze(owners.map((o) => this.members[o]!)) as string[];
      this.#interned.set(id, list);
    }
    return list;
  }
}

function bucketStarts(
  tokens: Uint32Array,
  shift: number,
  buckets: number,
): Uint32Array {
  const starts = new Uint32Array(buckets + 1);
  let index = 0;
  for (let bucket = 0; bucket <= buckets; bucket++) {
    while (index < tokens.length && tokens[index]! >>> shift < bucket) {
      index++;
    }
    starts[bucket] = index;
  }
  return starts;
}

async function tokenOf(member: string, vnode: number): Promise<number> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`${member}#${vnode}`),
  );
  return new DataView(digest).getUint32(0, false);
}

function validateMembers(members: readonly string[]): void {
  if (members.length === 0) {
    throw new RangeError(
      "Cannot build ring as 'members' must not be empty: current value is []",
    );
  }
  if (members.length > MEMBERS_MAX) {
    throw new RangeError(
      `Cannot build ring as 'members' must hold at most ${MEMBERS_MAX} distinct names: current value holds ${members.length}`,
    );
  }
  for (const member of members) {
    // Names come from configuration and gossip; an empty or non-string one
    // would still hash, silently, so reject it here.
    if (typeof member !== "string" || member.length === 0) {
      throw new RangeError(
        `Cannot build ring as 'members' must be non-empty strings: current value is ${
          JSON.stringify(member)
        }`,
      );
    }
  }
}

function validateN(n: number): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(
      `Cannot compute preference list as 'n' must be an integer >= 1: current value is ${
        String(n)
      }`,
    );
  }
}
