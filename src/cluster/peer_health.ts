/**
 * What this node has seen of each peer: the outcome of its last call.
 * A stand-in for full failure detection until membership gossip lands; it
 * only observes, it never changes where requests go.
 *
 * @module
 */

import type { Clock } from "../clock/mod.ts";
import {
  PeerError,
  type PeerRequest,
  type PeerResponse,
  type PeerTransport,
} from "../transport/mod.ts";

/** A member's state as `cluster_info` reports it. */
export type MemberState = "alive" | "suspect" | "dead" | "left";

/** A transport that remembers how each peer last answered. */
export class PeerHealth implements PeerTransport {
  readonly #inner: PeerTransport;
  readonly #clock: Clock;
  readonly #lastFailureMs = new Map<string, number>();

  constructor(inner: PeerTransport, clock: Clock) {
    this.#inner = inner;
    this.#clock = clock;
  }

  async call(
    peer: string,
    request: PeerRequest,
    deadlineMs: number,
  ): Promise<PeerResponse> {
    try {
      const response = await this.#inner.call(peer, request, deadlineMs);
      this.#lastFailureMs.delete(peer);
      return response;
    } catch (error) {
      if (error instanceof PeerError) {
        this.#lastFailureMs.set(peer, this.#clock.now());
      }
      throw error;
    }
  }

  /** "suspect" when the last call to `peer` failed, else "alive". */
  state(peer: string): MemberState {
    return this.#lastFailureMs.has(peer) ? "suspect" : "alive";
  }
}
