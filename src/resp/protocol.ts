/**
 * The Redis serialization protocol (RESP): requests as Redis reads them
 * (multibulk `*<n>\r\n$<len>\r\n…` and inline `SET k v\r\n`), replies in
 * RESP2 or RESP3. No I/O: the connection feeds bytes in and writes the
 * bytes out.
 *
 * Protocol errors carry Redis 7.0's texts; after one the connection
 * answers the error and closes, as Redis does.
 *
 * @module
 */

import { writeString } from "./bytes.ts";

/** A request that breaks the protocol: answered, then the connection closes. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(`Protocol error: ${message}`);
    this.name = "ProtocolError";
  }
}

/** The parser's bounds (see src/limits.ts for the values a node uses). */
export interface ParserLimits {
  /** Longest inline request and longest `*`/`$` count line. */
  inlineBytesMax: number;
  /** Most arguments in one command. */
  argsMax: number;
  /** Largest bulk string. */
  bulkBytesMax: number;
  /** Most bytes all the arguments of one command may take together. */
  commandBytesMax: number;
}

/** Limits for a connection that must authenticate first (Redis's values). */
export const UNAUTHENTICATED_ARGS_MAX = 10;
/** Largest bulk before `AUTH`. */
export const UNAUTHENTICATED_BULK_BYTES_MAX = 16 * 1024;

const CR = 13;
/** Longest string a bulk reply writes character by character when ASCII. */
const ASCII_BULK_CHARS_MAX = 1024;
const LF = 10;

/**
 * Reads the commands in a buffer. `next()` returns the arguments of the
 * next complete command (views into the buffer, valid until the buffer is
 * compacted), `null` when the rest is incomplete, or throws
 * {@link ProtocolError}. An empty command (a blank inline line, `*0`) is
 * skipped.
 */
export class RequestParser {
  buf: Uint8Array;
  /** Start of the unparsed bytes. */
  pos = 0;
  /** End of the bytes read. */
  end = 0;
  limits: ParserLimits;
  /** Redis's pre-AUTH bounds apply while this is true. */
  authRequired = false;

  constructor(limits: ParserLimits, initialBytes = 64 * 1024) {
    this.limits = limits;
    this.buf = new Uint8Array(initialBytes);
  }

  /** Room to read into, making some when the buffer is full. */
  space(): Uint8Array {
    if (this.pos === this.end) {
      this.pos = 0;
      this.end = 0;
    }
    if (this.end === this.buf.length) {
      if (this.pos > 0) {
        this.buf.copyWithin(0, this.pos, this.end);
        this.end -= this.pos;
        this.pos = 0;
      } else {
        // One command larger than the buffer: grow, within the command bound.
        const size = Math.min(
          this.buf.length * 2,
          this.limits.commandBytesMax + 64 * 1024,
        );
        if (size <= this.buf.length) {
          throw new ProtocolError("command too large");
        }
        const bigger = new Uint8Array(size);
        bigger.set(this.buf.subarray(0, this.end));
        this.buf = bigger;
      }
    }
    return this.buf.subarray(this.end);
  }

  /** Records that `n` bytes were read into {@link space}. */
  wrote(n: number): void {
    this.end += n;
  }

  /** The unparsed bytes: for a caller that hands the stream to another parser. */
  get pending(): number {
    return this.end - this.pos;
  }

  /**
   * Where the arguments of the command {@link nextCommand} found are: for a
   * multibulk command, offsets into {@link buf} (no views made); for an
   * inline one, `inline` holds them.
   */
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  inline: Uint8Array[] | null = null;

