/**
 * Seeded randomness for the core: the same seed gives the same choices, so
 * a simulation replays exactly.
 *
 * @module
 */

/** A source of uniform numbers in [0, 1). */
export interface Random {
  next(): number;
}

/**
 * mulberry32: a small, fast seeded generator of numbers in [0, 1). Good
 * enough to pick probe targets or benchmark keys; not for secrets.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded {@link Random} (mulberry32). */
export function seededRandom(seed: number): Random {
  return { next: mulberry32(seed) };
}

/** Shuffles `items` in place (Fisher-Yates) and returns it. */
export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random.next() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
