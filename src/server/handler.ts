/**
 * The node's HTTP handler: a plain `(Request) => Promise<Response>`, so
 * tests call it without a socket. `Deno.serve` appears only in serve.ts.
 *
 * Routes: `POST /` (JSON-RPC, PROTOCOL.md), `POST /peer` (node to node),
 * `GET /health`, `GET /metrics`.
 *
 * Security (docs/security.md) sits here, at the edge, before any body is
 * read: the client token on `POST /` and `GET /metrics`, the signature on
 * `POST /peer`, the concurrency bound, the body's size and deadline. Each
 * check is an option; without them the node is open, as it was.
 *
 * @module
 */

import {
  type ApiContext,
  callFromJson,
  callFunction,
  checkTextDepth,
  decodeCall,
  encodeError,
  encodeResult,
  FUNCTION_NAMES,
  type RpcCall,
} from "../api/mod.ts";
import {
  BadRequestError,
  KvdbError,
  OverloadedError,
  PayloadTooLargeError,
  RequestTimeoutError,
} from "../errors.ts";
import {
  BODY_BYTES_MAX,
  BODY_DEADLINE_MS_DEFAULT,
  CONCURRENT_REQUESTS_MAX_DEFAULT,
  JSON_DEPTH_MAX,
  PEER_BODY_BYTES_MAX,
  PEER_CONCURRENT_REQUESTS_MAX,
  RETRY_AFTER_SECONDS,
} from "../limits.ts";
import {
  addressesIn,
  AddressPolicy,
  type AuthVerdict,
  type BearerAuth,
  ConcurrencyLimiter,
  type PeerRefusal,
  type PeerSigner,
  refusalDescription,
} from "../security/mod.ts";
import {
  ERROR_CODE_HEADER,
  parsePeerRequest,
  PEER_PATH,
  type PeerHandler,
} from "../transport/mod.ts";
import type { MetricFamily, Metrics } from "./metrics.ts";
import { type EventLog, NO_LOG, rateLimited } from "../log.ts";
import { httpStatus } from "./status.ts";
import { Watchdog } from "./watchdog.ts";
import { uiAsset } from "../ui/assets.ts";
import type { KvConnect } from "../kvconnect/mod.ts";

const KNOWN_FUNCTIONS: ReadonlySet<string> = new Set(FUNCTION_NAMES);

/** What the handler serves. */
export interface HandlerOptions {
  api: ApiContext;
  /** Answers `POST /peer`. */
  peer: PeerHandler;
  metrics: Metrics;
  /** Wall time, for metrics. */
  now: () => number;
  /** Largest body accepted. Default {@link BODY_BYTES_MAX}. */
  bodyBytesMax?: number;
  /** Most ms a body may take to arrive. Default {@link BODY_DEADLINE_MS_DEFAULT}. */
  bodyDeadlineMs?: number;
  /**
   * Most client requests in flight; beyond, 503 with `Retry-After`.
   * Default {@link CONCURRENT_REQUESTS_MAX_DEFAULT}.
   */
  concurrentRequestsMax?: number;
  /** Most peer requests in flight. Default {@link PEER_CONCURRENT_REQUESTS_MAX}. */
  peerConcurrentRequestsMax?: number;
  /**
   * The client token `POST /` and `GET /metrics` need. Absent: open to
   * anyone who can connect.
   */
  auth?: BearerAuth;
  /**
   * How `POST /peer` is authenticated: a signer checks each message's
   * signature; `"closed"` refuses every message (a node with a client token
   * but no cluster secret: the token must not open internal functions).
   * Absent: open.
   */
  peerAuth?: PeerSigner | "closed";
  /** Which member addresses peer messages may name. Default: no link-local. */
  addressPolicy?: AddressPolicy;
  /** Where unexpected errors are reported (never to the client). */
  logError?: (error: unknown) => void;
  /** Metrics read at scrape time (the core's stats, the process). */
  collect?: () => MetricFamily[];
  /** Where refusals are logged (rate-limited). Default: nowhere. */
  log?: EventLog;
  /**
   * Whether the node serves yet: `GET /health` answers 503 until it does
   * (a node that has just started, until its peers heard it is back).
   * Absent: serving.
   */
  serving?: () => boolean;
  /** The dashboard's data (`GET /ui/api/cluster`); absent: no dashboard. */
  ui?: { cluster(): Promise<unknown> };
  /**
   * KV Connect (`POST /kv…`, src/kvconnect), which checks its own tokens;
   * absent: not served.
   */
  kvConnect?: KvConnect;
}

const JSON_HEADERS = { "content-type": "application/json" };
/** Shared by every 200 answer: no per-request header objects. */
const OK_INIT: ResponseInit = { status: 200, headers: JSON_HEADERS };

