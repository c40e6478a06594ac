/**
 * KV Connect's protobuf messages to and from the KV databases' own
 * operations, with Deno KV's limits and denokv's error texts: every
 * refusal here is the client's doing, and a {@link BadRequestError} (400,
 * which Deno's client does not retry).
 *
 * @module
 */

import { create } from "@bufbuild/protobuf";
import { BadRequestError } from "../errors.ts";
import {
  type Check,
  type CommitResult,
  decodeKey,
  type KvRange,
  type KvRow,
  type Mutation,
  type MutationType,
  type ValueEncoding,
} from "../kv/mod.ts";
import {
  KV_CHECKS_MAX,
  KV_COMMIT_BYTES_MAX,
  KV_KEY_BYTES_MAX,
  KV_LIST_ENTRIES_MAX,
  KV_MUTATIONS_MAX,
  KV_READ_KEY_BYTES_MAX,
  KV_READ_RANGES_MAX,
  KV_VALUE_BYTES_MAX,
  KV_WATCH_KEYS_MAX,
} from "../limits.ts";
import {
  type AtomicWrite,
  type AtomicWriteOutput,
  AtomicWriteOutputSchema,
  AtomicWriteStatus,
  type KvEntry,
  KvEntrySchema,
  MutationType as PbMutationType,
  type SnapshotRead,
  type SnapshotReadOutput,
  SnapshotReadOutputSchema,
  SnapshotReadStatus,
  ValueEncoding as PbEncoding,
  type Watch,
  type WatchOutput,
  WatchOutputSchema,
} from "./datapath_pb.ts";

function fail(message: string): never {
  throw new BadRequestError(message);
}

/** A versionstamp's 10 bytes: the commit's log index, big-endian, then two zeros. */
export function versionstampBytes(index: number): Uint8Array {
  const out = new Uint8Array(10);
  new DataView(out.buffer).setBigUint64(0, BigInt(index), false);
  return out;
}

function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

const ENCODING_OF: Record<number, ValueEncoding> = {
  [PbEncoding.VE_V8]: "v8",
  [PbEncoding.VE_LE64]: "le64",
  [PbEncoding.VE_BYTES]: "bytes",
};
const PB_ENCODING: Record<ValueEncoding, PbEncoding> = {
  v8: PbEncoding.VE_V8,
  le64: PbEncoding.VE_LE64,
  bytes: PbEncoding.VE_BYTES,
};

/** An entry as KV Connect sends it. */
export function entryOf(row: KvRow): KvEntry {
  return create(KvEntrySchema, {
    key: row.key,
    value: row.value.data,
    encoding: PB_ENCODING[row.value.encoding],
    versionstamp: versionstampBytes(row.index),
  });
}

/** A key written must be a Deno KV key: the tuple encoding of its parts. */
function writeKey(key: Uint8Array): Uint8Array {
  if (key.length > KV_KEY_BYTES_MAX) {
    fail("A key exceeds the key size limit.");
  }
  if (key.length === 0) fail("Key cannot be empty.");
  try {
    decodeKey(key);
  } catch {
    fail("Invalid key: not the encoding of a Deno KV key.");
  }
  return key;
}

/** The ranges of a snapshot read, checked against Deno KV's limits. */
export function rangesOf(read: SnapshotRead): KvRange[] {
  if (read.ranges.length > KV_READ_RANGES_MAX) {
    fail("Too many read ranges requested in one read request.");
  }
  let total = 0;
  const ranges = read.ranges.map((r): KvRange => {
    if (r.limit <= 0) {
      fail("The read range limit of the snapshot read request is invalid.");
    }
    if (
      r.start.length > KV_READ_KEY_BYTES_MAX ||
      r.end.length > KV_READ_KEY_BYTES_MAX
    ) fail("A key exceeds the key size limit.");
    total += r.limit;
    return { start: r.start, end: r.end, limit: r.limit, reverse: r.reverse };
  });
  if (total > KV_LIST_ENTRIES_MAX) {
    fail(
      "The total number of entries requested across read ranges in the read request is too large.",
    );
  }
  return ranges;
}

/** The answer to a snapshot read: each range's entries, strongly consistent. */
export function snapshotReadOutput(ranges: KvRow[][]): SnapshotReadOutput {
  return create(SnapshotReadOutputSchema, {
    ranges: ranges.map((rows) => ({ values: rows.map(entryOf) })),
    readDisabled: false,
    readIsStronglyConsistent: true,
    status: SnapshotReadStatus.SR_SUCCESS,
  });
}

const MUTATION_TYPES: Partial<Record<PbMutationType, MutationType>> = {
  [PbMutationType.M_SET]: "set",
  [PbMutationType.M_DELETE]: "delete",
  [PbMutationType.M_SUM]: "sum",
  [PbMutationType.M_MIN]: "min",
  [PbMutationType.M_MAX]: "max",
  [PbMutationType.M_SET_SUFFIX_VERSIONSTAMPED_KEY]:
    "setSuffixVersionstampedKey",
};

