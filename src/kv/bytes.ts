/**
 * Byte helpers for the KV databases: base64 (standard and url-safe), hex,
 * comparison. The platform's `Uint8Array.prototype.toBase64` and
 * `Uint8Array.fromBase64` do the work; the compiler's library does not
 * declare them yet, hence the casts here and only here.
 *
 * @module
 */

interface Base64Options {
  alphabet?: "base64" | "base64url";
  omitPadding?: boolean;
}

type WithBase64 = Uint8Array & {
  toBase64(options?: Base64Options): string;
  toHex(): string;
};

const U8 = Uint8Array as unknown as {
  fromBase64(s: string, options?: Base64Options): Uint8Array;
  fromHex(s: string): Uint8Array;
};

/** Standard base64 with padding. */
export function toBase64(b: Uint8Array): string {
  return (b as WithBase64).toBase64();
}

/** Throws SyntaxError on a malformed string. */
export function fromBase64(s: string): Uint8Array {
  return U8.fromBase64(s);
}

/** URL-safe base64 without padding (Deno KV's cursors and kv-utils' JSON bytes). */
export function toBase64Url(b: Uint8Array): string {
  return (b as WithBase64).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}

/** Throws SyntaxError on a malformed string. */
export function fromBase64Url(s: string): Uint8Array {
  return U8.fromBase64(s, { alphabet: "base64url" });
}

export function toHex(b: Uint8Array): string {
  return (b as WithBase64).toHex();
}

/** Throws SyntaxError on a malformed string. */
export function fromHex(s: string): Uint8Array {
  return U8.fromHex(s);
}

/** memcmp order: the order SQLite gives BLOBs. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
