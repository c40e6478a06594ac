/**
 * RESP strings are bytes; KVDB's keys and values are JavaScript strings
 * (the JSON-RPC keyspace). The two meet here, losslessly:
 *
 * - bytes that are valid UTF-8 become the string they spell, so a key or
 *   value set over RESP is the same string over JSON-RPC and in the shell;
 * - each byte of a sequence that is not valid UTF-8 becomes the lone
 *   surrogate U+DC80 + (byte - 0x80), as Python's `surrogateescape` (PEP
 *   383) does. Valid UTF-8 never decodes to a surrogate, so the mapping is
 *   one to one and {@link stringToBytes} undoes it exactly.
 *
 * A string from JSON-RPC that holds another lone surrogate (one no RESP
 * client could have written) is sent as U+FFFD, as `TextEncoder` does.
 *
 * @module
 */

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** Longest input decoded without TextDecoder when it is ASCII. */
const ASCII_FAST_BYTES_MAX = 512;

/** The first of the 128 surrogates that stand for bytes 0x80..0xFF. */
const ESCAPE_BASE = 0xdc00;

/** The string for `bytes` (see the module doc). */
export function bytesToString(bytes: Uint8Array): string {
  // ASCII up to a few hundred bytes is the common case: a plain array
  // and fromCharCode beat a call into the decoder by about two to one.
  const n = bytes.length;
  if (n <= ASCII_FAST_BYTES_MAX) {
    if (n === 0) return "";
    const codes = scratch(n);
    let ascii = true;
    for (let i = 0; i < n; i++) {
      const c = bytes[i]!;
      if (c >= 0x80) {
        ascii = false;
        break;
      }
      codes[i] = c;
    }
    if (ascii) return String.fromCharCode.apply(null, codes);
  }
  try {
    return strict.decode(bytes);
  } catch {
    return escapeDecode(bytes);
  }
}

/** {@link bytesToString} of `buf[start, end)`, without making a view. */
export function rangeToString(
  buf: Uint8Array,
  start: number,
  end: number,
): string {
  const n = end - start;
  if (n > ASCII_FAST_BYTES_MAX) return bytesToString(buf.subarray(start, end));
  if (n === 0) return "";
  const codes = scratch(n);
  for (let i = 0; i < n; i++) {
    const c = buf[start + i]!;
    if (c >= 0x80) return bytesToString(buf.subarray(start, end));
    codes[i] = c;
  }
  return String.fromCharCode.apply(null, codes);
}

/**
 * A reused array of exactly `n` slots for fromCharCode: no garbage per
 * decode (fromCharCode copies what it reads).
 */
const scratches: number[][] = [];
function scratch(n: number): number[] {
  let a = scratches[n];
  if (a === undefined) {
    a = new Array(n).fill(0);
    scratches[n] = a;
  }
  return a;
}

/** Decodes valid UTF-8 sequences and escapes every other byte. */
function escapeDecode(bytes: Uint8Array): string {
  const parts: string[] = [];
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i]!;
    const len = sequenceLength(bytes, i);
    if (len === 0) {
      parts.push(String.fromCharCode(ESCAPE_BASE + b));
      i++;
    } else if (b < 0x80) {
      parts.push(String.fromCharCode(b));
      i++;
    } else {
      parts.push(strict.decode(bytes.subarray(i, i + len)));
      i += len;
    }
  }
  return parts.join("");
}

/**
 * The length of the valid UTF-8 sequence at `i` (1 to 4), or 0 when the
 * byte there does not start one (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF).
 */
function sequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number) => {
    const x = b[i + k];
    return x !== undefined && (x & 0xc0) === 0x80;
  };
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const c1 = b[i + 1];
    if (c1 === undefined) return 0;
    if (c === 0xe0 && c1 < 0xa0) return 0; // overlong
    if (c === 0xed && c1 >= 0xa0) return 0; // a surrogate
    return cont(1) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const c1 = b[i + 1];
    if (c1 === undefined) return 0;
    if (c === 0xf0 && c1 < 0x90) return 0; // overlong
    if (c === 0xf4 && c1 >= 0x90) return 0; // past U+10FFFF
    return cont(1) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/** True when `s` holds no escaped byte (nor any other lone surrogate). */
export function isPlain(s: string): boolean {
  return s.isWellFormed();
}

/** The bytes `s` stands for: the inverse of {@link bytesToString}. */
export function stringToBytes(s: string): Uint8Array {
  if (s.isWellFormed()) return encoder.encode(s);
  const out = new Uint8Array(s.length * 3);
  let p = 0;
  let start = 0;
  const flush = (end: number) => {
    if (end > start) {
      p += encoder.encodeInto(s.slice(start, end), out.subarray(p)).written;
    }
  };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++; // a pair: an ordinary character
        continue;
      }
    }
    flush(i);
    start = i + 1;
    if (c >= ESCAPE_BASE + 0x80 && c <= ESCAPE_BASE + 0xff) {
      out[p++] = c - ESCAPE_BASE;
    } else {
      // A lone surrogate that no RESP client wrote: U+FFFD, as TextEncoder.
      out[p++] = 0xef;
      out[p++] = 0xbf;
      out[p++] = 0xbd;
    }
  }
  flush(s.length);
  return out.subarray(0, p);
}

/**
 * Writes the bytes of `s` into `out` at `offset` and returns how many were
 * written, or -1 when `out` has too little room (it needs at most
 * `3 * s.length`).
 */
export function writeString(
  s: string,
  out: Uint8Array,
  offset: number,
): number {
  if (s.isWellFormed()) {
    const room = out.length - offset;
    if (room < s.length) return -1;
    const { read, written } = encoder.encodeInto(s, out.subarray(offset));
    return read === s.length ? written : -1;
  }
  const bytes = stringToBytes(s);
  if (out.length - offset < bytes.length) return -1;
  out.set(bytes, offset);
  return bytes.length;
}

/** How many bytes `s` stands for. */
export function byteLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else if (c >= ESCAPE_BASE + 0x80 && c <= ESCAPE_BASE + 0xff) n += 1;
    else n += 3;
  }
  return n;
}

/** The bytes of an ASCII (or UTF-8) literal, for replies and comparisons. */
export function ascii(s: string): Uint8Array {
  return encoder.encode(s);
}
