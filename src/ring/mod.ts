/**
 * Consistent hashing for KVDB: where each key lives.
 *
 * Virtual-node tokens come from SHA-256 (computed once per ring build);
 * keys are placed with a synchronous MurmurHash3 so that a lookup costs one
 * hash and one binary search. All nodes compute identical placements from
 * the same member set. See docs/ring.md.
 *
 * @example Usage
 * ```ts
 * import { Ring } from "./mod.ts";
 * const ring = await Ring.build(["127.0.0.1:5878", "127.0.0.1:5879"]);
 * const replicas = ring.preferenceList("user:42", 2); // primary first
 * ```
 *
 * @module
 */

export { HASH_SEED, hashKey, murmur3 } from "./hash.ts";
export {
  MEMBERS_MAX,
  Ring,
  type RingOptions,
  VNODES_DEFAULT,
  VNODES_MAX,
} from "./ring.ts";
