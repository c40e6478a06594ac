/**
 * Coalescing of replica messages: the `write` and `read` requests that one
 * event-loop turn sends to the same peer travel as one request. Under load
 * many client requests are in flight at once, and their replica messages
 * to a peer share one HTTP exchange instead of one each: the per-request
 * cost of an HTTP call is paid once per peer per turn.
 *
 * @module
 */

import { assert } from "@std/assert";
import { setImmediate } from "node:timers";
import type { Version } from "../clock/mod.ts";
import type { StoredRecord } from "../storage/mod.ts";
import {
  PEER_BATCH_MAX,
  type PeerRequest,
  type PeerResponse,
} from "./messages.ts";
import type { PeerTransport } from "./transport.ts";

interface Waiter {
  /** Offset and count of this caller's records or keys in the batch. */
  offset: number;
  count: number;
  resolve: (response: PeerResponse) => void;
  reject: (error: unknown) => void;
}

interface Batch {
  peer: string;
  kind: "write" | "read";
  hintFor: string | undefined;
  records: StoredRecord[];
  keys: string[];
  waiters: Waiter[];
  deadlineMs: number;
}

/** Wraps a transport so that same-turn `write`s and `read`s to a peer coalesce. */
export class BatchingTransport implements PeerTransport {
  readonly #inner: PeerTransport;
  readonly #schedule: (fn: () => void) => void;
  readonly #open = new Map<string, Batch>();

  /**
   * `schedule` runs a function at the end of the current turn; default
   * `setImmediate`, which runs after this turn's I/O callbacks, so that
   * every request that arrived in the turn has queued its messages.
   */
  constructor(
    inner: PeerTransport,
    schedule: (fn: () => void) => void = (fn) => void setImmediate(fn),
  ) {
    this.#inner = inner;
    this.#schedule = schedule;
  }

  call(
    peer: string,
    request: PeerRequest,
    deadlineMs: number,
  ): Promise<PeerResponse> {
    if (request.kind !== "write" && request.kind !== "read") {
      return this.#inner.call(peer, request, deadlineMs);
    }
    const hintFor = request.kind === "write" ? request.hintFor : undefined;
    const id = `${peer}\u0000${request.kind}\u0000${hintFor ?? ""}`;
    const items = request.kind === "write"
      ? request.records.length
      : request.keys.length;
    let batch = this.#open.get(id);
    if (batch !== undefined && this.#size(batch) + items > PEER_BATCH_MAX) {
      this.#flush(id);
      batch = undefined;
    }
    if (batch === undefined) {
      batch = {
        peer,
        kind: request.kind,
        hintFor,
        records: [],
        keys: [],
        waiters: [],
        deadlineMs,
      };
      this.#open.set(id, batch);
      this.#schedule(() => this.#flush(id));
    }
    const open = batch;
    return new Promise((resolve, reject) => {
      const offset = this.#size(open);
      if (request.kind === "write") open.records.push(...request.records);
      else open.keys.push(...request.keys);
      open.deadlineMs = Math.max(open.deadlineMs, deadlineMs);
      open.waiters.push({ offset, count: items, resolve, reject });
    });
  }

  #size(batch: Batch): number {
    return batch.kind === "write" ? batch.records.length : batch.keys.length;
  }

  #flush(id: string): void {
    const batch = this.#open.get(id);
    if (batch === undefined) return;
    this.#open.delete(id);
    // The callers' shares tile the batch, in order, without gap or overlap.
    let end = 0;
    for (const waiter of batch.waiters) {
      assert(waiter.offset === end, "batch shares are contiguous");
      end += waiter.count;
    }
    assert(end === this.#size(batch), "batch shares cover the batch");
    const request: PeerRequest = batch.kind === "write"
      ? {
        kind: "write",
        records: batch.records,
        ...(batch.hintFor !== undefined ? { hintFor: batch.hintFor } : {}),
      }
      : { kind: "read", keys: batch.keys };
    this.#inner.call(batch.peer, request, batch.deadlineMs).then(
      (response) => {
        for (const waiter of batch.waiters) {
          waiter.resolve(share(response, waiter));
        }
      },
      (error) => {
        for (const waiter of batch.waiters) waiter.reject(error);
      },
    );
  }
}

/** A caller's part of the answer to a batch it shared. */
function share(response: PeerResponse, waiter: Waiter): PeerResponse {
  const { offset, count } = waiter;
  switch (response.kind) {
    case "read":
      return {
        kind: "read",
        records: response.records.slice(offset, offset + count),
      };
    case "write": {
      const newer = response.newer
        ?.filter(([i]) => i >= offset && i < offset + count)
        .map(([i, version]): [number, Version] => [i - offset, version]);
      return newer === undefined || newer.length === 0
        ? { kind: "write", applied: count }
        : { kind: "write", applied: count - newer.length, newer };
    }
    default:
      return response;
  }
}
