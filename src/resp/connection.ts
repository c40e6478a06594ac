/**
 * One RESP client connection: read, parse every command the read brought
 * (pipelining), run them, and write the replies in order.
 *
 * Commands of one connection take effect in the order sent, as in Redis,
 * yet a pipeline of reads (or of plain writes) runs concurrently, so that
 * its replica messages travel together: consecutive commands of the same
 * class (`read` or `write`, see commands.ts) start at once, a change of
 * class waits for everything before it, an `exclusive` command runs
 * alone, and a `free` one (PING, ECHO) needs nothing.
 *
 * Bounds: the parser's (argument count, bulk and command size, inline
 * length); replies are written out whenever a megabyte is pending, and the
 * next read waits until they are sent, so a client that does not read
 * cannot make the node buffer more than one megabyte plus one reply; a
 * reply over {@link ConnectionOptions.outputBytesMax} closes the
 * connection.
 *
 * @module
 */

import {
  ALL_COMMANDS,
  arityProblem,
  type Command,
  type CommandClass,
  errorText,
  TABLE,
  unknownCommand,
} from "./commands.ts";
import type { Ctx, RespBackend, Session } from "./context.ts";
import { UnavailableError } from "../errors.ts";
import type { EventLog } from "../log.ts";
import { BATCH_KEYS_MAX, KEY_BYTES_MAX } from "../limits.ts";
import { rangeToString } from "./bytes.ts";
import { asText, valueTooLarge } from "./values.ts";
import {
  ErrorReply,
  OK,
  OutputLimitError,
  type ParserLimits,
  ProtocolError,
  type Reply,
  ReplyWriter,
  RequestParser,
} from "./protocol.ts";

/** A connection's bounds. */
export interface ConnectionOptions extends ParserLimits {
  /** Most bytes of replies held for one client. */
  outputBytesMax: number;
  /** Replies are sent once this many bytes are pending. */
  flushBytes: number;
  log: EventLog;
}

/** A reply with the protocol version in force when its command finished. */
interface Done {
  reply: Reply;
  proto: 2 | 3;
}

const NOAUTH = new ErrorReply("NOAUTH Authentication required.");
const DONE_OK_2: Done = { reply: OK, proto: 2 };
const DONE_OK_3: Done = { reply: OK, proto: 3 };
const decoder = new TextDecoder();

/** Command names as clients send them, to lower-case names, memoised. */
const NAME_CACHE_MAX = 1024;
const names = new Map<string, Command | null>();

const GET = TABLE.get("get")!;
const SET = TABLE.get("set")!;

function lookup(arg: Uint8Array): Command | undefined {
  // The two commands benchmarks and caches send most, without a string.
  if (
    arg.length === 3 && (arg[1]! | 0x20) === 101 && (arg[2]! | 0x20) === 116
  ) {
    const first = arg[0]! | 0x20;
    if (first === 103) return GET;
    if (first === 115) return SET;
  }
  if (arg.length > 32) return undefined;
  let raw = "";
  for (let i = 0; i < arg.length; i++) raw += String.fromCharCode(arg[i]!);
  let cmd = names.get(raw);
  if (cmd === undefined) {
    cmd = TABLE.get(raw.toLowerCase()) ?? null;
    // Only names of real commands are kept: a client cannot grow the map.
    if (cmd !== null && names.size < NAME_CACHE_MAX) names.set(raw, cmd);
  }
  return cmd ?? undefined;
}

// Every command name is in the cache from the start, in the two cases
// clients use.
for (const c of ALL_COMMANDS) {
  names.set(c.name, c);
  names.set(c.name.toUpperCase(), c);
}

/** SETs gathered from one pipeline, started together. */
interface SetBatch {
  entries: [string, string][];
  result: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function newSetBatch(): SetBatch {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const result = new Promise<void>((y, n) => {
    resolve = y;
    reject = n;
  });
  return { entries: [], result, resolve, reject };
}

/** Serves one client until it leaves, breaks the protocol or is closed. */
export class Connection {
  readonly #conn: Deno.Conn;
  readonly #ctx: Ctx;
  readonly #o: ConnectionOptions;
  readonly #parser: RequestParser;
  readonly #out: ReplyWriter;
  /** Replies not yet encoded, in order (only once something is pending). */
  #queue: (Done | Promise<Done>)[] = [];
  #groupClass: CommandClass | null = null;
  #group: Promise<unknown>[] = [];
  #barrier: Promise<unknown> | null = null;
  /** Plain SETs of this read not yet started (one node: one batch). */
  #sets: SetBatch | null = null;
  #closed = false;
  /** True while a command of this connection is running. */
  busy = false;

  constructor(
    conn: Deno.Conn,
    backend: RespBackend,
    session: Session,
    options: ConnectionOptions,
  ) {
    this.#conn = conn;
    this.#ctx = { backend, session };
    this.#o = options;
    this.#parser = new RequestParser(options);
    this.#out = new ReplyWriter(options.outputBytesMax);
  }

  get session(): Session {
    return this.#ctx.session;
  }

