/**
 * Hybrid logical clock versions: last writer wins across the cluster.
 *
 * A version is `[wallMs, counter, nodeId]`. Versions compare by wall time,
 * then by counter, then by node id, so every node orders any two writes the
 * same way, and a node that has seen version v only issues versions after v
 * even when its own wall clock is behind (Kulkarni et al., 2014).
 *
 * @module
 */

import { assert } from "@std/assert";
import type { Clock } from "./clock.ts";

/** A write's version: wall milliseconds, logical counter, writer's node id. */
export type Version = readonly [wallMs: number, counter: number, node: string];

/** Orders two versions: negative if a < b, 0 if equal, positive if a > b. */
export function compareVersions(a: Version, b: Version): number {
  if (a[0] !== b[0]) return a[0] - b[0];
  if (a[1] !== b[1]) return a[1] - b[1];
  return a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0;
}

/** How far ahead of our wall clock a peer's version may be before we refuse to follow it. */
export const HLC_DRIFT_MS_MAX = 60_000;

/** Issues monotonic versions for one node. */
export class HybridClock {
  readonly #clock: Clock;
  readonly #node: string;
  #wallMs = 0;
  #counter = 0;

  constructor(clock: Clock, node: string) {
    this.#clock = clock;
    this.#node = node;
  }

  /** A version newer than every version this clock has issued or observed. */
  now(): Version {
    const wall = this.#clock.now();
    assert(Number.isFinite(wall), `a clock reads a finite time: got ${wall}`);
    const [lastWall, lastCounter] = [this.#wallMs, this.#counter];
    if (wall > this.#wallMs) {
      this.#wallMs = wall;
      this.#counter = 0;
    } else {
      this.#counter++;
    }
    assert(
      this.#wallMs > lastWall ||
        (this.#wallMs === lastWall && this.#counter > lastCounter),
      "versions a clock issues only grow",
    );
    return [this.#wallMs, this.#counter, this.#node];
  }

  /**
   * Starts after `version`, with no drift limit: for the newest version a
   * node already stores when it starts, which it accepted before.
   */
  resume(version: Version): void {
    const [wall, counter] = version;
    if (
      wall > this.#wallMs ||
      (wall === this.#wallMs && counter > this.#counter)
    ) {
      this.#wallMs = wall;
      this.#counter = counter;
    }
  }

  /**
   * Takes note of a version seen from a peer, so that every later
   * {@link now} is newer than it. A version too far in the future is
   * ignored (a peer with a broken clock must not drag ours along); it still
   * orders correctly against others, it just does not move us. Returns
   * false when it was ignored.
   */
  observe(version: Version): boolean {
    const [wall, counter] = version;
    if (wall > this.#clock.now() + HLC_DRIFT_MS_MAX) return false;
    if (wall > this.#wallMs) {
      this.#wallMs = wall;
      this.#counter = counter;
    } else if (wall === this.#wallMs && counter > this.#counter) {
      this.#counter = counter;
    }
    return true;
  }
}
