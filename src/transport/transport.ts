/**
 * How the core talks to peers. The core only sees this interface; the HTTP
 * adapter and the in-memory network for tests implement it.
 *
 * @module
 */

import type { ErrorCode } from "../errors.ts";
import type { PeerRequest, PeerResponse } from "./messages.ts";

/**
 * Why a peer call failed:
 * - `unreachable`: no connection (refused, reset, no route), or the call
 *   failed fast because the peer is known to be unreachable;
 * - `timeout`: no answer within the deadline;
 * - `refused`: the peer answered, with an error (it is up);
 * - `invalid`: the answer could not be read or verified.
 */
export type PeerFailure = "unreachable" | "timeout" | "refused" | "invalid";

/** A failed peer call: unreachable, timed out, or a refused request. */
export class PeerError extends Error {
  readonly failure: PeerFailure;
  /**
   * With `refused`: the code of the project error the peer answered with;
   * undefined when it refused otherwise (a signature, a bug of its own).
   */
  readonly code: ErrorCode | undefined;
  constructor(
    readonly peer: string,
    message: string,
    options?: ErrorOptions & {
      failure?: PeerFailure;
      code?: ErrorCode | undefined;
    },
  ) {
    super(`${peer}: ${message}`, options);
    this.name = "PeerError";
    this.failure = options?.failure ?? "unreachable";
    this.code = options?.code;
  }

  /** True when the peer did not answer at all (down, cut off or frozen). */
  get silent(): boolean {
    return this.failure === "unreachable" || this.failure === "timeout";
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
