import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  MemoryNetwork,
  PeerError,
  type PeerResponse,
} from "../transport/mod.ts";
import {
  addressesIn,
  AddressPolicy,
  forbiddenHost,
  GuardedTransport,
  hostOf,
} from "./address_policy.ts";

Deno.test("forbiddenHost() refuses link-local and metadata addresses in any spelling", () => {
  for (
    const host of [
      "169.254.169.254",
      "169.254.0.1",
      "2852039166", // 169.254.169.254 as one number
      "0xa9.0xfe.0xa9.0xfe",
      "0251.0376.0251.0376",
      "[fe80::1]",
      "[FE80::abcd:1]",
      "[febf::1]",
      "[::ffff:169.254.169.254]",
      "[::ffff:a9fe:a9fe]",
      "[64:ff9b::169.254.169.254]",
      "[fd00:ec2::254]",
      "metadata.google.internal",
      "METADATA.google.internal.",
      "metadata",
      "instance-data",
      "100.100.100.200",
    ]
  ) {
    assert(forbiddenHost(host) !== undefined, host);
  }
});

Deno.test("forbiddenHost() allows ordinary addresses", () => {
  for (
    const host of [
      "127.0.0.1",
      "10.0.0.5",
      "192.168.1.20",
      "169.253.1.1",
      "[::1]",
      "[fec0::1]",
      "[2001:db8::1]",
      "localhost",
      "kv-1.example.com",
      "metadata-service.example.com",
    ]
  ) {
    assertEquals(forbiddenHost(host), undefined, host);
  }
});

Deno.test("hostOf() takes the host of an address", () => {
  assertEquals(hostOf("10.0.0.1:5878"), "10.0.0.1");
  assertEquals(hostOf("[fe80::1]:5878"), "[fe80::1]");
  assertEquals(hostOf("name"), "name");
});

Deno.test("AddressPolicy refuses unless link-local is allowed", () => {
  assertEquals(new AddressPolicy().refusal("10.0.0.1:5878"), undefined);
  assert(
    new AddressPolicy().refusal("169.254.169.254:80")!.includes("link-local"),
  );
  assertEquals(
    new AddressPolicy({ allowLinkLocal: true }).refusal("169.254.169.254:80"),
    undefined,
  );
});

Deno.test("addressesIn() lists every address a peer request names", () => {
  assertEquals(
    addressesIn({
      kind: "ping",
      from: "a:1",
      members: [["b:1", "alive", 0, "ready"]],
    }),
    ["a:1", "b:1"],
  );
  assertEquals(addressesIn({ kind: "ping_req", target: "c:1" }), ["c:1"]);
  assertEquals(addressesIn({ kind: "write", records: [], hintFor: "d:1" }), [
    "d:1",
  ]);
  assertEquals(addressesIn({ kind: "read", keys: [] }), []);
});

Deno.test("GuardedTransport never calls a refused address and filters gossip", async () => {
  const network = new MemoryNetwork();
  const answer: PeerResponse = {
    kind: "ping",
    members: [
      ["b:1", "alive", 0, "ready"],
      ["169.254.169.254:80", "alive", 0, "ready"],
    ],
  };
  network.register("b:1", () => Promise.resolve(answer));
  const transport = new GuardedTransport(
    network.transport("a:1"),
    new AddressPolicy(),
  );
  await assertRejects(
    () => transport.call("169.254.169.254:80", { kind: "read", keys: [] }, 100),
    PeerError,
    "address policy",
  );
  const response = await transport.call(
    "b:1",
    { kind: "ping", from: "a:1", members: [] },
    100,
  );
  assertEquals(response, {
    kind: "ping",
    members: [["b:1", "alive", 0, "ready"]],
  });
});
