/**
 * Read-modify-write commands, one at a time per key. Leaderless quorum
 * writes alone lose updates when two clients read the same value and both
 * write back (two INCRs from 5 both write 6). So such a command runs on
 * one node per key, the key's *serialising node*: the first replica in
 * its preference list that this node does not believe down. There it
 * takes a lock on its keys, reads them with a read quorum, computes, and
 * writes with a write quorum before the next command on those keys may
 * read. Other nodes forward the command there with an `atomic` peer
 * message. "Down" here means declared dead, not merely suspect: a slow
 * probe must not move a key's serialisation while its node still serves.
 *
 * What this guarantees, and what it does not (docs/resp.md has the whole
 * account):
 *
 * - While every node agrees on which replicas are down, two such commands
 *   on one key never interleave: no lost update.
 * - A command acknowledged to its client was written with a write quorum:
 *   a later quorum read sees it, whichever node serialises next.
 * - When a forwarded command gets no answer (the serialising node died or
 *   is cut off), the client is told it may or may not have been applied;
 *   it is never run a second time elsewhere on its behalf.
 * - While nodes disagree about whether a member is dead (one that did not
 *   refute a suspicion in time though alive, a partition), two nodes can
 *   serialise the same key at once, and concurrent read-modify-write
 *   commands on it can then lose an update.
 * - Plain writes (SET without options, DEL, MSET, JSON-RPC `set`) do not
 *   pass through here: one that lands between a command's read and its
 *   write is overwritten by it (last writer wins).
 *
 * Sans-I/O: the coordinator, transport and clock are handed in. The
 * operations themselves are pure functions, registered by name by the
 * front end that defines them (src/resp).
 *
 * @module
 */

import type { Clock } from "../clock/mod.ts";
import { BadRequestError, UnavailableError } from "../errors.ts";
import type { StoredRecord } from "../storage/mod.ts";
import type {
  AtomicRequest,
  PeerResponse,
  PeerTransport,
} from "../transport/mod.ts";
import type { Coordinator } from "./coordinator.ts";
import { isPeerFailure } from "./peer_failure.ts";

/** One write an operation asks for. */
export type AtomicWrite =
  | { key: string; value: unknown; expiresAtMs: number | null }
  | { key: string; delete: true };

/** What an operation decided: the writes to make, and the reply (JSON). */
export interface AtomicOutcome {
  writes: AtomicWrite[];
  reply: unknown;
}

/**
 * A read-modify-write operation: from the live records of its keys (in the
 * order given, undefined where absent), its arguments and the time, the
 * writes and the reply. Pure: it runs on whichever node serialises.
 */
export type AtomicOp = (
  records: readonly (StoredRecord | undefined)[],
  args: readonly string[],
  nowMs: number,
) => AtomicOutcome;

/** The forwarded command's node did not answer: it may or may not have run. */
export class OwnerUnreachableError extends UnavailableError {
  constructor(readonly owner: string, detail: string) {
    super(
      `the key's serialising node ${owner} did not answer (${
        detail.slice(0, 200)
      }); the command may or may not have been applied`,
    );
  }
}

/** Counts for metrics and `cluster_info`. */
export interface KeySerializerStats {
  /** Commands this node serialised (its own and forwarded ones). */
  runLocal: number;
  /** Commands this node forwarded to another node. */
  forwarded: number;
  /** Forwarded commands that got no answer. */
  forwardFailed: number;
  /** Commands refused because too many were waiting here. */
  refusedBusy: number;
  /** Commands waiting for or holding locks here now. */
  inFlight: number;
}

/** Everything a {@link KeySerializer} needs. */
export interface KeySerializerOptions {
  self: string;
  coordinator: Coordinator;
  transport: PeerTransport;
  clock: Clock;
  /** True when this node believes the member gone (dead or left). */
  isDown(address: string): boolean;
  /** The operations, by name. */
  ops: ReadonlyMap<string, AtomicOp>;
  /** How long a forwarded command may take: the owner's read and write. */
  forwardDeadlineMs: number;
  /** Most commands waiting or running here at once; more are refused. */
  inFlightMax: number;
}

/** Forwarded commands remembered by id, so that a retry does not run twice. */
export const ATOMIC_REPLIES_REMEMBERED_MAX = 10_000;

/** Most keys one atomic command names (MSETNX). */
export const ATOMIC_KEYS_MAX = 1000;

