/**
 * The conformance suite every {@link PeerTransport} runs (memory, pooled
 * HTTP/1.1, fetch, batching): one set of tests written at the edges, so
 * that the simulator's and the unit tests' transports behave as the real
 * ones do. A peer is a {@link PeerHandler}; the factory puts it behind the
 * transport under test.
 *
 * @module
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { KvdbError } from "../errors.ts";
import type { StoredRecord } from "../storage/mod.ts";
import type { PeerRequest, PeerResponse } from "./messages.ts";
import {
  PeerError,
  type PeerHandler,
  type PeerTransport,
} from "./transport.ts";

/** A peer put behind a transport by a {@link TransportFactory}. */
export interface TransportPeer {
  /** The peer's address. */
  address: string;
  /** What calls it. */
  transport: PeerTransport;
  /** An address where nothing answers, for the same transport. */
  nowhere: string;
  close(): Promise<void>;
}

/** How the suite gets a transport and a peer behind it. */
export interface TransportFactory {
  start(handler: PeerHandler): Promise<TransportPeer>;
  /** False for a transport that ignores deadlines (the memory network). */
  deadlines: boolean;
}

function record(key: string, value: unknown): StoredRecord {
  return {
    key,
    value,
    version: [1_800_000_000_000, 3, "n1:1"],
    tombstone: false,
    expiresAtMs: null,
  };
}

/** A peer with a map for a store, as the coordinator answers. */
function mapPeer(seen: PeerRequest[] = []): PeerHandler {
  const held = new Map<string, StoredRecord>();
  return (request): Promise<PeerResponse> => {
    seen.push(request);
    switch (request.kind) {
      case "write":
        for (const r of request.records) held.set(r.key, r);
        return Promise.resolve({
          kind: "write",
          applied: request.records.length,
        });
      case "read":
        return Promise.resolve({
          kind: "read",
          records: request.keys.map((k) => held.get(k) ?? null),
        });
      default:
        return Promise.reject(
          new KvdbError("not served here", "unsupported_message"),
        );
    }
  };
}

/** Registers the conformance tests for one transport under `name`. */
export function transportConformance(
  name: string,
  factory: TransportFactory,
): void {
  const withPeer = async (
    handler: PeerHandler,
    fn: (peer: TransportPeer) => Promise<void>,
  ) => {
    const peer = await factory.start(handler);
    try {
      await fn(peer);
    } finally {
      await peer.close();
    }
  };

  Deno.test(`${name}: a record written is read back as it was, through JSON`, async () => {
    await withPeer(mapPeer(), async ({ address, transport }) => {
      const written = record('ключ \u{1F511} / "quoted"', {
        nested: [1, "two", { three: null }],
      });
      const ack = await transport.call(
        address,
        { kind: "write", records: [written] },
        2_000,
      );
      assertEquals(ack, { kind: "write", applied: 1 });
      const answer = await transport.call(
        address,
        { kind: "read", keys: [written.key, "absent"] },
        2_000,
      );
      assertEquals(answer, { kind: "read", records: [written, null] });
    });
  });

  Deno.test(`${name}: a hinted write reaches the peer with its target`, async () => {
    const seen: PeerRequest[] = [];
    await withPeer(mapPeer(seen), async ({ address, transport }) => {
      await transport.call(
        address,
        { kind: "write", records: [record("k", 1)], hintFor: "n9:1" },
        2_000,
      );
      assertEquals(seen.length, 1);
      assertEquals((seen[0] as { hintFor?: string }).hintFor, "n9:1");
    });
  });

  Deno.test(`${name}: concurrent calls each get their own answer`, async () => {
    await withPeer(mapPeer(), async ({ address, transport }) => {
      const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
      await Promise.all(keys.map((k, i) =>
        transport.call(
          address,
          { kind: "write", records: [record(k, i)] },
          2_000,
        )
      ));
      const answers = await Promise.all(
        keys.map((k) =>
          transport.call(address, { kind: "read", keys: [k] }, 2_000)
        ),
      );
      assertEquals(
        answers.map((a) =>
          a.kind === "read" ? a.records.map((r) => r?.value) : a
        ),
        keys.map((_, i) => [i]),
      );
    });
  });

  Deno.test(`${name}: a peer that answers with an error is up, and says why`, async () => {
    await withPeer(mapPeer(), async ({ address, transport }) => {
      const error = await assertRejects(
        () => transport.call(address, { kind: "scan", limit: 1 }, 2_000),
        PeerError,
      );
      assertEquals(error.peer, address);
      assertEquals(error.silent, false, `${error.failure}: ${error.message}`);
      // The code of the peer's error reaches the caller, not only a status.
      assertEquals(error.code, "unsupported_message");
    });
  });

  Deno.test(`${name}: a call to an address where nothing answers fails as unreachable`, async () => {
    await withPeer(mapPeer(), async ({ nowhere, transport }) => {
      const error = await assertRejects(
        () => transport.call(nowhere, { kind: "read", keys: ["k"] }, 2_000),
        PeerError,
      );
      assertEquals(error.silent, true);
    });
  });

  Deno.test({
    name: `${name}: a peer that never answers fails the call at its deadline`,
    ignore: !factory.deadlines,
    async fn() {
      // Answers long after the deadline (and then lets the peer close).
      const never: PeerHandler = () =>
        new Promise((resolve) =>
          setTimeout(() => resolve({ kind: "read", records: [null] }), 1_000)
        );
      await withPeer(never, async ({ address, transport }) => {
        const started = performance.now();
        const error = await assertRejects(
          () => transport.call(address, { kind: "read", keys: ["k"] }, 200),
          PeerError,
        );
        assertEquals(error.failure, "timeout");
        assert(performance.now() - started >= 190, "not before the deadline");
      });
    },
  });
}
