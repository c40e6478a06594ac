/**
 * The Redis commands KVDB answers, with Redis 7.0's arity, argument
 * checks, replies and error texts, over the coordinator (the same keys as
 * JSON-RPC). Read-modify-write commands go through the per-key serialiser
 * (atomic_ops.ts); plain reads and writes go straight to the coordinator.
 *
 * Each command declares a class that decides how it runs beside the
 * commands before it on its connection (connection.ts): `free` needs no
 * data, `read`s run together, `write`s (blind writes) run together, and
 * `exclusive` waits for everything before it.
 *
 * @module
 */

import { OwnerUnreachableError } from "../cluster/mod.ts";
import {
  BadRequestError,
  KvdbError,
  StorageError,
  UnavailableError,
} from "../errors.ts";
import { BATCH_KEYS_MAX, KEY_BYTES_MAX, LIST_KEYS_MAX } from "../limits.ts";
import type { StoredRecord } from "../storage/mod.ts";
import type { WireReply } from "./atomic_ops.ts";
import { bytesToString, isPlain, stringToBytes } from "./bytes.ts";
import { commandDocs, commandInfo } from "./command_docs.ts";
import type { Ctx, Session } from "./context.ts";
import { globMatch, literalPrefix, matchesAll } from "./glob.ts";
import { infoText } from "./info.ts";
import {
  ErrorReply,
  MapReply,
  OK,
  PONG,
  type Reply,
  Simple,
  VerbatimReply,
} from "./protocol.ts";
import {
  asText,
  parseFloat64,
  parseInt64,
  parseSafeInt,
  TOO_LARGE,
  valueTooLarge,
} from "./values.ts";

/** A reply that is an error: thrown by handlers, sent as `-<text>`. */
export class RespError extends Error {
  constructor(readonly text: string) {
    super(text);
    this.name = "RespError";
  }
}

/** How a command runs beside the ones before it on its connection. */
export type CommandClass = "free" | "read" | "write" | "exclusive";

/** One command of the table. */
export interface Command {
  /** Lower case. */
  name: string;
  /** Position in ALL_COMMANDS (for counters); -1 for a subcommand. */
  index: number;
  /** Redis's arity: n exactly, or at least -n when negative (name included). */
  arity: number;
  flags: readonly string[];
  /** First key, last key (-1: the last argument), step; 0 0 0: none. */
  keys: readonly [number, number, number];
  cls: CommandClass;
  /** The class of one call, when it depends on the arguments (SET). */
  classify?: (argv: readonly Uint8Array[]) => CommandClass;
  group: string;
  since: string;
  summary: string;
  /** The arguments as Redis's docs write them. */
  syntax: string;
  /** Allowed before AUTH on a node with a token. */
  noAuth?: boolean;
  subcommands?: readonly Command[];
  run(ctx: Ctx, argv: readonly Uint8Array[]): Reply | Promise<Reply>;
}

// ------------------------------------------------------------ arguments

const SYNTAX = "ERR syntax error";
const NOT_INTEGER = "ERR value is not an integer or out of range";

/** The lower-case ASCII text of an argument (option names, numbers). */
export function word(arg: Uint8Array): string {
  return bytesToString(arg).toLowerCase();
}

/** A key: at most KEY_BYTES_MAX bytes. */
function key(arg: Uint8Array): string {
  if (arg.length > KEY_BYTES_MAX) {
    throw new RespError(`ERR key is too long: at most ${KEY_BYTES_MAX} bytes`);
  }
  return bytesToString(arg);
}

/** A value: at most VALUE_BYTES_MAX bytes, also as the JSON it is kept as. */
function value(arg: Uint8Array): string {
  const s = bytesToString(arg);
  if (valueTooLarge(s)) throw new RespError(TOO_LARGE);
  return s;
}

function int64(arg: Uint8Array, error = NOT_INTEGER): bigint {
  const n = parseInt64(bytesToString(arg));
  if (n === undefined) throw new RespError(error);
  return n;
}

/** An integer that fits a JavaScript number exactly. */
function safeInt(arg: Uint8Array, error = NOT_INTEGER): number {
  const n = parseSafeInt(bytesToString(arg));
  if (n === undefined) throw new RespError(error);
  return n;
}

function arityError(name: string): RespError {
  return new RespError(
    `ERR wrong number of arguments for '${name}' command`,
  );
}

/** The error reply Redis sends for a KVDB error. */
export function errorText(error: unknown): string | undefined {
  if (error instanceof RespError) return error.text;
  if (error instanceof OwnerUnreachableError) {
    return `TRYAGAIN ${error.message}`;
  }
  if (error instanceof StorageError) return `ERR ${error.message}`;
  if (error instanceof UnavailableError) return `NOREPLICAS ${error.message}`;
  if (error instanceof BadRequestError || error instanceof KvdbError) {
    return `ERR ${error.message}`;
  }
  return undefined;
}

/** A reply from the serialiser's JSON form. */
export function fromWire(w: unknown): Reply {
  if (w === null || typeof w === "string") return w;
  if (Array.isArray(w)) return w.map(fromWire);
  if (typeof w === "object") {
    const o = w as Record<string, unknown>;
    if (typeof o.i === "string") {
      const n = BigInt(o.i);
      return Number.isSafeInteger(Number(n)) ? Number(n) : n;
    }
    if (typeof o.s === "string") return new Simple(o.s);
    if (typeof o.e === "string") return new ErrorReply(o.e);
  }
  throw new Error("bad atomic reply");
}

/** Runs an atomic operation and turns its reply into a RESP one. */
async function atomic(
  ctx: Ctx,
  op: string,
  keys: readonly string[],
  args: readonly string[],
): Promise<Reply> {
  return fromWire(
    await ctx.backend.serializer.run(op, keys, args) as WireReply,
  );
}

function textOf(record: StoredRecord | undefined): string | null {
  return record === undefined ? null : asText(record.value);
}

/** Reads one key: at once when this node is the whole cluster. */
function readKey(
  ctx: Ctx,
  k: string,
): StoredRecord | undefined | Promise<StoredRecord | undefined> {
  const b = ctx.backend;
  return b.alone() ? b.coordinator.readLocal(k) : b.coordinator.read(k);
}

function then<T, U>(x: T | Promise<T>, f: (t: T) => U): U | Promise<U> {
  return x instanceof Promise ? x.then(f) : f(x);
}

