import { assertEquals, assertRejects } from "@std/assert";
import { ManualClock } from "../clock/mod.ts";
import { BreakerTransport, TRIAL_INTERVAL_MS } from "./breaker.ts";
import type { PeerRequest, PeerResponse } from "./messages.ts";
import {
  PeerError,
  type PeerFailure,
  type PeerTransport,
} from "./transport.ts";

const WRITE: PeerRequest = { kind: "write", records: [] };
const PING: PeerRequest = { kind: "ping", from: "a:1", members: [] };

/** A transport whose peer answers, or fails as `failure` says. */
function peer() {
  const state = { failure: null as PeerFailure | null, calls: 0 };
  const transport: PeerTransport = {
    call(peer, request) {
      state.calls++;
      if (state.failure !== null) {
        return Promise.reject(
          new PeerError(peer, state.failure, { failure: state.failure }),
        );
      }
      return Promise.resolve(
        (request.kind === "ping"
          ? { kind: "ping", members: [] }
          : { kind: "write", applied: 0 }) as PeerResponse,
      );
    },
  };
  return { state, transport };
}

Deno.test("BreakerTransport fails fast after two silent failures, and lets probes through", async () => {
  const clock = new ManualClock();
  const { state, transport } = peer();
  const breaker = new BreakerTransport(transport, clock);
  state.failure = "timeout";
  await assertRejects(() => breaker.call("b:1", WRITE, 100), PeerError);
  assertEquals(breaker.isOpen("b:1"), false, "one failure is not enough");
  await assertRejects(() => breaker.call("b:1", WRITE, 100), PeerError);
  assertEquals(breaker.isOpen("b:1"), true);
  const before = state.calls;
  await assertRejects(
    () => breaker.call("b:1", WRITE, 100),
    PeerError,
    "calls fail fast",
  );
  assertEquals(state.calls, before, "no call reached the transport");
  await assertRejects(() => breaker.call("b:1", PING, 100), PeerError);
  assertEquals(state.calls, before + 1, "a probe still goes through");
  // The peer is back: the next probe closes the breaker.
  state.failure = null;
  await breaker.call("b:1", PING, 100);
  assertEquals(breaker.isOpen("b:1"), false);
  await breaker.call("b:1", WRITE, 100);
  assertEquals(breaker.stats().failedFast, 1);
});

Deno.test("BreakerTransport lets one trial call through a second, and an error answer counts as up", async () => {
  const clock = new ManualClock();
  const { state, transport } = peer();
  const breaker = new BreakerTransport(transport, clock);
  state.failure = "unreachable";
  for (let i = 0; i < 2; i++) {
    await assertRejects(() => breaker.call("b:1", WRITE, 100), PeerError);
  }
  assertEquals(breaker.isOpen("b:1"), true);
  clock.advance(TRIAL_INTERVAL_MS);
  state.failure = "refused"; // it answers, with an error: it is up
  const before = state.calls;
  await assertRejects(() => breaker.call("b:1", WRITE, 100), PeerError);
  assertEquals(state.calls, before + 1, "the trial call went through");
  assertEquals(breaker.isOpen("b:1"), false);
});

Deno.test("BreakerTransport.reset() closes a peer's breaker at once", async () => {
  const clock = new ManualClock();
  const { state, transport } = peer();
  const breaker = new BreakerTransport(transport, clock);
  state.failure = "unreachable";
  for (let i = 0; i < 2; i++) {
    await assertRejects(() => breaker.call("b:1", WRITE, 100), PeerError);
  }
  assertEquals(breaker.isOpen("b:1"), true);
  breaker.reset("b:1");
  assertEquals(breaker.isOpen("b:1"), false);
  state.failure = null;
  await breaker.call("b:1", WRITE, 100);
});

Deno.test("BreakerTransport: writes that time out while the peer answers probes do not open it (slow, not silent)", async () => {
  const clock = new ManualClock();
  const pending: (() => void)[] = [];
  const transport: PeerTransport = {
    call(peer, request) {
      if (request.kind === "ping") {
        return Promise.resolve({ kind: "ping", members: [] });
      }
      // A write on a loaded peer: no answer by its deadline.
      return new Promise((_, reject) =>
        pending.push(() =>
          reject(new PeerError(peer, "timeout", { failure: "timeout" }))
        )
      );
    },
  };
  const breaker = new BreakerTransport(transport, clock);
  for (let round = 0; round < 3; round++) {
    const writes = [0, 1, 2].map(() => breaker.call("b:1", WRITE, 100));
    clock.advance(50);
    await breaker.call("b:1", PING, 100); // its probe answers meanwhile
    clock.advance(50);
    for (const expire of pending.splice(0)) expire();
    for (const write of writes) await assertRejects(() => write, PeerError);
    assertEquals(breaker.isOpen("b:1"), false, `round ${round}`);
  }
  // The same peer falls silent: probes time out too, and writes started
  // after its last answer count again.
  clock.advance(1);
  const writes = [0, 1].map(() => breaker.call("b:1", WRITE, 100));
  clock.advance(100);
  for (const expire of pending.splice(0)) expire();
  for (const write of writes) await assertRejects(() => write, PeerError);
  assertEquals(breaker.isOpen("b:1"), true);
});
