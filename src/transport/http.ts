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
import type { Version } from "../clock/mod.ts";
import { PEER_BODY_BYTES_MAX } from "../limits.ts";
import { type ErrorCode, isErrorCode } from "../errors.ts";
import { Http1Client, Http1Error } from "./http1.ts";
import { codeOfLegacyStatus } from "./legacy_status.ts";
import { PeerError, type PeerTransport } from "./transport.ts";

/** The path peers answer on. */
export const PEER_PATH = "/peer";

/**
 * The header a refused `POST /peer` answer names its error's code in. A
 * header, not a field: the failure body is the one PROTOCOL.md fixes for
 * every endpoint (`status` and `description`, nothing else).
 */
export const ERROR_CODE_HEADER = "kvdb-error-code";

/**
 * The code of a refused answer: the peer's header, or, from a peer of the
 * previous version that sent none, the code its HTTP status stood for
 * (src/transport/legacy_status.ts: a rolling upgrade).
 */
function codeOf(
  status: number,
  headers: () => Headers,
): ErrorCode | undefined {
  // A code this version does not know (a newer peer's) reads as its status.
  const code = headers().get(ERROR_CODE_HEADER);
  if (isErrorCode(code)) return code;
  return codeOfLegacyStatus(status);
}

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

/** A write message larger than this (UTF-8) is split in two: half the limit. */
const SPLIT_BYTES = PEER_BODY_BYTES_MAX / 2;
/** Below this many UTF-16 units a message cannot be over SPLIT_BYTES. */
const SPLIT_CHARS = SPLIT_BYTES / 3;
const encoder = new TextEncoder();

function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

/** Idle keep-alive connections kept per peer. */
const IDLE_PER_PEER_MAX = 16;
/**
 * Connections to one peer, in use or connecting, at most. Calls beyond
 * wait for one to be free (within their deadline): a peer that stops
 * answering then costs this node a bounded number of sockets, not one per
 * call.
 */
export const CONNECTIONS_PER_PEER_MAX = 32;
/** Connects to one peer in flight at most: to a silent peer each waits long. */
export const CONNECTS_PER_PEER_MAX = 4;
/** Calls waiting for a connection to one peer at most; more fail at once. */
const WAITING_PER_PEER_MAX = 10_000;

/** A call waiting for a connection to be free. */
interface Waiter {
  wake(): void;
}

/** One peer's connections. */
/** Which connections a call uses: probes have their own. */
type Lane = "data" | "probe";

interface Slots {
  idle: Http1Client[];
  /** Connections handed out (in use, or connecting). */
  busy: number;
  connecting: number;
  waiting: Waiter[];
}

/** What the pool holds, for `cluster_info`, metrics and tests. */
export interface PoolStats {
  /** Connections in use or connecting, by peer. */
  busy: Record<string, number>;
  idle: number;
  connecting: number;
  waiting: number;
}

/**
 * Keep-alive HTTP/1.1 connections to peers, one request at a time each,
 * bounded per peer ({@link CONNECTIONS_PER_PEER_MAX},
 * {@link CONNECTS_PER_PEER_MAX}). A call that misses its deadline closes
 * its connection, or abandons its connect, so nothing is left behind.
 */
class PeerPool {
  readonly #slots = new Map<string, Slots>();
  /**
   * Probes' own connections, by peer: a probe never waits for a connection
   * behind data calls (a saturated peer's 32 busy with large writes), so a
   * busy peer is not taken for a silent one.
   */
  readonly #probeSlots = new Map<string, Slots>();
  readonly #scheme: string;
  readonly #caCerts: string[] | undefined;

  constructor(scheme: string, caCerts: string[] | undefined) {
    this.#scheme = scheme;
    this.#caCerts = caCerts;
  }

