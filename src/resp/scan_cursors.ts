/**
 * SCAN cursors. Redis clients read a cursor as an unsigned integer
 * (redis-cli with `strtoull`, node-redis 4 with `Number`), but a KVDB
 * listing resumes after a key, and a key does not fit in 53 bits. So a
 * cursor is a number that names the last key of its page: the node that
 * issues it remembers the pair and tells every other member, so that a
 * client may go on with it through any node, the issuing one gone or not.
 *
 * The table is bounded in entries and bytes and forgets the oldest first;
 * an entry lives {@link SCAN_CURSOR_TTL_MS} since last used. A cursor the
 * node does not know (forgotten, or issued while this node was down)
 * starts the scan again from the beginning: keys may then be returned
 * twice, which Redis's SCAN allows, but none is skipped.
 *
 * @module
 */

/** Most cursors a node remembers. */
export const SCAN_CURSORS_MAX = 100_000;
/** Most bytes of keys the cursors may hold (keys count as 2 bytes a code unit). */
export const SCAN_CURSOR_BYTES_MAX = 32 * 1024 * 1024;
/** How long an unused cursor is remembered. */
export const SCAN_CURSOR_TTL_MS = 60 * 60 * 1000;

interface Entry {
  after: string;
  atMs: number;
}

/** A bounded map from cursor numbers to the key a scan resumes after. */
export class ScanCursors {
  /** In insertion order, oldest first (a Map keeps it). */
  readonly #entries = new Map<number, Entry>();
  #bytes = 0;
  readonly #now: () => number;
  readonly #random: () => number;

  /** `random` draws a float in [0, 1); default `Math.random`. */
  constructor(now: () => number, random: () => number = Math.random) {
    this.#now = now;
    this.#random = random;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A new cursor for a scan that resumes after `after`. */
  issue(after: string): number {
    let id: number;
    do {
      // 1 to 2^48: a safe integer in every client.
      id = 1 + Math.floor(this.#random() * 2 ** 48);
    } while (this.#entries.has(id));
    this.remember(id, after);
    return id;
  }

  /** Records a cursor (issued here or by a peer). */
  remember(id: number, after: string): void {
    this.#drop(id);
    this.#entries.set(id, { after, atMs: this.#now() });
    this.#bytes += after.length * 2;
    this.#trim();
  }

  /** The key cursor `id` resumes after, or undefined when not known. */
  lookup(id: number): string | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    if (this.#now() - entry.atMs > SCAN_CURSOR_TTL_MS) {
      this.#drop(id);
      return undefined;
    }
    return entry.after;
  }

  #drop(id: number): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    this.#entries.delete(id);
    this.#bytes -= entry.after.length * 2;
  }

  #trim(): void {
    const now = this.#now();
    for (const [id, entry] of this.#entries) {
      const over = this.#entries.size > SCAN_CURSORS_MAX ||
        this.#bytes > SCAN_CURSOR_BYTES_MAX;
      if (!over && now - entry.atMs <= SCAN_CURSOR_TTL_MS) break;
      this.#drop(id);
    }
  }
}
