/**
 * The node's HTTP handler: a plain `(Request) => Promise<Response>`, so
 * tests call it without a socket. `Deno.serve` appears only in serve.ts.
 *
 * Routes: `POST /` (JSON-RPC, PROTOCOL.md), `POST /peer` (node to node),
 * `GET /health`, `GET /metrics`.
 *
 * @module
 */

import {
  type ApiContext,
  callFunction,
  decodeCall,
  encodeError,
  encodeResult,
  FUNCTION_NAMES,
} from "../api/mod.ts";
import { BadRequestError, KvdbError, PayloadTooLargeError } from "../errors.ts";
import { BODY_BYTES_MAX } from "../limits.ts";
import {
  parsePeerRequest,
  PEER_PATH,
  type PeerHandler,
} from "../transport/mod.ts";
import type { Metrics } from "./metrics.ts";

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
  /** Where unexpected errors are reported (never to the client). */
  logError?: (error: unknown) => void;
}

const JSON_HEADERS = { "content-type": "application/json" };
/** Shared by every 200 answer: no per-request header objects. */
const OK_INIT: ResponseInit = { status: 200, headers: JSON_HEADERS };

function json(body: string, status = 200, headers = {}): Response {
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

/**
 * Reads the body as text, refusing it as soon as it passes `max` bytes:
 * a declared length is checked before reading, a streamed one as it comes.
 */
export async function readBody(request: Request, max: number): Promise<string> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    const length = Number(declared);
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new BadRequestError("Bad request: invalid Content-Length.");
    }
    if (length > max) throw new PayloadTooLargeError(max);
    return await request.text();
  }
  if (request.body === null) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      throw new PayloadTooLargeError(max);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/** Builds the node's request handler. */
export function createHandler(
  options: HandlerOptions,
): (request: Request) => Promise<Response> {
  const { api, peer, metrics, now } = options;
  const bodyBytesMax = options.bodyBytesMax ?? BODY_BYTES_MAX;
  const logError = options.logError ?? ((e) => console.error(e));

  function failure(error: unknown): Response {
    if (error instanceof KvdbError) {
      return json(encodeError(error.message), error.status);
    }
    // A bug, not the caller's fault: log it here, tell the caller nothing
    // about our internals.
    logError(error);
    return json(encodeError("Internal error."), 500);
  }

  async function rpc(request: Request): Promise<Response> {
    let fn = "(bad request)";
    try {
      const text = await readBody(request, bodyBytesMax);
      const call = decodeCall(text);
      // Only known names become metric labels: a client must not be able
      // to grow the label set without bound.
      fn = KNOWN_FUNCTIONS.has(call.fn) ? call.fn : "(unknown)";
      const result = await callFunction(
        api,
        call.fn,
        call.args,
        call.kwargs,
        text.length,
      );
      metrics.request(fn, 200);
      return json(encodeResult(result));
    } catch (error) {
      const response = failure(error);
      metrics.request(fn, response.status);
      return response;
    }
  }

  async function peerRequest(request: Request): Promise<Response> {
    let kind = "(bad request)";
    try {
      const text = await readBody(request, bodyBytesMax);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new BadRequestError("Bad peer message: not valid JSON.");
      }
      const message = parsePeerRequest(body);
      kind = message.kind;
      const response = json(encodeResult(await peer(message)));
      metrics.peer(kind, 200);
      return response;
    } catch (error) {
      const response = failure(error);
      metrics.peer(kind, response.status);
      return response;
    }
  }

  function methodNotAllowed(allow: string): Response {
    return json(
      encodeError(`Method not allowed: use ${allow}.`),
      405,
      { allow },
    );
  }

  return (request: Request): Promise<Response> => {
    const path = pathOf(request.url);
    const method = request.method;
    switch (path) {
      case "/":
        if (method !== "POST") return Promise.resolve(methodNotAllowed("POST"));
        return rpc(request);
      case PEER_PATH:
        if (method !== "POST") return Promise.resolve(methodNotAllowed("POST"));
        return peerRequest(request);
      case "/health":
        if (method !== "GET" && method !== "HEAD") {
          return Promise.resolve(methodNotAllowed("GET"));
        }
        return Promise.resolve(json(encodeResult("serving")));
      case "/metrics":
        if (method !== "GET") return Promise.resolve(methodNotAllowed("GET"));
        return Promise.resolve(
          new Response(
            metrics.render(now(), {
              kvdb_local_records: api.coordinator.localRecordCount(),
            }),
            { headers: { "content-type": "text/plain; version=0.0.4" } },
          ),
        );
      default:
        return Promise.resolve(
          json(encodeError(`Not found: ${path.slice(0, 64)}`), 404),
        );
    }
  };
}
