import { assert, assertEquals, assertMatch } from "@std/assert";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { setImmediate } from "node:timers";
import { systemClock } from "../clock/mod.ts";
import { encodeKey, KvDatabases } from "../kv/mod.ts";
import { BearerAuth } from "../security/mod.ts";
import {
  AtomicWriteOutputSchema,
  AtomicWriteSchema,
  AtomicWriteStatus,
  MutationType,
  SnapshotReadOutputSchema,
  SnapshotReadSchema,
  SnapshotReadStatus,
  ValueEncoding,
  WatchOutputSchema,
  WatchSchema,
} from "./datapath_pb.ts";
import { createKvConnect, type KvConnect, route } from "./server.ts";

const BASE = "http://127.0.0.1:5878";

/** A one-node KV database in memory, served by KV Connect. */
async function withServer(
  fn: (kv: KvConnect, dbs: KvDatabases) => Promise<void>,
  options: { auth?: BearerAuth; keepAliveMs?: number } = {},
) {
  const self = "127.0.0.1:1";
  const dbs = new KvDatabases({
    self,
    founders: [self],
    voters: 1,
    transport: { call: () => Promise.reject(new Error("no peers")) },
    clock: systemClock,
    schedule: (fn) => void setImmediate(fn),
    random: Math.random,
    members: () => [{ address: self, state: "alive" }],
    requestDeadlineMs: 2_000,
    peerDeadlineMs: 1_000,
  });
  dbs.start();
  const kv = createKvConnect({
    dbs,
    clusterId: "test",
    now: () => Date.now(),
    ...options,
  });
  try {
    await fn(kv, dbs);
  } finally {
    dbs.stop();
  }
}

function post(
  kv: KvConnect,
  path: string,
  body: BodyInit | null,
  headers: Record<string, string> = {},
): Promise<Response> {
  return kv.handle(
    new Request(BASE + path, { method: "POST", body, headers }),
    path,
  );
}

interface Meta {
  version: number;
  databaseId: string;
  endpoints: { url: string; consistency: string }[];
  token: string;
  expiresAt: string;
}

async function exchange(kv: KvConnect, path = "/kv"): Promise<Meta> {
  const r = await post(
    kv,
    path,
    JSON.stringify({ supportedVersions: [2, 3] }),
    {
      authorization: "Bearer anything",
    },
  );
  assertEquals(r.status, 200);
  return await r.json();
}

function dataHeaders(meta: Meta): Record<string, string> {
  return {
    authorization: `Bearer ${meta.token}`,
    "x-denokv-version": String(meta.version),
    "x-denokv-database-id": meta.databaseId,
  };
}

Deno.test("route() names the metadata exchange, the data path and the endpoint relative to the URL used", () => {
  assertEquals(route("/kv"), {
    kind: "metadata",
    db: "default",
    endpoint: "./kv/default",
  });
  assertEquals(route("/kv/chat"), {
    kind: "metadata",
    db: "chat",
    endpoint: "./chat",
  });
  assertEquals(route("/kv/chat/watch"), {
    kind: "data",
    db: "chat",
    method: "watch",
  });
  assertEquals(route("/kv/chat/nope").kind, "unknown");
  // Resolved as Deno resolves them, the endpoints name /kv/<db>.
  assertEquals(new URL("./kv/default", `${BASE}/kv`).pathname, "/kv/default");
  assertEquals(new URL("./chat", `${BASE}/kv/chat`).pathname, "/kv/chat");
  assertEquals(
    new URL("../kv/default", `${BASE}/kv/`).pathname,
    "/kv/default",
  );
});

