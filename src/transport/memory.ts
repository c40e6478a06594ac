/**
 * An in-memory network for tests: nodes in one process, messages passed
 * through JSON as they would be on the wire, links that can be cut.
 *
 * @module
 */

import { KvdbError } from "../errors.ts";
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
  readonly #cut = new Set<string>();

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

  /** Cuts every link between the two groups (a network partition). */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) {
      for (const y of b) {
        this.#cut.add(`${x}|${y}`);
        this.#cut.add(`${y}|${x}`);
      }
    }
  }

  /** Restores every cut link. */
  heal(): void {
    this.#cut.clear();
  }

  #reachable(from: string, to: string): boolean {
    return !this.#down.has(from) && !this.#down.has(to) &&
      !this.#cut.has(`${from}|${to}`);
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
    if (handler === undefined || !this.#reachable(from, peer)) {
      throw new PeerError(peer, "unreachable");
    }
    // Through JSON both ways, so nothing is shared by reference.
    const wire = parsePeerRequest(JSON.parse(JSON.stringify(request)));
    let answer: PeerResponse;
    try {
      answer = await handler(wire);
    } catch (error) {
      // As over HTTP: the peer answered with an error, so it is up. A bug
      // (not a project error) goes on to crash the test that caused it.
      if (!(error instanceof KvdbError)) throw error;
      throw new PeerError(
        peer,
        `answered ${error.code}: ${error.message.slice(0, 200)}`,
        { failure: "refused", code: error.code, cause: error },
      );
    }
    if (!this.#reachable(peer, from)) throw new PeerError(peer, "unreachable");
    return parsePeerResponse(request, JSON.parse(JSON.stringify(answer)));
  }
}
