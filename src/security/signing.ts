/**
 * Peer authentication: every message between nodes carries an HMAC-SHA-256
 * (Web Crypto) of the cluster id, a timestamp, a nonce and the body, keyed
 * by the cluster secret (`--cluster-secret`). A node refuses messages that
 * are unsigned, signed for another cluster, stale, replayed or forged, and
 * signs its answers so that the caller can tell them from a forgery too.
 *
 * What is signed, one line each, joined by "\n":
 *
 * - a request: `request`, cluster id, timestamp (ms since the epoch),
 *   nonce, body;
 * - an answer: `response`, cluster id, the request's nonce, body. The nonce
 *   binds the answer to its request, so an old answer cannot be replayed.
 *
 * The first line keeps the two apart: an answer can never pass for a
 * request.
 *
 * @module
 */

import { PEER_CLOCK_SKEW_MS_MAX } from "../limits.ts";
import { ReplayCache } from "./replay_cache.ts";
import { checkSecrets } from "./token.ts";

/** The headers a signed peer message carries. */
export const SIGNATURE_HEADERS = {
  cluster: "x-kvdb-cluster",
  timestamp: "x-kvdb-timestamp",
  nonce: "x-kvdb-nonce",
  signature: "x-kvdb-signature",
} as const;

/** Why a peer message was refused; also the metric label. */
export type PeerRefusal =
  | "unsigned"
  | "malformed"
  | "wrong_cluster"
  | "stale"
  | "bad_signature"
  | "replayed"
  | "replay_cache_full";

/** A request's signature headers, checked for shape and freshness. */
export interface Stamp {
  timestampMs: number;
  nonce: string;
  signature: Uint8Array<ArrayBuffer>;
}

/** The outcome of a check: the value, or why it was refused. */
export type Checked<T> = { ok: true; value: T } | {
  ok: false;
  reason: PeerRefusal;
};

/** A cluster id: what `--cluster-id` accepts. */
export const CLUSTER_ID = /^[A-Za-z0-9._-]{1,64}$/;
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const TIMESTAMP = /^\d{1,15}$/;
const SIGNATURE = /^[0-9a-f]{64}$/;

const encoder = new TextEncoder();

