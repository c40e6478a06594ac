import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { hashKey } from "./hash.ts";
import { MEMBERS_MAX, Ring, VNODES_DEFAULT, VNODES_MAX } from "./ring.ts";

const THREE = ["127.0.0.1:5878", "127.0.0.1:5879", "127.0.0.1:5880"];
const FIVE = [5878, 5879, 5880, 5881, 5882].map((p) => `127.0.0.1:${p}`);
const SIXTH = "127.0.0.1:5883";
const KEYS = 100_000;

const [A, B, C] = THREE as [string, string, string];

// Building a default ring costs ~150 ms of digests: build each member set
// once, on first use inside a test, and share it (rings are immutable).
const rings = new Map<string, Promise<Ring>>();
function defaultRing(members: readonly string[]): Promise<Ring> {
  const id = members.join(",");
  let ring = rings.get(id);
  if (ring === undefined) {
    ring = Ring.build(members);
    rings.set(id, ring);
  }
  return ring;
}

function keys(): string[] {
  return Array.from({ length: KEYS }, (_, i) => `key:${i}`);
}

Deno.test("Ring.build() uses the default vnodes", async () => {
  const ring = await defaultRing(THREE);
  assertEquals(ring.vnodes, VNODES_DEFAULT);
  assert(ring.tokenBytes >= THREE.length * VNODES_DEFAULT * 6);
});

// Pinned placements: every node must agree on them, across versions. If
// one changes, placement changed and existing data would be misplaced.
Deno.test("preferenceList() places keys as pinned for the default ring", async () => {
  const ring = await defaultRing(THREE);
  const golden: [string, string[]][] = [
    ["", [B, A, C]],
    ["hello", [B, A, C]],
    ["user:42", [B, A, C]],
    ["key:0", [B, C, A]],
    ["key:1", [B, C, A]],
    ["key:2", [C, A, B]],
    ["key:3", [A, C, B]],
    ["key:4", [A, B, C]],
    ["key:99999", [A, C, B]],
    ["a", [C, B, A]],
    ["日本語キー", [A, C, B]],
    ["🔑", [B, C, A]],
  ];
  for (const [key, expected] of golden) {
    assertEquals(ring.preferenceList(key, 3), expected, key);
    assertEquals(ring.primary(key), expected[0], key);
  }
});

Deno.test("Ring.build() takes tokens from SHA-256 of member#i", async () => {
  // With one vnode the tokens are easy to check by hand: the first 4
  // bytes of SHA-256("127.0.0.1:5879#0") are 692300062, then 5880's are
  // 2009218597 and 5878's 2647914577.
  const ring = await Ring.build(THREE, { vnodes: 1 });
  assertEquals(ring.preferenceListForHash(0, 3), [B, C, A]);
  assertEquals(ring.preferenceListForHash(692300062, 3), [B, C, A]);
  assertEquals(ring.preferenceListForHash(692300063, 3), [C, A, B]);
  assertEquals(ring.preferenceListForHash(2009218597, 3), [C, A, B]);
  assertEquals(ring.preferenceListForHash(2647914577, 3), [A, B, C]);
  assertEquals(ring.preferenceListForHash(2647914578, 3), [B, C, A]);
  assertEquals(ring.preferenceListForHash(0xffffffff, 3), [B, C, A]);
  assertEquals(ring.preferenceList("key:0", 3), [A, B, C]);
  assertEquals(ring.preferenceList("key:99999", 3), [C, A, B]);
});

// An independent, slow model of the ring: sort (token, member) pairs and
// walk them. The real ring must agree at every token and either side of it.
async function naiveRing(
  members: string[],
  vnodes: number,
): Promise<(hash: number, n: number) => string[]> {
  const sorted = [...new Set(members)].sort();
  const entries: [number, string][] = [];
  for (const member of sorted) {
    for (let i = 0; i < vnodes; i++) {
      const bytes = new TextEncoder().encode(`${member}#${i}`);
      const digest = await crypto.subtle.digest("SHA-256", bytes);
      entries.push([new DataView(digest).getUint32(0), member]);
    }
  }
  entries.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1));
  return (hash, n) => {
    let index = entries.findIndex(([token]) => token >= hash);
    if (index === -1) index = 0;
    const list: string[] = [];
    for (let step = 0; list.length < Math.min(n, sorted.length); step++) {
      const member = entries[(index + step) % entries.length]![1];
      if (!list.includes(member)) list.push(member);
    }
    return list;
  };
}

