import { testHandler } from "../server/_fixtures.ts";
import { BatchingTransport } from "./batching.ts";
import { transportConformance, type TransportPeer } from "./conformance.ts";
import { HttpTransport } from "./http.ts";
import { MemoryNetwork } from "./memory.ts";
import type { PeerHandler, PeerTransport } from "./transport.ts";

/** A peer served over HTTP by the node's own handler, on a free port. */
async function httpPeer(
  handler: PeerHandler,
  transport: PeerTransport,
): Promise<TransportPeer> {
  const { handle } = await testHandler({ peer: handler });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    handle,
  );
  // A port that was free a moment ago: nothing listens there.
  const spare = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const nowhere = `127.0.0.1:${(spare.addr as Deno.NetAddr).port}`;
  spare.close();
  return {
    address: `127.0.0.1:${server.addr.port}`,
    transport,
    nowhere,
    close: () => server.shutdown(),
  };
}

function memoryPeer(
  handler: PeerHandler,
  wrap: (t: PeerTransport) => PeerTransport = (t) => t,
): Promise<TransportPeer> {
  const network = new MemoryNetwork();
  network.register("peer:1", handler);
  return Promise.resolve({
    address: "peer:1",
    transport: wrap(network.transport("me:1")),
    nowhere: "nobody:1",
    close: () => Promise.resolve(),
  });
}

transportConformance("MemoryNetwork", {
  start: (handler) => memoryPeer(handler),
  deadlines: false,
});

transportConformance("BatchingTransport", {
  start: (handler) => memoryPeer(handler, (t) => new BatchingTransport(t)),
  deadlines: false,
});

transportConformance("HttpTransport (pooled HTTP/1.1)", {
  start: (handler) => httpPeer(handler, new HttpTransport()),
  deadlines: true,
});

transportConformance("HttpTransport (fetch)", {
  start: (handler) =>
    httpPeer(handler, new HttpTransport({ fetch: globalThis.fetch })),
  deadlines: true,
});

transportConformance("BatchingTransport over HTTP", {
  start: (handler) =>
    httpPeer(handler, new BatchingTransport(new HttpTransport())),
  deadlines: true,
});
