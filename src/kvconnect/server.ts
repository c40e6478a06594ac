/**
 * KV Connect, the protocol `Deno.openKv("http://…")` speaks
 * (denoland/denokv's `proto/kv-connect.md`), served by every node over
 * the KV databases: a fetch-shaped handler for `POST /kv…`.
 *
 * - `POST /kv` and `POST /kv/<db>`: the metadata exchange (JSON). The
 *   client's bearer token is checked against the node's client tokens;
 *   the answer names protocol version 1, 2 or 3, the database's id, one
 *   strong endpoint (`/kv/<db>`) and a data-path token that expires.
 * - `POST /kv/<db>/snapshot_read`, `…/atomic_write`, `…/watch`: the data
 *   path (protobuf). Reads are linearizable, each one snapshot; a write is
 *   answered only with its definite outcome; a watch is a stream of
 *   length-prefixed `WatchOutput` frames with keep-alive pings.
 *
 * Errors are plain text: 4xx for what the client got wrong (denokv's
 * texts), 5xx only for what a retry can fix, because Deno's client retries
 * a 5xx forever and gives up on a 4xx at once.
 *
 * @module
 */

import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { BadRequestError, KvdbError, PayloadTooLargeError } from "../errors.ts";
import { httpStatus } from "../server/status.ts";
import { DB_NAME, type KvDatabases, type KvRow } from "../kv/mod.ts";
import type { BearerAuth } from "../security/mod.ts";
import {
  AtomicWriteOutputSchema,
  AtomicWriteSchema,
  SnapshotReadOutputSchema,
  SnapshotReadSchema,
  WatchOutputSchema,
  WatchSchema,
} from "./datapath_pb.ts";
import {
  atomicWriteOutput,
  commitOf,
  rangesOf,
  snapshotReadOutput,
  watchKeysOf,
  watchOutput,
} from "./convert.ts";
import { databaseId, DataPathTokens } from "./tokens.ts";

/** The protocol versions served (kv-connect.md, "Protocol Versions"). */
export const PROTOCOL_VERSIONS = [1, 2, 3] as const;
/** How long a data-path token is valid; clients refresh it every minute. */
export const TOKEN_TTL_MS_DEFAULT = 60 * 60 * 1000;
/** Largest data-path request body: a commit's 800 KiB and the protobuf's framing. */
export const KVCONNECT_BODY_BYTES_MAX = 1024 * 1024;
/** Largest metadata exchange body. */
const METADATA_BODY_BYTES_MAX = 4 * 1024;
/** Watches one node streams at once; past it, 503 (the client retries). */
export const KVCONNECT_WATCHES_MAX_DEFAULT = 1_000;
/** A ping frame this often keeps a watch's connection (and proxies) alive. */
export const WATCH_KEEPALIVE_MS_DEFAULT = 5_000;
/** Frames queued for a watcher that does not read; past it the stream ends. */
const WATCH_QUEUE_BYTES_MAX = 4 * 1024 * 1024;
/** The header an idempotent retry carries (a load balancer sets it). */
export const IDEMPOTENCY_HEADER = "idempotency-key";

/** The data-path methods. */
export type DataPathMethod = "snapshot_read" | "atomic_write" | "watch";
const METHODS: readonly string[] = ["snapshot_read", "atomic_write", "watch"];

/** Everything the KV Connect handler is built from. */
export interface KvConnectOptions {
  dbs: KvDatabases;
  /** The node's client tokens; absent: an open node (any token is taken). */
  auth?: BearerAuth;
  /** Names the cluster in database ids and token signatures. */
  clusterId: string;
  /** Wall time in ms (token expiry, commit stamps). */
  now: () => number;
  /** Names a commit that came without an idempotency key. */
  newId?: () => string;
  tokenTtlMs?: number;
  watchesMax?: number;
  keepAliveMs?: number;
  /** Each request's method (a bounded set), status and seconds, for metrics. */
  observe?: (method: string, status: number, seconds: number) => void;
  /** Unexpected errors (bugs): logged, never shown to the client. */
  logError?: (error: unknown) => void;
}

/** The KV Connect handler and what it counts. */
export interface KvConnect {
  /** Answers a request whose path is `/kv` or under `/kv/`. */
  handle(request: Request, path: string): Promise<Response>;
  /** Watches streaming now. */
  readonly watches: number;
}

