/**
 * A seeded random source for the load generator, so that a run's key
 * sequence is the same every time it is given the same seed.
 *
 * @module
 */

import { mulberry32 } from "../cluster/random.ts";

/** Returns numbers in [0, 1). */
export type Random = () => number;

/**
 * mulberry32: a small, fast 32-bit generator, good enough to pick keys
 * (not for anything secret). Each worker gets its own stream from
 * {@linkcode streamSeed} so that the workers' sequences do not overlap.
 */
export function seededRandom(seed: number): Random {
  return mulberry32(seed);
}

/**
 * The seed of stream `index` derived from a run's `seed` (a splitmix32
 * step): neighbouring indexes give unrelated seeds.
 */
export function streamSeed(seed: number, index: number): number {
  let z = (seed + Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}
