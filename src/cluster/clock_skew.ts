/**
 * How far this node's wall clock is from its peers', measured from probe
 * round trips, and whether it is too far to stamp writes.
 *
 * Each probe answer carries the peer's wall time. With the probe sent at
 * `t0` and answered at `t1` on this node's clock, the peer's clock read
 * `peerNow` somewhere in between, so its offset from ours is
 * `peerNow - (t0 + t1) / 2`, give or take half the round trip (NTP's and
 * CockroachDB's estimate). Of a peer's recent samples the one with the
 * shortest round trip is the best estimate.
 *
 * Why it matters: a write's version starts from the coordinator's wall
 * clock, and a TTL is an instant on it. Versions order writes correctly
 * whatever the skew (a replica holding a newer version makes the
 * coordinator stamp again, see Coordinator.write), but a TTL is off by the
 * coordinator's skew. So a node whose clock is more than the limit away
 * from most of its peers refuses to coordinate writes, with an error that
 * names the skew, as CockroachDB stops a node past its maximum offset.
 *
 * Pure: the caller measures and hands in times.
 *
 * @module
 */

import { assert } from "@std/assert";

/** The largest clock offset a node may have and still stamp writes. */
export const CLOCK_OFFSET_MS_MAX_DEFAULT = 500;

/** Samples kept per peer. */
const SAMPLES_PER_PEER = 8;

/** One measurement of a peer's clock. */
interface Sample {
  /** The peer's clock minus ours, in ms. */
  offsetMs: number;
  /** The probe's round trip, in ms. */
  rttMs: number;
  /** When it was taken, on our clock. */
  atMs: number;
}

/** A peer's offset as best measured, for `cluster_info` and metrics. */
export interface OffsetEstimate {
  /** The peer's clock minus this node's, in ms (positive: it is ahead). */
  offsetMs: number;
  /** The estimate is good to within this many ms either way. */
  uncertaintyMs: number;
}

/** Options of {@link ClockSkew}. */
export interface ClockSkewOptions {
  /** Default {@link CLOCK_OFFSET_MS_MAX_DEFAULT}. */
  maxOffsetMs?: number;
  /** Samples older than this are not used. Default 30 s. */
  sampleMaxAgeMs?: number;
}

/** Offsets to peers, from probe round trips. */
export class ClockSkew {
  readonly maxOffsetMs: number;
  readonly #maxAgeMs: number;
  readonly #samples = new Map<string, Sample[]>();

  constructor(options: ClockSkewOptions = {}) {
    this.maxOffsetMs = options.maxOffsetMs ?? CLOCK_OFFSET_MS_MAX_DEFAULT;
    this.#maxAgeMs = options.sampleMaxAgeMs ?? 30_000;
    assert(this.maxOffsetMs > 0 && this.#maxAgeMs > 0, "positive bounds");
  }

  /**
   * Takes a probe to `peer`, sent at `sentAtMs` and answered at
   * `receivedAtMs` (our clock), whose answer said `peerNowMs`.
   */
  record(
    peer: string,
    sentAtMs: number,
    peerNowMs: number,
    receivedAtMs: number,
  ): void {
    // Our clock may step back between the two readings; such a sample
    // says nothing.
    if (receivedAtMs < sentAtMs) return;
    let samples = this.#samples.get(peer);
    if (samples === undefined) {
      samples = [];
      this.#samples.set(peer, samples);
    }
    samples.push({
      offsetMs: peerNowMs - (sentAtMs + receivedAtMs) / 2,
      rttMs: receivedAtMs - sentAtMs,
      atMs: receivedAtMs,
    });
    if (samples.length > SAMPLES_PER_PEER) samples.shift();
  }

  /** Forgets a peer (it left, or was removed). */
  forget(peer: string): void {
    this.#samples.delete(peer);
  }

  /** The best recent estimate of `peer`'s offset, if any sample is recent. */
  estimate(peer: string, nowMs: number): OffsetEstimate | undefined {
    let best: Sample | undefined;
    for (const sample of this.#samples.get(peer) ?? []) {
      if (nowMs - sample.atMs > this.#maxAgeMs) continue;
      if (best === undefined || sample.rttMs < best.rttMs) best = sample;
    }
    return best === undefined
      ? undefined
      : { offsetMs: best.offsetMs, uncertaintyMs: best.rttMs / 2 };
  }

  /** Every peer's estimate, by address. */
  estimates(nowMs: number): Map<string, OffsetEstimate> {
    const out = new Map<string, OffsetEstimate>();
    for (const peer of this.#samples.keys()) {
      const estimate = this.estimate(peer, nowMs);
      if (estimate !== undefined) out.set(peer, estimate);
    }
    return out;
  }

  /**
   * Why this node must not stamp writes, or undefined when it may: its
   * clock is certainly more than the limit away from more than half of the
   * `peers` with a recent measurement. Without measurements it may (a
   * single node, or one that just started; its first probes measure).
   */
  refusal(nowMs: number, peers: Iterable<string>): string | undefined {
    let measured = 0;
    const off: number[] = [];
    for (const peer of peers) {
      const estimate = this.estimate(peer, nowMs);
      if (estimate === undefined) continue;
      measured++;
      const certain = Math.abs(estimate.offsetMs) - estimate.uncertaintyMs;
      if (certain > this.maxOffsetMs) off.push(estimate.offsetMs);
    }
    if (measured === 0 || off.length * 2 <= measured) return undefined;
    off.sort((a, b) => a - b);
    const median = off[Math.floor(off.length / 2)]!;
    // Peers ahead of us (positive offsets) mean this clock is behind.
    const direction = median > 0 ? "behind" : "ahead of";
    return `write refused: this node's clock is ${
      Math.round(Math.abs(median))
    } ms ${direction} ${off.length} of ${measured} peers, beyond the ` +
      `±${this.maxOffsetMs} ms its versions and TTLs allow; fix its clock ` +
      `(NTP) or send writes to another node`;
  }
}