function json(
  body: string,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  if (status === 200) return new Response(body, OK_INIT);
  return new Response(body, {
    status,
    headers: { ...JSON_HEADERS, ...headers },
  });
}

/**
 * The path of a request URL, without parsing the whole URL: requests reach
 * us as absolute URLs ("http://host:port/path?query").
 */
export function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  const query = url.indexOf("?", start);
  const hash = url.indexOf("#", start);
  let end = url.length;
  if (query !== -1) end = query;
  if (hash !== -1 && hash < end) end = hash;
  return url.slice(start, end);
}

/** A body that broke off (the client closed the connection mid-body). */
function unreadable(): BadRequestError {
  return new BadRequestError("Bad request: the body could not be read.");
}

/**
 * Reads the body as text, refusing it as soon as it passes `max` bytes:
 * a declared length is checked before reading, a streamed one as it comes.
 * With a `watchdog`, a body that takes longer than its deadline is refused
 * (408). A body that breaks off is the client's doing: 400, never 500.
 */
export async function readBody(
  request: Request,
  max: number,
  watchdog?: Watchdog,
): Promise<string> {
  const guard = <T>(work: Promise<T>, cancel: () => void): Promise<T> =>
    watchdog === undefined ? work : watchdog.guard(
      work,
      cancel,
      () => new RequestTimeoutError(watchdog.deadlineMs),
    );
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    const length = Number(declared);
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new BadRequestError("Bad request: invalid Content-Length.");
    }
    if (length > max) throw new PayloadTooLargeError(max);
    try {
      // Nothing to cancel: the stream is locked to text(); the server
      // drops it with the connection once we have answered.
      return await guard(request.text(), () => {});
    } catch (error) {
      if (error instanceof KvdbError) throw error;
      throw unreadable();
    }
  }
  if (request.body === null) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  try {
    for (;;) {
      const { done, value } = await guard(reader.read(), cancel);
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        cancel();
        throw new PayloadTooLargeError(max);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof KvdbError) throw error;
    throw unreadable();
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

const AUTH_DESCRIPTIONS: Record<Exclude<AuthVerdict, "ok">, string> = {
  missing: "Unauthorized: this node needs 'Authorization: Bearer <token>'.",
  malformed: "Unauthorized: the Authorization header must be 'Bearer <token>'.",
  wrong: "Unauthorized: the token is not valid.",
};

/**
 * Bodies up to this size with a declared length are parsed by
 * `Request.json()`, which reads and parses in one step and is about a
 * third faster here than `text()` and `JSON.parse`. Larger bodies take the
 * text path, whose nesting is checked before parsing.
 */
const JSON_FAST_BYTES_MAX = 64 * 1024;

/**
 * Reads and decodes a JSON-RPC call. `sizeBound` bounds the body's size in
 * UTF-8 bytes, for the value size check.
 */
export async function readCall(
  request: Request,
  max: number,
  watchdog?: Watchdog,
): Promise<{ call: RpcCall; sizeBound: number }> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (Number.isSafeInteger(declared) && declared <= JSON_FAST_BYTES_MAX) {
    let body: unknown;
    try {
      body = watchdog === undefined
        ? await request.json()
        : await watchdog.guard(
          request.json(),
          () => {},
          () => new RequestTimeoutError(watchdog.deadlineMs),
        );
    } catch (error) {
      if (error instanceof KvdbError) throw error;
      throw new BadRequestError("Bad request: the body is not valid JSON.");
    }
    return { call: callFromJson(body, declared), sizeBound: declared };
  }
  const text = await readBody(request, max, watchdog);
  return { call: decodeCall(text), sizeBound: text.length * 3 };
}

