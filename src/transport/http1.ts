/**
 * A minimal HTTP/1.1 client over one keep-alive connection (TCP, or TLS for
 * `https://`), for the load generator and for peer calls: one request at a
 * time, `POST` with a body, the answer read by `Content-Length` or chunked
 * encoding.
 *
 * Why not `fetch`: on this project's 2-core machines Deno's `fetch` spends
 * so much CPU per request (headers objects, streams, the connection pool)
 * that a load generator built on it saturates at about a fifth of what the
 * server can do, measuring itself instead of the server (numbers in
 * docs/benchmarking.md). Writing the request bytes and parsing the answer
 * by hand costs a few microseconds. `fetch` remains available
 * (`--client fetch`) to measure what a typical client sees.
 *
 * Not a general client: no redirects, no request pipelining, no 1xx
 * answers; what peer calls and a benchmark of KVDB, the minimal server or
 * etcd need.
 *
 * @module
 */

/** Largest answer accepted; a larger one is a protocol error, not a buffer. */
export const RESPONSE_BYTES_MAX = 64 * 1024 * 1024;
/** Largest header section accepted. */
export const HEADER_BYTES_MAX = 64 * 1024;
const BUFFER_BYTES_INITIAL = 64 * 1024;
const CR = 13;
const LF = 10;

/** Why an exchange failed: the connection, or an answer we cannot read. */
export class Http1Error extends Error {
  readonly kind: "connection" | "protocol";
  constructor(kind: "connection" | "protocol", message: string, options?: {
    cause?: unknown;
  }) {
    super(message, options);
    this.name = "Http1Error";
    this.kind = kind;
  }
}

/**
 * The runtime's errors a socket, its connect or its TLS handshake can fail
 * with: the network's faults, a peer that closed or reset the connection,
 * our own `close()` under a pending read (`Interrupted`, `BadResource`), a
 * TLS handshake or certificate refused (`InvalidData`), and a connect the
 * host may not make (a firewall's EPERM, Deno's `--allow-net`).
 */
const SOCKET_ERRORS: readonly (new (...args: never[]) => Error)[] = [
  Deno.errors.ConnectionRefused,
  Deno.errors.ConnectionReset,
  Deno.errors.ConnectionAborted,
  Deno.errors.NotConnected,
  Deno.errors.AddrInUse,
  Deno.errors.AddrNotAvailable,
  Deno.errors.NetworkUnreachable,
  Deno.errors.BrokenPipe,
  Deno.errors.UnexpectedEof,
  Deno.errors.WriteZero,
  Deno.errors.TimedOut,
  Deno.errors.Interrupted,
  Deno.errors.BadResource,
  Deno.errors.InvalidData,
  Deno.errors.PermissionDenied,
  Deno.errors.NotCapable,
];

/**
 * True for what a connection can really fail with: a {@link SOCKET_ERRORS}
 * class, or an OS error the runtime has no class for, which it raises as a
 * plain `Error` ("No route to host (os error 113)", "failed to lookup
 * address information: ..."). Anything else (a TypeError, a RangeError, an
 * assertion) is a bug of ours, not a peer that is down.
 */
function isSocketError(error: unknown): error is Error {
  if (SOCKET_ERRORS.some((c) => error instanceof c)) return true;
  return error instanceof Error &&
    Object.getPrototypeOf(error) === Error.prototype &&
    (/\(os error \d+\)$/.test(error.message) ||
      error.message.startsWith("failed to lookup address"));
}

/** `error` as a connection failure if it is one; any other as it is. */
function asConnectionFailure(error: unknown): unknown {
  if (!isSocketError(error)) return error;
  return new Http1Error("connection", error.message, { cause: error });
}

/** An answer. */
export interface Http1Response {
  status: number;
  text: string;
  /** Header values by lower-case name, as sent (the last one wins). */
  headers: Map<string, string>;
}

/** Where to connect: parsed from `http(s)://host:port/path`. */
interface Endpoint {
  tls: boolean;
  hostname: string;
  port: number;
  /** The Host header. */
  host: string;
  path: string;
}

function endpointOf(url: string): Endpoint {
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new TypeError(
      `Cannot connect to '${url}': only http:// and https:// are supported`,
    );
  }
  const tls = u.protocol === "https:";
  return {
    tls,
    // URL keeps the brackets of an IPv6 literal; Deno.connect wants none.
    hostname: u.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: u.port === "" ? (tls ? 443 : 80) : Number(u.port),
    host: u.host,
    path: u.pathname + u.search,
  };
}

/** Options of {@link Http1Client}. */
export interface Http1ClientOptions {
  /** Default "application/json". */
  contentType?: string;
  /** For `https://`: PEM certificates to trust besides the system's. */
  caCerts?: string[];
  /** Opens the TCP connection. Default `Deno.connect` (tests inject faults). */
  dial?: (options: Deno.ConnectOptions) => Promise<Deno.TcpConn>;
}

