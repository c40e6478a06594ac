/**
 * The KVDB client: a typed wrapper over KVDB's JSON-RPC wire protocol
 * (`POST /` with `{"function", "args", "kwargs"}`), with node failover,
 * per-attempt deadlines, bearer-token auth and typed errors.
 *
 * It runs wherever `fetch` does (Deno, browsers, Node 18+) and has no
 * dependencies.
 *
 * @example Store and read a value
 * ```ts
 * import { KVClient } from "./client.ts";
 *
 * const client = new KVClient({ nodes: ["127.0.0.1:5878", "127.0.0.1:5879"] });
 * async function demo(): Promise<void> {
 *   await client.set("greeting", { text: "hello" }, { consistency: "quorum" });
 *   const value = await client.get<{ text: string }>("greeting");
 *   console.log(value?.text);
 * }
 * ```
 *
 * @module
 */

import { READ_ONLY_FUNCTIONS } from "./src/api/function_table.ts";

import { Kv } from "./src/client/kv.ts";
export {
  type AtomicCheck,
  AtomicOperation,
  Kv,
  type KvCommitError,
  type KvCommitResult,
  type KvConsistencyLevel,
  type KvEntry,
  type KvEntryMaybe,
  type KvKey,
  type KvKeyPart,
  KvListIterator,
  type KvListOptions,
  type KvListSelector,
  type KvMutation,
  KvU64,
  KvV8Value,
} from "./src/client/kv.ts";

/** How many replicas must answer a read or acknowledge a write. */
export type Consistency = "one" | "quorum" | "all";

/** A member's state as one node sees it (SWIM states plus `left`). */
export type MemberState = "alive" | "suspect" | "dead" | "left";

/** One entry of {@linkcode ClusterInfo.members}. */
export interface ClusterMember {
  /** The member's `"host:port"`. */
  address: string;
  /** The member's state in the answering node's view. */
  state: MemberState;
}

/**
 * One node's view of the cluster, as returned by `cluster_info`. Field names
 * are the wire's; fields a newer server adds are passed through untouched.
 */
export interface ClusterInfo {
  /** The answering node's own `"host:port"`. */
  self: string;
  /** The answering node's KVDB version. */
  version: string;
  /** N: how many distinct nodes hold a copy of each key. */
  replication_factor: number;
  /** R: replicas that must answer a `"quorum"` read. */
  read_quorum: number;
  /** W: replicas that must acknowledge a `"quorum"` write. */
  write_quorum: number;
  /** Virtual nodes per physical node on the ring. */
  vnodes: number;
  /** Every member the node knows of, itself included. */
  members: ClusterMember[];
}

/**
 * A record as `read_records` answers it and `write_records` takes it: a
 * key's value with its version and expiry. Treat `version` as opaque.
 */
export interface KVRecord {
  key: string;
  value: unknown;
  /** The write's version (hybrid logical clock), compared by the server. */
  version: unknown;
  /** True for a delete; `read_records` answers live records only. */
  tombstone: boolean;
  /** Wall-clock ms after which the key reads as absent; null: never. */
  expiresAtMs: number | null;
}

/** Options of the {@linkcode KVClient} constructor. */
export interface KVClientOptions {
  /**
   * Node addresses, `"host:port"` (a bare `"host"` means port 5878) or
   * `"http(s)://host[:port]"`. Tried in order; on a connection failure the
   * client fails over to the next and remembers the one that worked.
   *
   * @default {["127.0.0.1:5878"]}
   */
  nodes?: string[];
  /**
   * The `fetch` to send requests with; inject one for tests or proxies.
   *
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
  /**
   * Deadline of one attempt on one node, in milliseconds, response body
   * included.
   *
   * @default {10_000}
   */
  timeoutMs?: number;
  /** If set, every request carries `Authorization: Bearer <token>`. */
  token?: string;
  /**
   * A CA certificate, PEM, to trust for `https://` nodes besides the
   * system's: for a cluster whose certificates are self-signed or from a
   * private CA. Needs Deno (`Deno.createHttpClient`); call
   * {@linkcode KVClient.close} when done with the client.
   */
  caCert?: string;
  /**
   * Largest response body accepted, in bytes; a larger one is refused with
   * a {@linkcode KVProtocolError} rather than buffered.
   *
   * @default {268_435_456} (256 MiB)
   */
  responseBytesMax?: number;
}

/** Port a bare `"host"` address means: KVDB's default port. */
const DEFAULT_PORT = 5878;
/** Times a request refused as overloaded (429, Retry-After) is sent again. */
const OVERLOAD_RETRIES_MAX = 20;
/** Longest wait before sending an overloaded request again. */
const OVERLOAD_WAIT_MS_MAX = 5_000;
const DEFAULT_NODES: readonly string[] = ["127.0.0.1:5878"];
const TIMEOUT_MS_DEFAULT = 10_000;
/**
 * An unpaged `list_keys` of a large cluster or an `mget` of big values can
 * be large, but a misbehaving server must not make us buffer without end.
 */
