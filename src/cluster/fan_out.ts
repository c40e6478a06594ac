/**
 * Parallel calls with a bound on how many are in flight: the seed's
 * "parallel executor".
 *
 * @module
 */

/** The result of one call of {@link fanOut}. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Calls `fn` on every item with at most `concurrency` calls in flight, and
 * returns every result in the order of `items`. Never rejects.
 */
export async function fanOut<I, T>(
  items: readonly I[],
  concurrency: number,
  fn: (item: I) => Promise<T>,
): Promise<Settled<T>[]> {
  const results: Settled<T>[] = new Array(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = { ok: true, value: await fn(items[i]!) };
      } catch (error) {
        results[i] = { ok: false, error };
      }
    }
  }
  const workers = Math.max(1, Math.min(concurrency, items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}
