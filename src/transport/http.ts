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

/**
 * Signs outgoing peer requests and checks the answers' signatures
 * (src/security's `PeerSigner` is the implementation).
 */
export interface RequestSigner {
  /** The headers that sign a request with `body`, and its nonce. */
  signRequest(
    body: string,
  ): Promise<{ headers: Record<string, string>; nonce: string }>;
  /** Whether `body` is a genuine answer to the request with `nonce`. */
  verifyResponse(
    nonce: string,
    headers: Headers,
    body: string,
  ): Promise<boolean>;
}

/** Options for {@link HttpTransport}. */
export interface HttpTransportOptions {
  /** Injectable fetch; default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** "http" (default) or "https". */
  scheme?: "http" | "https";
  /**
   * The HTTP client requests go through: with `https` and a private CA,
   * `Deno.createHttpClient({ caCerts })`. Default: fetch's own.
   */
  client?: Deno.HttpClient;
  /** With a cluster secret: signs every request, verifies every answer. */
  signer?: RequestSigner;
}

const JSON_HEADERS: Record<string, string> = {
  "content-type": "application/json",
};

/** A {@link PeerTransport} over HTTP. */
export class HttpTransport implements PeerTransport {
  readonly #fetch: typeof fetch;
  readonly #scheme: string;
  readonly #client: Deno.HttpClient | undefined;
  readonly #signer: RequestSigner | undefined;

  constructor(options: HttpTransportOptions = {}) {
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#scheme = options.scheme ?? "http";
    this.#client = options.client;
    this.#signer = options.signer;
  }

  async call(
    peer: string,
    request: PeerRequest,
    deadlineMs: number,
  ): Promise<PeerResponse> {
    let body: unknown;
    try {
      const text = JSON.stringify(request);
      const signed = this.#signer === undefined
        ? undefined
        : await this.#signer.signRequest(text);
      const init: RequestInit & { client?: Deno.HttpClient } = {
        method: "POST",
        headers: signed === undefined
          ? JSON_HEADERS
          : { ...JSON_HEADERS, ...signed.headers },
        body: text,
        signal: AbortSignal.timeout(deadlineMs),
      };
      if (this.#client !== undefined) init.client = this.#client;
      const response = await this.#fetch(
        `${this.#scheme}://${peer}${PEER_PATH}`,
        init,
      );
      // As text first: a signature covers the exact bytes.
      const answer = await response.text();
      try {
        body = JSON.parse(answer);
      } catch {
        throw new PeerError(
          peer,
          `answered ${response.status} with a body that is not JSON`,
        );
      }
      if (!response.ok) {
        const description = (body as { description?: unknown })?.description;
        throw new PeerError(
          peer,
          `answered ${response.status}: ${String(description)}`,
        );
      }
      if (
        signed !== undefined &&
        !await this.#signer!.verifyResponse(
          signed.nonce,
          response.headers,
          answer,
        )
      ) {
        throw new PeerError(
          peer,
          "answered without a valid signature (another cluster secret?)",
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
