import { assert, assertEquals, assertMatch } from "@std/assert";
import { ClockSkew } from "./clock_skew.ts";

const PEERS = ["a:1", "b:1", "c:1", "d:1"];

/** Records one probe of `peer` whose clock is `offset` ms from ours. */
function probe(skew: ClockSkew, peer: string, offset: number, at = 1_000) {
  skew.record(peer, at - 5, at + offset, at + 5);
}

Deno.test("ClockSkew estimates a peer's offset from the round trip with the least delay", () => {
  const skew = new ClockSkew();
  skew.record("a:1", 1_000, 1_300, 1_200); // rtt 200: offset 200 ± 100
  skew.record("a:1", 2_000, 2_010, 2_010); // rtt 10: offset 5 ± 5
  assertEquals(skew.estimate("a:1", 2_010), { offsetMs: 5, uncertaintyMs: 5 });
  assertEquals(skew.estimate("b:1", 2_010), undefined);
  assertEquals(
    skew.estimate("a:1", 40_000),
    undefined,
    "old samples say nothing",
  );
});

Deno.test("ClockSkew refuses only when most measured peers are certainly beyond the limit", () => {
  const skew = new ClockSkew({ maxOffsetMs: 500 });
  assertEquals(skew.refusal(1_000, PEERS), undefined, "nothing measured yet");
  for (const peer of PEERS) probe(skew, peer, -20_000);
  assertMatch(
    skew.refusal(1_000, PEERS)!,
    /clock is 20000 ms ahead of 4 of 4 peers, beyond the ±500 ms/,
  );

  const behind = new ClockSkew({ maxOffsetMs: 500 });
  for (const peer of PEERS) probe(behind, peer, 900);
  assertMatch(behind.refusal(1_000, PEERS)!, /900 ms behind 4 of 4 peers/);

  // One peer off of four: that peer's clock is wrong, not ours.
  const one = new ClockSkew({ maxOffsetMs: 500 });
  probe(one, "a:1", 20_000);
  for (const peer of PEERS.slice(1)) probe(one, peer, 3);
  assertEquals(one.refusal(1_000, PEERS), undefined);

  // Half is not most.
  const half = new ClockSkew({ maxOffsetMs: 500 });
  probe(half, "a:1", 20_000);
  probe(half, "b:1", 20_000);
  probe(half, "c:1", 0);
  probe(half, "d:1", 0);
  assertEquals(half.refusal(1_000, PEERS), undefined);

  // Within the limit once the round trip's uncertainty is counted.
  const unsure = new ClockSkew({ maxOffsetMs: 500 });
  for (const peer of PEERS) unsure.record(peer, 1_000, 1_650, 1_300);
  assertEquals(unsure.refusal(1_300, PEERS), undefined);
  assert(unsure.estimate("a:1", 1_300)!.offsetMs === 500);
});
