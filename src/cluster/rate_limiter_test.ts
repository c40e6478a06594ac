import { assert, assertEquals, assertThrows } from "@std/assert";
import { RateLimiter } from "./rate_limiter.ts";

Deno.test("RateLimiter lets a burst go at once, then waits for the rate", () => {
  const limiter = new RateLimiter({ bytesPerSecond: 1000, burstBytes: 100 });
  assertEquals(limiter.reserve(100, 0), 0);
  // 100 more bytes at the same instant: a tenth of a second at 1000 B/s.
  assertEquals(limiter.reserve(100, 0), 100);
  // The next waits for both debts.
  assertEquals(limiter.reserve(500, 0), 600);
  // Half a second later, 500 bytes are paid back: 100 ms still owed.
  assertEquals(limiter.reserve(0, 500), 100);
});

Deno.test("RateLimiter refills up to its burst, not beyond", () => {
  const limiter = new RateLimiter({ bytesPerSecond: 1000, burstBytes: 100 });
  assertEquals(limiter.reserve(100, 0), 0);
  // A quiet minute earns only the burst back.
  assertEquals(limiter.reserve(100, 60_000), 0);
  assertEquals(limiter.reserve(50, 60_000), 50);
});

Deno.test("RateLimiter takes a reservation larger than its burst", () => {
  const limiter = new RateLimiter({ bytesPerSecond: 1000, burstBytes: 100 });
  assertEquals(limiter.reserve(2100, 0), 2000);
});

Deno.test("RateLimiter never lets more than burst + rate * t go by time t", () => {
  const rate = 1_000_000;
  const burst = 125_000;
  const limiter = new RateLimiter({ bytesPerSecond: rate });
  assertEquals(limiter.burstBytes, burst);
  // Senders that reserve pages of varied sizes at varied times, and send
  // each when told.
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const sends: [atMs: number, bytes: number][] = [];
  let nowMs = 0;
  for (let i = 0; i < 500; i++) {
    nowMs += Math.floor(random() * 50);
    const bytes = Math.floor(random() * 300_000);
    sends.push([nowMs + limiter.reserve(bytes, nowMs), bytes]);
  }
  sends.sort((a, b) => a[0] - b[0]);
  let sent = 0;
  for (const [atMs, bytes] of sends) {
    sent += bytes;
    // ceil() to whole ms lets a send go up to 1 ms late, never early.
    assert(sent <= burst + rate * atMs / 1000, `${sent} bytes by ${atMs} ms`);
  }
  // And it does not hold them back either: the last send is about when
  // the rate allows it.
  const [lastMs] = sends.at(-1)!;
  assert(lastMs <= (sent - burst) / rate * 1000 + 1 + 50);
});

Deno.test("RateLimiter refuses a rate that is not positive", () => {
  assertThrows(() => new RateLimiter({ bytesPerSecond: 0 }));
  assertThrows(() => new RateLimiter({ bytesPerSecond: NaN }));
});
