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

Deno.test("TimerWheel fires timers in the order they fall due, one runtime timer moved to the earliest", async () => {
  const wheel = new TimerWheel(5);
  const fired: number[] = [];
  const done = new Promise<void>((resolve) => {
    for (const delay of [60, 20, 40, 5]) {
      wheel.after(delay, () => {
        fired.push(delay);
        if (fired.length === 4) resolve();
      });
    }
  });
  // A cancelled early timer leaves its slot: the later ones still fire.
  wheel.after(1, () => fired.push(-1)).cancel();
  await done;
  assertEquals(fired, [5, 20, 40, 60]);
});

Deno.test("TimerWheel: a timer armed by a firing callback waits for a later turn", async () => {
  const wheel = new TimerWheel(5);
  let runs = 0;
  await new Promise<void>((resolve) => {
    const again = () => {
      if (++runs === 20) resolve();
      else wheel.after(0, again);
    };
    wheel.after(0, again);
  });
  assertEquals(runs, 20);
});
