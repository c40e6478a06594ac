/**
 * An in-memory network for tests: nodes in one process, messages passed
 * through JSON as they would be on the wire, links that can be cut.
 *
 * @module
 */

import {
  parsePeerRequest,
  parsePeerResponse,
  type PeerRequest,
  type PeerResponse,
} from "./messages.ts";
import {
  PeerError,
  type PeerHandler,
  type PeerTransport,
} from "./transport.ts";

/** The nodes of one simulated cluster and the state of their links. */
export class MemoryNetwork {
  readonly #handlers = new Map<string, PeerHandler>();
  readonly #down = new Set<string>();

  /** Makes `address` reachable, answering with `handler`. */
  register(address: string, handler: PeerHandler): void {
    this.#handlers.set(address, handler);
  }

  /** Takes `address` off the network (a crash or a cut cable). */
  down(address: string): void {
    this.#down.add(address);
  }

  /** Puts `address` back on the network. */
  up(address: string): void {
    this.#down.delete(address);
  }

  /** The transport a node at `from` uses. */
  transport(from: string): PeerTransport {
    return {
      call: (peer, request, _deadlineMs) => this.#deliver(from, peer, request),
    };
  }

  async #deliver(
    from: string,
    peer: string,
    request: PeerRequest,
  ): Promise<PeerResponse> {
    const handler = this.#handlers.get(peer);
    if (handler === undefined || this.#down.has(peer) || this.#down.has(from)) {
      throw new PeerError(peer, "unreachable");
    }
    // Through JSON both ways, so nothing is shared by reference.
    const wire = parsePeerRequest(JSON.parse(JSON.stringify(request)));
    const answer = await handler(wire);
    if (this.#down.has(peer) || this.#down.has(from)) {
      throw new PeerError(peer, "unreachable");
    }
    return parsePeerResponse(request, JSON.parse(JSON.stringify(answer)));
  }
}