  /** Closes the socket: the read in progress ends the loop. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed by the peer
    }
  }

  /** The read-run-reply loop; resolves when the connection is over. */
  async serve(): Promise<void> {
    const { backend, session } = this.#ctx;
    const stats = backend.stats;
    const parser = this.#parser;
    try {
      for (;;) {
        const n = await this.#conn.read(parser.space());
        if (n === null) break;
        stats.bytesIn += n;
        parser.wrote(n);
        this.busy = true;
        session.lastActiveMs = backend.now();
        let protocolError: ProtocolError | undefined;
        try {
          for (;;) {
            parser.authRequired = !session.authenticated;
            const argc = parser.nextCommand();
            if (argc === 0) break;
            if (parser.inline === null && this.#fast(argc)) {
              if (this.#out.len >= this.#o.flushBytes) {
                this.#startSets();
                await this.#flush();
              }
              continue;
            }
            this.#startSets();
            if (!this.#dispatch(parser.args(argc))) {
              // POST or Host: an HTTP request, Redis's cross-protocol guard.
              this.close();
              return;
            }
            if (session.closing) break;
            if (this.#out.len >= this.#o.flushBytes) await this.#flush();
          }
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error;
          protocolError = error;
        }
        this.#startSets();
        if (this.#queue.length > 0) await this.#drain();
        else this.#reset();
        this.busy = false;
        if (protocolError !== undefined) {
          stats.protocolErrors++;
          stats.errorReplies++;
          this.#out.proto = session.proto;
          this.#out.error(`ERR ${protocolError.message}`);
          await this.#flush();
          break;
        }
        if (this.#out.len > 0) await this.#flush();
        if (session.closing) break;
      }
    } catch (error) {
      if (error instanceof OutputLimitError) {
        stats.outputLimitCloses++;
        this.#o.log("resp.output_limit", {
          client: session.address,
          message: error.message,
        }, "warn");
      } else if (!isDisconnect(error)) {
        // A TLS handshake that failed, a socket error: the client's loss.
        this.#o.log("resp.client_error", {
          client: session.address,
          error: error instanceof Error ? error.message : String(error),
        }, "debug");
      }
    } finally {
      this.close();
    }
  }

