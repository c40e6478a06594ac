/**
 * The composition root: wires store, ring, coordinator, transport and HTTP
 * server together from a {@link NodeConfig}. The only place besides the
 * adapters that touches the outside world.
 *
 * @module
 */

import { HybridClock, systemClock } from "./clock/mod.ts";
import { Coordinator, PeerHealth } from "./cluster/mod.ts";
import { membersOf, type NodeConfig, selfAddress } from "./config.ts";
import { Ring } from "./ring/mod.ts";
import { createHandler } from "./server/handler.ts";
import { Metrics } from "./server/metrics.ts";
import { serve } from "./server/serve.ts";
import { MemoryStore } from "./storage/mod.ts";
import { HttpTransport } from "./transport/mod.ts";
import { VERSION } from "./version.ts";

/** A running node. */
export interface KvdbNode {
  /** "host:port" this node answers on. */
  readonly address: string;
  /** Settles when the server has stopped. */
  readonly finished: Promise<void>;
  /** Stops accepting requests, finishes those in flight, closes the store. */
  shutdown(): Promise<void>;
}

/** Options for {@link startNode}. */
export interface StartOptions {
  /** Where log lines go; default stderr. */
  log?: (line: string) => void;
}

/** Starts a node and resolves once it is listening. */
export async function startNode(
  config: NodeConfig,
  options: StartOptions = {},
): Promise<KvdbNode> {
  const log = options.log ?? ((line) => console.error(line));
  const clock = systemClock;
  const self = selfAddress(config);
  const members = membersOf(config);
  const ring = await Ring.build(members, { vnodes: config.vnodes });
  const store = new MemoryStore();
  const health = new PeerHealth(new HttpTransport(), clock);
  const coordinator = new Coordinator({
    self,
    ring,
    store,
    transport: health,
    clock,
    hlc: new HybridClock(clock, self),
    replicationFactor: config.replicationFactor,
    ...(config.readQuorum !== undefined
      ? { readQuorum: config.readQuorum }
      : {}),
    ...(config.writeQuorum !== undefined
      ? { writeQuorum: config.writeQuorum }
      : {}),
    requestDeadlineMs: config.requestDeadlineMs,
    peerDeadlineMs: config.peerDeadlineMs,
  });
  const handler = createHandler({
    api: {
      coordinator,
      self,
      version: VERSION,
      vnodes: config.vnodes,
      configuredReplicationFactor: config.replicationFactor,
      members: () =>
        ring.members.map((address) => ({
          address,
          state: address === self ? "alive" : health.state(address),
        })),
    },
    peer: (request) => coordinator.handlePeer(request),
    metrics: new Metrics(clock.now()),
    now: () => clock.now(),
  });
  const server = serve(handler, {
    hostname: config.host,
    port: config.port,
  });
  const address = `${
    config.host.includes(":") ? `[${config.host}]` : config.host
  }:${server.port}`;
  const s = coordinator.settings;
  log(
    `kvdb ${VERSION}: node ${address} serving; ${members.length} member(s), ` +
      `N=${s.replicationFactor} R=${s.readQuorum} W=${s.writeQuorum}, ` +
      `${config.vnodes} vnodes, memory store`,
  );
  const finished = server.finished.then(() => store.close());
  return {
    address,
    finished,
    async shutdown() {
      await server.shutdown();
      await finished;
    },
  };
}