function text(body: string, status: number, headers: HeadersInit = {}) {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

const PROTOBUF = { "content-type": "application/x-protobuf" };

function protobuf<D extends DescMessage>(
  schema: D,
  message: MessageShape<D>,
): Response {
  return new Response(toBinary(schema, message), {
    status: 200,
    headers: PROTOBUF,
  });
}

/** A request's body, at most `max` bytes; a body that breaks off is a 400. */
async function readBytes(request: Request, max: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > max) {
    throw new PayloadTooLargeError(max);
  }
  if (request.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        reader.cancel().catch(() => {});
        throw new PayloadTooLargeError(max);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof KvdbError) throw error;
    throw new BadRequestError("The request body could not be read.");
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

function decode<D extends DescMessage>(
  schema: D,
  bytes: Uint8Array,
): MessageShape<D> {
  try {
    return fromBinary(schema, bytes);
  } catch (error) {
    throw new BadRequestError(
      `Request protobuf is invalid: ${(error as Error).message}.`,
    );
  }
}

/** The bearer token of an `Authorization` header, or why there is none. */
function bearer(header: string | null): string | undefined {
  if (header === null) return undefined;
  const m = /^bearer +(\S+) *$/i.exec(header);
  return m?.[1];
}

/** What the path names: a metadata exchange or a data-path call, and the database. */
type Route =
  | { kind: "metadata"; db: string; endpoint: string }
  | { kind: "data"; db: string; method: DataPathMethod }
  | { kind: "unknown" };

/**
 * Routes `/kv`, `/kv/<db>` and `/kv/<db>/<method>`. The endpoint the
 * metadata names is relative to the URL the client used (so that a proxy
 * in front may add a path prefix): `kv/default` from `/kv`, `<db>` from
 * `/kv/<db>`; either resolves to `…/kv/<db>`.
 */
export function route(path: string): Route {
  const parts = path.split("/").slice(1);
  if (parts[0] !== "kv") return { kind: "unknown" };
  const rest = parts.slice(1);
  if (rest.length === 0 || (rest.length === 1 && rest[0] === "")) {
    return {
      kind: "metadata",
      db: "default",
      endpoint: rest.length === 0 ? "./kv/default" : "../kv/default",
    };
  }
  const db = rest[0]!;
  if (rest.length === 1 || (rest.length === 2 && rest[1] === "")) {
    return {
      kind: "metadata",
      db,
      endpoint: rest.length === 1 ? `./${db}` : `../${db}`,
    };
  }
  if (rest.length === 2 && METHODS.includes(rest[1]!)) {
    return { kind: "data", db, method: rest[1] as DataPathMethod };
  }
  return { kind: "unknown" };
}

/** Builds the KV Connect handler. */
export function createKvConnect(options: KvConnectOptions): KvConnect {
  const { dbs, now } = options;
  const tokens = new DataPathTokens({
    ...(options.auth !== undefined ? { auth: options.auth } : {}),
    clusterId: options.clusterId,
    now,
    ttlMs: options.tokenTtlMs ?? TOKEN_TTL_MS_DEFAULT,
  });
  const newId = options.newId ?? (() => crypto.randomUUID());
  const watchesMax = options.watchesMax ?? KVCONNECT_WATCHES_MAX_DEFAULT;
  const keepAliveMs = options.keepAliveMs ?? WATCH_KEEPALIVE_MS_DEFAULT;
  const logError = options.logError ?? ((e) => console.error(e));
  const ids = new Map<string, Promise<string>>();
  let watches = 0;

  function idOf(db: string): Promise<string> {
    let id = ids.get(db);
    if (id === undefined) {
      if (ids.size > 1_024) ids.clear();
      id = databaseId(options.clusterId, db);
      ids.set(db, id);
    }
    return id;
  }

  function failure(error: unknown): Response {
    if (error instanceof KvdbError) {
      const status = httpStatus(error.code);
      return text(
        error.message,
        status,
        status === 503 ? { "retry-after": "1" } : {},
      );
    }
    logError(error);
    return text("An internal server error occurred.", 500);
  }

  async function metadata(
    request: Request,
    db: string,
    endpoint: string,
  ): Promise<Response> {
    if (!DB_NAME.test(db)) {
      return text(
        "Invalid database name: 1 to 64 letters, digits, '_' or '-'.",
        400,
      );
    }
    const header = request.headers.get("authorization");
    const token = bearer(header);
    if (token === undefined) {
      return text("Malformed authorization header.", 401);
    }
    if (options.auth !== undefined && options.auth.check(header) !== "ok") {
      return text("Invalid access token.", 401);
    }
    const body = new TextDecoder().decode(
      await readBytes(request, METADATA_BODY_BYTES_MAX),
    );
    // No body: a client of version 1 only (kv-connect.md).
    let supported: number[] = [1];
    if (body.trim() !== "") {
      let x: unknown;
      try {
        x = JSON.parse(body);
      } catch {
        return text("Invalid metadata exchange request: not JSON.", 400);
      }
      const versions = (x as Record<string, unknown>)?.supportedVersions;
      if (
        typeof x !== "object" || x === null || Array.isArray(x) ||
        Object.keys(x).some((k) => k !== "supportedVersions") ||
        !Array.isArray(versions) ||
        !versions.every((v) => typeof v === "number")
      ) {
        return text(
          'Invalid metadata exchange request: expected {"supportedVersions": [<numbers>]}.',
          400,
        );
      }
      supported = versions as number[];
    }
    const version = Math.max(
      ...PROTOCOL_VERSIONS.filter((v) => supported.includes(v)),
    );
    if (!Number.isFinite(version)) {
      return text(
        "The server could not negotiate a protocol version. The server supports protocol versions 1, 2 and 3.",
        400,
      );
    }
    const issued = await tokens.issue(db, token);
    // Version 1 clients take endpoint URLs as they are: an absolute one.
    const url = version === 1 ? new URL(endpoint, request.url).href : endpoint;
    return new Response(
      JSON.stringify({
        version,
        databaseId: await idOf(db),
        endpoints: [{ url: url.replace(/\/+$/, ""), consistency: "strong" }],
        token: issued.token,
        expiresAt: new Date(issued.expiresAtMs).toISOString(),
      }),
      { status: 200, headers: { "content-type": "application/json" } },
    );
  }

  /** The data path's checks, in denokv's order: version, token, database id. */
  async function admit(
    request: Request,
    db: string,
  ): Promise<Response | undefined> {
    const headers = request.headers;
    const version = headers.get("x-denokv-version");
    const id = version === null
      ? headers.get("x-transaction-domain-id")
      : headers.get("x-denokv-database-id");
    if (version !== null && version !== "2" && version !== "3") {
      return text("Expected protocol version 1, 2 or 3.", 400);
    }
    const token = bearer(headers.get("authorization"));
    if (token === undefined) {
      return text("Malformed authorization header.", 401);
    }
    const claims = await tokens.verify(token);
    if (typeof claims === "string") {
      return text(
        claims === "expired"
          ? "Invalid access token: the data-path token has expired; exchange metadata again."
          : "Invalid access token.",
        401,
      );
    }
    if (claims.db !== db || id === null || id !== await idOf(db)) {
      return text("Invalid database id.", 400);
    }
    return undefined;
  }

  async function snapshotRead(request: Request, db: string) {
    const read = decode(
      SnapshotReadSchema,
      await readBytes(request, KVCONNECT_BODY_BYTES_MAX),
    );
    const ranges = rangesOf(read);
    const result = ranges.length === 0
      ? { ranges: [] }
      : await dbs.run(db, { type: "ranges", ranges, eventual: false });
    if (!("ranges" in result)) {
      throw new Error("a read answered without ranges");
    }
    return protobuf(
      SnapshotReadOutputSchema,
      snapshotReadOutput(result.ranges),
    );
  }

  async function atomicWrite(request: Request, db: string) {
    const write = decode(
      AtomicWriteSchema,
      await readBytes(request, KVCONNECT_BODY_BYTES_MAX),
    );
    const t = now();
    const { checks, mutations } = commitOf(write, t);
    // A retry that carries the same key (a load balancer's, after the node
    // it first chose died) is the same commit: applied once.
    const key = request.headers.get(IDEMPOTENCY_HEADER);
    if (key !== null && !/^[\x21-\x7e]{1,128}$/.test(key)) {
      throw new BadRequestError(
        `Invalid ${IDEMPOTENCY_HEADER}: 1 to 128 printable ASCII characters.`,
      );
    }
    const id = key === null ? `kvc/${newId()}` : `kvc/${db}/${key}`;
    const result = await dbs.commitDefinite(db, {
      op: "atomic",
      id,
      t,
      checks,
      mutations,
    }, request.signal);
    return protobuf(AtomicWriteOutputSchema, atomicWriteOutput(result));
  }

  async function watch(request: Request, db: string): Promise<Response> {
    const keys = watchKeysOf(
      decode(WatchSchema, await readBytes(request, KVCONNECT_BODY_BYTES_MAX)),
    );
    if (watches >= watchesMax) {
      return text(
        `Too many watches on this node (${watchesMax}); retry shortly.`,
        503,
        { "retry-after": "1" },
      );
    }
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    request.signal.addEventListener("abort", onAbort);
    const frames = dbs.watch(db, keys, stop.signal);
    let first: IteratorResult<(KvRow | null)[]>;
    try {
      // The first frame is read before answering: a database that cannot
      // be read yet is a 503 the client retries, not a broken stream.
      first = await frames.next();
    } catch (error) {
      request.signal.removeEventListener("abort", onAbort);
      stop.abort();
      throw error;
    }
    watches++;
    let ended = false;
    let pinger: ReturnType<typeof setInterval> | undefined;
    const end = () => {
      if (ended) return;
      ended = true;
      watches--;
      clearInterval(pinger);
      request.signal.removeEventListener("abort", onAbort);
      stop.abort();
      frames.return(undefined).catch(() => {});
    };
    const frame = (payload: Uint8Array): Uint8Array => {
      const out = new Uint8Array(4 + payload.length);
      new DataView(out.buffer).setUint32(0, payload.length, true);
      out.set(payload, 4);
      return out;
    };
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const push = (bytes: Uint8Array) => {
          if (ended) return;
          const queued = -(controller.desiredSize ?? 0);
          // A watcher that stopped reading is cut off, not buffered forever.
          if (queued > WATCH_QUEUE_BYTES_MAX) {
            end();
            controller.error(new Error("watcher too slow"));
            return;
          }
          controller.enqueue(bytes);
        };
        const send = (rows: (KvRow | null)[]) =>
          push(frame(toBinary(WatchOutputSchema, watchOutput(rows))));
        if (!first.done) send(first.value);
        pinger = setInterval(() => push(new Uint8Array(4)), keepAliveMs);
        (async () => {
          try {
            for await (const rows of frames) {
              if (ended) break;
              send(rows);
            }
          } catch (error) {
            // The client reconnects and starts again from a first frame.
            if (!(error instanceof KvdbError)) logError(error);
          } finally {
            if (!ended) {
              end();
              try {
                controller.close();
              } catch {
                // already closed or errored
              }
            }
          }
        })();
      },
      cancel() {
        end();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: 0 }));
    return new Response(body, {
      status: 200,
      headers: { "content-type": "application/octet-stream" },
    });
  }

  async function data(
    request: Request,
    db: string,
    method: DataPathMethod,
  ): Promise<Response> {
    const refused = await admit(request, db);
    if (refused !== undefined) return refused;
    switch (method) {
      case "snapshot_read":
        return await snapshotRead(request, db);
      case "atomic_write":
        return await atomicWrite(request, db);
      case "watch":
        return await watch(request, db);
    }
  }

  async function handle(request: Request, path: string): Promise<Response> {
    const started = performance.now();
    const r = route(path);
    const method = r.kind === "data"
      ? r.method
      : r.kind === "metadata"
      ? "metadata"
      : "(unknown)";
    let response: Response;
    if (r.kind === "unknown") {
      response = text("Resource not found.", 404);
    } else if (request.method !== "POST") {
      response = text("Method not allowed: use POST.", 405, { allow: "POST" });
    } else {
      try {
        response = r.kind === "metadata"
          ? await metadata(request, r.db, r.endpoint)
          : await data(request, r.db, r.method);
      } catch (error) {
        response = failure(error);
      }
    }
    options.observe?.(
      method,
      response.status,
      (performance.now() - started) / 1000,
    );
    return response;
  }

  return {
    handle,
    get watches() {
      return watches;
    },
  };
}