/** Runs read-modify-write operations one at a time per key. */
export class KeySerializer {
  readonly #o: KeySerializerOptions;
  /** Per key: the promise the last command holding or awaiting it settles. */
  readonly #tails = new Map<string, Promise<void>>();
  /** Forwarded commands by id: their outcome, in arrival order (bounded). */
  readonly #seen = new Map<string, Promise<PeerResponse>>();
  /** For command ids: unique per node and start. */
  readonly #idPrefix: string;
  #seq = 0;
  readonly #stats: KeySerializerStats = {
    runLocal: 0,
    forwarded: 0,
    forwardFailed: 0,
    refusedBusy: 0,
    inFlight: 0,
  };

  constructor(options: KeySerializerOptions) {
    this.#o = options;
    this.#idPrefix = `${options.self}/${options.clock.now()}/`;
  }

  /** A copy of the counts. */
  stats(): KeySerializerStats {
    return { ...this.#stats };
  }

  /** True when `op` is a registered operation. */
  has(op: string): boolean {
    return this.#o.ops.has(op);
  }

  /** The node that serialises commands on `key`, as this node sees it. */
  owner(key: string): string {
    const replicas = this.#o.coordinator.replicas(key);
    for (const replica of replicas) {
      if (replica === this.#o.self || !this.#o.isDown(replica)) return replica;
    }
    // Every replica looks down: try the primary, whose failure is reported.
    return replicas[0] ?? this.#o.self;
  }

  /**
   * Runs `op` on `keys` (serialised on the first key's owner) and resolves
   * with its reply. Rejects with a KvdbError when a quorum or the owner
   * could not be reached.
   */
  async run(
    op: string,
    keys: readonly string[],
    args: readonly string[],
  ): Promise<unknown> {
    if (keys.length === 0 || keys.length > ATOMIC_KEYS_MAX) {
      throw new RangeError(
        `an atomic command names 1 to ${ATOMIC_KEYS_MAX} keys`,
      );
    }
    if (!this.#o.ops.has(op)) throw new RangeError(`no atomic op '${op}'`);
    const owner = this.owner(keys[0]!);
    if (owner === this.#o.self) return await this.#runHere(op, keys, args);
    this.#stats.forwarded++;
    const request: AtomicRequest = {
      kind: "atomic",
      id: this.#idPrefix + this.#seq++,
      op,
      keys: [...keys],
      args: [...args],
    };
    let answer: PeerResponse;
    try {
      answer = await this.#forward(owner, request);
    } catch (error) {
      if (!isPeerFailure(error)) throw error;
      this.#stats.forwardFailed++;
      throw new OwnerUnreachableError(
        owner,
        error instanceof Error ? error.message : String(error),
      );
    }
    if (answer.kind !== "atomic") throw new Error("unexpected answer kind");
    if (answer.error !== undefined) throw new UnavailableError(answer.error);
    return answer.reply;
  }

  /**
   * Sends a command to its owner; once more if the call fails, which is
   * safe because the owner answers a command id it has seen with the first
   * run's reply.
   */
  async #forward(owner: string, request: AtomicRequest): Promise<PeerResponse> {
    try {
      return await this.#o.transport.call(
        owner,
        request,
        this.#o.forwardDeadlineMs,
      );
    } catch (error) {
      if (!isPeerFailure(error)) throw error;
      return await this.#o.transport.call(
        owner,
        request,
        this.#o.forwardDeadlineMs,
      );
    }
  }

  /**
   * Answers a forwarded command: runs it here, whoever owns it now; a
   * command id seen before gets the first run's outcome.
   */
  handlePeer(request: AtomicRequest): Promise<PeerResponse> {
    if (!this.#o.ops.has(request.op)) {
      return Promise.reject(
        new BadRequestError(`Unknown atomic operation '${request.op}'.`),
      );
    }
    const id = request.id;
    if (id === undefined) return this.#answer(request);
    const seen = this.#seen.get(id);
    if (seen !== undefined) return seen;
    const outcome = this.#answer(request);
    this.#seen.set(id, outcome);
    // A failed run (not an outcome) may be tried again.
    outcome.catch(() => this.#seen.delete(id));
    if (this.#seen.size > ATOMIC_REPLIES_REMEMBERED_MAX) {
      this.#seen.delete(this.#seen.keys().next().value!);
    }
    return outcome;
  }

  async #answer(request: AtomicRequest): Promise<PeerResponse> {
    try {
      const reply = await this.#runHere(request.op, request.keys, request.args);
      return { kind: "atomic", reply };
    } catch (error) {
      // A quorum that failed here is the command's outcome, not a failed
      // call: the forwarding node must not read it as "no answer".
      if (error instanceof UnavailableError) {
        return { kind: "atomic", reply: null, error: error.message };
      }
      throw error;
    }
  }

  async #runHere(
    op: string,
    keys: readonly string[],
    args: readonly string[],
  ): Promise<unknown> {
    const fn = this.#o.ops.get(op)!;
    if (this.#stats.inFlight >= this.#o.inFlightMax) {
      this.#stats.refusedBusy++;
      throw new UnavailableError(
        `too many atomic commands waiting on ${this.#o.self}; retry shortly`,
      );
    }
    this.#stats.inFlight++;
    this.#stats.runLocal++;
    const release = await this.#lock(keys);
    try {
      const coordinator = this.#o.coordinator;
      const records = await Promise.all(keys.map((k) => coordinator.read(k)));
      const outcome = fn(records, args, this.#o.clock.now());
      // Values before deletes: a RENAME that fails half way leaves the
      // value under both names, never under neither.
      const puts = outcome.writes.filter((w) => !("delete" in w));
      const deletes = outcome.writes.filter((w) => "delete" in w);
      await Promise.all(puts.map((w) => this.#apply(w)));
      await Promise.all(deletes.map((w) => this.#apply(w)));
      return outcome.reply;
    } finally {
      release();
      this.#stats.inFlight--;
    }
  }

  async #apply(write: AtomicWrite): Promise<void> {
    const coordinator = this.#o.coordinator;
    if ("delete" in write) {
      await coordinator.pop(write.key);
      return;
    }
    await coordinator.set(write.key, write.value, {
      expiresAtMs: write.expiresAtMs,
    });
  }

  /**
   * Waits for every earlier command on `keys`, and returns the release.
   * All the keys are claimed in one synchronous step, so two multi-key
   * commands can never each hold a key the other waits for.
   */
  async #lock(keys: readonly string[]): Promise<() => void> {
    const unique = [...new Set(keys)];
    let release!: () => void;
    const mine = new Promise<void>((resolve) => release = resolve);
    const before: Promise<void>[] = [];
    for (const key of unique) {
      const prior = this.#tails.get(key);
      if (prior !== undefined) before.push(prior);
      this.#tails.set(key, mine);
    }
    if (before.length > 0) await Promise.all(before);
    return () => {
      release();
      for (const key of unique) {
        if (this.#tails.get(key) === mine) this.#tails.delete(key);
      }
    };
  }
}