function hex(bytes: ArrayBuffer): string {
  return Array.from(
    new Uint8Array(bytes),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

function unhex(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  }
  return bytes;
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-")
    .replace(/\//g, "_").replace(/=+$/, "");
}

/** Options of {@link PeerSigner.create}. */
export interface PeerSignerOptions {
  /** Wall time in ms; default `Date.now`. */
  now?: () => number;
  /** How far a timestamp may be from now. Default {@link PEER_CLOCK_SKEW_MS_MAX}. */
  windowMs?: number;
  /** The nonces seen; default a new {@link ReplayCache} with the same window. */
  replayCache?: ReplayCache;
}

/**
 * Signs this node's peer messages and verifies its peers'. It holds one
 * or more secrets: the first signs, every one verifies, so that a secret
 * can be rotated node by node without refusing anyone (docs/security.md).
 */
export class PeerSigner {
  readonly clusterId: string;
  /** The first signs; all verify. */
  #keys: CryptoKey[];
  readonly #now: () => number;
  readonly #windowMs: number;
  readonly #seen: ReplayCache;
  /** Random per process, so that nonces never repeat across restarts. */
  readonly #noncePrefix = base64url(
    crypto.getRandomValues(new Uint8Array(16)),
  );
  #counter = 0;

  private constructor(
    clusterId: string,
    keys: CryptoKey[],
    options: PeerSignerOptions,
  ) {
    this.clusterId = clusterId;
    this.#keys = keys;
    this.#now = options.now ?? Date.now;
    this.#windowMs = options.windowMs ?? PEER_CLOCK_SKEW_MS_MAX;
    this.#seen = options.replayCache ??
      new ReplayCache({ windowMs: this.#windowMs });
  }

  /**
   * A signer for `clusterId` keyed by `secrets` (checked as tokens are):
   * one secret, or several while one is rotated.
   */
  static async create(
    secrets: string | readonly string[],
    clusterId: string,
    options: PeerSignerOptions = {},
  ): Promise<PeerSigner> {
    if (!CLUSTER_ID.test(clusterId)) {
      throw new TypeError(
        `Cannot use cluster id '${
          clusterId.slice(0, 80)
        }': expected 1 to 64 of A-Z a-z 0-9 . _ -`,
      );
    }
    const keys = await importSecrets(
      typeof secrets === "string" ? [secrets] : secrets,
    );
    return new PeerSigner(clusterId, keys, options);
  }

  /** How many secrets verify (the first also signs). */
  get size(): number {
    return this.#keys.length;
  }

  /**
   * Replaces the secrets, all or nothing: with an empty list or a secret
   * that fails the checks, rejects and keeps the old ones.
   */
  async setSecrets(secrets: readonly string[]): Promise<void> {
    this.#keys = await importSecrets(secrets);
  }

  /** Whether any of the secrets verifies `signature` over `data`. */
  async #verify(signature: Uint8Array<ArrayBuffer>, data: string) {
    const bytes = encoder.encode(data);
    for (const key of this.#keys) {
      if (await crypto.subtle.verify("HMAC", key, signature, bytes)) {
        return true;
      }
    }
    return false;
  }

  /** The headers that sign a request with `body`, and its nonce. */
  async signRequest(
    body: string,
  ): Promise<{ headers: Record<string, string>; nonce: string }> {
    const timestamp = String(this.#now());
    const nonce = `${this.#noncePrefix}${(this.#counter++).toString(36)}`;
    const signature = await crypto.subtle.sign(
      "HMAC",
      this.#keys[0]!,
      encoder.encode(
        `request\n${this.clusterId}\n${timestamp}\n${nonce}\n${body}`,
      ),
    );
    return {
      nonce,
      headers: {
        [SIGNATURE_HEADERS.cluster]: this.clusterId,
        [SIGNATURE_HEADERS.timestamp]: timestamp,
        [SIGNATURE_HEADERS.nonce]: nonce,
        [SIGNATURE_HEADERS.signature]: hex(signature),
      },
    };
  }

  /**
   * Checks a request's headers before its body is read: refused here, an
   * unsigned or stale request costs no body read and no HMAC.
   */
  precheck(headers: Headers): Checked<Stamp> {
    const cluster = headers.get(SIGNATURE_HEADERS.cluster);
    const timestamp = headers.get(SIGNATURE_HEADERS.timestamp);
    const nonce = headers.get(SIGNATURE_HEADERS.nonce);
    const signature = headers.get(SIGNATURE_HEADERS.signature);
    if (
      cluster === null || timestamp === null || nonce === null ||
      signature === null
    ) return { ok: false, reason: "unsigned" };
    if (cluster !== this.clusterId) {
      return { ok: false, reason: "wrong_cluster" };
    }
    if (
      !TIMESTAMP.test(timestamp) || !NONCE.test(nonce) ||
      !SIGNATURE.test(signature)
    ) return { ok: false, reason: "malformed" };
    const timestampMs = Number(timestamp);
    if (Math.abs(this.#now() - timestampMs) > this.#windowMs) {
      return { ok: false, reason: "stale" };
    }
    return {
      ok: true,
      value: { timestampMs, nonce, signature: unhex(signature) },
    };
  }

  /**
   * Verifies the signature over `body` and records the nonce. Only a
   * message with a valid signature is recorded, so forged messages cannot
   * fill the replay cache.
   */
  async verifyRequest(stamp: Stamp, body: string): Promise<Checked<Stamp>> {
    const valid = await this.#verify(
      stamp.signature,
      `request\n${this.clusterId}\n${stamp.timestampMs}\n${stamp.nonce}\n${body}`,
    );
    if (!valid) return { ok: false, reason: "bad_signature" };
    switch (this.#seen.remember(stamp.nonce, stamp.timestampMs, this.#now())) {
      case "fresh":
        return { ok: true, value: stamp };
      case "replayed":
        return { ok: false, reason: "replayed" };
      case "full":
        return { ok: false, reason: "replay_cache_full" };
    }
  }

  /** The headers that sign the answer `body` to the request with `nonce`. */
  async signResponse(
    nonce: string,
    body: string,
  ): Promise<Record<string, string>> {
    const signature = await crypto.subtle.sign(
      "HMAC",
      this.#keys[0]!,
      encoder.encode(`response\n${this.clusterId}\n${nonce}\n${body}`),
    );
    return { [SIGNATURE_HEADERS.signature]: hex(signature) };
  }

  /** Whether `body` is a genuine answer to our request with `nonce`. */
  async verifyResponse(
    nonce: string,
    headers: Headers,
    body: string,
  ): Promise<boolean> {
    const signature = headers.get(SIGNATURE_HEADERS.signature);
    if (signature === null || !SIGNATURE.test(signature)) return false;
    return await this.#verify(
      unhex(signature),
      `response\n${this.clusterId}\n${nonce}\n${body}`,
    );
  }
}

/** HMAC keys for `secrets`, each checked as tokens are; at least one. */
async function importSecrets(
  secrets: readonly string[],
): Promise<CryptoKey[]> {
  checkSecrets(secrets, "cluster secret");
  return await Promise.all(secrets.map((secret) =>
    crypto.subtle.importKey(
      "raw",
      encoder.encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    )
  ));
}

/** The description a refused peer message is answered with. */
export function refusalDescription(reason: PeerRefusal): string {
  switch (reason) {
    case "unsigned":
      return "Peer message refused: not signed with the cluster secret (a client token does not open /peer).";
    case "malformed":
      return "Peer message refused: malformed signature headers.";
    case "wrong_cluster":
      return "Peer message refused: signed for another cluster id.";
    case "stale":
      return `Peer message refused: its timestamp is more than ${
        PEER_CLOCK_SKEW_MS_MAX / 1000
      } s from this node's clock (are the clocks synchronized?).`;
    case "bad_signature":
      return "Peer message refused: the signature does not match (another cluster secret?).";
    case "replayed":
      return "Peer message refused: replayed (its nonce was seen before).";
    case "replay_cache_full":
      return "Peer message refused: too many signed messages in the last seconds; retry.";
  }
}