Deno.test("kvconnect: the metadata exchange picks the highest common version; a v1 client gets an absolute endpoint", () =>
  withServer(async (kv) => {
    const meta = await exchange(kv);
    assertEquals(meta.version, 3);
    assertMatch(
      meta.databaseId,
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    assertEquals(meta.endpoints, [{
      url: "./kv/default",
      consistency: "strong",
    }]);
    assert(Date.parse(meta.expiresAt) > Date.now());
    const v2 = await post(kv, "/kv", '{"supportedVersions":[1,2]}', {
      authorization: "Bearer x",
    });
    assertEquals((await v2.json()).version, 2);
    const v1 = await post(kv, "/kv/chat", null, { authorization: "Bearer x" });
    const m1 = await v1.json();
    assertEquals(m1.version, 1);
    assertEquals(m1.endpoints[0].url, `${BASE}/kv/chat`);
    assert(m1.databaseId !== meta.databaseId, "each database its own id");
  }));

Deno.test("kvconnect: a bad metadata exchange is a 4xx with a plain-text reason", () =>
  withServer(async (kv) => {
    const cases: [string | null, Record<string, string>, number, string][] = [
      [
        '{"supportedVersions":[4]}',
        { authorization: "Bearer x" },
        400,
        "could not negotiate",
      ],
      [
        '{"supportedVersions":"3"}',
        { authorization: "Bearer x" },
        400,
        "supportedVersions",
      ],
      ["{nope", { authorization: "Bearer x" }, 400, "not JSON"],
      ['{"supportedVersions":[3]}', {}, 401, "Malformed authorization header."],
    ];
    for (const [body, headers, status, text] of cases) {
      const r = await post(kv, "/kv", body, headers);
      assertEquals(r.status, status, String(body));
      assert((await r.text()).includes(text), String(body));
    }
    const badName = await post(kv, "/kv/no.dots", "{}", {
      authorization: "Bearer x",
    });
    assertEquals(badName.status, 400);
    await badName.body?.cancel();
    const get = await kv.handle(new Request(`${BASE}/kv`), "/kv");
    assertEquals(get.status, 405);
    await get.body?.cancel();
  }));

Deno.test("kvconnect: with client tokens, only they open a database; data-path tokens and database ids are checked", () =>
  withServer(async (kv) => {
    const token = "a-client-token-of-some-length";
    const wrong = await post(kv, "/kv", '{"supportedVersions":[3]}', {
      authorization: "Bearer not-it-at-all-000000",
    });
    assertEquals(wrong.status, 401);
    assertEquals(await wrong.text(), "Invalid access token.");
    const ok = await post(kv, "/kv", '{"supportedVersions":[3]}', {
      authorization: `Bearer ${token}`,
    });
    const meta: Meta = await ok.json();
    const read = toBinary(SnapshotReadSchema, create(SnapshotReadSchema, {}));
    const good = await post(
      kv,
      "/kv/default/snapshot_read",
      read,
      dataHeaders(meta),
    );
    assertEquals(good.status, 200);
    await good.body?.cancel();
    const forged = meta.token.slice(0, -2) +
      (meta.token.endsWith("A") ? "BB" : "AA");
    for (
      const [headers, status] of [
        [{ ...dataHeaders(meta), authorization: `Bearer ${forged}` }, 401],
        [{ ...dataHeaders(meta), authorization: `Bearer ${token}` }, 401],
        [{
          ...dataHeaders(meta),
          "x-denokv-database-id": "00000000-0000-0000-0000-000000000000",
        }, 400],
        [{ ...dataHeaders(meta), "x-denokv-version": "9" }, 400],
      ] as [Record<string, string>, number][]
    ) {
      const r = await post(kv, "/kv/default/snapshot_read", read, headers);
      assertEquals(r.status, status);
      await r.body?.cancel();
    }
    // A token for one database does not open another.
    const other = await post(
      kv,
      "/kv/other/snapshot_read",
      read,
      dataHeaders(meta),
    );
    assertEquals(other.status, 400);
    await other.body?.cancel();
  }, { auth: new BearerAuth("a-client-token-of-some-length") }));

function setMutation(
  key: unknown[],
  value: Uint8Array,
  type = MutationType.M_SET,
) {
  return {
    key: encodeKey(key as never),
    value: { data: value, encoding: ValueEncoding.VE_BYTES },
    mutationType: type,
  };
}

async function write(
  kv: KvConnect,
  meta: Meta,
  message: Parameters<typeof create<typeof AtomicWriteSchema>>[1],
  headers: Record<string, string> = {},
) {
  return await post(
    kv,
    "/kv/default/atomic_write",
    toBinary(AtomicWriteSchema, create(AtomicWriteSchema, message)),
    { ...dataHeaders(meta), ...headers },
  );
}

Deno.test("kvconnect: a versionstamped key gets the commit's versionstamp as its last part; reads see it", () =>
  withServer(async (kv) => {
    const meta = await exchange(kv);
    const r = await write(kv, meta, {
      mutations: [
        setMutation(
          ["log"],
          new Uint8Array([7]),
          MutationType.M_SET_SUFFIX_VERSIONSTAMPED_KEY,
        ),
      ],
    });
    const out = fromBinary(
      AtomicWriteOutputSchema,
      new Uint8Array(await r.arrayBuffer()),
    );
    assertEquals(out.status, AtomicWriteStatus.AW_SUCCESS);
    assertEquals(out.versionstamp.length, 10);
    const prefix = encodeKey(["log"]);
    const end = new Uint8Array([...prefix, 0xff]);
    const read = await post(
      kv,
      "/kv/default/snapshot_read",
      toBinary(
        SnapshotReadSchema,
        create(SnapshotReadSchema, {
          ranges: [{ start: prefix, end, limit: 10 }],
        }),
      ),
      dataHeaders(meta),
    );
    const got = fromBinary(
      SnapshotReadOutputSchema,
      new Uint8Array(await read.arrayBuffer()),
    );
    assertEquals(got.status, SnapshotReadStatus.SR_SUCCESS);
    assertEquals(got.readIsStronglyConsistent, true);
    const entry = got.ranges[0]!.values[0]!;
    assertEquals(entry.key, encodeKey(["log", out.versionstamp]));
    assertEquals(entry.versionstamp, out.versionstamp);
  }));

Deno.test("kvconnect: what the client got wrong is a 400 with denokv's words, never a 5xx", () =>
  withServer(async (kv) => {
    const meta = await exchange(kv);
    const cases: [Parameters<typeof write>[2], string][] = [
      [
        { enqueues: [{ payload: new Uint8Array([1]) }] },
        "Enqueue operations are not supported in KV Connect",
      ],
      [
        {
          checks: [{ key: encodeKey(["a"]), versionstamp: new Uint8Array(3) }],
        },
        "Invalid versionstamp.",
      ],
      [{
        mutations: [{
          key: encodeKey(["a"]),
          mutationType: MutationType.M_UNSPECIFIED,
        }],
      }, "Invalid mutation kind or arguments."],
      [{
        mutations: [{
          key: encodeKey(["a"]),
          mutationType: MutationType.M_SUM,
          value: { data: new Uint8Array([1]), encoding: ValueEncoding.VE_V8 },
        }],
      }, "takes a Deno.KvU64"],
      [
        { mutations: [setMutation(["a"], new Uint8Array(65_537))] },
        "A value exceeds the value size limit.",
      ],
      [{
        mutations: [{
          key: new Uint8Array(2_049),
          mutationType: MutationType.M_DELETE,
        }],
      }, "A key exceeds the key size limit."],
      [{
        mutations: [{
          key: new Uint8Array([0x99]),
          mutationType: MutationType.M_DELETE,
        }],
      }, "Invalid key"],
      [{
        mutations: [{
          key: encodeKey(["a"]),
          mutationType: MutationType.M_SET,
          value: { data: new Uint8Array(1), encoding: 7 as ValueEncoding },
        }],
      }, "The value encoding 7 is unknown."],
    ];
    for (const [message, text] of cases) {
      const r = await write(kv, meta, message);
      assertEquals(r.status, 400, text);
      assert((await r.text()).includes(text), text);
    }
    const junk = await post(
      kv,
      "/kv/default/atomic_write",
      new Uint8Array([0xff, 0xff, 0xff]),
      dataHeaders(meta),
    );
    assertEquals(junk.status, 400);
    assert((await junk.text()).startsWith("Request protobuf is invalid"));
    const tooMany = await post(
      kv,
      "/kv/default/snapshot_read",
      toBinary(
        SnapshotReadSchema,
        create(SnapshotReadSchema, {
          ranges: Array.from(
            { length: 11 },
            () => ({
              start: new Uint8Array([1]),
              end: new Uint8Array([2]),
              limit: 1,
            }),
          ),
        }),
      ),
      dataHeaders(meta),
    );
    assertEquals(tooMany.status, 400);
    assertEquals(
      await tooMany.text(),
      "Too many read ranges requested in one read request.",
    );
    // A sum on a value that is not a u64 fails in the state machine: the
    // same commit would fail again, so it too is a 400.
    await write(kv, meta, {
      mutations: [setMutation(["s"], new Uint8Array([1]))],
    }).then((r) => r.body?.cancel());
    const sum = await write(kv, meta, {
      mutations: [{
        key: encodeKey(["s"]),
        mutationType: MutationType.M_SUM,
        value: { data: new Uint8Array(8), encoding: ValueEncoding.VE_LE64 },
      }],
    });
    assertEquals(sum.status, 400);
    assertEquals(
      await sum.text(),
      "Failed to perform 'sum' mutation on a non-U64 value in the database",
    );
  }));

Deno.test("kvconnect: a commit sent twice with one Idempotency-Key is applied once and answered alike", () =>
  withServer(async (kv, dbs) => {
    const meta = await exchange(kv);
    const one = new Uint8Array(8);
    one[0] = 1;
    const sum = {
      mutations: [{
        key: encodeKey(["n"]),
        mutationType: MutationType.M_SUM,
        value: { data: one, encoding: ValueEncoding.VE_LE64 },
      }],
    };
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const r = await write(kv, meta, sum, { "idempotency-key": "retry-me" });
      answers.push(
        fromBinary(
          AtomicWriteOutputSchema,
          new Uint8Array(await r.arrayBuffer()),
        ).versionstamp,
      );
    }
    assertEquals(answers[1], answers[0]);
    assertEquals(answers[2], answers[0]);
    const other = await write(kv, meta, sum, { "idempotency-key": "another" });
    await other.body?.cancel();
    const row = dbs.replica("default")!.get(encodeKey(["n"]))!;
    assertEquals(row.value.data[0], 2, "applied once per key");
  }));