  stats(): PoolStats {
    const stats: PoolStats = { busy: {}, idle: 0, connecting: 0, waiting: 0 };
    for (
      const [peer, slots] of [...this.#slots, ...this.#probeSlots]
    ) {
      if (slots.busy > 0) {
        stats.busy[peer] = (stats.busy[peer] ?? 0) + slots.busy;
      }
      stats.idle += slots.idle.length;
      stats.connecting += slots.connecting;
      stats.waiting += slots.waiting.length;
    }
    return stats;
  }

  async post(
    peer: string,
    body: string,
    headers: Record<string, string> | undefined,
    deadlineMs: number,
    lane: Lane = "data",
  ): Promise<Exchange> {
    const slots = this.#slotsOf(peer, lane);
    let timedOut = false;
    let client: Http1Client | undefined;
    let waiter: Waiter | undefined;
    let expire!: () => void;
    const expired = new Promise<void>((resolve) => expire = resolve);
    const timer = setTimeout(() => {
      timedOut = true;
      client?.close();
      waiter?.wake();
      expire();
    }, deadlineMs);
    const timeout = () =>
      new DOMException(`no answer within ${deadlineMs} ms`, "TimeoutError");
    try {
      for (let attempt = 0;; attempt++) {
        // Wait for a connection to be free, or for room to open one.
        for (;;) {
          if (timedOut) throw timeout();
          client = slots.idle.pop();
          if (client !== undefined) break;
          if (
            slots.busy < CONNECTIONS_PER_PEER_MAX &&
            slots.connecting < CONNECTS_PER_PEER_MAX
          ) {
            client = this.#newClient(peer);
            break;
          }
          if (slots.waiting.length >= WAITING_PER_PEER_MAX) {
            throw new Http1Error(
              "connection",
              `${WAITING_PER_PEER_MAX} calls already wait for a connection`,
            );
          }
          await new Promise<void>((resolve) => {
            waiter = { wake: resolve };
            slots.waiting.push(waiter);
          });
          slots.waiting = slots.waiting.filter((w) => w !== waiter);
          waiter = undefined;
        }
        slots.busy++;
        const reused = client.connected;
        try {
          if (!reused) {
            // The connect counts against the peer's bound until it really
            // ends, even when this call gives up on it first.
            slots.connecting++;
            const connecting = client.connect().finally(() => {
              slots.connecting--;
              // Room for another connect: a waiter may open one.
              slots.waiting.shift()?.wake();
            });
            await Promise.race([connecting, expired]);
            if (timedOut) {
              // Abandoned: its failure (always an Http1Error) is nobody's.
              connecting.catch((error) => {
                if (!(error instanceof Http1Error)) throw error;
              });
              throw timeout();
            }
          }
          const answer = await client.post(body, headers);
          this.#release(slots, client, true);
          return {
            status: answer.status,
            text: answer.text,
            headers: () => new Headers([...answer.headers]),
          };
        } catch (error) {
          this.#release(slots, client, false);
          // A bug is not hidden behind the deadline that also passed.
          if (!(error instanceof Http1Error)) throw error;
          if (timedOut) throw timeout();
          // A kept connection the peer has closed (it restarted, or timed
          // the connection out) fails before any answer: once more on a new
          // one. Peer messages are idempotent (newest version wins), so a
          // retry never applies anything twice.
          if (
            !reused || attempt > 0 || !(error instanceof Http1Error) ||
            error.kind !== "connection"
          ) throw error;
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  #slotsOf(peer: string, lane: Lane): Slots {
    const lanes = lane === "probe" ? this.#probeSlots : this.#slots;
    let slots = lanes.get(peer);
    if (slots === undefined) {
      slots = { idle: [], busy: 0, connecting: 0, waiting: [] };
      lanes.set(peer, slots);
    }
    return slots;
  }

  #newClient(peer: string): Http1Client {
    return new Http1Client(
      `${this.#scheme}://${peer}${PEER_PATH}`,
      this.#caCerts !== undefined ? { caCerts: this.#caCerts } : {},
    );
  }

  /** Gives a connection back (kept if still good) and wakes one waiter. */
  #release(slots: Slots, client: Http1Client, reusable: boolean): void {
    slots.busy--;
    if (reusable && slots.idle.length < IDLE_PER_PEER_MAX) {
      slots.idle.push(client);
    } else {
      client.close();
    }
    slots.waiting.shift()?.wake();
  }
}

/**
 * What a call through the pool or `fetch` fails with when the peer or the
 * network is at fault: the HTTP/1.1 client's own error (a connection, an
 * answer it cannot read), or a deadline (the pool's, fetch's signal).
 */
function isExchangeFailure(error: unknown): boolean {
  return error instanceof Http1Error ||
    (error instanceof DOMException &&
      (error.name === "TimeoutError" || error.name === "AbortError"));
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
    lane: Lane,
  ): Promise<Exchange> {
    if (this.#pool !== undefined) {
      return await this.#pool.post(
        peer,
        text,
        signedHeaders,
        deadlineMs,
        lane,
      );
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
    try {
      const response = await this.#fetch(
        `${this.#scheme}://${peer}${PEER_PATH}`,
        init,
      );
      return {
        status: response.status,
        text: await response.text(),
        headers: () => response.headers,
      };
    } catch (error) {
      // fetch reports every network failure (refused, reset, no route, a
      // body cut short) as a TypeError; its deadline as a DOMException.
      if (!(error instanceof TypeError)) throw error;
      throw new PeerError(peer, `unreachable (${error.message})`, {
        cause: error,
        failure: "unreachable",
      });
    }
  }

