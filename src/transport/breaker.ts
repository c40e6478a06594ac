/**
 * Failing fast on peers that do not answer. After calls to a peer fail
 * without any answer (no connection, or no reply by the deadline; for a
 * probe, whose deadline is short, only no connection) twice in a row,
 * further calls to it fail at once, without opening a connection,
 * until one reaches it again: probes (`ping`, `ping_req`) always go
 * through, and one other call a second is let through as a trial. A peer
 * that answers with an error is up, and resets the count. A call that
 * times out while the peer was heard from meanwhile (another call's
 * answer, a probe's, or its own probe coming in) does not count: that
 * peer is slow (a large batch on a loaded machine), not silent.
 *
 * Without this, every request of a loaded node would wait out a full peer
 * deadline on a frozen or cut-off replica, and open a socket doing so.
 *
 * @module
 */

import type { Clock } from "../clock/mod.ts";
import type { PeerRequest, PeerResponse } from "./messages.ts";
import { PeerError, type PeerTransport } from "./transport.ts";

/** Silent failures in a row after which a peer's calls fail fast. */
export const SILENT_FAILURES_MAX = 2;
/** While a peer's calls fail fast, one trial call per this many ms. */
export const TRIAL_INTERVAL_MS = 1_000;

interface PeerHealth {
  silentFailures: number;
  /** When calls began to fail fast (ms), or null while they do not. */
  openSinceMs: number | null;
  lastTrialMs: number;
}

/** Which peers' calls fail fast, for `cluster_info` and tests. */
export interface BreakerStats {
  /** Peers whose calls fail fast, with since when (ms). */
  open: Record<string, number>;
  /** Calls failed fast since start. */
  failedFast: number;
}

/** Wraps a transport so that calls to silent peers fail fast. */
export class BreakerTransport implements PeerTransport {
  readonly #inner: PeerTransport;
  readonly #clock: Clock;
  readonly #health = new Map<string, PeerHealth>();
  /** When each peer was last heard from (ms): a good answer, or its probe. */
  readonly #heardAtMs = new Map<string, number>();
  #failedFast = 0;

  constructor(inner: PeerTransport, clock: Clock) {
    this.#inner = inner;
    this.#clock = clock;
  }

  /** True while calls to `peer` fail fast. */
  isOpen(peer: string): boolean {
    return (this.#health.get(peer)?.openSinceMs ?? null) !== null;
  }

  /** When `peer` was last heard from (an answer, or its probe coming in). */
  heardAtMs(peer: string): number | undefined {
    return this.#heardAtMs.get(peer);
  }

  /** Forgets `peer`'s failures: it was heard from (its probe came in). */
  reset(peer: string): void {
    this.#health.delete(peer);
    this.#heardAtMs.set(peer, this.#clock.now());
  }

  stats(): BreakerStats {
    const open: Record<string, number> = {};
    for (const [peer, health] of this.#health) {
      if (health.openSinceMs !== null) open[peer] = health.openSinceMs;
    }
    return { open, failedFast: this.#failedFast };
  }

  async call(
    peer: string,
    request: PeerRequest,
    deadlineMs: number,
  ): Promise<PeerResponse> {
    const health = this.#health.get(peer);
    if (health?.openSinceMs != null && !isProbe(request)) {
      const now = this.#clock.now();
      if (now - health.lastTrialMs < TRIAL_INTERVAL_MS) {
        this.#failedFast++;
        throw new PeerError(
          peer,
          `unreachable: no answer for ${
            now - health.openSinceMs
          } ms; calls fail fast until it answers again`,
        );
      }
      health.lastTrialMs = now;
    }
    const startedMs = this.#clock.now();
    try {
      const response = await this.#inner.call(peer, request, deadlineMs);
      this.#health.delete(peer);
      this.#heardAtMs.set(peer, this.#clock.now());
      return response;
    } catch (error) {
      if (!(error instanceof PeerError)) throw error;
      // An error answer proves the peer up, but not one of ours (another
      // cluster secret answers too): it does not count as heard from.
      if (!error.silent) this.#health.delete(peer);
      else if (
        // A probe's deadline is short (a fraction of a second): its timeout
        // under load says little, so only a refused connection counts.
        (!isProbe(request) || error.failure === "unreachable") &&
        // Heard from since this call began: slow, not silent.
        !((this.#heardAtMs.get(peer) ?? -Infinity) >= startedMs &&
          error.failure !== "unreachable")
      ) {
        this.#silent(peer);
      }
      throw error;
    }
  }

  #silent(peer: string): void {
    let health = this.#health.get(peer);
    if (health === undefined) {
      health = { silentFailures: 0, openSinceMs: null, lastTrialMs: 0 };
      this.#health.set(peer, health);
    }
    health.silentFailures++;
    if (
      health.openSinceMs === null &&
      health.silentFailures >= SILENT_FAILURES_MAX
    ) {
      health.openSinceMs = this.#clock.now();
      health.lastTrialMs = health.openSinceMs;
    }
  }
}

function isProbe(request: PeerRequest): boolean {
  return request.kind === "ping" || request.kind === "ping_req";
}