/** Reads many keys, BATCH_KEYS_MAX at a time. */
async function readKeys(
  ctx: Ctx,
  keys: readonly string[],
): Promise<(StoredRecord | undefined)[]> {
  const out: (StoredRecord | undefined)[] = [];
  for (let i = 0; i < keys.length; i += BATCH_KEYS_MAX) {
    out.push(
      ...await ctx.backend.coordinator.readMany(
        keys.slice(i, i + BATCH_KEYS_MAX),
      ),
    );
  }
  return out;
}

// ------------------------------------------------------------- strings

/** The expiry options SET and GETEX share: EX, PX, EXAT, PXAT. */
function expiryAt(
  ctx: Ctx,
  option: string,
  arg: Uint8Array,
  command: string,
): number {
  const n = int64(arg);
  const invalid = new RespError(
    `ERR invalid expire time in '${command}' command`,
  );
  if (n <= 0n) throw invalid;
  const seconds = option === "ex" || option === "exat";
  let ms = seconds ? n * 1000n : n;
  if (option === "ex" || option === "px") ms += BigInt(ctx.backend.now());
  if (ms > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid;
  return Number(ms);
}

interface SetOptions {
  condition: "" | "nx" | "xx";
  get: boolean;
  keepTtl: boolean;
  expiresAtMs: number | null;
}

function parseSet(ctx: Ctx, argv: readonly Uint8Array[]): SetOptions {
  const o: SetOptions = {
    condition: "",
    get: false,
    keepTtl: false,
    expiresAtMs: null,
  };
  let expiry = "";
  for (let i = 3; i < argv.length; i++) {
    const opt = word(argv[i]!);
    const next = argv[i + 1];
    if (opt === "nx" && o.condition !== "xx") o.condition = "nx";
    else if (opt === "xx" && o.condition !== "nx") o.condition = "xx";
    else if (opt === "get") o.get = true;
    else if (opt === "keepttl" && expiry === "") {
      o.keepTtl = true;
      expiry = "keepttl";
    } else if (
      (opt === "ex" || opt === "px" || opt === "exat" || opt === "pxat") &&
      (expiry === "" || expiry === opt) && !o.keepTtl && next !== undefined
    ) {
      expiry = opt;
      o.expiresAtMs = expiryAt(ctx, opt, next, "set");
      i++;
    } else throw new RespError(SYNTAX);
  }
  return o;
}

/** True when a SET's options are only an expiry: a blind write. */
function isBlindSet(argv: readonly Uint8Array[]): boolean {
  if (argv.length !== 5) return false;
  const opt = word(argv[3]!);
  return opt === "ex" || opt === "px" || opt === "exat" || opt === "pxat";
}

function set(ctx: Ctx, argv: readonly Uint8Array[]): Reply | Promise<Reply> {
  const k = key(argv[1]!);
  const v = value(argv[2]!);
  if (argv.length === 3) {
    return ctx.backend.coordinator.set(k, v).then(() => OK);
  }
  const o = parseSet(ctx, argv);
  if (o.condition === "" && !o.get && !o.keepTtl) {
    const at = o.expiresAtMs;
    if (at !== null && at <= ctx.backend.now()) {
      // Already past: Redis stores and expires at once; a delete is the same.
      return ctx.backend.coordinator.pop(k).then(() => OK);
    }
    return ctx.backend.coordinator.set(k, v, { expiresAtMs: at })
      .then(() => OK);
  }
  return atomic(ctx, "set", [k], [
    k,
    v,
    o.condition,
    o.get ? "get" : "",
    o.keepTtl ? "keep" : o.expiresAtMs === null ? "" : String(o.expiresAtMs),
    "ok",
  ]);
}

function setex(unit: "ex" | "px") {
  return (ctx: Ctx, argv: readonly Uint8Array[]): Promise<Reply> => {
    const k = key(argv[1]!);
    const at = expiryAt(
      ctx,
      unit,
      argv[2]!,
      unit === "ex" ? "setex" : "psetex",
    );
    const v = value(argv[3]!);
    return ctx.backend.coordinator.set(k, v, { expiresAtMs: at })
      .then(() => OK);
  };
}

function getex(ctx: Ctx, argv: readonly Uint8Array[]): Reply | Promise<Reply> {
  const k = key(argv[1]!);
  let mode = "";
  let at = 0;
  for (let i = 2; i < argv.length; i++) {
    const opt = word(argv[i]!);
    const next = argv[i + 1];
    if (opt === "persist" && mode === "") mode = "persist";
    else if (
      (opt === "ex" || opt === "px" || opt === "exat" || opt === "pxat") &&
      mode === "" && next !== undefined
    ) {
      mode = "at";
      at = expiryAt(ctx, opt, next, "getex");
      i++;
    } else throw new RespError(SYNTAX);
  }
  if (mode === "") return then(readKey(ctx, k), textOf);
  return atomic(ctx, "getex", [k], [k, mode, String(at)]);
}

function incrBy(sign: 1n | -1n, fixed?: bigint) {
  return (ctx: Ctx, argv: readonly Uint8Array[]): Promise<Reply> => {
    const k = key(argv[1]!);
    let by = fixed ?? int64(argv[2]!);
    if (sign === -1n) {
      if (by === -(1n << 63n)) {
        throw new RespError("ERR decrement would overflow");
      }
      by = -by;
    }
    return atomic(ctx, "incrby", [k], [k, String(by)]);
  };
}

function getrange(
  ctx: Ctx,
  argv: readonly Uint8Array[],
): Reply | Promise<Reply> {
  const k = key(argv[1]!);
  let start = Number(int64(argv[2]!));
  let end = Number(int64(argv[3]!));
  return then(readKey(ctx, k), (record) => {
    if (record === undefined) return "";
    const bytes = stringToBytes(asText(record.value));
    const n = bytes.length;
    if (start < 0 && end < 0 && start > end) return "";
    if (start < 0) start = n + start;
    if (end < 0) end = n + end;
    if (start < 0) start = 0;
    if (end < 0) end = 0;
    if (end >= n) end = n - 1;
    if (start > end || n === 0) return "";
    return bytes.slice(start, end + 1);
  });
}

function setrange(ctx: Ctx, argv: readonly Uint8Array[]): Promise<Reply> {
  const k = key(argv[1]!);
  const offset = int64(argv[2]!);
  if (offset < 0n) throw new RespError("ERR offset is out of range");
  const patch = argv[3]!;
  if (offset + BigInt(patch.length) > 512n * 1024n * 1024n) {
    throw new RespError(TOO_LARGE);
  }
  return atomic(ctx, "setrange", [k], [k, String(offset), value(patch)]);
}

// ------------------------------------------------------------- generic

/** Deletes keys (each with a read to know whether it existed). */
async function del(ctx: Ctx, argv: readonly Uint8Array[]): Promise<Reply> {
  const keys = argv.slice(1).map(key);
  let deleted = 0;
  for (let i = 0; i < keys.length; i += BATCH_KEYS_MAX) {
    const priors = await Promise.all(
      keys.slice(i, i + BATCH_KEYS_MAX).map((k) =>
        ctx.backend.coordinator.pop(k)
      ),
    );
    deleted += priors.filter((p) => p !== undefined).length;
  }
  return deleted;
}

function ttl(ms: boolean, absolute: boolean) {
  return (ctx: Ctx, argv: readonly Uint8Array[]): Reply | Promise<Reply> =>
    then(readKey(ctx, key(argv[1]!)), (record) => {
      if (record === undefined) return -2;
      if (record.expiresAtMs === null) return -1;
      const left = Math.max(
        0,
        absolute ? record.expiresAtMs : record.expiresAtMs - ctx.backend.now(),
      );
      return ms ? left : Math.floor((left + 500) / 1000);
    });
}

function expire(unit: "s" | "ms", absolute: boolean, name: string) {
  return (ctx: Ctx, argv: readonly Uint8Array[]): Promise<Reply> => {
    const k = key(argv[1]!);
    const flags = new Set<string>();
    for (const arg of argv.slice(3)) {
      const opt = word(arg);
      if (opt !== "nx" && opt !== "xx" && opt !== "gt" && opt !== "lt") {
        throw new RespError(`ERR Unsupported option ${bytesToString(arg)}`);
      }
      flags.add(opt);
    }
    if (
      flags.has("nx") && (flags.has("xx") || flags.has("gt") || flags.has("lt"))
    ) {
      throw new RespError(
        "ERR NX and XX, GT or LT options at the same time are not compatible",
      );
    }
    if (flags.has("gt") && flags.has("lt")) {
      throw new RespError(
        "ERR GT and LT options at the same time are not compatible",
      );
    }
    let when = int64(argv[2]!);
    if (unit === "s") when *= 1000n;
    if (!absolute) when += BigInt(ctx.backend.now());
    if (when > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new RespError(`ERR invalid expire time in '${name}' command`);
    }
    // A time before 1970 is simply in the past.
    const at = when < 0n ? 0 : Number(when);
    return atomic(ctx, "expire", [k], [k, String(at), [...flags].join(",")]);
  };
}

/** The literal start of a glob as a KVDB key prefix, when it is one. */
function keyPrefix(pattern: Uint8Array): string | undefined {
  let bytes = literalPrefix(pattern);
  // Cut an incomplete UTF-8 character off the end: its escaped form would
  // not be a prefix of the keys that complete it.
  for (let cut = 0; cut < 4 && bytes.length > 0; cut++) {
    const s = bytesToString(bytes);
    if (isPlain(s)) return s === "" ? undefined : s;
    bytes = bytes.subarray(0, bytes.length - 1);
  }
  return undefined;
}

/** Whether a key matches a pattern (null: everything). */
function matcher(pattern: Uint8Array | null): (k: string) => boolean {
  if (pattern === null || matchesAll(pattern)) return () => true;
  return (k) => globMatch(pattern, stringToBytes(k));
}

async function keys(ctx: Ctx, argv: readonly Uint8Array[]): Promise<Reply> {
  const pattern = argv[1]!;
  const prefix = keyPrefix(pattern);
  const all = await ctx.backend.coordinator.allKeys(
    prefix === undefined ? {} : { prefix },
  );
  return all.filter(matcher(pattern));
}

const SCAN_COUNT_DEFAULT = 10;
/** Most keys one SCAN page asks the cluster for, whatever COUNT says. */
const SCAN_COUNT_MAX = 10_000;

async function scan(ctx: Ctx, argv: readonly Uint8Array[]): Promise<Reply> {
  const b = ctx.backend;
  const cursorText = bytesToString(argv[1]!);
  if (!/^\d{1,20}$/.test(cursorText) || BigInt(cursorText) >= 1n << 64n) {
    throw new RespError("ERR invalid cursor");
  }
  let count = SCAN_COUNT_DEFAULT;
  let pattern: Uint8Array | null = null;
  let type: string | null = null;
  for (let i = 2; i < argv.length; i++) {
    const opt = word(argv[i]!);
    const next = argv[i + 1];
    if (next === undefined) throw new RespError(SYNTAX);
    if (opt === "count") {
      count = safeInt(next);
      if (count < 1) throw new RespError(SYNTAX);
    } else if (opt === "match") pattern = next;
    else if (opt === "type") type = word(next);
    else throw new RespError(SYNTAX);
    i++;
  }
  const id = Number(cursorText);
  const after = id === 0 ? undefined : b.cursors.lookup(id);
  // Every value is a Redis string: another TYPE matches nothing.
  if (type !== null && type !== "string") return ["0", []];
  const prefix = pattern === null ? undefined : keyPrefix(pattern);
  const page = await b.coordinator.listKeys({
    limit: Math.min(count, SCAN_COUNT_MAX),
    ...(prefix !== undefined ? { prefix } : {}),
    ...(after !== undefined ? { cursor: after } : {}),
  });
  const found = page.keys.filter(matcher(pattern));
  if (page.cursor === null) return ["0", found];
  const next = b.cursors.issue(page.cursor);
  b.shareCursor(next, page.cursor);
  return [String(next), found];
}

/** Counts the live keys of the whole cluster, a page at a time. */
async function countKeys(ctx: Ctx): Promise<number> {
  const coordinator = ctx.backend.coordinator;
  let n = 0;
  let cursor: string | undefined;
  for (;;) {
    const page = await coordinator.listKeys({
      limit: 10_000,
      ...(cursor !== undefined ? { cursor } : {}),
    });
    n += page.keys.length;
    if (page.cursor === null) return n;
    if (n > LIST_KEYS_MAX * 100) return n;
    cursor = page.cursor;
  }
}

async function randomKey(ctx: Ctx): Promise<Reply> {
  const coordinator = ctx.backend.coordinator;
  // Start from a random point of the key space; wrap to the start.
  const start = String.fromCharCode(32 + Math.floor(Math.random() * 95));
  const page = await coordinator.listKeys({ limit: 1, cursor: start });
  if (page.keys[0] !== undefined) return page.keys[0];
  const first = await coordinator.listKeys({ limit: 1 });
  return first.keys[0] ?? null;
}

/** Deletes every key of the cluster, a page at a time. */
async function flush(ctx: Ctx, argv: readonly Uint8Array[]): Promise<Reply> {
  if (argv.length > 2) throw new RespError(SYNTAX);
  if (argv.length === 2) {
    const mode = word(argv[1]!);
    if (mode !== "async" && mode !== "sync") throw new RespError(SYNTAX);
  }
  const coordinator = ctx.backend.coordinator;
  let cursor: string | undefined;
  for (;;) {
    const page = await coordinator.listKeys({
      limit: BATCH_KEYS_MAX,
      ...(cursor !== undefined ? { cursor } : {}),
    });
    await Promise.all(page.keys.map((k) => coordinator.pop(k)));
    if (page.cursor === null) return OK;
    cursor = page.cursor;
  }
}

// ------------------------------------------------------------ connection

const CLIENT_NAME = /^[!-~]*$/;

function setName(session: Session, arg: Uint8Array): void {
  const name = bytesToString(arg);
  if (!CLIENT_NAME.test(name)) {
    throw new RespError(
      "ERR Client names cannot contain spaces, newlines or special characters.",
    );
  }
  session.name = name;
}

/** Checks a password against the node's client token. */
function authenticate(
  ctx: Ctx,
  user: string,
  password: Uint8Array,
): void {
  const auth = ctx.backend.auth;
  if (auth === undefined) {
    throw new RespError(
      "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
    );
  }
  const ok = user === "default" &&
    auth.check(`Bearer ${bytesToString(password)}`) === "ok";
  if (!ok) {
    throw new RespError(
      "WRONGPASS invalid username-password pair or user is disabled.",
    );
  }
  ctx.session.authenticated = true;
}

/** The version HELLO and INFO report: the Redis release whose commands KVDB follows. */
export const REDIS_COMPAT_VERSION = "7.0.0";

function hello(ctx: Ctx, argv: readonly Uint8Array[]): Reply {
  const s = ctx.session;
  let proto = s.proto;
  let i = 1;
  if (argv.length >= 2) {
    const v = parseInt64(bytesToString(argv[1]!));
    if (v === undefined) {
      throw new RespError(
        "ERR Protocol version is not an integer or out of range",
      );
    }
    if (v < 2n || v > 3n) {
      throw new RespError("NOPROTO unsupported protocol version");
    }
    proto = Number(v) as 2 | 3;
    i = 2;
  }
  for (; i < argv.length; i++) {
    const opt = word(argv[i]!);
    const more = argv.length - 1 - i;
    if (opt === "auth" && more >= 2) {
      authenticate(ctx, bytesToString(argv[i + 1]!), argv[i + 2]!);
      i += 2;
    } else if (opt === "setname" && more >= 1) {
      setName(s, argv[i + 1]!);
      i++;
    } else {
      throw new RespError(
        `ERR Syntax error in HELLO option '${bytesToString(argv[i]!)}'`,
      );
    }
  }
  if (!s.authenticated) {
    throw new RespError(
      "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
    );
  }
  s.proto = proto;
  return new MapReply([
    ["server", "redis"],
    ["version", REDIS_COMPAT_VERSION],
    ["proto", proto],
    ["id", s.id],
    ["mode", "standalone"],
    ["role", "master"],
    ["modules", []],
  ]);
}

function clientLine(ctx: Ctx, s: Session): string {
  const now = ctx.backend.now();
  return `id=${s.id} addr=${s.address} laddr=127.0.0.1:${ctx.backend.port} ` +
    `fd=-1 name=${s.name} age=${Math.floor((now - s.createdMs) / 1000)} ` +
    `idle=${Math.floor((now - s.lastActiveMs) / 1000)} flags=N db=0 ` +
    `sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 ` +
    `multi-mem=0 obl=0 oll=0 omem=0 tot-mem=0 events=r ` +
    `cmd=${s.lastCommand} user=default redir=-1 resp=${s.proto} ` +
    `lib-name=${s.libName} lib-ver=${s.libVersion}`;
}

function sub(
  name: string,
  arity: number,
  summary: string,
  syntax: string,
  run: Command["run"],
  cls: CommandClass = "exclusive",
): Command {
  return {
    name,
    index: -1,
    arity,
    flags: ["noscript", "loading", "stale"],
    keys: [0, 0, 0],
    cls,
    group: "connection",
    since: "2.4.0",
    summary,
    syntax,
    run,
  };
}

const CLIENT_SUBCOMMANDS: readonly Command[] = [
  sub(
    "id",
    2,
    "Returns the unique client ID of the connection.",
    "",
    (ctx) => ctx.session.id,
    "free",
  ),
  sub(
    "getname",
    2,
    "Returns the name of the connection.",
    "",
    (ctx) => ctx.session.name === "" ? null : ctx.session.name,
  ),
  sub(
    "setname",
    3,
    "Sets the connection name.",
    "connection-name",
    (ctx, argv) => {
      setName(ctx.session, argv[2]!);
      return OK;
    },
  ),
  sub(
    "setinfo",
    4,
    "Sets information specific to the client or connection.",
    "LIB-NAME libname|LIB-VER libver",
    (ctx, argv) => {
      const attr = word(argv[2]!);
      const v = bytesToString(argv[3]!);
      if (!CLIENT_NAME.test(v)) {
        throw new RespError(
          `ERR ${attr} cannot contain spaces, newlines or special characters.`,
        );
      }
      if (attr === "lib-name") ctx.session.libName = v;
      else if (attr === "lib-ver") ctx.session.libVersion = v;
      else {
        throw new RespError(
          `ERR Unrecognized option '${bytesToString(argv[2]!)}'`,
        );
      }
      return OK;
    },
  ),
  sub(
    "info",
    2,
    "Returns information about the connection.",
    "",
    (ctx) => new VerbatimReply(clientLine(ctx, ctx.session) + "\n"),
  ),
  sub(
    "list",
    -2,
    "Lists this node's RESP connections.",
    "",
    (ctx) =>
      new VerbatimReply(
        [...ctx.backend.sessions.values()].map((s) => clientLine(ctx, s) + "\n")
          .join(""),
      ),
  ),
];

const CONFIG_SUBCOMMANDS: readonly Command[] = [
  {
    ...sub(
      "get",
      -3,
      "Returns the effective values of configuration parameters.",
      "parameter [parameter ...]",
      (ctx, argv) => {
        const params = configParams(ctx);
        const out: [Reply, Reply][] = [];
        for (const arg of argv.slice(2)) {
          for (const [name, v] of params) {
            if (
              globMatch(
                stringToBytes(bytesToString(arg).toLowerCase()),
                stringToBytes(name),
              ) &&
              !out.some(([n]) => n === name)
            ) out.push([name, v]);
          }
        }
        return new MapReply(out);
      },
      "free",
    ),
    group: "server",
  },
  {
    ...sub(
      "set",
      -4,
      "Refused: a KVDB node is configured by its flags.",
      "parameter value [parameter value ...]",
      () => {
        throw new RespError(
          "ERR CONFIG SET is not supported: a KVDB node is configured by its command-line flags",
        );
      },
      "free",
    ),
    group: "server",
  },
];

function configParams(ctx: Ctx): [string, string][] {
  const b = ctx.backend;
  return [
    ["appendonly", "no"],
    ["save", ""],
    ["databases", "1"],
    ["maxmemory", "0"],
    ["maxclients", String(b.clientsMax)],
    ["port", String(b.port)],
    ["tls-port", b.tls ? String(b.port) : "0"],
    ["timeout", String(Math.floor(b.idleTimeoutMs / 1000))],
    ["proto-max-bulk-len", String(4 * 1024 * 1024)],
    ["cluster-enabled", "no"],
  ];
}

function container(
  name: string,
  group: string,
  summary: string,
  subcommands: readonly Command[],
): Command {
  const byName = new Map(subcommands.map((c) => [c.name, c]));
  return {
    name,
    index: -1,
    arity: -2,
    flags: [],
    keys: [0, 0, 0],
    cls: "exclusive",
    group,
    since: "2.0.0",
    summary,
    syntax: "",
    subcommands,
    run(ctx, argv) {
      const subName = word(argv[1]!);
      const cmd = byName.get(subName);
      if (cmd === undefined) {
        throw new RespError(
          `ERR unknown subcommand '${
            bytesToString(argv[1]!).slice(0, 128)
          }'. Try ${name.toUpperCase()} HELP.`,
        );
      }
      if (
        (cmd.arity > 0 && argv.length !== cmd.arity) ||
        argv.length < -cmd.arity
      ) throw arityError(`${name}|${subName}`);
      return cmd.run(ctx, argv);
    },
  };
}

// ----------------------------------------------------------------- table

type Spec = Omit<Command, "name" | "flags" | "keys" | "index"> & {
  flags?: readonly string[];
  keys?: readonly [number, number, number];
};

const ONE_KEY = [1, 1, 1] as const;
const ALL_KEYS = [1, -1, 1] as const;

function def(name: string, spec: Spec): Command {
  return {
    name,
    index: -1,
    flags: spec.flags ?? [],
    keys: spec.keys ?? [0, 0, 0],
    ...spec,
  };
}

const COMMANDS: Command[] = [
  // connection
  def("ping", {
    arity: -1,
    cls: "free",
    group: "connection",
    since: "1.0.0",
    summary: "Returns the server's liveliness response.",
    syntax: "[message]",
    flags: ["fast"],
    run(_ctx, argv) {
      if (argv.length > 2) throw arityError("ping");
      return argv.length === 2 ? argv[1]! : PONG;
    },
  }),
  def("echo", {
    arity: 2,
    cls: "free",
    group: "connection",
    since: "1.0.0",
    summary: "Returns the given string.",
    syntax: "message",
    flags: ["fast"],
    run: (_ctx, argv) => argv[1]!,
  }),
  def("quit", {
    arity: -1,
    cls: "exclusive",
    group: "connection",
    since: "1.0.0",
    summary: "Closes the connection.",
    syntax: "",
    noAuth: true,
    run(ctx) {
      ctx.session.closing = true;
      return OK;
    },
  }),
  def("hello", {
    arity: -1,
    cls: "exclusive",
    group: "connection",
    since: "6.0.0",
    summary: "Handshakes with the server: RESP2 or RESP3, AUTH, SETNAME.",
    syntax: "[protover [AUTH username password] [SETNAME clientname]]",
    noAuth: true,
    flags: ["fast", "no-auth"],
    run: hello,
  }),
  def("auth", {
    arity: -2,
    cls: "exclusive",
    group: "connection",
    since: "1.0.0",
    summary: "Authenticates the connection with the node's client token.",
    syntax: "[username] password",
    noAuth: true,
    flags: ["fast", "no-auth"],
    run(ctx, argv) {
      if (argv.length > 3) throw new RespError(SYNTAX);
      const user = argv.length === 3 ? bytesToString(argv[1]!) : "default";
      authenticate(ctx, user, argv[argv.length - 1]!);
      return OK;
    },
  }),
  def("select", {
    arity: 2,
    cls: "free",
    group: "connection",
    since: "1.0.0",
    summary: "Selects the database: KVDB has only database 0.",
    syntax: "index",
    flags: ["fast"],
    run(_ctx, argv) {
      const n = safeInt(argv[1]!);
      if (n !== 0) throw new RespError("ERR DB index is out of range");
      return OK;
    },
  }),
  container(
    "client",
    "connection",
    "A container for client connection commands.",
    CLIENT_SUBCOMMANDS,
  ),
  // server
  def("command", {
    arity: -1,
    cls: "free",
    group: "server",
    since: "2.8.13",
    summary: "Returns detailed information about the commands.",
    syntax: "[COUNT|DOCS [command-name ...]|INFO [command-name ...]|LIST]",
    run(_ctx, argv) {
      if (argv.length === 1) return COMMANDS.map(commandInfo);
      const what = word(argv[1]!);
      const named = () => argv.slice(2).map((a) => TABLE.get(word(a)));
      switch (what) {
        case "count":
          return COMMANDS.length;
        case "list":
          return COMMANDS.map((c) => c.name);
        case "info":
          return argv.length === 2
            ? COMMANDS.map(commandInfo)
            : named().map((c) => c === undefined ? null : commandInfo(c));
        case "docs": {
          const list = argv.length === 2
            ? COMMANDS
            : named().filter((c): c is Command => c !== undefined);
          return commandDocs(list);
        }
        default:
          throw new RespError(
            `ERR unknown subcommand '${
              bytesToString(argv[1]!).slice(0, 128)
            }'. Try COMMAND HELP.`,
          );
      }
    },
  }),
  def("info", {
    arity: -1,
    cls: "free",
    group: "server",
    since: "1.0.0",
    summary: "Returns information about the node and the cluster.",
    syntax: "[section [section ...]]",
    run: (ctx, argv) =>
      new VerbatimReply(
        infoText(ctx.backend, argv.slice(1).map((a) => word(a))),
      ),
  }),
  def("dbsize", {
    arity: 1,
    cls: "read",
    group: "server",
    since: "1.0.0",
    summary: "Returns the number of keys in the whole cluster.",
    syntax: "",
    flags: ["readonly"],
    run: (ctx) => countKeys(ctx),
  }),
  def("time", {
    arity: 1,
    cls: "free",
    group: "server",
    since: "2.6.0",
    summary: "Returns the node's time.",
    syntax: "",
    flags: ["fast"],
    run() {
      const us = Math.floor(
        (performance.timeOrigin + performance.now()) * 1000,
      );
      return [String(Math.floor(us / 1e6)), String(us % 1e6)];
    },
  }),
  def("flushdb", {
    arity: -1,
    cls: "exclusive",
    group: "server",
    since: "1.0.0",
    summary: "Deletes every key of the whole cluster.",
    syntax: "[ASYNC|SYNC]",
    flags: ["write"],
    run: flush,
  }),
  def("flushall", {
    arity: -1,
    cls: "exclusive",
    group: "server",
    since: "1.0.0",
    summary: "Deletes every key of the whole cluster.",
    syntax: "[ASYNC|SYNC]",
    flags: ["write"],
    run: flush,
  }),
  container(
    "config",
    "server",
    "A container for server configuration commands.",
    CONFIG_SUBCOMMANDS,
  ),
  // strings
  def("get", {
    arity: 2,
    cls: "read",
    group: "string",
    since: "1.0.0",
    summary: "Returns the string value of a key.",
    syntax: "key",
    flags: ["readonly", "fast"],
    keys: ONE_KEY,
    run: (ctx, argv) => then(readKey(ctx, key(argv[1]!)), textOf),
  }),
  def("set", {
    arity: -3,
    cls: "write",
    group: "string",
    since: "1.0.0",
    summary:
      "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
    syntax:
      "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
    flags: ["write", "denyoom"],
    keys: ONE_KEY,
    classify: (argv) =>
      argv.length === 3 || isBlindSet(argv) ? "write" : "exclusive",
    run: set,
  }),
  def("setnx", {
    arity: 3,
    cls: "exclusive",
    group: "string",
    since: "1.0.0",
    summary: "Set the string value of a key only when the key doesn't exist.",
    syntax: "key value",
    flags: ["write", "denyoom", "fast"],
    keys: ONE_KEY,
    run(ctx, argv) {
      const k = key(argv[1]!);
      return atomic(ctx, "set", [k], [k, value(argv[2]!), "nx", "", "", "int"]);
    },
  }),
  def("setex", {
    arity: 4,
    cls: "write",
    group: "string",
    since: "2.0.0",
    summary: "Sets the string value and expiration time of a key.",
    syntax: "key seconds value",
    flags: ["write", "denyoom"],
    keys: ONE_KEY,
    run: setex("ex"),
  }),
  def("psetex", {
    arity: 4,
    cls: "write",
    group: "string",
    since: "2.6.0",
    summary:
      "Sets both string value and expiration time in milliseconds of a key.",
    syntax: "key milliseconds value",
    flags: ["write", "denyoom"],
    keys: ONE_KEY,
    run: setex("px"),
  }),
  def("getdel", {
    arity: 2,
    cls: "exclusive",
    group: "string",
    since: "6.2.0",
    summary: "Returns the string value of a key after deleting the key.",
    syntax: "key",
    flags: ["write", "fast"],
    keys: ONE_KEY,
    run(ctx, argv) {
      const k = key(argv[1]!);
      return atomic(ctx, "getdel", [k], [k]);
    },
  }),
  def("getex", {
    arity: -2,
    cls: "exclusive",
    group: "string",
    since: "6.2.0",
    summary:
      "Returns the string value of a key after setting its expiration time.",
    syntax:
      "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
    flags: ["write", "fast"],
    keys: ONE_KEY,
    run: getex,
  }),
  def("getset", {
    arity: 3,
    cls: "exclusive",
    group: "string",
    since: "1.0.0",
    summary:
      "Returns the previous string value of a key after setting it to a new value.",
    syntax: "key value",
    flags: ["write", "denyoom", "fast"],
    keys: ONE_KEY,
    run(ctx, argv) {
      const k = key(argv[1]!);
      return atomic(ctx, "set", [k], [k, value(argv[2]!), "", "get", "", "ok"]);
    },
  }),
  def("mget", {
    arity: -2,
    cls: "read",
    group: "string",
    since: "1.0.0",
    summary: "Atomically returns the string values of one or more keys.",
    syntax: "key [key ...]",
    flags: ["readonly", "fast"],
    keys: ALL_KEYS,
    run(ctx, argv) {
      const ks = argv.slice(1).map(key);
      const b = ctx.backend;
      if (b.alone()) return ks.map((k) => textOf(b.coordinator.readLocal(k)));
      return readKeys(ctx, ks).then((records) => records.map(textOf));
    },
  }),
  def("mset", {
    arity: -3,
    cls: "write",
    group: "string",
    since: "1.0.1",
    summary:
      "Atomically creates or modifies the string values of one or more keys.",
    syntax: "key value [key value ...]",
    flags: ["write", "denyoom"],
    keys: [1, -1, 2],
    async run(ctx, argv) {
      if (argv.length % 2 === 0) throw arityError("mset");
      const pairs: [string, string][] = [];
      for (let i = 1; i < argv.length; i += 2) {
        pairs.push([key(argv[i]!), value(argv[i + 1]!)]);
      }
      let failed = 0;
      for (let i = 0; i < pairs.length; i += BATCH_KEYS_MAX) {
        failed += await ctx.backend.coordinator.setMany(
          pairs.slice(i, i + BATCH_KEYS_MAX),
        );
      }
      if (failed > 0) {
        throw new UnavailableError(
          `mset: ${failed} of ${pairs.length} writes did not reach a write quorum`,
        );
      }
      return OK;
    },
  }),
  def("msetnx", {
    arity: -3,
    cls: "exclusive",
    group: "string",
    since: "1.0.1",
    summary:
      "Atomically modifies the string values of one or more keys only when all keys don't exist.",
    syntax: "key value [key value ...]",
    flags: ["write", "denyoom"],
    keys: [1, -1, 2],
    run(ctx, argv) {
      if (argv.length % 2 === 0) throw arityError("msetnx");
      const keys: string[] = [];
      const args: string[] = [];
      for (let i = 1; i < argv.length; i += 2) {
        const k = key(argv[i]!);
        keys.push(k);
        args.push(k, value(argv[i + 1]!));
      }
      if (keys.length > BATCH_KEYS_MAX) {
        throw new RespError(`ERR msetnx: at most ${BATCH_KEYS_MAX} keys`);
      }
      return atomic(ctx, "msetnx", keys, args);
    },
  }),
  def("append", {
    arity: 3,
    cls: "exclusive",
    group: "string",
    since: "2.0.0",
    summary:
      "Appends a string to the value of a key. Creates the key if it doesn't exist.",
    syntax: "key value",
    flags: ["write", "denyoom", "fast"],
    keys: ONE_KEY,
    run(ctx, argv) {
      const k = key(argv[1]!);
      return atomic(ctx, "append", [k], [k, value(argv[2]!)]);
    },
  }),
  def("strlen", {
    arity: 2,
    cls: "read",
    group: "string",
    since: "2.2.0",
    summary: "Returns the length of a string value.",
    syntax: "key",
    flags: ["readonly", "fast"],
    keys: ONE_KEY,
    run: (ctx, argv) =>
      then(
        readKey(ctx, key(argv[1]!)),
        (r) => r === undefined ? 0 : stringToBytes(asText(r.value)).length,
      ),
  }),
  def("getrange", {
    arity: 4,
    cls: "read",
    group: "string",
    since: "2.4.0",
    summary: "Returns a substring of the string stored at a key.",
    syntax: "key start end",
    flags: ["readonly"],
    keys: ONE_KEY,
    run: getrange,
  }),
  def("setrange", {
    arity: 4,
    cls: "exclusive",
    group: "string",
    since: "2.2.0",
    summary:
      "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
    syntax: "key offset value",
    flags: ["write", "denyoom"],
    keys: ONE_KEY,
    run: setrange,
  }),
  def("incr", {
    arity: 2,
    cls: "exclusive",
    group: "string",
    since: "1.0.0",
    summary:
      "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
    syntax: "key",
    flags: ["write", "denyoom", "fast"],
    keys: ONE_KEY,
    run: incrBy(1n, 1n),
  }),
  def("decr", {
    arity: 2,
    cls: "exclusive",
    group: "string",
    since: "1.0.0",
    summary:
      "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
    syntax: "key",
    flags: ["write", "denyoom", "fast"],
    keys: ONE_KEY,
    run: incrBy(-1n, 1n),
  }),
  def("incrby", {
    arity: 3,
    cls: "exclusive",
    group: "string",
    since: "1.0.0",
    summary:
      "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
    syntax: "key increment",
    flags: ["write", "denyoom", "fast"],
    keys: ONE_KEY,
    run: incrBy(1n),
  }),
  def("decrby", {
    arity: 3,
    cls: "exclusive",
    group: "string",
    since: "1.0.0",
    summary:
      "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
    syntax: "key decrement",
    flags: ["write", "denyoom", "fast"],
    keys: ONE_KEY,
    run: incrBy(-1n),
  }),
  def("incrbyfloat", {
    arity: 3,
    cls: "exclusive",
    group: "string",
    since: "2.6.0",
    summary:
      "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
    syntax: "key increment",
    flags: ["write", "denyoom", "fast"],
    keys: ONE_KEY,
    run(ctx, argv) {
      const k = key(argv[1]!);
      const by = bytesToString(argv[2]!);
      if (parseFloat64(by) === undefined) {
        throw new RespError("ERR value is not a valid float");
      }
      return atomic(ctx, "incrbyfloat", [k], [k, by]);
    },
  }),
  // generic
  def("del", {
    arity: -2,
    cls: "exclusive",
    group: "generic",
    since: "1.0.0",
    summary: "Deletes one or more keys.",
    syntax: "key [key ...]",
    flags: ["write"],
    keys: ALL_KEYS,
    run: del,
  }),
  def("unlink", {
    arity: -2,
    cls: "exclusive",
    group: "generic",
    since: "4.0.0",
    summary: "Deletes one or more keys (as DEL: KVDB deletes at once).",
    syntax: "key [key ...]",
    flags: ["write", "fast"],
    keys: ALL_KEYS,
    run: del,
  }),
  def("exists", {
    arity: -2,
    cls: "read",
    group: "generic",
    since: "1.0.0",
    summary: "Determines whether one or more keys exist.",
    syntax: "key [key ...]",
    flags: ["readonly", "fast"],
    keys: ALL_KEYS,
    run(ctx, argv) {
      const ks = argv.slice(1).map(key);
      const b = ctx.backend;
      if (b.alone()) {
        return ks.filter((k) => b.coordinator.readLocal(k) !== undefined)
          .length;
      }
      return readKeys(ctx, ks).then((rs) =>
        rs.filter((r) => r !== undefined).length
      );
    },
  }),
  def("type", {
    arity: 2,
    cls: "read",
    group: "generic",
    since: "1.0.0",
    summary: "Determines the type of value stored at a key.",
    syntax: "key",
    flags: ["readonly", "fast"],
    keys: ONE_KEY,
    run: (ctx, argv) =>
      then(
        readKey(ctx, key(argv[1]!)),
        (r) => new Simple(r === undefined ? "none" : "string"),
      ),
  }),
  def("expire", {
    arity: -3,
    cls: "exclusive",
    group: "generic",
    since: "1.0.0",
    summary: "Sets the expiration time of a key in seconds.",
    syntax: "key seconds [NX|XX|GT|LT]",
    flags: ["write", "fast"],
    keys: ONE_KEY,
    run: expire("s", false, "expire"),
  }),
  def("pexpire", {
    arity: -3,
    cls: "exclusive",
    group: "generic",
    since: "2.6.0",
    summary: "Sets the expiration time of a key in milliseconds.",
    syntax: "key milliseconds [NX|XX|GT|LT]",
    flags: ["write", "fast"],
    keys: ONE_KEY,
    run: expire("ms", false, "pexpire"),
  }),
  def("expireat", {
    arity: -3,
    cls: "exclusive",
    group: "generic",
    since: "1.2.0",
    summary: "Sets the expiration time of a key to a Unix timestamp.",
    syntax: "key unix-time-seconds [NX|XX|GT|LT]",
    flags: ["write", "fast"],
    keys: ONE_KEY,
    run: expire("s", true, "expireat"),
  }),
  def("pexpireat", {
    arity: -3,
    cls: "exclusive",
    group: "generic",
    since: "2.6.0",
    summary:
      "Sets the expiration time of a key to a Unix milliseconds timestamp.",
    syntax: "key unix-time-milliseconds [NX|XX|GT|LT]",
    flags: ["write", "fast"],
    keys: ONE_KEY,
    run: expire("ms", true, "pexpireat"),
  }),
  def("ttl", {
    arity: 2,
    cls: "read",
    group: "generic",
    since: "1.0.0",
    summary: "Returns the expiration time in seconds of a key.",
    syntax: "key",
    flags: ["readonly", "fast"],
    keys: ONE_KEY,
    run: ttl(false, false),
  }),
  def("pttl", {
    arity: 2,
    cls: "read",
    group: "generic",
    since: "2.6.0",
    summary: "Returns the expiration time in milliseconds of a key.",
    syntax: "key",
    flags: ["readonly", "fast"],
    keys: ONE_KEY,
    run: ttl(true, false),
  }),
  def("expiretime", {
    arity: 2,
    cls: "read",
    group: "generic",
    since: "7.0.0",
    summary: "Returns the expiration time of a key as a Unix timestamp.",
    syntax: "key",
    flags: ["readonly", "fast"],
    keys: ONE_KEY,
    run: ttl(false, true),
  }),
  def("pexpiretime", {
    arity: 2,
    cls: "read",
    group: "generic",
    since: "7.0.0",
    summary:
      "Returns the expiration time of a key as a Unix milliseconds timestamp.",
    syntax: "key",
    flags: ["readonly", "fast"],
    keys: ONE_KEY,
    run: ttl(true, true),
  }),
  def("persist", {
    arity: 2,
    cls: "exclusive",
    group: "generic",
    since: "2.2.0",
    summary: "Removes the expiration time of a key.",
    syntax: "key",
    flags: ["write", "fast"],
    keys: ONE_KEY,
    run(ctx, argv) {
      const k = key(argv[1]!);
      return atomic(ctx, "persist", [k], [k]);
    },
  }),
  def("keys", {
    arity: 2,
    cls: "read",
    group: "generic",
    since: "1.0.0",
    summary: "Returns all key names that match a pattern.",
    syntax: "pattern",
    flags: ["readonly"],
    run: keys,
  }),
  def("scan", {
    arity: -2,
    cls: "read",
    group: "generic",
    since: "2.8.0",
    summary: "Iterates over the key names in the whole cluster.",
    syntax: "cursor [MATCH pattern] [COUNT count] [TYPE type]",
    flags: ["readonly"],
    run: scan,
  }),
  def("randomkey", {
    arity: 1,
    cls: "read",
    group: "generic",
    since: "1.0.0",
    summary: "Returns a key name of the cluster (not uniformly at random).",
    syntax: "",
    flags: ["readonly"],
    run: randomKey,
  }),
  def("rename", {
    arity: 3,
    cls: "exclusive",
    group: "generic",
    since: "1.0.0",
    summary: "Renames a key and overwrites the destination.",
    syntax: "key newkey",
    flags: ["write"],
    keys: [1, 2, 1],
    run(ctx, argv) {
      const from = key(argv[1]!);
      const to = key(argv[2]!);
      return atomic(ctx, "rename", [from, to], [from, to, ""]);
    },
  }),
  def("renamenx", {
    arity: 3,
    cls: "exclusive",
    group: "generic",
    since: "1.0.0",
    summary: "Renames a key only when the target key name doesn't exist.",
    syntax: "key newkey",
    flags: ["write", "fast"],
    keys: [1, 2, 1],
    run(ctx, argv) {
      const from = key(argv[1]!);
      const to = key(argv[2]!);
      return atomic(ctx, "rename", [from, to], [from, to, "nx"]);
    },
  }),
];

COMMANDS.forEach((c, i) => c.index = i);

/** The commands by lower-case name. */
export const TABLE: ReadonlyMap<string, Command> = new Map(
  COMMANDS.map((c) => [c.name, c]),
);

/** Every command, in table order. */
export const ALL_COMMANDS: readonly Command[] = COMMANDS;

/**
 * The error for a command name that is not in the table, as Redis words
 * it: the name and up to 128 bytes of its arguments, each quoted.
 */
export function unknownCommand(argv: readonly Uint8Array[]): string {
  let args = "";
  for (let i = 1; i < argv.length && args.length < 128; i++) {
    args += `'${bytesToString(argv[i]!).slice(0, 128 - args.length)}' `;
  }
  return `ERR unknown command '${
    bytesToString(argv[0]!).slice(0, 128)
  }', with args beginning with: ${args}`;
}

/** The arity error for `cmd` when `argv` does not fit, else undefined. */
export function arityProblem(
  cmd: Command,
  argc: number,
): string | undefined {
  if ((cmd.arity > 0 && argc !== cmd.arity) || argc < -cmd.arity) {
    return `ERR wrong number of arguments for '${cmd.name}' command`;
  }
  return undefined;
}
