/**
 * Redis's glob patterns (KEYS, SCAN MATCH), matched on bytes as Redis
 * matches them: `*` any run, `?` one byte, `[abc]`, `[^a]`, `[a-z]`, and
 * `\x` for a literal x.
 *
 * @module
 */

/** Most nested `*` backtracking steps one match may take (a bound on hostile patterns). */
const GLOB_STEPS_MAX = 1_000_000;

/** True when `subject` matches `pattern` (both bytes). */
export function globMatch(pattern: Uint8Array, subject: Uint8Array): boolean {
  let steps = 0;
  // Iterative with one backtrack point per star: linear for most patterns.
  let p = 0;
  let s = 0;
  let starP = -1;
  let starS = -1;
  while (s < subject.length) {
    if (++steps > GLOB_STEPS_MAX) return false;
    if (p < pattern.length) {
      const c = pattern[p]!;
      if (c === 42 /* * */) {
        while (pattern[p + 1] === 42) p++;
        starP = p++;
        starS = s;
        continue;
      }
      const matched = matchOne(pattern, p, subject[s]!);
      if (matched > 0) {
        p = matched;
        s++;
        continue;
      }
    }
    if (starP === -1) return false;
    p = starP + 1;
    s = ++starS;
  }
  while (pattern[p] === 42) p++;
  return p === pattern.length;
}

/**
 * Matches one byte against the pattern element at `p`; returns the index
 * after the element, or 0 when it does not match.
 */
function matchOne(pattern: Uint8Array, p: number, byte: number): number {
  const c = pattern[p]!;
  if (c === 63 /* ? */) return p + 1;
  if (c === 92 /* \ */ && p + 1 < pattern.length) {
    return pattern[p + 1] === byte ? p + 2 : 0;
  }
  if (c !== 91 /* [ */) return c === byte ? p + 1 : 0;
  let i = p + 1;
  const not = pattern[i] === 94; /* ^ */
  if (not) i++;
  let match = false;
  for (; i < pattern.length && pattern[i] !== 93 /* ] */; i++) {
    const x = pattern[i]!;
    if (x === 92 && i + 1 < pattern.length) {
      i++;
      if (pattern[i] === byte) match = true;
    } else if (
      pattern[i + 1] === 45 /* - */ && i + 2 < pattern.length &&
      pattern[i + 2] !== 93
    ) {
      let lo = x;
      let hi = pattern[i + 2]!;
      if (lo > hi) [lo, hi] = [hi, lo];
      if (byte >= lo && byte <= hi) match = true;
      i += 2;
    } else if (x === byte) match = true;
  }
  // An unclosed class runs to the end of the pattern, as in Redis.
  const end = i < pattern.length ? i + 1 : i;
  return (not ? !match : match) ? end : 0;
}

/**
 * The literal bytes every match starts with: the pattern up to its first
 * special character. Used to narrow a key listing to a prefix.
 */
export function literalPrefix(pattern: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === 42 || c === 63 || c === 91) break;
    if (c === 92) {
      if (i + 1 >= pattern.length) break;
      out.push(pattern[++i]!);
      continue;
    }
    out.push(c);
  }
  return Uint8Array.from(out);
}

/** True when the pattern is `*` alone: everything matches. */
export function matchesAll(pattern: Uint8Array): boolean {
  return pattern.length > 0 && pattern.every((c) => c === 42);
}
