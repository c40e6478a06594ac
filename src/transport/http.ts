/**
 * The HTTP transport: peer requests as `POST /peer`. They go through a
 * pool of keep-alive HTTP/1.1 connections per peer (src/transport/http1.ts;
 * TLS connections over https); with an injected `fetch` (tests, proxies),
 * or `pooled: false`, through `fetch`. Profiles of a three-node cluster showed `fetch` (its
 * Request, headers, streams and a DOMException per timeout signal) as the
 * largest cost of a replicated write.
 *
 * @module
 */

import {
  parsePeerResponse,
  type PeerRequest,
  type PeerResponse,
} from "./messages.ts";
import { Http1Client, Http1Error } from "./http1.ts";
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
  /**
   * Without an injected `fetch`, use pooled keep-alive HTTP/1.1
   * connections (TLS ones for https). Default true.
   */
  pooled?: boolean;
  /** For the pool over https: PEM certificates to trust besides the system's. */
  caCerts?: string[];
}

/** An answer, whichever way it came. */
interface Exchange {
  status: number;
  text: string;
  headers: () => Headers;
}

/** Idle keep-alive connections kept per peer. */
const IDLE_PER_PEER_MAX = 16;

/** Keep-alive HTTP/1.1 connections to peers, one request at a time each. */
class PeerPool {
  readonly #idle = new Map<string, Http1Client[]>();
  readonly #scheme: string;
  readonly #caCerts: string[] | undefined;

  constructor(scheme: string, caCerts: string[] | undefined) {
    this.#scheme = scheme;
    this.#caCerts = caCerts;
  }

  async post(
    peer: string,
    body: string,
    headers: Record<string, string> | undefined,
    deadlineMs: number,
  ): Promise<Exchange> {
    const idle = this.#idle.get(peer);
    const reused = idle?.pop();
    try {
      return await this.#once(peer, reused, body, headers, deadlineMs);
    } catch (error) {
      // A kept connection the peer has closed (it restarted, or timed the
      // connection out) fails before any answer: once more on a new one.
      // Peer messages are idempotent (newest version wins), so a retry
      // never applies anything twice.
      if (
        reused === undefined || !(error instanceof Http1Error) ||
        error.kind !== "connection"
      ) throw error;
      return await this.#once(peer, undefined, body, headers, deadlineMs);
    }
  }

  async #once(
    peer: string,
    kept: Http1Client | undefined,
    body: string,
    headers: Record<string, string> | undefined,
    deadlineMs: number,
  ): Promise<Exchange> {
    const client = kept ??
      new Http1Client(
        `${this.#scheme}://${peer}${PEER_PATH}`,
        this.#caCerts !== undefined ? { caCerts: this.#caCerts } : {},
      );
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      client.close();
    }, deadlineMs);
    try {
      const answer = await client.post(body, headers);
      this.#release(peer, client);
      return {
        status: answer.status,
        text: answer.text,
        headers: () => new Headers([...answer.headers]),
      };
    } catch (error) {
      client.close();
      if (timedOut) {
        throw new DOMException(
          `no answer within ${deadlineMs} ms`,
          "TimeoutError",
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #release(peer: string, client: Http1Client): void {
    let idle = this.#idle.get(peer);
    if (idle === undefined) {
      idle = [];
      this.#idle.set(peer, idle);
    }
    if (idle.length < IDLE_PER_PEER_MAX) idle.push(client);
    else client.close();
  }
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
  readonly #pool: PeerPool | undefined;

  constructor(options: HttpTransportOptions = {}) {
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#scheme = options.scheme ?? "http";
    this.#client = options.client;
    this.#signer = options.signer;
    this.#pool = (options.pooled ?? true) && options.fetch === undefined
      ? new PeerPool(this.#scheme, options.caCerts)
      : undefined;
  }

  /** One request and its whole answer, through the pool or `fetch`. */
  async #exchange(
    peer: string,
    text: string,
    signedHeaders: Record<string, string> | undefined,
    deadlineMs: number,
  ): Promise<Exchange> {
    if (this.#pool !== undefined) {
      return await this.#pool.post(peer, text, signedHeaders, deadlineMs);
    }
    const init: RequestInit & { client?: Deno.HttpClient } = {
      method: "POST",
      headers: signedHeaders === undefined
        ? JSON_HEADERS
        : { ...JSON_HEADERS, ...signedHeaders },
      body: text,
      signal: AbortSignal.timeout(deadlineMs),
    };
    if (this.#client !== undefined) init.client = this.#client;
    const response = await this.#fetch(
      `${this.#scheme}://${peer}${PEER_PATH}`,
      init,
    );
    return {
      status: response.status,
      text: await response.text(),
      headers: () => response.headers,
    };
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
      const response = await this.#exchange(
        peer,
        text,
        signed?.headers,
        deadlineMs,
      );
      // As text first: a signature covers the exact bytes.
      const answer = response.text;
      try {
        body = JSON.parse(answer);
      } catch {
        throw new PeerError(
          peer,
          `answered ${response.status} with a body that is not JSON`,
        );
      }
      if (response.status < 200 || response.status > 299) {
        const description = (body as { description?: unknown })?.description;
        throw new PeerError(
          peer,
          `answered ${response.status}: ${
            typeof description === "string"
              ? description.slice(0, 200)
              : "(no description)"
          }`,
        );
      }
      if (
        signed !== undefined &&
        !await this.#signer!.verifyResponse(
          signed.nonce,
          response.headers(),
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
