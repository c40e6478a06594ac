/**
 * Security: client tokens, signed peer messages, the address policy and
 * the concurrency bound. docs/security.md explains the threat model.
 *
 * @module
 */
export {
  addressesIn,
  AddressPolicy,
  type AddressPolicyOptions,
  forbiddenHost,
  GuardedTransport,
  hostOf,
} from "./address_policy.ts";
export { ConcurrencyLimiter } from "./concurrency.ts";
export { ReplayCache, type ReplayCacheOptions } from "./replay_cache.ts";
export {
  type Checked,
  CLUSTER_ID,
  type PeerRefusal,
  PeerSigner,
  type PeerSignerOptions,
  refusalDescription,
  SIGNATURE_HEADERS,
  type Stamp,
} from "./signing.ts";
export {
  type AuthVerdict,
  BearerAuth,
  constantTimeEqual,
  secretProblem,
} from "./token.ts";
