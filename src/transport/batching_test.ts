import { assertEquals, assertRejects } from "@std/assert";
import type { StoredRecord } from "../storage/mod.ts";
import { BatchingTransport } from "./batching.ts";
import type { PeerRequest, PeerResponse } from "./messages.ts";
import { PeerError, type PeerTransport } from "./transport.ts";

const record = (key: string): StoredRecord => ({
  key,
  value: key,
  version: [1, 0, "n"],
  tombstone: false,
  expiresAtMs: null,
});

function recording(fail = false) {
  const sent: [string, PeerRequest][] = [];
  const inner: PeerTransport = {
    call(peer, request) {
      sent.push([peer, request]);
      if (fail) return Promise.reject(new PeerError(peer, "unreachable"));
      const response: PeerResponse = request.kind === "read"
        ? {
          kind: "read",
          records: request.keys.map((k) =>
            k.startsWith("x") ? null : record(k)
          ),
        }
        : { kind: "write", applied: 0 };
      return Promise.resolve(response);
    },
  };
  let pending: (() => void)[] = [];
  const flush = () => {
    const now = pending;
    pending = [];
    now.forEach((fn) => fn());
  };
  const transport = new BatchingTransport(inner, (fn) => pending.push(fn));
  return { sent, transport, flush };
}

Deno.test("BatchingTransport sends one write per peer per turn", async () => {
  const { sent, transport, flush } = recording();
  const calls = [
    transport.call("a:1", { kind: "write", records: [record("k1")] }, 100),
    transport.call("a:1", { kind: "write", records: [record("k2")] }, 100),
    transport.call("b:1", { kind: "write", records: [record("k3")] }, 100),
    transport.call("a:1", {
      kind: "write",
      records: [record("k4")],
      hintFor: "c:1",
    }, 100),
  ];
  flush();
  await Promise.all(calls);
  assertEquals(sent.length, 3);
  const toA = sent.find(([p, r]) =>
    p === "a:1" && r.kind === "write" && r.hintFor === undefined
  )!;
  assertEquals(
    (toA[1] as { records: StoredRecord[] }).records.map((r) => r.key),
    ["k1", "k2"],
  );
});

Deno.test("BatchingTransport hands each reader its own records", async () => {
  const { sent, transport, flush } = recording();
  const one = transport.call("a:1", { kind: "read", keys: ["k1"] }, 100);
  const two = transport.call("a:1", { kind: "read", keys: ["x2", "k3"] }, 100);
  flush();
  assertEquals(sent.length, 1);
  assertEquals(await one, { kind: "read", records: [record("k1")] });
  assertEquals(await two, { kind: "read", records: [null, record("k3")] });
});

Deno.test("BatchingTransport fails every caller of a failed batch", async () => {
  const { transport, flush } = recording(true);
  const one = transport.call(
    "a:1",
    { kind: "write", records: [record("k")] },
    100,
  );
  const two = transport.call(
    "a:1",
    { kind: "write", records: [record("j")] },
    100,
  );
  flush();
  await assertRejects(() => one, PeerError);
  await assertRejects(() => two, PeerError);
});

Deno.test("BatchingTransport passes other kinds straight through", async () => {
  const { sent, transport } = recording();
  await transport.call("a:1", { kind: "ping_req", target: "b:1" }, 100).catch(
    () => {},
  );
  assertEquals(sent.length, 1);
});