  /** The connection pool's state; undefined when calls go through `fetch`. */
  poolStats(): PoolStats | undefined {
    return this.#pool?.stats();
  }

  async call(
    peer: string,
    request: PeerRequest,
    deadlineMs: number,
  ): Promise<PeerResponse> {
    const text = JSON.stringify(request);
    if (
      request.kind === "write" && request.records.length > 1 &&
      text.length > SPLIT_CHARS && utf8Length(text) > SPLIT_BYTES
    ) {
      return await this.#split(peer, request, deadlineMs);
    }
    return await this.#send(peer, request, text, deadlineMs);
  }

  /**
   * A write message too large for one body goes as two, each split again
   * if need be; the answers are joined as if it had been one.
   */
  async #split(
    peer: string,
    request: Extract<PeerRequest, { kind: "write" }>,
    deadlineMs: number,
  ): Promise<PeerResponse> {
    const half = Math.ceil(request.records.length / 2);
    const parts = [request.records.slice(0, half), request.records.slice(half)];
    const answers = await Promise.all(
      parts.map((records) =>
        this.call(peer, { ...request, records }, deadlineMs)
      ),
    );
    let applied = 0;
    const newer: [number, Version][] = [];
    answers.forEach((answer, part) => {
      if (answer.kind !== "write") return;
      applied += answer.applied;
      for (const [i, version] of answer.newer ?? []) {
        newer.push([i + part * half, version]);
      }
    });
    return newer.length === 0
      ? { kind: "write", applied }
      : { kind: "write", applied, newer };
  }

  async #send(
    peer: string,
    request: PeerRequest,
    text: string,
    deadlineMs: number,
  ): Promise<PeerResponse> {
    let body: unknown;
    try {
      const signed = this.#signer === undefined
        ? undefined
        : await this.#signer.signRequest(text);
      const response = await this.#exchange(
        peer,
        text,
        signed?.headers,
        deadlineMs,
        request.kind === "ping" || request.kind === "ping_req"
          ? "probe"
          : "data",
      );
      // As text first: a signature covers the exact bytes.
      const answer = response.text;
      try {
        body = JSON.parse(answer);
      } catch (error) {
        if (!(error instanceof SyntaxError)) throw error;
        throw new PeerError(
          peer,
          `answered ${response.status} with a body that is not JSON`,
          { failure: "invalid" },
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
          {
            failure: "refused",
            code: codeOf(response.status, response.headers),
          },
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
          { failure: "invalid" },
        );
      }
    } catch (error) {
      if (error instanceof PeerError) throw error;
      // Only what the exchange itself fails with is the peer's doing; any
      // other error (a signer's, a bug's) goes on to whoever called.
      if (!isExchangeFailure(error)) throw error;
      const timedOut = error instanceof DOMException &&
        error.name === "TimeoutError";
      const reason = timedOut
        ? `no answer within ${deadlineMs} ms`
        : `unreachable (${error instanceof Error ? error.message : error})`;
      throw new PeerError(peer, reason, {
        cause: error,
        failure: timedOut ? "timeout" : "unreachable",
      });
    }
    try {
      return parsePeerResponse(
        request,
        (body as { result?: unknown } | null)?.result,
      );
    } catch (error) {
      throw new PeerError(peer, (error as Error).message, {
        cause: error,
        failure: "invalid",
      });
    }
  }
}
