/**
 * Measures ring balance and join movement for several vnode counts, to
 * choose `VNODES_DEFAULT` (see docs/ring.md).
 *
 * Run: `deno run bench/ring_balance.ts`
 *
 * For each vnode count it builds rings for many deterministic five-member
 * sets (addresses are only strings: nothing is contacted), places 100,000
 * keys, and adds a sixth member. It prints, per vnode count:
 * - the largest deviation of a member's primary share from the mean (mean
 *   over sets, and the worst set),
 * - the fraction of keys whose primary moved when the sixth member joined,
 *   relative to the ideal 1/6 (mean and worst set),
 * - the mean time to build a five-member ring, and its token table size.
 *
 * @module
 */

import { mulberry32 } from "../src/cluster/mod.ts";
import { hashKey, Ring } from "../src/ring/mod.ts";

const VNODES_CANDIDATES = [
  16,
  32,
  64,
  128,
  256,
  512,
  1024,
  2048,
  4096,
] as const;
const SETS = 50;
const MEMBERS = 5;
const KEYS = 100_000;
const SEED = 0x6b766462; // "kvdb"
const BALANCE_DEVIATION_MAX = 0.10;
const MOVEMENT_RATIO_MAX = 1.2;

interface Measure {
  vnodes: number;
  deviationMean: number;
  deviationWorst: number;
  movedMean: number;
  movedWorst: number;
  movedElsewhere: number;
  buildMs: number;
  tokenBytes: number;
}

// Deterministic so that every run prints the same table.
const random = mulberry32;

// Each set holds MEMBERS + 1 distinct addresses: the last one joins.
function memberSets(): string[][] {
  const next = random(SEED);
  const byte = () => Math.floor(next() * 256);
  const sets: string[][] = [];
  for (let s = 0; s < SETS; s++) {
    const set = new Set<string>();
    while (set.size < MEMBERS + 1) {
      const port = 5000 + Math.floor(next() * 5000);
      set.add(`10.0.${byte()}.${byte()}:${port}`);
    }
    sets.push([...set]);
  }
  return sets;
}

function keyHashes(): Uint32Array {
  const hashes = new Uint32Array(KEYS);
  for (let i = 0; i < KEYS; i++) hashes[i] = hashKey(`key:${i}`);
  return hashes;
}

function primaries(ring: Ring, hashes: Uint32Array): string[] {
  return Array.from(hashes, (hash) => ring.preferenceListForHash(hash, 1)[0]!);
}

async function measure(
  vnodes: number,
  sets: string[][],
  hashes: Uint32Array,
): Promise<Measure> {
  let deviationSum = 0;
  let deviationWorst = 0;
  let movedSum = 0;
  let movedWorst = 0;
  let movedElsewhere = 0;
  let buildMs = 0;
  let tokenBytes = 0;
  for (const set of sets) {
    const members = set.slice(0, MEMBERS);
    const joiner = set[MEMBERS]!;
    const started = performance.now();
    const ring = await Ring.build(members, { vnodes });
    buildMs += performance.now() - started;
    tokenBytes = ring.tokenBytes;
    const before = primaries(ring, hashes);

    const counts = new Map<string, number>(members.map((m) => [m, 0]));
    for (const member of before) counts.set(member, counts.get(member)! + 1);
    const mean = KEYS / MEMBERS;
    let deviation = 0;
    for (const count of counts.values()) {
      deviation = Math.max(deviation, Math.abs(count - mean) / mean);
    }
    deviationSum += deviation;
    deviationWorst = Math.max(deviationWorst, deviation);

    const joined = await Ring.build(set, { vnodes });
    const after = primaries(joined, hashes);
    let moved = 0;
    for (let i = 0; i < KEYS; i++) {
      if (after[i] === before[i]) continue;
      moved++;
      if (after[i] !== joiner) movedElsewhere++;
    }
    const ratio = moved / KEYS / (1 / (MEMBERS + 1));
    movedSum += ratio;
    movedWorst = Math.max(movedWorst, ratio);
  }
  return {
    vnodes,
    deviationMean: deviationSum / sets.length,
    deviationWorst,
    movedMean: movedSum / sets.length,
    movedWorst,
    movedElsewhere,
    buildMs: buildMs / sets.length,
    tokenBytes,
  };
}

function passes(m: Measure): boolean {
  return m.deviationWorst <= BALANCE_DEVIATION_MAX &&
    m.movedWorst <= MOVEMENT_RATIO_MAX && m.movedElsewhere === 0;
}

function percent(x: number): string {
  return `±${(x * 100).toFixed(1)} %`;
}

function row(cells: string[]): string {
  return `| ${cells.join(" | ")} |`;
}

const sets = memberSets();
const hashes = keyHashes();
// Warm up the digest and lookup paths so the first row's build time is not
// mostly JIT compilation.
await measure(16, sets.slice(0, 5), hashes);

console.log(
  `${SETS} sets of ${MEMBERS} members, ${KEYS} keys, a 6th member joins`,
);
console.log(
  `pass: worst balance within ${percent(BALANCE_DEVIATION_MAX)}, ` +
    `worst movement <= ${MOVEMENT_RATIO_MAX} x ideal 1/6\n`,
);
console.log(row([
  "vnodes",
  "balance mean",
  "balance worst",
  "moved mean",
  "moved worst",
  "build 5 ms",
  "index bytes",
  "pass",
]));
console.log(row(Array(8).fill("---")));
const measures: Measure[] = [];
for (const vnodes of VNODES_CANDIDATES) {
  const m = await measure(vnodes, sets, hashes);
  measures.push(m);
  console.log(row([
    String(m.vnodes),
    percent(m.deviationMean),
    percent(m.deviationWorst),
    `${m.movedMean.toFixed(3)} x`,
    `${m.movedWorst.toFixed(3)} x`,
    m.buildMs.toFixed(2),
    String(m.tokenBytes),
    passes(m) ? "yes" : "no",
  ]));
}
const chosen = measures.find(passes);
console.log(
  chosen === undefined
    ? "\nno candidate passes"
    : `\nsmallest passing vnodes: ${chosen.vnodes}`,
);
