/**
 * What a KV database's log entries carry: an atomic write (checks and
 * mutations, validated before it is proposed), or a purge of expired
 * entries. Each carries the proposing leader's wall time (`t`, for
 * expiry: every replica computes the same deadline) and an id, so that a
 * retried proposal is applied once and its first outcome answered again.
 *
 * @module
 */

import { fromBase64, toBase64 } from "./bytes.ts";
import type { KvValue, ValueEncoding } from "./value.ts";

/** `AtomicCheck`: the key's versionstamp must be this (null: absent). */
export interface Check {
  key: Uint8Array;
  versionstamp: string | null;
}

/** The kinds of `KvMutation`, and the suffix-versionstamped set of KV Connect. */
export type MutationType =
  | "set"
  | "delete"
  | "sum"
  | "min"
  | "max"
  | "setSuffixVersionstampedKey";

/** One mutation; `expireIn` in ms, for the two kinds of set. */
export interface Mutation {
  type: MutationType;
  key: Uint8Array;
  value?: KvValue;
  expireIn?: number;
}

/** A command for the state machine. */
export type Command =
  | {
    op: "atomic";
    id: string;
    t: number;
    checks: Check[];
    mutations: Mutation[];
  }
  | { op: "purge"; id: string; t: number };

/** What a commit came to. */
export type CommitResult =
  | { ok: true; versionstamp: string }
  | { ok: false }
  | { ok: false; error: string };

const ENCODINGS: readonly ValueEncoding[] = ["v8", "le64", "bytes"];

type WireMutation = [
  type: MutationType,
  key: string,
  encoding?: number,
  value?: string,
  expireIn?: number,
];

/** A command as entry data (JSON, bytes in base64). */
export function encodeCommand(c: Command): string {
  if (c.op === "purge") {
    return JSON.stringify({ op: "purge", id: c.id, t: c.t });
  }
  return JSON.stringify({
    op: "atomic",
    id: c.id,
    t: c.t,
    c: c.checks.map((k) => [toBase64(k.key), k.versionstamp]),
    m: c.mutations.map((m): WireMutation => {
      const w: WireMutation = [m.type, toBase64(m.key)];
      if (m.value !== undefined) {
        w.push(ENCODINGS.indexOf(m.value.encoding), toBase64(m.value.data));
        if (m.expireIn !== undefined) w.push(m.expireIn);
      }
      return w;
    }),
  });
}

const TYPES: readonly MutationType[] = [
  "set",
  "delete",
  "sum",
  "min",
  "max",
  "setSuffixVersionstampedKey",
];

/**
 * Reads entry data back; undefined for data that is not a command (every
 * replica then treats the entry alike: as a no-op).
 */
export function decodeCommand(data: string): Command | undefined {
  try {
    const x = JSON.parse(data);
    if (typeof x?.id !== "string" || !Number.isSafeInteger(x.t)) {
      return undefined;
    }
    if (x.op === "purge") return { op: "purge", id: x.id, t: x.t };
    if (x.op !== "atomic" || !Array.isArray(x.c) || !Array.isArray(x.m)) {
      return undefined;
    }
    const checks: Check[] = x.c.map((c: unknown) => {
      const [k, vs] = c as [string, string | null];
      if (vs !== null && typeof vs !== "string") throw new Error("bad check");
      return { key: fromBase64(k), versionstamp: vs };
    });
    const mutations: Mutation[] = x.m.map((w: WireMutation) => {
      if (!TYPES.includes(w[0])) throw new Error("bad mutation");
      const m: Mutation = { type: w[0], key: fromBase64(w[1]) };
      if (w[2] !== undefined) {
        const encoding = ENCODINGS[w[2]];
        if (encoding === undefined) throw new Error("bad encoding");
        m.value = { encoding, data: fromBase64(w[3]!) };
        if (w[4] !== undefined) m.expireIn = w[4];
      }
      return m;
    });
    return { op: "atomic", id: x.id, t: x.t, checks, mutations };
  } catch {
    return undefined;
  }
}

/** A commit's versionstamp: its log index, 8 bytes big-endian, then 2 zero bytes. */
export function versionstampOf(index: number): string {
  return index.toString(16).padStart(16, "0") + "0000";
}

/** The log index a versionstamp stands for; NaN if it is not one of ours. */
export function indexOfVersionstamp(vs: string): number {
  if (!/^[0-9a-f]{16}0000$/.test(vs)) return NaN;
  return parseInt(vs.slice(0, 16), 16);
}
