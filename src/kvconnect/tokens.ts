/**
 * KV Connect's identities: the database id a client is told (a UUID made
 * from the cluster id and the database's name, the same on every node),
 * and the data-path token, opaque to the client: the database, an expiry,
 * and an HMAC-SHA-256 over both keyed with the access token the client
 * showed. Any node that accepts that access token verifies it, so a load
 * balancer may send a client's requests to any node; a token removed from
 * the node's client tokens takes its data-path tokens with it.
 *
 * @module
 */

import { fromBase64Url, toBase64Url } from "../kv/mod.ts";
import type { BearerAuth } from "../security/mod.ts";
import { constantTimeEqual } from "../security/mod.ts";

const encoder = new TextEncoder();

/** The UUID (version 8, RFC 9562) of database `db` in cluster `clusterId`. */
export async function databaseId(
  clusterId: string,
  db: string,
): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      encoder.encode(`kvdb kv-connect database\n${clusterId}\n${db}`),
    ),
  );
  const b = digest.slice(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${
    hex.slice(16, 20)
  }-${hex.slice(20)}`;
}

/** What a valid data-path token says. */
export interface TokenClaims {
  db: string;
  expiresAtMs: number;
}

/** Why a data-path token was refused. */
export type TokenRefusal = "malformed" | "expired" | "invalid";

/** Options of {@link DataPathTokens}. */
export interface DataPathTokensOptions {
  /** The node's client tokens; absent: an open node. */
  auth?: BearerAuth;
  clusterId: string;
  now: () => number;
  ttlMs: number;
}

const PREFIX = "kvc1";
/** Tokens verified lately, so that a request costs no HMAC. */
const VERIFIED_MAX = 4_096;
/** How long a verification is trusted (a rotated client token ends it by then). */
const VERIFIED_MS = 10_000;

/** Issues and verifies data-path tokens. */
export class DataPathTokens {
  readonly #o: DataPathTokensOptions;
  readonly #keys = new Map<string, Promise<CryptoKey>>();
  readonly #verified = new Map<string, { claims: TokenClaims; at: number }>();

  constructor(options: DataPathTokensOptions) {
    this.#o = options;
  }

  get ttlMs(): number {
    return this.#o.ttlMs;
  }

  #key(secret: Uint8Array): Promise<CryptoKey> {
    const id = toBase64Url(secret);
    let key = this.#keys.get(id);
    if (key === undefined) {
      // Rotations are rare: a few keys at most, dropped wholesale if not.
      if (this.#keys.size > 64) this.#keys.clear();
      key = crypto.subtle.importKey(
        "raw",
        secret as Uint8Array<ArrayBuffer>,
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      this.#keys.set(id, key);
    }
    return key;
  }

  #secrets(): readonly Uint8Array[] {
    return this.#o.auth?.tokenBytes() ??
      [encoder.encode(`kvdb open node\n${this.#o.clusterId}`)];
  }

  async #mac(secret: Uint8Array, body: string): Promise<Uint8Array> {
    return new Uint8Array(
      await crypto.subtle.sign(
        "HMAC",
        await this.#key(secret),
        encoder.encode(`${this.#o.clusterId}\n${body}`),
      ),
    );
  }

  /**
   * A token for `db`, signed with the access token the client showed (it
   * was checked: with client tokens set, it is one of them).
   */
  async issue(
    db: string,
    accessToken: string,
  ): Promise<{ token: string; expiresAtMs: number }> {
    const expiresAtMs = this.#o.now() + this.#o.ttlMs;
    const body = `${PREFIX}.${db}.${expiresAtMs}`;
    const secret = this.#o.auth === undefined
      ? this.#secrets()[0]!
      : encoder.encode(accessToken);
    return {
      token: `${body}.${toBase64Url(await this.#mac(secret, body))}`,
      expiresAtMs,
    };
  }

  /** The claims of `token`, or why it is refused. */
  async verify(token: string): Promise<TokenClaims | TokenRefusal> {
    const now = this.#o.now();
    const cached = this.#verified.get(token);
    if (cached !== undefined && now - cached.at < VERIFIED_MS) {
      return cached.claims.expiresAtMs > now ? cached.claims : "expired";
    }
    const m = /^kvc1\.([A-Za-z0-9_-]{1,64})\.(\d{1,16})\.([A-Za-z0-9_-]{43})$/
      .exec(token);
    if (m === null) return "malformed";
    const claims = { db: m[1]!, expiresAtMs: Number(m[2]) };
    let mac: Uint8Array;
    try {
      mac = fromBase64Url(m[3]!);
    } catch {
      return "malformed";
    }
    const body = `${PREFIX}.${claims.db}.${claims.expiresAtMs}`;
    let ok = false;
    for (const secret of this.#secrets()) {
      if (constantTimeEqual(mac, await this.#mac(secret, body))) ok = true;
    }
    if (!ok) return "invalid";
    if (this.#verified.size >= VERIFIED_MAX) this.#verified.clear();
    this.#verified.set(token, { claims, at: now });
    return claims.expiresAtMs > now ? claims : "expired";
  }
}