/** Builds the node's request handler. */
export function createHandler(
  options: HandlerOptions,
): (request: Request) => Promise<Response> {
  const { api, peer, metrics, now, auth, peerAuth } = options;
  const bodyBytesMax = options.bodyBytesMax ?? BODY_BYTES_MAX;
  // Peers' messages carry whole values: never less than a value needs.
  const peerBodyBytesMax = Math.max(bodyBytesMax, PEER_BODY_BYTES_MAX);
  const logError = options.logError ?? ((e) => console.error(e));
  const watchdog = new Watchdog(
    options.bodyDeadlineMs ?? BODY_DEADLINE_MS_DEFAULT,
  );
  const clients = new ConcurrencyLimiter(
    options.concurrentRequestsMax ?? CONCURRENT_REQUESTS_MAX_DEFAULT,
  );
  const peers = new ConcurrencyLimiter(
    options.peerConcurrentRequestsMax ?? PEER_CONCURRENT_REQUESTS_MAX,
  );
  const addressPolicy = options.addressPolicy ?? new AddressPolicy();
  const log = options.log ?? NO_LOG;
  // A client with a wrong token retries: one line per 10 s, with a count.
  const authRefused = rateLimited(log, "auth.refused", 10_000);
  const peerRefused = rateLimited(log, "peer.refused", 10_000);

  /**
   * The answer to a failed request. To a peer, a project error also names
   * its code in a header (the body is the client's, fixed by PROTOCOL.md),
   * so that the code, not only the status, reaches the calling node.
   */
  function failure(error: unknown, toPeer = false): Response {
    if (error instanceof KvdbError) {
      const headers: Record<string, string> = {};
      if (toPeer) headers[ERROR_CODE_HEADER] = error.code;
      if (error instanceof OverloadedError) {
        // Refused before any work: the client may send it again then.
        headers["retry-after"] = String(error.retryAfterSeconds);
      }
      return json(encodeError(error.message), httpStatus(error.code), headers);
    }
    // A bug, not the caller's fault: log it here, tell the caller nothing
    // about our internals.
    logError(error);
    return json(encodeError("Internal error."), 500);
  }

  /** The verdict on a client request's token: a 401 answer, or none. */
  function unauthorized(request: Request): Response | undefined {
    if (auth === undefined) return undefined;
    const verdict = auth.check(request.headers.get("authorization"));
    if (verdict === "ok") return undefined;
    metrics.refused("auth", verdict);
    authRefused({ reason: verdict });
    return json(encodeError(AUTH_DESCRIPTIONS[verdict]), 401, {
      "www-authenticate": 'Bearer realm="kvdb"',
    });
  }

  /** 503 with Retry-After: the node is at its bound, try again shortly. */
  function overloaded(pool: "client" | "peer"): Response {
    metrics.refused("overload", pool);
    return json(
      encodeError(
        "Overloaded: too many requests in flight on this node; retry shortly.",
      ),
      503,
      { "retry-after": String(RETRY_AFTER_SECONDS) },
    );
  }

  function refusePeer(reason: PeerRefusal | "no_cluster_secret"): Response {
    metrics.refused("peer", reason);
    peerRefused({ reason });
    metrics.peer("(refused)", reason === "replay_cache_full" ? 503 : 401);
    if (reason === "no_cluster_secret") {
      return json(
        encodeError(
          "Peer message refused: this node has a client token but no cluster secret (--cluster-secret).",
        ),
        401,
      );
    }
    return json(
      encodeError(refusalDescription(reason)),
      reason === "replay_cache_full" ? 503 : 401,
      reason === "replay_cache_full"
        ? { "retry-after": String(RETRY_AFTER_SECONDS) }
        : {},
    );
  }

  async function rpc(request: Request): Promise<Response> {
    let fn = "(bad request)";
    const started = performance.now();
    const took = () => (performance.now() - started) / 1000;
    try {
      const { call, sizeBound } = await readCall(
        request,
        bodyBytesMax,
        watchdog,
      );
      // Only known names become metric labels: a client must not be able
      // to grow the label set without bound.
      fn = KNOWN_FUNCTIONS.has(call.fn) ? call.fn : "(unknown)";
      const result = await callFunction(
        api,
        call.fn,
        call.args,
        call.kwargs,
        sizeBound,
      );
      const response = json(encodeResult(result));
      metrics.request(fn, 200, took(), now());
      return response;
    } catch (error) {
      const response = failure(error);
      metrics.request(fn, response.status, took(), now());
      return response;
    }
  }

  async function client(request: Request): Promise<Response> {
    const refused = unauthorized(request);
    if (refused !== undefined) {
      metrics.request("(unauthorized)", 401);
      return refused;
    }
    if (!clients.tryAcquire()) {
      metrics.request("(overloaded)", 503);
      return overloaded("client");
    }
    try {
      return await rpc(request);
    } finally {
      clients.release();
    }
  }

  async function peerRequest(request: Request): Promise<Response> {
    if (peerAuth === "closed") return refusePeer("no_cluster_secret");
    const stamp = peerAuth?.precheck(request.headers);
    if (stamp !== undefined && !stamp.ok) return refusePeer(stamp.reason);
    if (!peers.tryAcquire()) {
      metrics.peer("(overloaded)", 503);
      return overloaded("peer");
    }
    let kind = "(bad request)";
    const started = performance.now();
    const took = () => (performance.now() - started) / 1000;
    try {
      const text = await readBody(request, peerBodyBytesMax, watchdog);
      if (peerAuth !== undefined && stamp?.ok) {
        const verified = await peerAuth.verifyRequest(stamp.value, text);
        if (!verified.ok) return refusePeer(verified.reason);
      }
      // A value nested deeper than clients may send must not get in
      // through the back door: it would be stored and served to them.
      if (text.length > 2 * JSON_DEPTH_MAX) checkTextDepth(text);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new BadRequestError("Bad peer message: not valid JSON.");
      }
      const message = parsePeerRequest(body);
      kind = message.kind;
      for (const address of addressesIn(message)) {
        const refusal = addressPolicy.refusal(address);
        if (refusal !== undefined) {
          metrics.refused("peer", "address");
          throw new KvdbError(`Refused: ${refusal}.`, "address_refused");
        }
      }
      const answer = encodeResult(await peer(message));
      metrics.peer(kind, 200, took());
      if (peerAuth === undefined || !stamp?.ok) return json(answer);
      return new Response(answer, {
        status: 200,
        headers: {
          ...JSON_HEADERS,
          ...await peerAuth.signResponse(stamp.value.nonce, answer),
        },
      });
    } catch (error) {
      const response = failure(error, true);
      metrics.peer(kind, response.status, took());
      return response;
    } finally {
      peers.release();
    }
  }

  function methodNotAllowed(allow: string): Response {
    return json(
      encodeError(`Method not allowed: use ${allow}.`),
      405,
      { allow },
    );
  }

  function metricsText(request: Request): Response {
    const refused = unauthorized(request);
    if (refused !== undefined) return refused;
    return new Response(
      metrics.render(now(), [
        ...(options.collect?.() ?? []),
        {
          name: "kvdb_client_requests_in_flight",
          type: "gauge",
          help: "Client requests being served now.",
          samples: [{ value: clients.inFlight }],
        },
        {
          name: "kvdb_peer_requests_in_flight",
          type: "gauge",
          help: "Peer requests being served now.",
          samples: [{ value: peers.inFlight }],
        },
      ]),
      { headers: { "content-type": "text/plain; version=0.0.4" } },
    );
  }

  /**
   * The dashboard. Its files hold no data and are served to anyone (a
   * browser cannot send a token with a page load); the data it fetches
   * needs the client token like any client request.
   */
  async function dashboard(request: Request, path: string): Promise<Response> {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return methodNotAllowed("GET");
    }
    const sub = path.slice("/ui".length);
    if (sub === "/api/cluster") {
      const refused = unauthorized(request);
      if (refused !== undefined) return refused;
      try {
        return json(JSON.stringify(await options.ui!.cluster()));
      } catch (error) {
        return failure(error);
      }
    }
    if (sub === "") {
      // Relative links in the page resolve under /ui/.
      return new Response(null, {
        status: 308,
        headers: { location: "/ui/" },
      });
    }
    return await uiAsset(sub) ??
      json(encodeError(`Not found: ${path.slice(0, 64)}`), 404);
  }

  /**
   * KV Connect's requests share the client pool, but for watches: those
   * stream for as long as the client follows them, and have their own
   * bound. Overload is a 503, which Deno's client retries.
   */
  async function kvConnect(request: Request, path: string): Promise<Response> {
    const kv = options.kvConnect!;
    if (path.endsWith("/watch")) return await kv.handle(request, path);
    if (!clients.tryAcquire()) {
      metrics.refused("overload", "client");
      return new Response(
        "Overloaded: too many requests in flight on this node; retry shortly.",
        {
          status: 503,
          headers: {
            "content-type": "text/plain; charset=utf-8",
            "retry-after": String(RETRY_AFTER_SECONDS),
          },
        },
      );
    }
    try {
      return await kv.handle(request, path);
    } finally {
      clients.release();
    }
  }

  return (request: Request): Promise<Response> => {
    const path = pathOf(request.url);
    const method = request.method;
    if (
      options.kvConnect !== undefined &&
      (path === "/kv" || path.startsWith("/kv/"))
    ) {
      return kvConnect(request, path);
    }
    if (
      options.ui !== undefined && (path === "/ui" || path.startsWith("/ui/"))
    ) {
      return dashboard(request, path);
    }
    switch (path) {
      case "/":
        if (method !== "POST") return Promise.resolve(methodNotAllowed("POST"));
        return client(request);
      case PEER_PATH:
        if (method !== "POST") return Promise.resolve(methodNotAllowed("POST"));
        return peerRequest(request);
      case "/health":
        // Open even with a token: load balancers and orchestrators probe
        // it without credentials, and it tells nothing but "serving".
        if (method !== "GET" && method !== "HEAD") {
          return Promise.resolve(methodNotAllowed("GET"));
        }
        if (options.serving !== undefined && !options.serving()) {
          return Promise.resolve(
            json(
              encodeError(
                "Starting: this node has not announced itself to its peers yet.",
              ),
              503,
            ),
          );
        }
        return Promise.resolve(json(encodeResult("serving")));
      case "/metrics":
        if (method !== "GET") return Promise.resolve(methodNotAllowed("GET"));
        return Promise.resolve(metricsText(request));
      default:
        return Promise.resolve(
          json(encodeError(`Not found: ${path.slice(0, 64)}`), 404),
        );
    }
  };
}
