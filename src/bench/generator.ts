/**
 * The load generator: `connections` workers, each with one request in
 * flight at a time over its own keep-alive connection, send the workload's
 * JSON-RPC requests to the target nodes until the duration has passed or
 * the request count is reached. A worker talks through a {@linkcode
 * Channel}: a raw HTTP/1.1 connection by default ({@linkcode
 * socketChannel}), or `fetch` ({@linkcode fetchChannel}).
 *
 * This is a closed loop, as wrk is: a worker sends its next request when
 * the last one answered, so a server stall delays requests instead of
 * queueing them, and latencies under overload are those of the requests
 * that were sent ("coordinated omission"). Compare throughput at equal
 * connections, not latencies at different ones.
 *
 * @module
 */

import { BATCH_KEYS_MAX } from "../limits.ts";
import { Http1Client, Http1Error } from "../transport/http1.ts";
import { seededRandom, streamSeed } from "./random.ts";
import { type Progress, Recorder, type Recording } from "./recorder.ts";
import type { Workload } from "./workload.ts";

/** Most workers one run may have. */
export const CONNECTIONS_MAX = 10_000;
/** How long requests in flight at the end may take before they are cut. */
export const GRACE_MS_DEFAULT = 5_000;
/**
 * Pause after a connection failure. Without it a worker facing a refused
 * connection would spin, counting errors as fast as the CPU allows.
 */
export const FAILURE_PAUSE_MS = 10;

const HEADERS = { "content-type": "application/json" };
/** Every KVDB success, and the minimal server's, carries this. */
const OK_MARK = '"status":"OK."';

/** An answer as the generator sees it. */
export interface Exchange {
  status: number;
  text: string;
}

/** One worker's line to one target. */
export interface Channel {
  /** Sends a JSON-RPC body; rejects when no answer could be had. */
  send(body: string): Promise<Exchange>;
  close(): void;
}

/** Opens a worker's channel to `target` (`http://host:port/`). */
export type OpenChannel = (target: string, signal: AbortSignal) => Channel;

/** The kinds of channel the CLI offers. */
export const CLIENTS = ["socket", "fetch"] as const;
/** One of {@link CLIENTS}. */
export type ClientKind = typeof CLIENTS[number];

/** How channels reach a secured node. */
export interface ChannelOptions {
  /** Sent with every request besides content-type: `authorization`. */
  headers?: Record<string, string>;
  /** For https targets: PEM certificates to trust besides the system's. */
  caCerts?: string[];
}

/**
 * Channels over one keep-alive HTTP/1.1 connection of our own each (see
 * http1.ts for why; TLS for https targets); aborting closes it, failing the
 * request in flight.
 */
export function socketChannels(options: ChannelOptions = {}): OpenChannel {
  const { headers, caCerts } = options;
  return (target, signal) => {
    const client = new Http1Client(
      target,
      caCerts !== undefined ? { caCerts } : {},
    );
    const close = () => client.close();
    signal.addEventListener("abort", close, { once: true });
    return {
      send: (body) => client.post(body, headers),
      close: () => {
        signal.removeEventListener("abort", close);
        close();
      },
    };
  };
}

/** {@linkcode socketChannels} to an open node. */
export const socketChannel: OpenChannel = socketChannels();

/** The `fetch` init parts that reach a secured node. */
function fetchParts(options: ChannelOptions): {
  headers: Record<string, string>;
  client?: Deno.HttpClient;
} {
  return {
    headers: { ...HEADERS, ...options.headers },
    ...(options.caCerts !== undefined
      ? { client: Deno.createHttpClient({ caCerts: options.caCerts }) }
      : {}),
  };
}

/** A channel through `fetch`, which pools keep-alive connections itself. */
export function fetchChannel(
  fetchFn: typeof fetch = globalThis.fetch,
  options: ChannelOptions = {},
) {
  const parts = fetchParts(options);
  return (target: string, signal: AbortSignal): Channel => ({
    send: async (body) => {
      const response = await fetchFn(target, {
        method: "POST",
        ...parts,
        body,
        signal,
      });
      // Read the whole body: keep-alive reuses the connection only then.
      return { status: response.status, text: await response.text() };
    },
    close: () => {},
  });
}

/** Options of {@linkcode startLoad}. */
export interface LoadOptions {
  /** Node URLs (`http://host:port/`); worker i talks to target i mod n. */
  targets: string[];
  /** Concurrent workers, each with its own connection. */
  connections: number;
  /** Stop sending after this many milliseconds... */
  durationMs?: number;
  /** ...or after this many requests (takes precedence). */
  requests?: number;
  workload: Workload;
  /** Seeds each worker's key choice. */
  seed: number;
  /** @default {GRACE_MS_DEFAULT} */
  graceMs?: number;
  /** Time line interval. @default {1000} */
  intervalMs?: number;
}

/** The outside world the generator uses; tests replace it. */
export interface LoadDeps {
  /** @default {socketChannel} */
  open?: OpenChannel;
  /** Monotonic milliseconds. @default {performance.now} */
  now?: () => number;
}

/** A run in progress. */
export interface LoadRun {
  /** The run so far. */
  progress(): Progress;
  /** Stops sending; requests in flight finish (or are cut after the grace). */
  stop(): void;
  /** Resolves once every worker has stopped. */
  finished: Promise<Recording>;
}

/** What a failed request counts as. */
function failureKind(error: unknown, aborted: boolean): string {
  if (aborted) return "cut at end";
  if (error instanceof Http1Error) return error.kind;
  // fetch reports refused and reset connections as a TypeError.
  if (error instanceof TypeError) return "connection";
  return (error as Error)?.name ?? "unknown";
}

/**
 * Starts a run. Validation of the numbers is the caller's (the CLI's); here
 * they are asserted.
 */