Deno.test("kvconnect: a watch streams length-prefixed frames, a first one with every key, pings, then changes", () =>
  withServer(async (kv) => {
    const meta = await exchange(kv);
    const r = await post(
      kv,
      "/kv/default/watch",
      toBinary(
        WatchSchema,
        create(WatchSchema, { keys: [{ key: encodeKey(["w"]) }] }),
      ),
      dataHeaders(meta),
    );
    assertEquals(r.status, 200);
    assertEquals(r.headers.get("content-type"), "application/octet-stream");
    assertEquals(kv.watches, 1);
    const reader = r.body!.getReader();
    let buffered = new Uint8Array(0);
    const frame = async (): Promise<Uint8Array> => {
      for (;;) {
        if (buffered.length >= 4) {
          const len = new DataView(buffered.buffer, buffered.byteOffset)
            .getUint32(0, true);
          if (buffered.length >= 4 + len) {
            const f = buffered.slice(4, 4 + len);
            buffered = buffered.slice(4 + len);
            return f;
          }
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("stream ended");
        buffered = new Uint8Array([...buffered, ...value]);
      }
    };
    const first = fromBinary(WatchOutputSchema, await frame());
    assertEquals(first.status, SnapshotReadStatus.SR_SUCCESS);
    assertEquals(first.keys.length, 1);
    assertEquals(first.keys[0]!.changed, true);
    assertEquals(first.keys[0]!.entryIfChanged, undefined);
    assertEquals((await frame()).length, 0, "a keep-alive ping");
    await write(kv, meta, {
      mutations: [setMutation(["w"], new Uint8Array([5]))],
    }).then((w) => w.body?.cancel());
    let next = await frame();
    while (next.length === 0) next = await frame();
    const changed = fromBinary(WatchOutputSchema, next);
    assertEquals(changed.keys[0]!.entryIfChanged!.value, new Uint8Array([5]));
    await reader.cancel();
    assertEquals(kv.watches, 0);
  }, { keepAliveMs: 20 }));