  /**
   * GET and SET without options, straight from the parser's offsets, when
   * nothing they must wait for is pending (and, for GET, this node holds
   * every key): what a cache or a benchmark sends most. Anything else, or
   * anything that would be an error, takes the general path. True when
   * the command was handled.
   */
  #fast(argc: number): boolean {
    const p = this.#parser;
    const b = p.buf;
    const s0 = p.starts[0]!;
    if (
      p.ends[0]! - s0 !== 3 || (b[s0 + 1]! | 0x20) !== 101 ||
      (b[s0 + 2]! | 0x20) !== 116
    ) return false;
    const { backend, session } = this.#ctx;
    if (!session.authenticated) return false;
    const first = b[s0]! | 0x20;
    const s1 = p.starts[1]!;
    const e1 = p.ends[1]!;
    if (e1 - s1 > KEY_BYTES_MAX) return false;
    const idle = this.#barrier === null && this.#group.length === 0;
    if (first === 103 /* g */ && argc === 2) {
      if (!idle || !backend.alone()) return false;
      const record = backend.coordinator.readLocal(rangeToString(b, s1, e1));
      backend.stats.command(GET.index);
      session.lastCommand = "get";
      this.#now(record === undefined ? null : asText(record.value));
      return true;
    }
    if (first === 115 /* s */ && argc === 3) {
      const writing = this.#groupClass === "write" && this.#barrier === null;
      if (!idle && !writing) return false;
      const value = rangeToString(b, p.starts[2]!, p.ends[2]!);
      if (valueTooLarge(value)) return false;
      backend.stats.command(SET.index);
      session.lastCommand = "set";
      const proto = session.proto;
      const key = rangeToString(b, s1, e1);
      let done: Promise<Done>;
      if (backend.alone()) {
        // On one node the pipeline's SETs go to the store as one batch.
        const batch = this.#sets ??= newSetBatch();
        batch.entries.push([key, value]);
        if (batch.entries.length >= BATCH_KEYS_MAX) this.#startSets();
        done = batch.result.then(
          () => proto === 2 ? DONE_OK_2 : DONE_OK_3,
          (error) => ({ reply: this.#errorReply(error), proto }),
        );
      } else {
        done = backend.coordinator.set(key, value).then(
          () => proto === 2 ? DONE_OK_2 : DONE_OK_3,
          (error) => ({ reply: this.#errorReply(error), proto }),
        );
      }
      this.#join("write", done);
      this.#queue.push(done);
      return true;
    }
    return false;
  }

  /** Sends the SETs gathered so far to the store, as one batch. */
  #startSets(): void {
    const batch = this.#sets;
    if (batch === null) return;
    this.#sets = null;
    this.#ctx.backend.coordinator.setMany(batch.entries).then(
      (failed) =>
        failed === 0 ? batch.resolve() : batch.reject(
          new UnavailableError(
            `${failed} of ${batch.entries.length} writes failed`,
          ),
        ),
      batch.reject,
    );
  }

  /** Runs one command; false when the connection must close at once. */
  #dispatch(argv: Uint8Array[]): boolean {
    const ctx = this.#ctx;
    const session = ctx.session;
    const cmd = lookup(argv[0]!);
    if (cmd === undefined) {
      const name = decoder.decode(argv[0]!.subarray(0, 8)).toLowerCase();
      if (name === "post" || name === "host:") {
        this.#o.log("resp.cross_protocol", {
          client: session.address,
          command: name.toUpperCase(),
          message: "an HTTP request on the RESP port: connection closed",
        }, "warn");
        return false;
      }
      this.#now(new ErrorReply(unknownCommand(argv)));
      return true;
    }
    if (!session.authenticated && cmd.noAuth !== true) {
      this.#now(NOAUTH);
      return true;
    }
    const arity = arityProblem(cmd, argv.length);
    if (arity !== undefined) {
      this.#now(new ErrorReply(arity));
      return true;
    }
    ctx.backend.stats.command(cmd.index);
    session.lastCommand = cmd.name;
    const cls = cmd.classify?.(argv) ?? cmd.cls;
    const idle = this.#barrier === null && this.#group.length === 0;
    if (idle || cls === "free") {
      const result = this.#run(cmd, argv);
      if (result instanceof Promise) {
        const settled = this.#settle(result);
        if (cls !== "free") this.#join(cls, settled);
        this.#queue.push(settled);
      } else this.#now(result);
      return true;
    }
    if (cls !== this.#groupClass || cls === "exclusive") {
      this.#barrier = this.#everything();
      this.#groupClass = cls;
      this.#group = [];
    }
    const barrier = this.#barrier;
    const started = barrier === null
      ? this.#settle(Promise.resolve(this.#run(cmd, argv)))
      : this.#settle(barrier.then(() => this.#run(cmd, argv)));
    this.#group.push(started);
    this.#queue.push(started);
    return true;
  }

  /** Joins the running group, or starts one after what runs now. */
  #join(cls: CommandClass, result: Promise<Done>): void {
    if (cls !== this.#groupClass || cls === "exclusive") {
      this.#barrier = this.#everything();
      this.#groupClass = cls;
      this.#group = [];
    }
    this.#group.push(result);
  }

  /** Settles when everything started so far has; null when nothing runs. */
  #everything(): Promise<unknown> | null {
    const all = this.#barrier === null
      ? this.#group
      : [this.#barrier, ...this.#group];
    return all.length === 0 ? null : Promise.all(all);
  }

  /** Runs a command, turning a thrown error into its error reply. */
  #run(cmd: Command, argv: readonly Uint8Array[]): Reply | Promise<Reply> {
    try {
      return cmd.run(this.#ctx, argv);
    } catch (error) {
      return this.#errorReply(error);
    }
  }

  #errorReply(error: unknown): ErrorReply {
    const text = errorText(error);
    if (text !== undefined) return new ErrorReply(text);
    // A bug, not the client's doing: logged, never shown.
    this.#o.log("resp.internal_error", {
      error: error instanceof Error ? error.stack ?? error.message : error,
    }, "error");
    return new ErrorReply("ERR internal error");
  }

  /** The reply once it is there, a failure made its error reply; never rejects. */
  #settle(result: Promise<Reply>): Promise<Done> {
    return result.then(
      (reply) => ({ reply, proto: this.#ctx.session.proto }),
      (error) => ({
        reply: this.#errorReply(error),
        proto: this.#ctx.session.proto,
      }),
    );
  }

  /** A reply ready now: encoded at once unless earlier ones are pending. */
  #now(reply: Reply): void {
    const proto = this.#ctx.session.proto;
    if (this.#queue.length === 0) this.#encode(reply, proto);
    else this.#queue.push({ reply, proto });
  }

  #encode(reply: Reply, proto: 2 | 3): void {
    if (reply instanceof ErrorReply) this.#ctx.backend.stats.errorReplies++;
    this.#out.proto = proto;
    this.#out.reply(reply);
  }

  /** Waits for the pending replies and encodes them, in order. */
  async #drain(): Promise<void> {
    const queue = this.#queue;
    for (let i = 0; i < queue.length; i++) {
      const entry = queue[i]!;
      const done = entry instanceof Promise ? await entry : entry;
      this.#encode(done.reply, done.proto);
      if (this.#out.len >= this.#o.flushBytes) await this.#flush();
    }
    this.#reset();
  }

  #reset(): void {
    if (this.#queue.length > 0) this.#queue = [];
    if (this.#group.length > 0) this.#group = [];
    this.#groupClass = null;
    this.#barrier = null;
  }

  async #flush(): Promise<void> {
    const out = this.#out;
    if (out.len === 0) return;
    const bytes = out.bytes();
    let written = 0;
    while (written < bytes.length) {
      written += await this.#conn.write(bytes.subarray(written));
    }
    this.#ctx.backend.stats.bytesOut += bytes.length;
    out.reset();
  }
}

/** Errors that only mean the client went away. */
function isDisconnect(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.ConnectionAborted;
}