const RESPONSE_BYTES_MAX_DEFAULT = 256 * 1024 * 1024;

/*
 * Functions that change nothing on the server (READ_ONLY_FUNCTIONS, from
 * the function table). Only these are retried on another node after a
 * timeout: a write that timed out may have been applied, and repeating it
 * elsewhere could apply it twice (a `pop` would remove a value written
 * meanwhile).
 */

const CONSISTENCY_LEVELS: ReadonlySet<string> = new Set([
  "one",
  "quorum",
  "all",
]);

/**
 * Base class of every error the client reports about the store (as opposed
 * to a `TypeError` for a misuse of the client itself).
 *
 * @example Catch any KVDB failure
 * ```ts
 * import { KVClient, KVError } from "./client.ts";
 *
 * async function tryGet(client: KVClient): Promise<unknown> {
 *   try {
 *     return await client.get("a");
 *   } catch (error) {
 *     if (error instanceof KVError) return undefined;
 *     throw error;
 *   }
 * }
 * ```
 */
export class KVError extends Error {
  /** The class name, shown in stack traces and logs. */
  override name = "KVError";
  /** Creates the error; `options.cause` keeps the underlying failure. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * The server answered `{"status": "Error"}`: the request reached a node and
 * was refused or failed there. The message is the server's description.
 *
 * @example Tell a bad request from other failures
 * ```ts
 * import { KVClient, KVRequestError } from "./client.ts";
 *
 * async function setChecked(client: KVClient): Promise<void> {
 *   try {
 *     await client.set("k", "v", { ttl: -1 });
 *   } catch (error) {
 *     if (error instanceof KVRequestError && error.status === 400) {
 *       console.error(`refused: ${error.description}`);
 *     }
 *   }
 * }
 * ```
 */
export class KVRequestError extends KVError {
  /** The class name, shown in stack traces and logs. */
  override name = "KVRequestError";
  /** HTTP status code of the answer (400, 404, 413, 500, ...). */
  readonly status: number;
  /** The server's human-readable description. */
  readonly description: string;
  /** `"host:port"` of the node that answered. */
  readonly node: string;
  /** Creates the error from a server's error answer. */
  constructor(description: string, status: number, node: string) {
    super(description);
    this.status = status;
    this.description = description;
    this.node = node;
  }
}

/**
 * The server answered HTTP 503: too few replicas answered in time (quorum
 * not met) or the node cannot serve now. Retrying later, or with a weaker
 * consistency, may succeed.
 *
 * @example Fall back to a weaker read
 * ```ts
 * import { KVClient, KVUnavailableError } from "./client.ts";
 *
 * async function readAny(client: KVClient, key: string): Promise<unknown> {
 *   try {
 *     return await client.get(key, { consistency: "quorum" });
 *   } catch (error) {
 *     if (!(error instanceof KVUnavailableError)) throw error;
 *     return await client.get(key, { consistency: "one" });
 *   }
 * }
 * ```
 */
export class KVUnavailableError extends KVRequestError {
  /** The class name, shown in stack traces and logs. */
  override name = "KVUnavailableError";
}

/**
 * The server answered HTTP 401: the token is missing or wrong.
 *
 * @example
 * ```ts
 * import { KVAuthError, KVClient } from "./client.ts";
 *
 * async function check(client: KVClient): Promise<boolean> {
 *   try {
 *     await client.ping();
 *     return true;
 *   } catch (error) {
 *     if (error instanceof KVAuthError) return false;
 *     throw error;
 *   }
 * }
 * ```
 */
export class KVAuthError extends KVRequestError {
  /** The class name, shown in stack traces and logs. */
  override name = "KVAuthError";
}

/**
 * No node could be reached (every address refused the connection, or an
 * attempt timed out). `cause` holds the last underlying error and `nodes`
 * the addresses tried, in order.
 *
 * @example
 * ```ts
 * import { KVClient, KVConnectionError } from "./client.ts";
 *
 * async function isUp(client: KVClient): Promise<boolean> {
 *   try {
 *     await client.ping();
 *     return true;
 *   } catch (error) {
 *     if (error instanceof KVConnectionError) return false;
 *     throw error;
 *   }
 * }
 * ```
 */
export class KVConnectionError extends KVError {
  /** The class name, shown in stack traces and logs. */
  override name = "KVConnectionError";
  /** `"host:port"` of every node tried, in order. */
  readonly nodes: string[];
  /** Creates the error; `options.cause` should be the last failure. */
  constructor(message: string, nodes: string[], options?: ErrorOptions) {
    super(message, options);
    this.nodes = nodes;
  }
}

/**
 * The answer was not KVDB's JSON envelope (not JSON, an unknown `status`, a
 * result of the wrong shape, too large): a proxy answered, or the server is
 * not a KVDB node, or speaks another version.
 *
 * @example
 * ```ts
 * import { KVClient, KVProtocolError } from "./client.ts";
 *
 * async function members(client: KVClient): Promise<string[]> {
 *   try {
 *     return await client.listMembers();
 *   } catch (error) {
 *     if (error instanceof KVProtocolError) console.error(error.status);
 *     throw error;
 *   }
 * }
 * ```
 */
export class KVProtocolError extends KVError {
  /** The class name, shown in stack traces and logs. */
  override name = "KVProtocolError";
  /** HTTP status code of the offending answer. */
  readonly status: number;
  /** `"host:port"` of the node that answered. */
  readonly node: string;
  /** Creates the error for an answer from `node` with HTTP `status`. */
  constructor(
    message: string,
    status: number,
    node: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.status = status;
    this.node = node;
  }
}

interface Node {
  /** `"host:port"`, for messages. */
  label: string;
  /** Where to `POST`. */
  url: string;
}

/** A node's successful answer. */
interface Answer {
  result: unknown;
  /** `"host:port"` of the node that answered. */
  node: string;
}

/** What one attempt on one node came to. */
type Attempt =
  | {
    kind: "answered";
    text: string;
    status: number;
    /**
     * Seconds the node asked us to wait before sending the request again
     * (429, or 503 with Retry-After: refused before any work was done).
     */
    retryAfterS?: number;
  }
  /** Nothing reached the server: safe to try another node. */
  | { kind: "unreachable"; error: unknown }
  /** The server may have acted (timeout, broken answer): retry reads only. */
  | { kind: "ambiguous"; error: KVConnectionError };

/**
 * A client for a KVDB cluster. Any node serves any request, so the client
 * talks to one node at a time and moves to the next listed node when the
 * current one cannot be reached.
 *
 * @example Basic use
 * ```ts
 * import { KVClient } from "./client.ts";
 *
 * const client = new KVClient({
 *   nodes: ["127.0.0.1:5878", "127.0.0.1:5879", "127.0.0.1:5880"],
 *   timeoutMs: 2_000,
 * });
 * async function demo(): Promise<void> {
 *   await client.set("a", 1);
 *   console.log(await client.get("a")); // 1
 *   console.log(await client.has("a")); // true
 *   console.log(await client.pop("a")); // 1
 *   console.log(await client.locate("a")); // e.g. "127.0.0.1:5879"
 * }
 * ```
 */
export class KVClient {
  readonly #nodes: Node[];
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #token: string | undefined;
  readonly #httpClient: Deno.HttpClient | undefined;
  readonly #responseBytesMax: number;
  /** Index of the node that last answered: the first one tried next. */
  #current = 0;