/**
 * The checks and mutations of an atomic write, for a commit stamped at
 * `nowMs` (an absolute expiry becomes the relative one the log carries).
 */
export function commitOf(
  write: AtomicWrite,
  nowMs: number,
): { checks: Check[]; mutations: Mutation[] } {
  // denokv accepts enqueues; KV Connect's clients refuse them, and so do we
  // (KV databases have no queues).
  if (write.enqueues.length > 0) {
    fail("Enqueue operations are not supported in KV Connect");
  }
  if (write.checks.length > KV_CHECKS_MAX) {
    fail("Too many checks included in atomic write.");
  }
  if (write.mutations.length > KV_MUTATIONS_MAX) {
    fail("Too many mutations / enqueues included in atomic write.");
  }
  let size = 0;
  const checks = write.checks.map((c): Check => {
    if (c.key.length > KV_READ_KEY_BYTES_MAX) {
      fail("A key exceeds the key size limit.");
    }
    size += c.key.length;
    if (c.versionstamp.length === 0) return { key: c.key, versionstamp: null };
    if (c.versionstamp.length !== 10) fail("Invalid versionstamp.");
    return { key: c.key, versionstamp: hex(c.versionstamp) };
  });
  const mutations = write.mutations.map((m): Mutation => {
    const type = MUTATION_TYPES[m.mutationType];
    if (type === undefined) fail("Invalid mutation kind or arguments.");
    const key = writeKey(m.key);
    size += key.length;
    const out: Mutation = { type, key };
    if (type !== "delete") {
      if (m.value === undefined) fail("Invalid mutation kind or arguments.");
      const encoding = ENCODING_OF[m.value.encoding];
      if (encoding === undefined) {
        fail(`The value encoding ${m.value.encoding} is unknown.`);
      }
      if (m.value.data.length > KV_VALUE_BYTES_MAX) {
        fail("A value exceeds the value size limit.");
      }
      size += m.value.data.length;
      if (type === "sum" || type === "min" || type === "max") {
        // Sums of V8 numbers (with bounds and clamping) are not Deno KV's
        // public API; the KV databases sum u64s.
        if (encoding !== "le64" || m.value.data.length !== 8) {
          fail(
            `Invalid mutation kind or arguments: '${type}' takes a Deno.KvU64 operand.`,
          );
        }
      }
      out.value = { encoding, data: m.value.data };
    }
    const expireAt = Number(m.expireAtMs);
    if (expireAt < -1 || !Number.isSafeInteger(expireAt)) {
      fail("Invalid mutation expire at.");
    }
    if (
      expireAt > 0 && (type === "set" || type === "setSuffixVersionstampedKey")
    ) {
      out.expireIn = Math.max(0, expireAt - nowMs);
    }
    return out;
  });
  if (size > KV_COMMIT_BYTES_MAX) {
    fail("The total size of the atomic write is too large.");
  }
  return { checks, mutations };
}

/** The answer to an atomic write; throws the refusal of a commit that failed. */
export function atomicWriteOutput(result: CommitResult): AtomicWriteOutput {
  if (result.ok) {
    const index = parseInt(result.versionstamp.slice(0, 16), 16);
    return create(AtomicWriteOutputSchema, {
      status: AtomicWriteStatus.AW_SUCCESS,
      versionstamp: versionstampBytes(index),
    });
  }
  // A mutation the state machine refused (a sum on a value that is not a
  // u64): the same commit would fail again, so it is the client's error.
  if ("error" in result) fail(result.error);
  return create(AtomicWriteOutputSchema, {
    status: AtomicWriteStatus.AW_CHECK_FAILURE,
  });
}

/** The keys of a watch. */
export function watchKeysOf(watch: Watch): Uint8Array[] {
  if (watch.keys.length > KV_WATCH_KEYS_MAX) {
    fail("Too many keys watched in a single watch request.");
  }
  return watch.keys.map((k) => {
    if (k.key.length > KV_KEY_BYTES_MAX) {
      fail("A key exceeds the key size limit.");
    }
    return k.key;
  });
}

/**
 * One frame of a watch: every key's entry, each marked changed. denokv's
 * protocol lets a frame mark a key unchanged, but Deno's client (2.9)
 * reads such a key as absent; it drops repeats by versionstamp itself.
 */
export function watchOutput(rows: readonly (KvRow | null)[]): WatchOutput {
  return create(WatchOutputSchema, {
    status: SnapshotReadStatus.SR_SUCCESS,
    keys: rows.map((row) =>
      row === null
        ? { changed: true }
        : { changed: true, entryIfChanged: entryOf(row) }
    ),
  });
}
