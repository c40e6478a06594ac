/**
 * How the core talks to peers. The core only sees this interface; the HTTP
 * adapter and the in-memory network for tests implement it.
 *
 * @module
 */

import type { PeerRequest, PeerResponse } from "./messages.ts";

/** A failed peer call: unreachable, timed out, or a refused request. */
export class PeerError extends Error {
  constructor(readonly peer: string, message: string, options?: ErrorOptions) {
    super(`${peer}: ${message}`, options);
    this.name = "PeerError";
  }
}

/** Sends requests to peers by address ("host:port"). */
export interface PeerTransport {
  /**
   * Sends `request` to `peer` and resolves with its answer, or rejects with
   * a {@link PeerError} once `deadlineMs` has passed without one.
   */
  call(
    peer: string,
    request: PeerRequest,
    deadlineMs: number,
  ): Promise<PeerResponse>;
}

/** What answers peer requests on a node. */
export type PeerHandler = (request: PeerRequest) => Promise<PeerResponse>;
