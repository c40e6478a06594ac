/**
 * The errors a peer call or a store fails with while the cluster runs: a
 * {@link PeerError} (no answer, a refusal) or a project error (a quorum not
 * met, a store that failed). Everything else is a bug, and is not caught.
 *
 * @module
 */

import { KvdbError } from "../errors.ts";
import { PeerError } from "../transport/mod.ts";

/** True for an operating failure: a peer or a store, not a bug. */
export function isPeerFailure(error: unknown): boolean {
  return error instanceof PeerError || error instanceof KvdbError;
}