  /**
   * Creates a client. No connection is made until the first call.
   *
   * @throws {TypeError} if an option is invalid (an empty `nodes` list, an
   * address that is not `"host:port"` or `"http(s)://host[:port]"`, a
   * non-positive `timeoutMs`, ...).
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const local = new KVClient(); // 127.0.0.1:5878
   * const secured = new KVClient({
   *   nodes: ["https://kv.example.com"],
   *   token: "s3cret",
   * });
   * ```
   */
  constructor(options: KVClientOptions = {}) {
    const nodes = options.nodes ?? DEFAULT_NODES;
    if (!Array.isArray(nodes) || nodes.length === 0) {
      throw new TypeError(
        "Cannot create KVClient as 'nodes' must be a non-empty array of " +
          `addresses: current value is ${show(nodes)}`,
      );
    }
    this.#nodes = nodes.map((address, i) => parseNode(address, i));
    const fetchFn = options.fetch ?? globalThis.fetch;
    if (typeof fetchFn !== "function") {
      throw new TypeError(
        "Cannot create KVClient as 'fetch' must be a function: current " +
          `value is ${show(fetchFn)}`,
      );
    }
    this.#fetch = fetchFn;
    this.#timeoutMs = positiveInteger(
      "timeoutMs",
      options.timeoutMs ?? TIMEOUT_MS_DEFAULT,
    );
    this.#responseBytesMax = positiveInteger(
      "responseBytesMax",
      options.responseBytesMax ?? RESPONSE_BYTES_MAX_DEFAULT,
    );
    const token = options.token;
    // A header value cannot hold line breaks; refusing here beats a
    // confusing failure on every request.
    if (
      token !== undefined &&
      (typeof token !== "string" || token === "" || /[\r\n]/.test(token))
    ) {
      throw new TypeError(
        "Cannot create KVClient as 'token' must be a non-empty string " +
          "without line breaks",
      );
    }
    this.#token = token;
    this.#httpClient = options.caCert === undefined
      ? undefined
      : httpClientTrusting(options.caCert);
  }

  /**
   * Releases the HTTP client made for `caCert`; without `caCert` there is
   * nothing to release and this does nothing.
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient({ nodes: ["https://127.0.0.1:5878"] });
   * client.close();
   * ```
   */
  close(): void {
    this.#httpClient?.close();
  }

  /**
   * Calls a server function by its wire name and returns its raw result.
   * The typed methods are built on this; use it for functions the client
   * does not wrap yet.
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   const result = await client.call("get", ["a"], { default_value: 0 });
   *   console.log(result);
   * }
   * ```
   */
  async call(
    fn: string,
    args: unknown[] = [],
    kwargs: Record<string, unknown> = {},
  ): Promise<unknown> {
    return (await this.#request(fn, args, kwargs)).result;
  }

  /** Like `call`, also naming the node that answered, for error messages. */
  async #request(
    fn: string,
    args: unknown[] = [],
    kwargs: Record<string, unknown> = {},
  ): Promise<Answer> {
    if (typeof fn !== "string" || fn === "") {
      throw new TypeError(
        "Cannot call as 'fn' must be a non-empty string: current value is " +
          show(fn),
      );
    }
    // Serialize once, before any attempt: a value JSON cannot carry (a
    // BigInt, a cycle) is the caller's mistake, not a node's.
    const body = JSON.stringify({ function: fn, args, kwargs });
    const readOnly = READ_ONLY_FUNCTIONS.has(fn);
    const tried: string[] = [];
    let lastError: unknown;
    const start = this.#current;
    for (let step = 0; step < this.#nodes.length; step++) {
      const index = (start + step) % this.#nodes.length;
      const node = this.#nodes[index]!;
      tried.push(node.label);
      let attempt = await this.#attempt(node, fn, body);
      // Refused before any work (overloaded): wait as asked, and send it
      // again, a bounded number of times. Safe for writes too: nothing of
      // the request was done.
      for (
        let wait = 0;
        attempt.kind === "answered" && attempt.retryAfterS !== undefined &&
        wait < OVERLOAD_RETRIES_MAX;
        wait++
      ) {
        const ms = Math.min(attempt.retryAfterS * 1000, OVERLOAD_WAIT_MS_MAX);
        await new Promise((resolve) => setTimeout(resolve, Math.max(10, ms)));
        attempt = await this.#attempt(node, fn, body);
      }
      switch (attempt.kind) {
        case "answered": {
          // Remembered even for an error answer: the node is up.
          this.#current = index;
          const result = decode(attempt.text, attempt.status, node);
          return { result, node: node.label };
        }
        case "unreachable":
          lastError = attempt.error;
          break;
        case "ambiguous":
          if (!readOnly) throw attempt.error;
          lastError = attempt.error;
          break;
        default:
          unreachable(attempt);
      }
    }
    throw new KVConnectionError(
      `Cannot reach any KVDB node for '${fn}': tried ${tried.join(", ")}`,
      tried,
      { cause: lastError },
    );
  }

  /** One request to one node, up to its answer's undecoded body. */
  async #attempt(node: Node, fn: string, body: string): Promise<Attempt> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    const headers = new Headers({ "content-type": "application/json" });
    if (this.#token !== undefined) {
      headers.set("authorization", `Bearer ${this.#token}`);
    }
    let response: Response;
    const init: RequestInit & { client?: Deno.HttpClient } = {
      method: "POST",
      headers,
      body,
      signal,
    };
    if (this.#httpClient !== undefined) init.client = this.#httpClient;
    try {
      response = await this.#fetch(node.url, init);
    } catch (error) {
      if (isTimeout(error, signal)) {
        return { kind: "ambiguous", error: this.#timedOut(node, fn, error) };
      }
      if (isConnectionFailure(error)) return { kind: "unreachable", error };
      throw error;
    }
    let text: string;
    try {
      text = await readText(response, this.#responseBytesMax, node);
    } catch (error) {
      if (error instanceof KVError) throw error;
      // Headers arrived, so the server has seen the request: treat a body
      // cut short like a timeout.
      const cause = isTimeout(error, signal)
        ? this.#timedOut(node, fn, error)
        : new KVConnectionError(
          `Connection to ${node.label} broke while reading the answer to ` +
            `'${fn}'`,
          [node.label],
          { cause: error },
        );
      return { kind: "ambiguous", error: cause };
    }
    const retryAfter = response.headers.get("retry-after");
    const retryAfterS = retryAfter === null ? NaN : Number(retryAfter);
    return (response.status === 429 || response.status === 503) &&
        Number.isFinite(retryAfterS) && retryAfterS >= 0
      ? { kind: "answered", text, status: response.status, retryAfterS }
      : { kind: "answered", text, status: response.status };
  }

  #timedOut(node: Node, fn: string, cause: unknown): KVConnectionError {
    return new KVConnectionError(
      `Timed out after ${this.#timeoutMs} ms waiting for ${node.label} to ` +
        `answer '${fn}'`,
      [node.label],
      { cause },
    );
  }

  /**
   * Checks that a node answers; resolves to `"pong"`.
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   console.log(await client.ping()); // "pong"
   * }
   * ```
   */
  async ping(): Promise<string> {
    return expectString(await this.#request("ping"), "ping");
  }

  /**
   * Reads a key. Resolves to its value, else to `defaultValue` if given,
   * else to `null`.
   *
   * @param options.defaultValue What to return when the key is absent.
   * @param options.consistency Replicas that must answer (server default:
   * `"quorum"`).
   * @param options.local Read the answering node's own copy only, with no
   * routing (for operators and tests).
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   const count = await client.get<number>("visits", { defaultValue: 0 });
   *   const strong = await client.get("a", { consistency: "all" });
   *   console.log(count, strong);
   * }
   * ```
   */
  async get<T = unknown>(
    key: string,
    options: { defaultValue?: T; consistency?: Consistency; local?: boolean } =
      {},
  ): Promise<T | null> {
    const kwargs = compact({
      default_value: options.defaultValue,
      consistency: consistency(options.consistency),
      local: options.local,
    });
    return await this.call("get", [key], kwargs) as T | null;
  }

  /**
   * Writes a key. `value` is any JSON value; it resolves once the write is
   * acknowledged at the requested consistency.
   *
   * @param options.consistency Acknowledgements to wait for (server
   * default: `"quorum"`).
   * @param options.ttl Seconds until the key expires.
   * @throws {TypeError} if `value` is `undefined` (JSON has no such value).
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   await client.set("user:1", { name: "Ada" });
   *   await client.set("session:9", "token", { ttl: 3600 });
   * }
   * ```
   */
  async set(
    key: string,
    value: unknown,
    options: { consistency?: Consistency; ttl?: number } = {},
  ): Promise<void> {
    if (value === undefined) {
      throw new TypeError(
        "Cannot set as 'value' is undefined, which JSON cannot carry: use " +
          "null or pop the key",
      );
    }
    const kwargs = compact({
      consistency: consistency(options.consistency),
      ttl: options.ttl,
    });
    await this.call("set", [key, value], kwargs);
  }

  /**
   * Tells whether a key holds a live value.
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   if (await client.has("a", { consistency: "one" })) console.log("yes");
   * }
   * ```
   */
  async has(
    key: string,
    options: { consistency?: Consistency; local?: boolean } = {},
  ): Promise<boolean> {
    const kwargs = compact({
      consistency: consistency(options.consistency),
      local: options.local,
    });
    return expectBoolean(await this.#request("has", [key], kwargs), "has");
  }

  /**
   * Removes a key and resolves to the value it held, else to
   * `defaultValue` if given, else to `null`.
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   const job = await client.pop<string>("queue:next", { defaultValue: "" });
   *   console.log(job);
   * }
   * ```
   */
  async pop<T = unknown>(
    key: string,
    options: { defaultValue?: T; consistency?: Consistency } = {},
  ): Promise<T | null> {
    const kwargs = compact({
      default_value: options.defaultValue,
      consistency: consistency(options.consistency),
    });
    return await this.call("pop", [key], kwargs) as T | null;
  }

  /**
   * Lists every live key, sorted, each once. For large stores prefer
   * {@linkcode KVClient.listKeysPage}.
   *
   * @param options.fanOut `false` lists the answering node's keys only
   * (server default: `true`, the whole cluster).
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   console.log(await client.listKeys());
   *   console.log(await client.listKeys({ fanOut: false }));
   * }
   * ```
   */
  async listKeys(options: { fanOut?: boolean } = {}): Promise<string[]> {
    const kwargs = compact({ fan_out_mode: options.fanOut });
    const answer = await this.#request("list_keys", [], kwargs);
    return expectStrings(answer, "list_keys");
  }

  /**
   * Lists keys one page at a time, sorted. Pass the returned `cursor` to
   * get the next page; it is `null` after the last page. A `cursor` of
   * `null` starts at the beginning.
   *
   * @example Walk every key under a prefix
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   let cursor: string | null = null;
   *   do {
   *     const page = await client.listKeysPage({
   *       prefix: "user:",
   *       limit: 100,
   *       cursor,
   *     });
   *     for (const key of page.keys) console.log(key);
   *     cursor = page.cursor;
   *   } while (cursor !== null);
   * }
   * ```
   */
  async listKeysPage(
    options: { prefix?: string; limit?: number; cursor?: string | null },
  ): Promise<{ keys: string[]; cursor: string | null }> {
    const kwargs = compact({
      prefix: options.prefix,
      limit: options.limit,
      cursor: options.cursor,
    });
    // The server pages only when one of these kwargs is present; with none
    // given, ask for the first page explicitly.
    if (Object.keys(kwargs).length === 0) kwargs.cursor = null;
    return expectPage(await this.#request("list_keys", [], kwargs));
  }

  /**
   * Lists the cluster's members as `"host:port"` strings.
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   console.log(await client.listMembers()); // ["127.0.0.1:5878", ...]
   * }
   * ```
   */
  async listMembers(): Promise<string[]> {
    return expectStrings(await this.#request("list_members"), "list_members");
  }

  /**
   * Resolves to the `"host:port"` of the key's primary owner.
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   console.log(await client.locate("a"));
   * }
   * ```
   */
  async locate(key: string): Promise<string> {
    return expectString(await this.#request("locate", [key]), "locate");
  }

  /**
   * Resolves to the key's preference list: the `"host:port"` of every
   * replica, primary first.
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   const [primary, ...others] = await client.replicas("a");
   *   console.log(primary, others);
   * }
   * ```
   */
  async replicas(key: string): Promise<string[]> {
    return expectStrings(await this.#request("replicas", [key]), "replicas");
  }

  /**
   * Resolves to the answering node's view of the cluster.
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   const info = await client.clusterInfo();
   *   const down = info.members.filter((m) => m.state !== "alive");
   *   console.log(info.self, info.replication_factor, down);
   * }
   * ```
   */
  async clusterInfo(): Promise<ClusterInfo> {
    return expectClusterInfo(await this.#request("cluster_info"));
  }

  /**
   * Removes a member that the cluster has declared `dead`, for good: it
   * leaves the ring and its ranges get new replicas, which anti-entropy
   * fills. Removing a member that is already gone succeeds; a member that
   * is alive or suspect is refused with a {@link KVRequestError} of status
   * 409 (a live node leaves with `kvdb leave`), an unknown one with 404.
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   const info = await client.clusterInfo();
   *   for (const m of info.members.filter((m) => m.state === "dead")) {
   *     await client.removeMember(m.address);
   *   }
   * }
   * ```
   */
  async removeMember(address: string): Promise<void> {
    await this.call("remove_member", [address]);
  }

  /**
   * Reads many keys in one request; resolves to their values in the same
   * order, `null` where a key is absent.
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   const [a, b] = await client.mget(["a", "b"]);
   *   console.log(a, b);
   * }
   * ```
   */
  async mget(keys: string[]): Promise<unknown[]> {
    const answer = await this.#request("mget", [keys]);
    const values = answer.result;
    if (!Array.isArray(values) || values.length !== keys.length) {
      throw resultError("mget", `a list of ${keys.length} values`, answer);
    }
    return values;
  }

  /**
   * Writes many keys in one request.
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   await client.mset({ a: 1, b: "two", c: [3] });
   *   await client.mset({ session: "s1" }, { ttl: 3600 });
   * }
   * ```
   */
  async mset(
    entries: Record<string, unknown>,
    options: { consistency?: Consistency; ttl?: number } = {},
  ): Promise<void> {
    const kwargs = compact({
      consistency: consistency(options.consistency),
      ttl: options.ttl,
    });
    await this.call("mset", [entries], kwargs);
  }

  /**
   * Reads keys with what a backup needs: each live record's value,
   * version and expiry (`expiresAtMs`, wall-clock ms, or null), `null`
   * where a key is absent or expired. `kvdb backup` pages through the key
   * space with {@link KVClient.listKeysPage} and this.
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   const [a] = await client.readRecords(["a"]);
   *   console.log(a?.version, a?.expiresAtMs);
   * }
   * ```
   */
  async readRecords(keys: string[]): Promise<(KVRecord | null)[]> {
    const answer = await this.#request("read_records", [keys]);
    const records = answer.result;
    if (!Array.isArray(records) || records.length !== keys.length) {
      throw resultError(
        "read_records",
        `a list of ${keys.length} records`,
        answer,
      );
    }
    return records as (KVRecord | null)[];
  }

  /**
   * Writes records as {@link KVClient.readRecords} returned them, keeping
   * their versions and expiry: a record older than what a key holds
   * changes nothing, so restoring a backup twice, or after newer writes,
   * undoes nothing. `kvdb restore` is built on it.
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const from = new KVClient({ nodes: ["127.0.0.1:5878"] });
   * const to = new KVClient({ nodes: ["127.0.0.1:6878"] });
   * async function copy(): Promise<void> {
   *   const records = await from.readRecords(["a", "b"]);
   *   await to.writeRecords(records.filter((r) => r !== null));
   * }
   * ```
   */
  async writeRecords(records: KVRecord[]): Promise<void> {
    await this.call("write_records", [records]);
  }

  /**
   * Tells the node to hand its data to its successors and leave the
   * cluster; it answers at once, and `clusterInfo().transfer` shows the
   * progress until the node has gone (then calls to it fail).
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient({ nodes: ["127.0.0.1:5880"] });
   * async function demo(): Promise<void> {
   *   await client.leave();
   * }
   * ```
   */
  async leave(): Promise<void> {
    await this.call("leave");
  }

  /**
   * The cluster's default KV database with `Deno.Kv`'s API: linearizable
   * reads, atomic checked commits, versionstamps (src/client/kv.ts).
   *
   * @example
   * ```ts
   * import { KVClient } from "./client.ts";
   *
   * const client = new KVClient();
   * async function demo(): Promise<void> {
   *   await client.kv.set(["users", 1], { name: "Ada" });
   *   console.log((await client.kv.get(["users", 1])).value);
   * }
   * ```
   */
  get kv(): Kv {
    return this.kvDatabase("default");
  }

  /** A named KV database (its own Raft group), as {@link KVClient.kv}. */
  kvDatabase(name: string): Kv {
    return new Kv((fn, args, kwargs) => this.call(fn, args, kwargs), name);
  }
}

// ---------------------------------------------------------------------------
// Addresses and options

/** `host` is a name, an IPv4 address or a bracketed IPv6 address. */
const BARE_ADDRESS = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/;

function parseNode(address: unknown, index: number): Node {
  const invalid = (why: string) =>
    new TypeError(
      `Cannot create KVClient as 'nodes[${index}]' ${why}: current value ` +
        `is ${show(address)}`,
    );
  if (typeof address !== "string") throw invalid("must be a string");
  const form = 'must be "host:port" or "http(s)://host[:port]"';
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(address)) {
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      throw invalid(form);
    }
    // The protocol has one endpoint, `POST /`: a path, query or
    // credentials would be silently dropped or misused.
    if (
      (url.protocol !== "http:" && url.protocol !== "https:") ||
      url.hostname === "" || url.pathname !== "/" || url.search !== "" ||
      url.hash !== "" || url.username !== "" || url.password !== ""
    ) {
      throw invalid(form);
    }
    return { label: url.host, url: `${url.origin}/` };
  }
  const match = BARE_ADDRESS.exec(address);
  if (match === null) throw invalid(form);
  const host = match[1]!;
  const port = match[2] === undefined ? DEFAULT_PORT : Number(match[2]);
  if (port < 1 || port > 65535) throw invalid("has a port outside 1-65535");
  let url: URL;
  try {
    url = new URL(`http://${host}:${port}/`);
  } catch {
    throw invalid(form);
  }
  // Keep the label as written ("localhost:80"), not as URL normalizes it.
  return { label: `${host}:${port}`, url: url.href };
}

/** A Deno HTTP client that trusts `caCert` (PEM) as well as the system's CAs. */
function httpClientTrusting(caCert: unknown): Deno.HttpClient {
  if (typeof caCert !== "string" || !caCert.includes("-----BEGIN ")) {
    throw new TypeError(
      "Cannot create KVClient as 'caCert' must be a PEM certificate: " +
        `current value is ${show(caCert).slice(0, 40)}`,
    );
  }
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (typeof deno?.createHttpClient !== "function") {
    throw new TypeError(
      "Cannot create KVClient as 'caCert' needs Deno.createHttpClient: " +
        "elsewhere, trust the CA in the runtime instead",
    );
  }
  return deno.createHttpClient({ caCerts: [caCert] });
}

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(
      `Cannot create KVClient as '${name}' must be a positive integer: ` +
        `current value is ${show(value)}`,
    );
  }
  return value;
}

/** Refuses a consistency level the server would refuse, before sending. */
function consistency(level: unknown): Consistency | undefined {
  if (level === undefined) return undefined;
  if (typeof level !== "string" || !CONSISTENCY_LEVELS.has(level)) {
    throw new TypeError(
      "Cannot send request as 'consistency' must be one of \"one\", " +
        `"quorum", "all": current value is ${show(level)}`,
    );
  }
  return level as Consistency;
}

/** Drops options that were not given: only given kwargs go on the wire. */
function compact(kwargs: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(kwargs)) {
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function show(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

// ---------------------------------------------------------------------------
// Transport

function isTimeout(error: unknown, signal: AbortSignal): boolean {
  return signal.aborted ||
    (error instanceof DOMException &&
      (error.name === "TimeoutError" || error.name === "AbortError"));
}

/** Error names Deno uses for a socket that could not be opened or used. */
const CONNECTION_ERROR_NAMES: ReadonlySet<string> = new Set([
  "ConnectionRefused",
  "ConnectionReset",
  "ConnectionAborted",
  "NotConnected",
  "AddrNotAvailable",
  "AddrInUse",
  "BrokenPipe",
  "HostUnreachable",
  "NetworkUnreachable",
]);

/**
 * `fetch` rejects with a `TypeError` when no answer came (refused, DNS,
 * TLS, reset); anything else is not the network's doing and propagates.
 */
function isConnectionFailure(error: unknown): boolean {
  return error instanceof TypeError ||
    (error instanceof Error && CONNECTION_ERROR_NAMES.has(error.name));
}

/**
 * Reads the whole body as UTF-8 text, refusing more than `bytesMax`. The
 * body is always consumed or cancelled so that the connection can be
 * reused and nothing leaks.
 */
async function readText(
  response: Response,
  bytesMax: number,
  node: Node,
): Promise<string> {
  const tooLarge = () =>
    new KVProtocolError(
      `Answer from ${node.label} is larger than ${bytesMax} bytes`,
      response.status,
      node.label,
    );
  if (response.body === null) return "";
  const declared = Number(response.headers.get("content-length"));
  if (declared > bytesMax) {
    await response.body.cancel();
    throw tooLarge();
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > bytesMax) {
        await reader.cancel();
        throw tooLarge();
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/** Turns an answer into its result, or throws the error it reports. */
function decode(text: string, status: number, node: Node): unknown {
  const protocolError = (why: string) =>
    new KVProtocolError(
      `Unexpected answer from ${node.label} (HTTP ${status}): ${why}`,
      status,
      node.label,
    );
  let envelope: unknown;
  try {
    envelope = JSON.parse(text);
  } catch {
    throw protocolError(`not JSON: ${snippet(text)}`);
  }
  if (!isRecord(envelope)) throw protocolError("not a JSON object");
  if (envelope.status === "OK.") {
    if (!("result" in envelope)) throw protocolError("no 'result'");
    if (status < 200 || status > 299) {
      throw protocolError("success envelope with an error status");
    }
    return envelope.result;
  }
  if (envelope.status === "Error") {
    const description = envelope.description;
    if (typeof description !== "string") {
      throw protocolError("error without a 'description' string");
    }
    // The seed's server answered errors with HTTP 200; keep whatever came.
    if (status === 503 || status === 429) {
      throw new KVUnavailableError(description, status, node.label);
    }
    if (status === 401) throw new KVAuthError(description, status, node.label);
    throw new KVRequestError(description, status, node.label);
  }
  throw protocolError(`unknown status ${show(envelope.status)}`);
}

function snippet(text: string): string {
  const SNIPPET_CHARS_MAX = 80;
  const flat = JSON.stringify(text.slice(0, SNIPPET_CHARS_MAX));
  return text.length > SNIPPET_CHARS_MAX ? `${flat}...` : flat;
}

// ---------------------------------------------------------------------------
// Result shapes: a node of another version must not hand callers values
// that contradict the declared types.

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function resultError(fn: string, expected: string, answer: Answer) {
  return new KVProtocolError(
    `Unexpected result of '${fn}' from ${answer.node}: expected ${expected}, ` +
      `got ${snippet(show(answer.result))}`,
    200,
    answer.node,
  );
}

function expectString(answer: Answer, fn: string): string {
  const value = answer.result;
  if (typeof value !== "string") throw resultError(fn, "a string", answer);
  return value;
}

function expectBoolean(answer: Answer, fn: string): boolean {
  const value = answer.result;
  if (typeof value !== "boolean") throw resultError(fn, "a boolean", answer);
  return value;
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

function expectStrings(answer: Answer, fn: string): string[] {
  const value = answer.result;
  if (!isStrings(value)) throw resultError(fn, "a list of strings", answer);
  return value;
}

function expectPage(
  answer: Answer,
): { keys: string[]; cursor: string | null } {
  const value = answer.result;
  // A server that does not page answers the seed's plain list: that is the
  // whole key set, so a single last page.
  if (isStrings(value)) return { keys: value, cursor: null };
  if (
    isRecord(value) && isStrings(value.keys) &&
    (value.cursor === null || typeof value.cursor === "string")
  ) {
    return { keys: value.keys, cursor: value.cursor };
  }
  throw resultError("list_keys", "{keys, cursor}", answer);
}

function expectClusterInfo(answer: Answer): ClusterInfo {
  const value = answer.result;
  const valid = isRecord(value) &&
    typeof value.self === "string" &&
    typeof value.version === "string" &&
    typeof value.replication_factor === "number" &&
    typeof value.read_quorum === "number" &&
    typeof value.write_quorum === "number" &&
    typeof value.vnodes === "number" &&
    Array.isArray(value.members) &&
    value.members.every((m) =>
      isRecord(m) && typeof m.address === "string" &&
      typeof m.state === "string"
    );
  if (!valid) throw resultError("cluster_info", "a cluster view", answer);
  return value as unknown as ClusterInfo;
}

function unreachable(value: never): never {
  throw new Error(`Unreachable: ${show(value)}`);
}