Deno.test("preferenceListForHash() agrees with a naive walk over the tokens", async () => {
  for (const vnodes of [1, 3, 16]) {
    const ring = await Ring.build(FIVE, { vnodes });
    const naive = await naiveRing(FIVE, vnodes);
    const tokens: number[] = [];
    for (const member of FIVE) {
      for (let i = 0; i < vnodes; i++) {
        const bytes = new TextEncoder().encode(`${member}#${i}`);
        const digest = await crypto.subtle.digest("SHA-256", bytes);
        tokens.push(new DataView(digest).getUint32(0));
      }
    }
    const hashes = [0, 1, 2 ** 31, 0xfffffffe, 0xffffffff];
    for (const token of tokens) hashes.push(token - 1, token, token + 1);
    for (let i = 0; i < 1000; i++) hashes.push(hashKey(`key:${i}`));
    for (const hash of hashes.filter((h) => h >= 0 && h <= 0xffffffff)) {
      for (const n of [1, 3, 5]) {
        assertEquals(
          ring.preferenceListForHash(hash, n),
          naive(hash, n),
          `vnodes ${vnodes}, hash ${hash}, n ${n}`,
        );
      }
    }
  }
});

Deno.test("Ring.build() gives the same placement whatever the member order", async () => {
  const reference = await Ring.build(FIVE, { vnodes: 64 });
  const orders = [
    [...FIVE].reverse(),
    [FIVE[2]!, FIVE[0]!, FIVE[4]!, FIVE[1]!, FIVE[3]!],
    [...FIVE, ...FIVE, FIVE[3]!],
  ];
  for (const members of orders) {
    const ring = await Ring.build(members, { vnodes: 64 });
    assertEquals(ring.members, FIVE);
    for (let i = 0; i < 2000; i++) {
      const key = `key:${i}`;
      assertEquals(
        ring.preferenceList(key, 3),
        reference.preferenceList(key, 3),
      );
    }
  }
});

Deno.test("Ring.build() breaks token ties by member name", async () => {
  // SHA-256("node-25147#0") and SHA-256("node-49019#0") share their first
  // 4 bytes (found by a birthday search), so both tokens are 2796771940.
  const low = "node-25147";
  const high = "node-49019";
  for (const members of [[low, high], [high, low]]) {
    const ring = await Ring.build(members, { vnodes: 1 });
    for (const hash of [0, 2796771939, 2796771940, 2796771941]) {
      assertEquals(ring.preferenceListForHash(hash, 2), [low, high]);
    }
  }
});

Deno.test("Ring.members is sorted and distinct", async () => {
  const ring = await Ring.build([C, A, C, B, A]);
  assertEquals(ring.members, [A, B, C]);
  assert(Object.isFrozen(ring.members));
});

Deno.test("preferenceList() returns distinct physical nodes, primary first", async () => {
  const ring = await Ring.build(FIVE, { vnodes: 16 });
  for (let i = 0; i < 5000; i++) {
    const key = `key:${i}`;
    for (let n = 1; n <= FIVE.length; n++) {
      const list = ring.preferenceList(key, n);
      assertEquals(list.length, n);
      assertEquals(new Set(list).size, n);
      assertEquals(list[0], ring.primary(key));
      assertEquals(list, ring.preferenceListForHash(hashKey(key), n));
    }
  }
});

Deno.test("preferenceList() with a longer n extends the shorter list", async () => {
  const ring = await Ring.build(FIVE, { vnodes: 16 });
  for (let i = 0; i < 1000; i++) {
    const key = `key:${i}`;
    assertEquals(ring.preferenceList(key, 5).slice(0, 3), [
      ...ring.preferenceList(key, 3),
    ]);
  }
});

