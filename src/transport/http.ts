/**
 * The HTTP transport: peer requests as `POST /peer` through `fetch`, which
 * keeps connections alive between calls to the same peer.
 *
 * @module
 */

import {
  parsePeerResponse,
  type PeerRequest,
  type PeerResponse,
} from "./messages.ts";
import { PeerError, type PeerTransport } from "./transport.ts";

/** The path peers answer on. */
export const PEER_PATH = "/peer";

/** Options for {@link HttpTransport}. */
export interface HttpTransportOptions {
  /** Injectable fetch; default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** "http" (default) or "https". */
  scheme?: "http" | "https";
}

/** A {@link PeerTransport} over HTTP. */
export class HttpTransport implements PeerTransport {
  readonly #fetch: typeof fetch;
  readonly #scheme: string;

  constructor(options: HttpTransportOptions = {}) {
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#scheme = options.scheme ?? "http";
  }

  async call(
    peer: string,
    request: PeerRequest,
    deadlineMs: number,
  ): Promise<PeerResponse> {
    let body: unknown;
    try {
      const response = await this.#fetch(
        `${this.#scheme}://${peer}${PEER_PATH}`,
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(request),
          signal: AbortSignal.timeout(deadlineMs),
        },
      );
      body = await response.json();
      if (!response.ok) {
        const description = (body as { description?: unknown })?.description;
        throw new PeerError(
          peer,
          `answered ${response.status}: ${String(description)}`,
        );
      }
    } catch (error) {
      if (error instanceof PeerError) throw error;
      const reason = error instanceof DOMException &&
          error.name === "TimeoutError"
        ? `no answer within ${deadlineMs} ms`
        : `unreachable (${error instanceof Error ? error.message : error})`;
      throw new PeerError(peer, reason, { cause: error });
    }
    try {
      return parsePeerResponse(
        request,
        (body as { result?: unknown } | null)?.result,
      );
    } catch (error) {
      throw new PeerError(peer, (error as Error).message, { cause: error });
    }
  }
}
