import { assert, assertEquals } from "@std/assert";
import { TimerWheel } from "./mod.ts";

Deno.test("TimerWheel fires a timer after its delay, never before", async () => {
  const wheel = new TimerWheel(5);
  const armed = Date.now();
  const fired = await new Promise<number>((resolve) =>
    wheel.after(30, () => resolve(Date.now()))
  );
  assert(fired - armed >= 30, `fired after ${fired - armed} ms`);
});

Deno.test("TimerWheel does not fire a cancelled timer, and a late cancel is harmless", async () => {
  const wheel = new TimerWheel(5);
  const fired: string[] = [];
  const cancelled = wheel.after(10, () => fired.push("cancelled"));
  const kept = wheel.after(10, () => fired.push("kept"));
  cancelled.cancel();
  await new Promise<void>((resolve) => wheel.after(40, resolve));
  assertEquals(fired, ["kept"]);
  kept.cancel();
  const again: string[] = [];
  await new Promise<void>((resolve) =>
    wheel.after(10, () => {
      again.push("x");
      resolve();
    })
  );
  assertEquals(again, ["x"]);
});