/** One keep-alive connection to one server; connects on first use. */
export class Http1Client {
  readonly #endpoint: Endpoint;
  readonly #caCerts: string[] | undefined;
  readonly #dial: (options: Deno.ConnectOptions) => Promise<Deno.TcpConn>;
  readonly #encoder = new TextEncoder();
  readonly #decoder = new TextDecoder();
  /** `POST /path HTTP/1.1`, host and content-type lines. */
  readonly #head: string;
  #conn: Deno.Conn | null = null;
  #buffer = new Uint8Array(BUFFER_BYTES_INITIAL);
  /** Unread bytes are #buffer[#start, #end). */
  #start = 0;
  #end = 0;
  #closed = false;

  /** `url` is `http://host:port/path` or `https://host:port/path`. */
  constructor(url: string, options: Http1ClientOptions = {}) {
    this.#endpoint = endpointOf(url);
    this.#caCerts = options.caCerts;
    this.#dial = options.dial ?? Deno.connect;
    const type = options.contentType ?? "application/json";
    this.#head =
      `POST ${this.#endpoint.path} HTTP/1.1\r\nhost: ${this.#endpoint.host}\r\n` +
      `content-type: ${type}\r\n`;
  }

  /**
   * Sends `body` and reads the answer. A failure closes the connection;
   * the next call opens a new one.
   *
   * @throws {Http1Error} when the connection fails or the answer is not
   * one we can read; any other error is a bug and is thrown as it is.
   */
  async post(
    body: string,
    headers?: Record<string, string>,
  ): Promise<Http1Response> {
    if (this.#closed) throw new Http1Error("connection", "client closed");
    try {
      const conn = this.#conn ?? await this.#connect();
      const bodyBytes = this.#encoder.encode(body);
      let extra = "";
      if (headers !== undefined) {
        for (const [name, value] of Object.entries(headers)) {
          if (/[\r\n]/.test(name + value)) {
            throw new Http1Error("protocol", `bad header ${name}`);
          }
          extra += `${name}: ${value}\r\n`;
        }
      }
      const head = this.#encoder.encode(
        `${this.#head}${extra}content-length: ${bodyBytes.length}\r\n\r\n`,
      );
      // One write, so that the request leaves in one segment.
      const request = new Uint8Array(head.length + bodyBytes.length);
      request.set(head);
      request.set(bodyBytes, head.length);
      await writeAll(conn, request);
      return await this.#readResponse(conn);
    } catch (error) {
      this.#drop();
      throw asConnectionFailure(error);
    }
  }

  /** True while a connection is open (a `post` then needs no connect). */
  get connected(): boolean {
    return this.#conn !== null;
  }