Deno.test("preferenceList() caps n at the number of members", async () => {
  const ring = await defaultRing(THREE);
  assertEquals(
    ring.preferenceList("hello", 10),
    ring.preferenceList("hello", 3),
  );
  const single = await Ring.build([A]);
  assertEquals(single.preferenceList("hello", 3), [A]);
  assertEquals(single.primary("hello"), A);
});

Deno.test("preferenceList() returns a frozen list that callers cannot mutate", async () => {
  const ring = await defaultRing(THREE);
  const list = ring.preferenceList("hello", 3);
  assert(Object.isFrozen(list));
  assertThrows(() => list.push("x"), TypeError);
  assertEquals(ring.preferenceList("hello", 3), [B, A, C]);
});

Deno.test("preferenceList() rejects an n that is not an integer >= 1", async () => {
  const ring = await defaultRing(THREE);
  for (const n of [0, -1, 1.5, NaN, Infinity]) {
    assertThrows(
      () => ring.preferenceList("hello", n),
      RangeError,
      `Cannot compute preference list as 'n' must be an integer >= 1: current value is ${n}`,
    );
    assertThrows(() => ring.preferenceListForHash(0, n), RangeError);
  }
});

Deno.test("preferenceListForHash() rejects a hash outside [0, 2^32 - 1]", async () => {
  const ring = await defaultRing(THREE);
  for (const hash of [-1, 2 ** 32, 0.5, NaN]) {
    assertThrows(
      () => ring.preferenceListForHash(hash, 1),
      RangeError,
      "Cannot compute preference list as 'hash' must be an integer",
    );
  }
});

Deno.test("Ring.build() rejects an empty member list", async () => {
  await assertRejects(
    () => Ring.build([]),
    RangeError,
    "Cannot build ring as 'members' must not be empty",
  );
});

Deno.test("Ring.build() rejects an empty member name", async () => {
  await assertRejects(
    () => Ring.build([A, ""]),
    RangeError,
    "Cannot build ring as 'members' must be non-empty strings",
  );
});

Deno.test("Ring.build() rejects more than MEMBERS_MAX members", async () => {
  const members = Array.from({ length: MEMBERS_MAX + 1 }, (_, i) => `m${i}`);
  await assertRejects(
    () => Ring.build(members, { vnodes: 1 }),
    RangeError,
    `must hold at most ${MEMBERS_MAX} distinct names`,
  );
});

Deno.test("Ring.build() rejects vnodes outside [1, VNODES_MAX]", async () => {
  for (const vnodes of [0, -1, 1.5, VNODES_MAX + 1, NaN]) {
    await assertRejects(
      () => Ring.build(THREE, { vnodes }),
      RangeError,
      `Cannot build ring as 'vnodes' must be an integer in [1, 4096]: current value is ${vnodes}`,
    );
  }
  const ring = await Ring.build([A], { vnodes: VNODES_MAX });
  assertEquals(ring.vnodes, VNODES_MAX);
});

Deno.test("Ring.build() balances primaries within 10 % of the mean", async () => {
  const ring = await defaultRing(FIVE);
  const counts = new Map(FIVE.map((m) => [m, 0]));
  for (const key of keys()) {
    const primary = ring.primary(key);
    counts.set(primary, counts.get(primary)! + 1);
  }
  const mean = KEYS / FIVE.length;
  for (const [member, count] of counts) {
    const deviation = Math.abs(count - mean) / mean;
    assert(deviation <= 0.1, `${member} holds ${count} keys, mean ${mean}`);
  }
});

Deno.test("Ring.build() moves only keys to a joining member, about 1/6 of them", async () => {
  const before = await defaultRing(FIVE);
  const after = await Ring.build([...FIVE, SIXTH]);
  let moved = 0;
  for (const key of keys()) {
    const from = before.primary(key);
    const to = after.primary(key);
    if (from === to) continue;
    moved++;
    assertEquals(to, SIXTH, `${key} moved from ${from} to ${to}`);
  }
  assert(moved > 0, "the joining member took no key");
  assert(
    moved <= 1.2 * KEYS / 6,
    `${moved} keys moved, more than 1.2 x ${KEYS / 6}`,
  );
});