  /**
   * Finds the next complete command and returns how many arguments it
   * has (0: nothing complete yet). Its arguments are then in
   * {@link starts}/{@link ends} or {@link inline}, and {@link args}.
   */
  nextCommand(): number {
    // One huge command must not keep its offset arrays for ever.
    if (this.starts.length > 65536) {
      this.starts.length = 0;
      this.ends.length = 0;
    }
    for (;;) {
      if (this.pos >= this.end) return 0;
      if (this.buf[this.pos] === 42 /* '*' */) {
        this.inline = null;
        const n = this.#multibulk();
        if (n === -1) return 0;
        if (n > 0) return n;
      } else {
        const argv = this.#inline();
        if (argv === null) return 0;
        if (argv.length > 0) {
          this.inline = argv;
          return argv.length;
        }
      }
    }
  }

  /** The arguments of the command {@link nextCommand} found, as views. */
  args(argc: number): Uint8Array[] {
    if (this.inline !== null) return this.inline;
    const argv: Uint8Array[] = new Array(argc);
    for (let i = 0; i < argc; i++) {
      argv[i] = this.buf.subarray(this.starts[i]!, this.ends[i]!);
    }
    return argv;
  }

  /** The next complete command's arguments, or null. */
  next(): Uint8Array[] | null {
    const argc = this.nextCommand();
    return argc === 0 ? null : this.args(argc);
  }

  /** A CRLF-terminated line at `from`: the index of its CR, or -1. */
  #lineEnd(from: number): number {
    const b = this.buf;
    const end = this.end;
    for (let i = from; i < end; i++) {
      if (b[i] === CR) return i + 1 < end ? i : -1;
    }
    return -1;
  }

  /** Parses a decimal count between `from` and `to`; NaN when not one. */
  #count(from: number, to: number): number {
    const b = this.buf;
    if (from >= to || to - from > 20) return NaN;
    let i = from;
    let negative = false;
    if (b[i] === 45 /* '-' */) {
      negative = true;
      i++;
      if (i === to) return NaN;
    }
    let n = 0;
    for (; i < to; i++) {
      const d = b[i]! - 48;
      if (d < 0 || d > 9) return NaN;
      n = n * 10 + d;
    }
    return negative ? -n : n;
  }

  /** Parses a multibulk command: its argument count, or -1 if incomplete. */
  #multibulk(): number {
    const b = this.buf;
    const limits = this.limits;
    const cr = this.#lineEnd(this.pos + 1);
    if (cr === -1) {
      if (this.end - this.pos > limits.inlineBytesMax) {
        throw new ProtocolError("too big mbulk count string");
      }
      return -1;
    }
    const count = this.#count(this.pos + 1, cr);
    if (!Number.isSafeInteger(count) || count > limits.argsMax) {
      throw new ProtocolError("invalid multibulk length");
    }
    if (count > UNAUTHENTICATED_ARGS_MAX && this.authRequired) {
      throw new ProtocolError("unauthenticated multibulk length");
    }
    let p = cr + 2;
    if (count <= 0) {
      this.pos = p;
      return 0;
    }
    const starts = this.starts;
    const ends = this.ends;
    let total = 0;
    for (let i = 0; i < count; i++) {
      if (p >= this.end) return -1;
      const lineCr = this.#lineEnd(p);
      if (lineCr === -1) {
        if (this.end - p > limits.inlineBytesMax) {
          throw new ProtocolError("too big bulk count string");
        }
        return -1;
      }
      if (b[p] !== 36 /* '$' */) {
        throw new ProtocolError(
          `expected '$', got '${String.fromCharCode(b[p]!)}'`,
        );
      }
      const len = this.#count(p + 1, lineCr);
      if (!Number.isSafeInteger(len) || len < 0 || len > limits.bulkBytesMax) {
        throw new ProtocolError("invalid bulk length");
      }
      if (len > UNAUTHENTICATED_BULK_BYTES_MAX && this.authRequired) {
        throw new ProtocolError("unauthenticated bulk length");
      }
      total += len;
      if (total > limits.commandBytesMax) {
        throw new ProtocolError("command too large");
      }
      p = lineCr + 2;
      // As Redis: the two bytes after the data are skipped, not checked.
      if (p + len + 2 > this.end) return -1;
      starts[i] = p;
      ends[i] = p + len;
      p += len + 2;
    }
    this.pos = p;
    return count;
  }

  #inline(): Uint8Array[] | null {
    const b = this.buf;
    let lf = -1;
    for (let i = this.pos; i < this.end; i++) {
      if (b[i] === LF) {
        lf = i;
        break;
      }
    }
    if (lf === -1) {
      if (this.end - this.pos > this.limits.inlineBytesMax) {
        throw new ProtocolError("too big inline request");
      }
      return null;
    }
    let lineEnd = lf;
    if (lineEnd > this.pos && b[lineEnd - 1] === CR) lineEnd--;
    const argv = splitInline(b.subarray(this.pos, lineEnd));
    if (argv === null) throw new ProtocolError("unbalanced quotes in request");
    if (argv.length > this.limits.argsMax) {
      throw new ProtocolError("invalid multibulk length");
    }
    this.pos = lf + 1;
    return argv;
  }
}

