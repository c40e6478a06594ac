import { assert, assertEquals } from "@std/assert";
import { ERROR_KINDS_MAX, Recorder } from "./recorder.ts";

Deno.test("Recorder keeps a histogram and counts per op", () => {
  const r = new Recorder(0);
  r.success("get", 1, 100, 10);
  r.success("get", 1, 300, 20);
  r.success("mget", 50, 2000, 30);
  r.failure("set", "http 503", 40);
  const rec = r.finish(500);
  assertEquals(rec.durationMs, 500);
  assertEquals(rec.ops.get("get")!.requests, 2);
  assertEquals(rec.ops.get("get")!.latencyUs.max, 300);
  assertEquals(rec.ops.get("mget")!.keys, 50);
  assertEquals(rec.ops.get("set")!.errors, 1);
  assertEquals(rec.ops.get("set")!.requests, 0);
  assertEquals(rec.allUs.count, 3);
  assertEquals(rec.allUs.max, 2000);
  assertEquals(rec.errorKinds, { "http 503": 1 });
});

Deno.test("Recorder cuts the run into one-second intervals, silent ones as zeros", () => {
  const r = new Recorder(1000);
  for (let i = 0; i < 10; i++) r.success("get", 1, 100 + i, 1000 + i * 50);
  // Nothing during the second second; one slow request in the third.
  r.success("set", 1, 9000, 3500);
  r.failure("set", "connection", 3600);
  const { timeline } = r.finish(3750);
  assertEquals(timeline.map((s) => s.endS), [1, 2, 2.75]);
  assertEquals(timeline.map((s) => s.requests), [10, 0, 1]);
  assertEquals(timeline.map((s) => s.errors), [0, 0, 1]);
  assertEquals(timeline[0]!.p50Us, 104);
  assertEquals(timeline[0]!.maxUs, 109);
  assertEquals(timeline[1]!.p99Us, 0);
  assertEquals(timeline[2]!.p99Us, 9000);
  assertEquals(timeline[2]!.durationS, 0.75);
});

Deno.test("Recorder does not add an empty interval when the run ends on a boundary", () => {
  const r = new Recorder(0);
  r.success("get", 1, 1, 999);
  assertEquals(r.finish(2000).timeline.map((s) => s.requests), [1, 0]);
});

Deno.test("Recorder reports progress from the last complete interval", () => {
  const r = new Recorder(0);
  assertEquals(r.progress(0).requestsPerS, 0);
  for (let i = 0; i < 20; i++) r.success("get", 1, 50, i * 10);
  // Still in the first second: the average so far.
  assertEquals(r.progress(400).requestsPerS, 50);
  r.success("get", 1, 70, 1500);
  const p = r.progress(1500);
  assertEquals(p.requests, 21);
  assertEquals(p.requestsPerS, 20);
  assertEquals(p.p99Us, 50);
  assertEquals(p.elapsedMs, 1500);
});

Deno.test("Recorder groups error kinds beyond its limit as other", () => {
  const r = new Recorder(0);
  for (let i = 0; i < ERROR_KINDS_MAX + 5; i++) r.failure("get", `e${i}`, 1);
  r.failure("get", "e0", 2);
  const kinds = r.finish(10).errorKinds;
  assertEquals(Object.keys(kinds).length, ERROR_KINDS_MAX + 1);
  assertEquals(kinds.other, 5);
  assertEquals(kinds.e0, 2);
});

Deno.test("Recorder's merged histogram equals the per-op ones together", () => {
  const r = new Recorder(0);
  for (let i = 0; i < 1000; i++) {
    r.success(i % 2 ? "get" : "set", 1, (i * 37) % 5000, i);
  }
  const rec = r.finish(1000);
  const get = rec.ops.get("get")!.latencyUs;
  const set = rec.ops.get("set")!.latencyUs;
  assertEquals(rec.allUs.count, get.count + set.count);
  assert(
    rec.allUs.percentile(50) >=
      Math.min(get.percentile(50), set.percentile(50)),
  );
});