export function startLoad(options: LoadOptions, deps: LoadDeps = {}): LoadRun {
  const open = deps.open ?? socketChannel;
  const now = deps.now ?? (() => performance.now());
  const { targets, workload, connections } = options;
  if (targets.length === 0) throw new RangeError("no target to load");
  if (
    !Number.isSafeInteger(connections) || connections < 1 ||
    connections > CONNECTIONS_MAX
  ) {
    throw new RangeError(`connections out of range: ${connections}`);
  }
  const requestsMax = options.requests ?? Infinity;
  const durationMs = options.requests !== undefined
    ? Infinity
    : options.durationMs ?? Infinity;
  if (requestsMax === Infinity && durationMs === Infinity) {
    throw new RangeError("a run needs a duration or a request count");
  }
  const graceMs = options.graceMs ?? GRACE_MS_DEFAULT;
  const startMs = now();
  const deadlineMs = startMs + durationMs;
  const recorder = new Recorder(startMs, {
    ...(options.intervalMs !== undefined
      ? { intervalMs: options.intervalMs }
      : {}),
  });
  const abort = new AbortController();
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let issued = 0;

  const stop = () => {
    if (stopped) return;
    stopped = true;
    graceTimer = setTimeout(() => abort.abort(), graceMs);
  };
  // In duration mode the end is a timer too, so that stop() and the end
  // share one path and an idle worker does not have to notice the time.
  const endTimer = durationMs === Infinity
    ? undefined
    : setTimeout(stop, durationMs);

  async function worker(index: number): Promise<void> {
    const random = seededRandom(streamSeed(options.seed, index));
    const channel = open(targets[index % targets.length]!, abort.signal);
    try {
      await loop(channel, random);
    } finally {
      channel.close();
    }
  }

  async function loop(channel: Channel, random: () => number): Promise<void> {
    while (!stopped && issued < requestsMax) {
      issued++;
      const request = workload.next(random);
      const t0 = now();
      let failure: string | undefined;
      try {
        const answer = await channel.send(request.body);
        if (answer.status !== 200) failure = `http ${answer.status}`;
        else if (!answer.text.includes(OK_MARK)) failure = "bad answer";
      } catch (error) {
        failure = failureKind(error, abort.signal.aborted);
      }
      const t1 = now();
      if (failure === undefined) {
        recorder.success(request.op, request.keys, (t1 - t0) * 1000, t1);
      } else {
        recorder.failure(request.op, failure, t1);
        if (failure === "connection" && !stopped) {
          await new Promise((resolve) => setTimeout(resolve, FAILURE_PAUSE_MS));
        }
      }
      // A request that ends after the deadline still counts (wrk counts
      // it too); the loop condition stops the worker.
      if (t1 >= deadlineMs) stop();
    }
  }

  const finished = (async () => {
    try {
      await Promise.all(
        Array.from({ length: connections }, (_, i) => worker(i)),
      );
    } finally {
      clearTimeout(endTimer);
      clearTimeout(graceTimer);
    }
    // Throughput is over the measured window: the last answer, or the
    // deadline when every worker was idle past it.
    return recorder.finish(now());
  })();

  return {
    progress: () => recorder.progress(now()),
    stop,
    finished,
  };
}

/** Options of {@linkcode preload}. */
export interface PreloadOptions {
  /** Requests in flight at once. */
  connections: number;
  /** Keys per `mset`. @default {BATCH_KEYS_MAX} */
  batch?: number;
  fetch?: typeof fetch;
  /** The token and CA certificates of a secured node. */
  channel?: ChannelOptions;
}

/** How a preload went. */
export interface PreloadResult {
  keys: number;
  /** `mset` when the server has it, else one `set` per key. */
  via: "mset" | "set";
}

/**
 * Writes every key of the workload's key space once, so that reads find
 * their keys. Uses `mset` batches, falling back to `set` for a server
 * without `mset` (the minimal server answers it with an error).
 *
 * @throws {Error} naming the first request that failed.
 */
export async function preload(
  targets: string[],
  workload: Workload,
  options: PreloadOptions,
): Promise<PreloadResult> {
  const fetchFn = options.fetch ?? globalThis.fetch;
  const batch = Math.min(options.batch ?? BATCH_KEYS_MAX, BATCH_KEYS_MAX);
  const keys = workload.options.keys;
  const parts = fetchParts(options.channel ?? {});
  const send = async (target: string, body: string) => {
    const response = await fetchFn(target, {
      method: "POST",
      ...parts,
      body,
    });
    const text = await response.text();
    return { ok: response.status === 200 && text.includes(OK_MARK), text };
  };
  const range = (from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => from + i);

  // The first batch decides the method.
  const first = await send(
    targets[0]!,
    workload.batchBody("mset", range(0, Math.min(batch, keys))),
  );
  const via = first.ok ? "mset" : "set";
  const step = via === "mset" ? batch : 1;
  let next = via === "mset" ? Math.min(batch, keys) : 0;
  const worker = async (index: number) => {
    const target = targets[index % targets.length]!;
    while (next < keys) {
      const from = next;
      next = Math.min(keys, next + step);
      const body = via === "mset"
        ? workload.batchBody("mset", range(from, next))
        : workload.setBody(from);
      const answer = await send(target, body);
      if (!answer.ok) {
        throw new Error(
          `preload failed: ${via} of ${workload.key(from)} on ${target} ` +
            `answered ${answer.text.slice(0, 200)}`,
        );
      }
    }
  };
  const workers = Math.max(1, Math.min(options.connections, CONNECTIONS_MAX));
  await Promise.all(Array.from({ length: workers }, (_, i) => worker(i)));
  return { keys, via };
}