function isSpace(c: number | undefined): boolean {
  // C's isspace: space, \t, \n, \v, \f, \r.
  return c === 32 || (c !== undefined && c >= 9 && c <= 13);
}

function hexValue(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Splits an inline request as Redis's `sdssplitargs` does: blanks separate
 * arguments; "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes;
 * 'single quotes' take \'; a closing quote must be followed by a blank or
 * the end. Null for unbalanced quotes.
 */
export function splitInline(line: Uint8Array): Uint8Array[] | null {
  const args: Uint8Array[] = [];
  let p = 0;
  const n = line.length;
  while (true) {
    while (p < n && isSpace(line[p])) p++;
    if (p >= n) return args;
    const current: number[] = [];
    let inDouble = false;
    let inSingle = false;
    for (;;) {
      const c = line[p];
      if (inDouble) {
        if (c === undefined) return null;
        if (
          c === 92 && line[p + 1] === 120 && hexValue(line[p + 2]) >= 0 &&
          hexValue(line[p + 3]) >= 0
        ) {
          current.push(hexValue(line[p + 2]) * 16 + hexValue(line[p + 3]));
          p += 4;
          continue;
        }
        if (c === 92 && p + 1 < n) {
          const e = line[p + 1]!;
          current.push(
            e === 110
              ? 10
              : e === 114
              ? 13
              : e === 116
              ? 9
              : e === 98
              ? 8
              : e === 97
              ? 7
              : e,
          );
          p += 2;
          continue;
        }
        if (c === 34) {
          if (p + 1 < n && !isSpace(line[p + 1])) return null;
          p++;
          break;
        }
        current.push(c);
        p++;
      } else if (inSingle) {
        if (c === undefined) return null;
        if (c === 92 && line[p + 1] === 39) {
          current.push(39);
          p += 2;
          continue;
        }
        if (c === 39) {
          if (p + 1 < n && !isSpace(line[p + 1])) return null;
          p++;
          break;
        }
        current.push(c);
        p++;
      } else {
        if (c === undefined || c === 32 || c === 10 || c === 13 || c === 9) {
          break;
        }
        if (c === 34) inDouble = true;
        else if (c === 39) inSingle = true;
        else current.push(c);
        p++;
      }
    }
    args.push(Uint8Array.from(current));
  }
}

// ------------------------------------------------------------------ replies

/** A status reply: `+OK`. */
export class Simple {
  constructor(readonly text: string) {}
}

/** An error reply: `-ERR syntax error` (the text starts with its code). */
export class ErrorReply {
  constructor(readonly text: string) {}
}

/** A map: RESP3 `%`, a flat array in RESP2. */
export class MapReply {
  constructor(readonly entries: readonly (readonly [Reply, Reply])[]) {}
}

/** A set: RESP3 `~`, an array in RESP2. */
export class SetReply {
  constructor(readonly items: readonly Reply[]) {}
}

/** A double: RESP3 `,`, a bulk string in RESP2. */
export class DoubleReply {
  constructor(readonly value: number) {}
}

/** Text with a format (INFO): RESP3 `=txt:`, a bulk string in RESP2. */
export class VerbatimReply {
  constructor(readonly text: string) {}
}

/** Bytes already in RESP form: constant replies. */
export class RawReply {
  constructor(readonly bytes: Uint8Array) {}
}

/**
 * A reply: `null` is the nil bulk (RESP3 null), a string or bytes a bulk
 * string, a number or bigint an integer, an array an array.
 */
export type Reply =
  | null
  | string
  | Uint8Array
  | number
  | bigint
  | readonly Reply[]
  | Simple
  | ErrorReply
  | MapReply
  | SetReply
  | DoubleReply
  | VerbatimReply
  | RawReply;

const enc = new TextEncoder();
/** Constant replies, encoded once. */
export const OK = new RawReply(enc.encode("+OK\r\n"));
export const PONG = new RawReply(enc.encode("+PONG\r\n"));
const NIL2 = enc.encode("$-1\r\n");
const NIL3 = enc.encode("_\r\n");

/** Thrown when a client's pending output would pass its bound. */
export class OutputLimitError extends Error {
  constructor(limit: number) {
    super(`reply output over ${limit} bytes`);
    this.name = "OutputLimitError";
  }
}

/** Formats a double as Redis does (`%.17g`, shortest that round-trips). */
export function formatDouble(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (Number.isInteger(x) && Math.abs(x) < 1e17) return x.toFixed(0);
  const s = String(x);
  // JavaScript writes 1e+21; Redis writes 1e+21 too, and 1.5e-07 as 1.5e-07.
  return s.replace(/e([+-])(\d)$/, "e$10$2");
}

/** Encodes replies into a growable buffer, bounded by `limitBytes`. */
export class ReplyWriter {
  buf: Uint8Array;
  len = 0;
  /** 2 or 3 (HELLO). */
  proto: 2 | 3 = 2;
  readonly limitBytes: number;

  constructor(limitBytes: number, initialBytes = 64 * 1024) {
    this.limitBytes = limitBytes;
    // Never more room than the limit: growing is where it is checked.
    this.buf = new Uint8Array(Math.min(initialBytes, limitBytes));
  }

  /** The encoded bytes so far. */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** Forgets what was written (after it was sent). */
  reset(): void {
    this.len = 0;
    // Give back a buffer that one large reply grew.
    if (this.buf.length > 4 * 1024 * 1024) {
      this.buf = new Uint8Array(Math.min(65536, this.limitBytes));
    }
  }

  #ensure(n: number): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    if (need > this.limitBytes) throw new OutputLimitError(this.limitBytes);
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const bigger = new Uint8Array(Math.min(size, this.limitBytes));
    bigger.set(this.buf.subarray(0, this.len));
    this.buf = bigger;
  }

  #raw(bytes: Uint8Array): void {
    this.#ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** `<prefix><integer>\r\n`. */
  #line(prefix: number, n: number): void {
    this.#ensure(24);
    const b = this.buf;
    let p = this.len;
    b[p++] = prefix;
    if (n < 0) {
      b[p++] = 45;
      n = -n;
    }
    if (n < 10) b[p++] = 48 + n;
    else {
      const s = String(n);
      for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
    }
    b[p++] = 13;
    b[p++] = 10;
    this.len = p;
  }

  /** `<prefix><text>\r\n` with CR and LF in the text made spaces. */
  #text(prefix: number, text: string): void {
    const safe = /[\r\n]/.test(text) ? text.replace(/[\r\n]/g, " ") : text;
    this.#ensure(safe.length * 3 + 3);
    this.buf[this.len++] = prefix;
    this.len += writeString(safe, this.buf, this.len);
    this.buf[this.len++] = 13;
    this.buf[this.len++] = 10;
  }

  nil(): void {
    this.#raw(this.proto === 3 ? NIL3 : NIL2);
  }

  /** A bulk string from raw bytes. */
  bulkBytes(v: Uint8Array): void {
    this.#ensure(v.length + 24);
    this.#line(36, v.length);
    this.buf.set(v, this.len);
    this.len += v.length;
    this.buf[this.len++] = 13;
    this.buf[this.len++] = 10;
  }

  /** A bulk string from a KVDB string (see bytes.ts). */
  bulk(s: string): void {
    // ASCII, the common case: the length is known, one pass writes it.
    const n = s.length;
    if (n <= ASCII_BULK_CHARS_MAX) {
      this.#ensure(n + 24);
      const start = this.len;
      this.#line(36, n);
      const b = this.buf;
      let p = this.len;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i === n) {
        b[p++] = 13;
        b[p++] = 10;
        this.len = p;
        return;
      }
      this.len = start; // not ASCII after all: the general way
    }
    this.#bulkText(s);
  }

  #bulkText(s: string): void {
    // Reserve the worst case, encode after the longest header, then move
    // the bytes next to the real header if it is shorter.
    const max = s.length * 3;
    this.#ensure(max + 24);
    const headerMax = 3 + String(max).length;
    const start = this.len + headerMax;
    const written = writeString(s, this.buf, start);
    this.#line(36, written);
    if (this.len !== start) {
      this.buf.copyWithin(this.len, start, start + written);
    }
    this.len += written;
    this.buf[this.len++] = 13;
    this.buf[this.len++] = 10;
  }

  integer(n: number): void {
    this.#line(58, n);
  }

  arrayHeader(n: number): void {
    this.#line(42, n);
  }

  mapHeader(n: number): void {
    if (this.proto === 3) this.#line(37, n);
    else this.#line(42, n * 2);
  }

  setHeader(n: number): void {
    this.#line(this.proto === 3 ? 126 : 42, n);
  }

  /** `<prefix><text>\r\n` for a text known to hold no CR or LF. */
  simpleLine(prefix: number, text: string): void {
    this.#text(prefix, text);
  }

  simple(text: string): void {
    this.#text(43, text);
  }

  error(text: string): void {
    this.#text(45, text);
  }

  double(x: number): void {
    const s = formatDouble(x);
    if (this.proto === 3) this.#text(44, s);
    else this.bulk(s);
  }

  verbatim(text: string): void {
    if (this.proto === 3) {
      const bytes = enc.encode(text);
      this.#line(61, bytes.length + 4);
      this.#raw(enc.encode("txt:"));
      this.#raw(bytes);
      this.#raw(CRLF);
    } else this.bulk(text);
  }

  /** Any {@link Reply}. */
  reply(r: Reply): void {
    if (r === null) return this.nil();
    switch (typeof r) {
      case "string":
        return this.bulk(r);
      case "number":
        return this.integer(r);
      case "bigint":
        return this.simpleLine(58, String(r));
    }
    if (r instanceof RawReply) return this.#raw(r.bytes);
    if (r instanceof Uint8Array) return this.bulkBytes(r);
    if (Array.isArray(r)) {
      this.arrayHeader(r.length);
      for (const item of r) this.reply(item);
      return;
    }
    if (r instanceof Simple) return this.simple(r.text);
    if (r instanceof ErrorReply) return this.error(r.text);
    if (r instanceof MapReply) {
      this.mapHeader(r.entries.length);
      for (const [k, v] of r.entries) {
        this.reply(k);
        this.reply(v);
      }
      return;
    }
    if (r instanceof SetReply) {
      this.setHeader(r.items.length);
      for (const item of r.items) this.reply(item);
      return;
    }
    if (r instanceof DoubleReply) return this.double(r.value);
    if (r instanceof VerbatimReply) return this.verbatim(r.text);
    throw new TypeError("not a reply");
  }
}

const CRLF = enc.encode("\r\n");