  /**
   * Opens the connection now, if it is not open. A connect cannot be
   * abandoned half way (an aborted `Deno.connect` may still leave its
   * socket behind), so it runs to its end; if the client was closed
   * meanwhile, the new connection is closed at once.
   *
   * @throws {Http1Error} when the connection cannot be opened; any other
   * error is a bug and is thrown as it is.
   */
  async connect(): Promise<void> {
    if (this.#closed) throw new Http1Error("connection", "client closed");
    if (this.#conn !== null) return;
    try {
      await this.#connect();
    } catch (error) {
      throw asConnectionFailure(error);
    }
  }

  /** Closes the connection; a `post` in flight fails. */
  close(): void {
    this.#closed = true;
    this.#drop();
  }

  async #connect(): Promise<Deno.Conn> {
    const { hostname, port, tls } = this.#endpoint;
    const tcp = await this.#dial({ hostname, port });
    // Requests are small and one at a time: Nagle would only add delay.
    tcp.setNoDelay(true);
    let conn: Deno.Conn = tcp;
    if (tls) {
      try {
        const secured = await Deno.startTls(tcp, {
          hostname,
          ...(this.#caCerts !== undefined ? { caCerts: this.#caCerts } : {}),
        });
        await secured.handshake();
        conn = secured;
      } catch (error) {
        tcp.close();
        throw error;
      }
    }
    if (this.#closed) {
      conn.close();
      throw new Http1Error("connection", "client closed");
    }
    this.#conn = conn;
    return conn;
  }

  #drop(): void {
    const conn = this.#conn;
    this.#conn = null;
    this.#start = 0;
    this.#end = 0;
    if (conn === null) return;
    try {
      conn.close();
    } catch (error) {
      // Already closed by the other side or by a failed read.
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }

  /** Reads more bytes into the buffer; false at end of stream. */
  async #fill(conn: Deno.Conn): Promise<boolean> {
    if (this.#start > 0 && this.#start === this.#end) {
      this.#start = 0;
      this.#end = 0;
    }
    if (this.#end === this.#buffer.length) {
      const unread = this.#end - this.#start;
      if (this.#start === 0) {
        if (this.#buffer.length >= RESPONSE_BYTES_MAX) {
          throw new Http1Error(
            "protocol",
            `answer larger than ${RESPONSE_BYTES_MAX} bytes`,
          );
        }
        const bigger = new Uint8Array(
          Math.min(this.#buffer.length * 2, RESPONSE_BYTES_MAX),
        );
        bigger.set(this.#buffer.subarray(0, this.#end));
        this.#buffer = bigger;
      } else {
        this.#buffer.copyWithin(0, this.#start, this.#end);
        this.#start = 0;
        this.#end = unread;
      }
    }
    const n = await conn.read(this.#buffer.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    return true;
  }

  /** Index just past the next CRLF at or after #start, reading as needed. */
  async #line(conn: Deno.Conn, limit: number): Promise<number> {
    // Bytes after #start already searched: #fill may move them, not change them.
    let scanned = 0;
    for (;;) {
      const buffer = this.#buffer;
      for (let i = this.#start + Math.max(1, scanned); i < this.#end; i++) {
        if (buffer[i] === LF && buffer[i - 1] === CR) return i + 1;
      }
      scanned = this.#end - this.#start;
      if (scanned > limit) {
        throw new Http1Error("protocol", "header line too long");
      }
      if (!await this.#fill(conn)) {
        throw new Http1Error("connection", "connection closed by the server");
      }
    }
  }

  #take(end: number): string {
    const text = this.#decoder.decode(this.#buffer.subarray(this.#start, end));
    this.#start = end;
    return text;
  }

  async #readResponse(conn: Deno.Conn): Promise<Http1Response> {
    const statusLine = this.#take(await this.#line(conn, HEADER_BYTES_MAX));
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (match === null) {
      throw new Http1Error(
        "protocol",
        `not an HTTP/1.1 answer: ${statusLine.slice(0, 40)}`,
      );
    }
    const status = Number(match[1]);
    let length = -1;
    let chunked = false;
    let close = statusLine.startsWith("HTTP/1.0");
    let headerBytes = statusLine.length;
    const headers = new Map<string, string>();
    for (;;) {
      const line = this.#take(await this.#line(conn, HEADER_BYTES_MAX));
      headerBytes += line.length;
      if (headerBytes > HEADER_BYTES_MAX) {
        throw new Http1Error("protocol", "header section too large");
      }
      if (line === "\r\n") break;
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      const raw = line.slice(colon + 1).trim();
      headers.set(name, raw);
      const value = raw.toLowerCase();
      if (name === "content-length") length = Number(value);
      else if (name === "transfer-encoding") {
        chunked = value.includes("chunked");
      } else if (name === "connection") close = value.includes("close");
    }
    let text: string;
    if (chunked) text = await this.#readChunked(conn);
    else if (length >= 0) text = await this.#readLength(conn, length);
    else if (status === 204 || status === 304) text = "";
    else {
      // No length: the body runs to the end of the connection.
      while (await this.#fill(conn)) { /* until closed */ }
      text = this.#take(this.#end);
      close = true;
    }
    if (close) this.#drop();
    return { status, text, headers };
  }

  async #readLength(conn: Deno.Conn, length: number): Promise<string> {
    if (!Number.isSafeInteger(length) || length > RESPONSE_BYTES_MAX) {
      throw new Http1Error("protocol", `bad content-length ${length}`);
    }
    await this.#ensure(conn, length);
    return this.#take(this.#start + length);
  }

  /** Reads until `length` unread bytes are buffered. */
  async #ensure(conn: Deno.Conn, length: number): Promise<void> {
    while (this.#end - this.#start < length) {
      if (!await this.#fill(conn)) {
        throw new Http1Error("connection", "connection closed mid-answer");
      }
    }
  }

  async #readChunked(conn: Deno.Conn): Promise<string> {
    // Bytes, decoded once at the end: a chunk may split a UTF-8 character.
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const sizeLine = this.#take(await this.#line(conn, 1024));
      const size = parseInt(sizeLine, 16);
      if (!Number.isSafeInteger(size) || size < 0) {
        throw new Http1Error("protocol", `bad chunk size ${sizeLine.trim()}`);
      }
      total += size;
      if (total > RESPONSE_BYTES_MAX) {
        throw new Http1Error("protocol", "chunked answer too large");
      }
      if (size === 0) {
        // Trailers, if any, end with an empty line.
        while (this.#take(await this.#line(conn, HEADER_BYTES_MAX)) !== "\r\n");
        const body = new Uint8Array(total);
        let offset = 0;
        for (const part of parts) {
          body.set(part, offset);
          offset += part.length;
        }
        return this.#decoder.decode(body);
      }
      await this.#ensure(conn, size + 2);
      parts.push(this.#buffer.slice(this.#start, this.#start + size));
      this.#start += size;
      if (this.#take(this.#start + 2) !== "\r\n") {
        throw new Http1Error("protocol", "chunk not followed by CRLF");
      }
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let rest = bytes;
  while (rest.length > 0) rest = rest.subarray(await conn.write(rest));
}
