/**
 * A one-node handler for tests: a memory store, a manual clock, no socket.
 *
 * @module
 */

import { HybridClock, ManualClock } from "../clock/mod.ts";
import { Coordinator, Topology } from "../cluster/mod.ts";
import { Ring } from "../ring/mod.ts";
import { MemoryStore } from "../storage/mod.ts";
import { MemoryNetwork, type PeerHandler } from "../transport/mod.ts";
import { createHandler, type HandlerOptions } from "./handler.ts";
import { Metrics } from "./metrics.ts";

/** The handler of a one-node cluster "a:1", with `options` on top. */
export async function testHandler(options: Partial<HandlerOptions> = {}) {
  const clock = new ManualClock();
  const ring = await Ring.build(["a:1"], { vnodes: 8 });
  const coordinator = new Coordinator({
    self: "a:1",
    topology: new Topology((m) => Ring.build(m, { vnodes: 8 }), ring),
    store: new MemoryStore(),
    transport: new MemoryNetwork().transport("a:1"),
    clock,
    hlc: new HybridClock(clock, "a:1"),
    replicationFactor: 1,
  });
  const metrics = new Metrics(clock.now());
  // Gossip has no membership behind it here: a ping gets an empty table.
  const peer: PeerHandler = (request) =>
    request.kind === "ping"
      ? Promise.resolve({ kind: "ping", members: [] })
      : coordinator.handlePeer(request);
  const handle = createHandler({
    api: {
      coordinator,
      self: "a:1",
      version: "test",
      vnodes: 8,
      configuredReplicationFactor: 1,
      members: () => [{ address: "a:1", state: "alive" }],
    },
    peer,
    metrics,
    now: () => clock.now(),
    ...options,
  });
  return { handle, metrics };
}
