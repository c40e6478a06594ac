import { assert, assertEquals, assertThrows } from "@std/assert";
import { Histogram, HISTOGRAM_VALUE_MAX } from "./histogram.ts";

Deno.test("Histogram reports exact percentiles for values below 2 * 10^digits", () => {
  const h = new Histogram();
  for (let v = 1; v <= 1000; v++) h.record(v);
  assertEquals(h.count, 1000);
  assertEquals(h.percentile(50), 500);
  assertEquals(h.percentile(90), 900);
  assertEquals(h.percentile(99), 990);
  assertEquals(h.percentile(99.9), 999);
  assertEquals(h.percentile(100), 1000);
  assertEquals(h.percentile(0), 1);
  assertEquals(h.min, 1);
  assertEquals(h.max, 1000);
  assertEquals(h.mean, 500.5);
});

Deno.test("Histogram keeps every value within its significant digits", () => {
  for (const digits of [1, 2, 3, 4]) {
    const h = new Histogram({ significantDigits: digits });
    // Spread over many orders of magnitude, one value at a time.
    for (let v = 1; v < HISTOGRAM_VALUE_MAX; v = Math.ceil(v * 1.37) + 1) {
      h.reset();
      h.record(v);
      h.record(HISTOGRAM_VALUE_MAX); // so that max does not clamp p50
      const reported = h.percentile(50);
      assert(reported >= v, `${digits} digits: ${reported} < ${v}`);
      assert(
        (reported - v) / v <= 10 ** -digits,
        `${digits} digits: ${v} reported as ${reported}`,
      );
    }
  }
});

Deno.test("Histogram never reports a percentile above the largest value recorded", () => {
  const h = new Histogram();
  h.record(123_456);
  // 123,456 shares its bucket with values up to 123,519.
  assertEquals(h.percentile(50), 123_456);
  assertEquals(h.percentile(100), 123_456);
});

Deno.test("Histogram rounds to integers and counts repeats", () => {
  const h = new Histogram();
  h.record(9.6, 3);
  h.record(0.2);
  assertEquals(h.count, 4);
  assertEquals(h.min, 0);
  assertEquals(h.max, 10);
  assertEquals(h.percentile(25), 0);
  assertEquals(h.percentile(26), 10);
});

Deno.test("Histogram counts values above its range at the top, keeping the exact max", () => {
  const h = new Histogram({ highestTrackableValue: 10_000 });
  h.record(5);
  h.record(1e12);
  assertEquals(h.count, 2);
  assertEquals(h.max, 1e12);
  assert(h.percentile(99) >= 10_000);
  assertEquals(h.percentile(100), 1e12);
});

Deno.test("Histogram memory is fixed by its shape, not by the values recorded", () => {
  const h = new Histogram();
  const bytes = h.byteLength;
  assert(bytes < 256 * 1024, `${bytes} bytes`);
  for (let i = 0; i < 100_000; i++) h.record((i * 7919) % 5_000_000);
  assertEquals(h.byteLength, bytes);
});

Deno.test("Histogram.merge() adds counts as if recorded in one histogram", () => {
  const a = new Histogram();
  const b = new Histogram();
  const both = new Histogram();
  for (let i = 0; i < 5000; i++) {
    const v = (i * 104_729) % 200_000;
    (i % 3 === 0 ? a : b).record(v);
    both.record(v);
  }
  a.merge(b);
  assertEquals(a.count, both.count);
  assertEquals(a.min, both.min);
  assertEquals(a.max, both.max);
  assertEquals(a.mean, both.mean);
  const ps = [0, 10, 50, 90, 99, 99.9, 100];
  assertEquals(a.percentiles(ps), both.percentiles(ps));
});

Deno.test("Histogram.merge() refuses a histogram of another shape", () => {
  const a = new Histogram({ significantDigits: 3 });
  const b = new Histogram({ significantDigits: 2 });
  assertThrows(() => a.merge(b), RangeError, "different shapes");
});

Deno.test("Histogram.percentiles() answers in the order asked", () => {
  const h = new Histogram();
  for (let v = 1; v <= 100; v++) h.record(v);
  assertEquals(h.percentiles([99, 50, 10]), [99, 50, 10]);
});

Deno.test("an empty Histogram reports zeros", () => {
  const h = new Histogram();
  assertEquals(h.percentile(99), 0);
  assertEquals([h.count, h.min, h.max, h.mean], [0, 0, 0, 0]);
});

Deno.test("Histogram.reset() forgets everything", () => {
  const h = new Histogram();
  h.record(42);
  h.reset();
  assertEquals([h.count, h.min, h.max, h.percentile(50)], [0, 0, 0, 0]);
  h.record(7);
  assertEquals(h.min, 7);
});

Deno.test("Histogram.distribution() rises from the minimum to the maximum", () => {
  const h = new Histogram();
  for (let v = 1; v <= 100_000; v++) h.record(v);
  const points = h.distribution(4, 5);
  assertEquals(points.length, 4 * 5 + 2);
  assertEquals(points[0], { percentile: 0, value: 1 });
  assertEquals(points.at(-1), { percentile: 100, value: 100_000 });
  for (let i = 1; i < points.length; i++) {
    assert(points[i]!.percentile >= points[i - 1]!.percentile);
    assert(points[i]!.value >= points[i - 1]!.value);
  }
  // 99% of 1..100,000 is 99,000, give or take one part in a thousand.
  const p99 = points.find((p) => Math.abs(p.percentile - 99) < 1e-9)!;
  assert(Math.abs(p99.value - 99_000) <= 99, `${p99.value}`);
});

Deno.test("Histogram refuses bad options and values", () => {
  assertThrows(() => new Histogram({ significantDigits: 0 }), RangeError);
  assertThrows(() => new Histogram({ significantDigits: 6 }), RangeError);
  assertThrows(
    () => new Histogram({ highestTrackableValue: 2 ** 40 }),
    RangeError,
  );
  const h = new Histogram();
  assertThrows(() => h.record(-1), RangeError, "current value is -1");
  assertThrows(() => h.record(NaN), RangeError);
  assertThrows(() => h.record(Infinity), RangeError);
  assertThrows(() => h.record(1, 0), RangeError);
  assertThrows(() => h.percentile(101), RangeError);
});
