/**
 * Hostile input against a real node: more than 10,000 malformed requests of
 * the kinds in {@link KINDS} (generated with fast-check from one seed) plus
 * raw HTTP framing errors over TCP. The node must answer every one with a
 * 4xx and a JSON error (or, for broken HTTP framing, close the connection),
 * never a 5xx, never crash, and keep every stored value unchanged; a
 * known-good request succeeds after each batch.
 *
 * Replay a run with `FUZZ_SEED=<seed> deno task test tests/fuzz_test.ts`.
 */

import { assert, assertEquals } from "@std/assert";
import fc from "fast-check";
import {
  type ArgType,
  FUNCTION_NAMES,
  FUNCTION_TABLE,
  functionDef,
} from "../src/api/mod.ts";
import { PeerSigner } from "../src/security/mod.ts";
import { parsePeerRequest } from "../src/transport/mod.ts";
import {
  BATCH_KEYS_MAX,
  BODY_BYTES_MAX,
  JSON_DEPTH_MAX,
  KEY_BYTES_MAX,
  LIST_PAGE_KEYS_MAX,
  TTL_SECONDS_MAX,
  VALUE_BYTES_MAX,
} from "../src/limits.ts";
import { freePort, NodeProcess } from "./_helpers.ts";

const TOKEN = "fuzz-client-token-0123456789abcdef";
const SECRET = "fuzz-cluster-secret-0123456789abcdef";
const SEED = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 2 ** 31);
/** Requests in flight at once: keep-alive connections to the node. */
const CONCURRENCY = 16;

/** One malformed request. */
interface Bad {
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
}

/** A row of the table: a kind of malformed input and how to make it. */
interface Kind {
  name: string;
  /** The statuses this kind may answer with; default any 4xx. */
  statuses?: readonly number[];
  make(seed: number): Bad[] | Promise<Bad[]>;
}

const AUTH = { authorization: `Bearer ${TOKEN}` };
const rpcBody = (body: unknown): Bad => ({
  headers: AUTH,
  body: typeof body === "string" ? body : JSON.stringify(body),
});
const call = (fn: string, args: unknown[], kwargs: Record<string, unknown>) =>
  rpcBody({ function: fn, args, kwargs });
const sample = <T>(arb: fc.Arbitrary<T>, n: number, seed: number): T[] =>
  fc.sample(arb, { numRuns: n, seed });

/** Names of Object.prototype members and other pollution vectors. */
const PROTO_NAMES = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "toLocaleString",
  "__defineGetter__",
  "__defineSetter__",
  "__lookupGetter__",
  "__lookupSetter__",
];

const json = fc.jsonValue({ maxDepth: 3 });
const notString = json.filter((v) => typeof v !== "string");
const notBoolean = json.filter((v) => typeof v !== "boolean");
const notList = json.filter((v) => !Array.isArray(v));
const notObject = json.filter((v) =>
  typeof v !== "object" || v === null || Array.isArray(v)
);
const CONSISTENCY = new Set(["one", "quorum", "all"]);
const badConsistency = json.filter((v) =>
  typeof v !== "string" || !CONSISTENCY.has(v)
);
/** Functions whose first parameter is a key. */
const KEY_FUNCTIONS = FUNCTION_TABLE.filter((f) => f.params[0]?.type === "key")
  .map((f) => f.name);
/** Parameters and keyword arguments of every function, from the table. */
const SPEC: Record<
  string,
  { params: string[]; required: number; kw: string[] }
> = Object.fromEntries(FUNCTION_TABLE.map((f) => [f.name, {
  params: f.params.map((p) => p.name),
  required: f.required,
  kw: f.kwargs.map((k) => k.name),
}]));

/** A valid-looking argument of each type, to put one bad thing next to. */
const GOOD: Record<ArgType, unknown> = {
  key: "fuzz:never",
  value: 1,
  keys: ["seed:1"],
  entries: { "fuzz:never": 1 },
  address: "fuzz:never",
  consistency: "quorum",
  boolean: false,
  seconds: 60,
  integer: 1,
  cursor: null,
  records: [],
};

/** Valid-looking arguments for `fn`, to put one bad thing next to. */
function goodArgs(fn: string): unknown[] {
  // Their parameters are optional: give them, so that arity cases bite.
  if (fn === "kv_atomic") return [[], []];
  if (fn === "kv_list") return [{ prefix: ["fuzz:never"] }];
  const def = functionDef(fn)!;
  return def.params.slice(0, def.required).map((p) => GOOD[p.type]);
}

const isJson = (text: string) => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

/** A string of `n` nested lists or objects around `inner`. */
const nest = (n: number, inner: string, object: boolean) =>
  object
    ? '{"a":'.repeat(n) + inner + "}".repeat(n)
    : "[".repeat(n) + inner + "]".repeat(n);

const tooLongKey = fc.oneof(
  fc.integer({ min: KEY_BYTES_MAX + 1, max: KEY_BYTES_MAX + 64 }).map((n) =>
    "k".repeat(n)
  ),
  // 3-byte characters: short in UTF-16, too long in UTF-8.
  fc.integer({ min: Math.ceil(KEY_BYTES_MAX / 3) + 1, max: 2000 }).map((n) =>
    "€".repeat(n)
  ),
  // 4-byte characters (surrogate pairs).
  fc.integer({ min: KEY_BYTES_MAX / 4 + 1, max: 1500 }).map((n) =>
    "🔑".repeat(n)
  ),
);

const PEER_KINDS = [
  "write",
  "read",
  "scan",
  "ping",
  "ping_req",
  "transfer",
  "ae_buckets",
  "ae_leaves",
  "ae_entries",
];

/** Peer messages of every kind with wrong fields, kept only if invalid. */
const badPeerMessage = fc.record({
  kind: fc.oneof(fc.constantFrom(...PEER_KINDS), json),
  records: fc.oneof(
    json,
    fc.array(
      fc.record({
        key: fc.oneof(fc.string(), json),
        value: json,
        version: fc.oneof(json, fc.tuple(fc.integer(), fc.integer(), json)),
        tombstone: json,
      }),
      { maxLength: 3 },
    ),
  ),
  keys: fc.oneof(json, fc.array(json, { maxLength: 4 })),
  limit: json,
  from: json,
  target: json,
  for: json,
  members: fc.oneof(json, fc.array(fc.array(json, { maxLength: 5 }))),
  buckets: fc.oneof(json, fc.array(json, { maxLength: 4 })),
  hintFor: json,
  after: json,
  prefix: json,
}, { requiredKeys: ["kind"] }).filter((message) => {
  try {
    parsePeerRequest(message);
    return false;
  } catch {
    return true;
  }
});

/** The table of malformed kinds. */
function kinds(signer: PeerSigner, replay: Bad): Kind[] {
  const peer = async (body: string): Promise<Bad> => ({
    path: "/peer",
    headers: (await signer.signRequest(body)).headers,
    body,
  });
  return [
    {
      name: "JSON syntax: random text and truncated or mutated envelopes",
      statuses: [400],
      make: (seed) =>
        [
          ...sample(
            fc.string({ maxLength: 60 }).filter((s) => !isJson(s)),
            500,
            seed,
          ),
          ...sample(
            fc.tuple(
              fc.constantFrom(...Object.keys(SPEC)),
              fc.nat(),
              fc.string({ minLength: 1, maxLength: 3 }),
            ).map(([fn, at, junk]) => {
              const text = JSON.stringify({ function: fn, args: goodArgs(fn) });
              const cut = 1 + at % (text.length - 1);
              return at % 2 === 0
                ? text.slice(0, cut)
                : text.slice(0, cut) + junk + text.slice(cut);
            }).filter((s) => !isJson(s)),
            500,
            seed + 1,
          ),
        ].map((body) => rpcBody(body)),
    },
    {
      name: "bytes that are not UTF-8",
      statuses: [400],
      make: (seed) =>
        sample(fc.uint8Array({ minLength: 0, maxLength: 64 }), 500, seed).map(
          (bytes) => ({
            headers: AUTH,
            body: new Uint8Array([0xff, ...bytes, 0xfe]),
          }),
        ),
    },
    {
      name: "envelope that is not an object",
      statuses: [400],
      make: (seed) => sample(notObject, 600, seed).map(rpcBody),
    },
    {
      name: "'function' missing or not a string",
      statuses: [400],
      make: (seed) =>
        sample(
          fc.record({ function: notString, args: json, kwargs: json }, {
            requiredKeys: [],
          }),
          600,
          seed,
        ).map(rpcBody),
    },
    {
      name: "unknown function names, prototype members included",
      statuses: [404],
      make: (seed) =>
        sample(
          fc.oneof(
            fc.string({ maxLength: 40 }),
            fc.constantFrom(...PROTO_NAMES),
            fc.constantFrom(...FUNCTION_NAMES).map((f) => f.toUpperCase()),
          ).filter((name) => !FUNCTION_NAMES.includes(name)),
          600,
          seed,
        ).map((fn) => rpcBody({ function: fn, args: [] })),
    },
    {
      name: "'args' that is not a list, for every function",
      statuses: [400],
      make: (seed) =>
        sample(fc.tuple(fc.constantFrom(...FUNCTION_NAMES), notList), 600, seed)
          .map(([fn, args]) => rpcBody({ function: fn, args })),
    },
    {
      name: "'kwargs' that is not an object, for every function",
      statuses: [400],
      make: (seed) =>
        sample(
          fc.tuple(
            fc.constantFrom(...FUNCTION_NAMES),
            notObject.filter((v) => v !== undefined),
          ),
          600,
          seed,
        ).map(([fn, kwargs]) => rpcBody({ function: fn, kwargs })),
    },
    {
      name: "arity: too many arguments, missing ones, one given twice",
      statuses: [400],
      make: (seed) =>
        sample(
          fc.tuple(
            fc.constantFrom(...FUNCTION_NAMES),
            fc.constantFrom("many", "missing", "twice"),
            fc.array(json, { minLength: 1, maxLength: 3 }),
          ).filter(([fn, how]) =>
            how === "many" ||
            (how === "missing" && SPEC[fn]!.required > 0) ||
            (how === "twice" && SPEC[fn]!.params.length > 0)
          ),
          700,
          seed,
        ).map(([fn, how, extra]) => {
          const spec = SPEC[fn]!;
          if (how === "many") {
            return call(
              fn,
              [...goodArgs(fn), ...spec.params, ...extra].slice(
                0,
                spec.params.length + extra.length,
              ),
              {},
            );
          }
          if (how === "missing") {
            return call(fn, goodArgs(fn).slice(0, spec.required - 1), {});
          }
          return call(fn, goodArgs(fn), { [spec.params[0]!]: extra[0] });
        }),
    },
    {
      name: "unknown keyword arguments, prototype names included",
      statuses: [400],
      make: (seed) =>
        sample(
          fc.tuple(
            fc.constantFrom(...FUNCTION_NAMES),
            fc.oneof(
              fc.string({ maxLength: 20 }),
              fc.constantFrom(...PROTO_NAMES),
            ),
            json,
          ).filter(([fn, name]) =>
            !SPEC[fn]!.params.includes(name) && !SPEC[fn]!.kw.includes(name)
          ),
          700,
          seed,
        ).map(([fn, name, value]) =>
          rpcBody(
            // Built as text: a literal {"__proto__": …} must reach the node.
            `{"function":${JSON.stringify(fn)},"args":${
              JSON.stringify(goodArgs(fn))
            },"kwargs":{${JSON.stringify(name)}:${JSON.stringify(value)}}}`,
          )
        ),
    },
    {
      name: "type confusion: a key that is not a string, by position or name",
      statuses: [400],
      make: (seed) =>
        sample(
          fc.tuple(fc.constantFrom(...KEY_FUNCTIONS), notString, fc.boolean()),
          700,
          seed,
        ).map(([fn, key, byName]) => {
          const rest = fn === "set" ? [1] : [];
          return byName
            ? call(fn, [], { key, ...(fn === "set" ? { value: 1 } : {}) })
            : call(fn, [key, ...rest], {});
        }),
    },
    {
      name:
        "key edge cases: over 4 KiB in UTF-8, as key, prefix, cursor or mget key",
      statuses: [400],
      make: (seed) =>
        sample(
          fc.tuple(
            fc.constantFrom(
              ...KEY_FUNCTIONS,
              "prefix",
              "cursor",
              "mget",
              "mset",
            ),
            tooLongKey,
          ),
          500,
          seed,
        ).map(([where, key]) => {
          if (where === "prefix" || where === "cursor") {
            return call("list_keys", [], { [where]: key });
          }
          if (where === "mget") return call("mget", [["seed:1", key]], {});
          if (where === "mset") return call("mset", [{ [key]: 1 }], {});
          return call(where, where === "set" ? [key, 1] : [key], {});
        }),
    },
    {
      name: "type confusion: 'consistency' for every function that takes it",
      statuses: [400],
      make: (seed) =>
        sample(
          fc.tuple(
            fc.constantFrom("get", "set", "has", "pop", "mget", "mset"),
            badConsistency,
          ),
          600,
          seed,
        ).map(([fn, consistency]) => call(fn, goodArgs(fn), { consistency })),
    },
    {
      name: "type confusion: 'local' and 'fan_out_mode' that are not booleans",
      statuses: [400],
      make: (seed) =>
        sample(
          fc.tuple(fc.constantFrom("get", "has", "list_keys"), notBoolean),
          600,
          seed,
        ).map(([fn, flag]) =>
          fn === "list_keys"
            ? call(fn, [], { fan_out_mode: flag })
            : call(fn, goodArgs(fn), { local: flag })
        ),
    },
    {
      name: "type confusion: 'ttl' that is not a positive number of seconds",
      statuses: [400],
      make: (seed) =>
        sample(
          fc.tuple(
            fc.constantFrom("set", "mset"),
            fc.oneof(
              json.filter((v) => typeof v !== "number" && v !== null),
              // Not ±Infinity: JSON has no such number (it becomes null).
              fc.double({ max: 0, noNaN: true, noDefaultInfinity: true }),
              fc.double({
                min: TTL_SECONDS_MAX + 1,
                noNaN: true,
                noDefaultInfinity: true,
              }),
            ),
          ),
          600,
          seed,
        ).map(([fn, ttl]) => call(fn, goodArgs(fn), { ttl })),
    },
    {
      name: "type confusion: list_keys 'prefix', 'cursor' and 'limit'",
      statuses: [400],
      make: (seed) =>
        sample(
          fc.oneof(
            notString.filter((v) => v !== null).map((prefix) => ({ prefix })),
            notString.filter((v) => v !== null).map((cursor) => ({ cursor })),
            fc.oneof(
              json.filter((v) => !Number.isSafeInteger(v) && v !== null),
              fc.integer({ max: 0 }),
              fc.integer({ min: LIST_PAGE_KEYS_MAX + 1 }),
              fc.double({
                noInteger: true,
                noNaN: true,
                noDefaultInfinity: true,
              }),
            ).map((limit) => ({ limit })),
          ),
          600,
          seed,
        ).map((kwargs) => call("list_keys", [], kwargs)),
    },
    {
      name: "type confusion: mget 'keys' and mset 'entries'",
      statuses: [400],
      make: (seed) =>
        sample(
          fc.oneof(
            notList.map((keys) => call("mget", [keys], {})),
            fc.array(json, { minLength: 1, maxLength: 5 }).filter((keys) =>
              keys.some((k) => typeof k !== "string")
            ).map((keys) => call("mget", [keys], {})),
            notObject.map((entries) => call("mset", [entries], {})),
            fc.constant(null).map(() =>
              call("mget", [
                Array.from({ length: BATCH_KEYS_MAX + 1 }, (_, i) => `k${i}`),
              ], {})
            ),
            fc.constant(null).map(() =>
              call("mset", [Object.fromEntries(
                Array.from(
                  { length: BATCH_KEYS_MAX + 1 },
                  (_, i) => [`fuzz:${i}`, i],
                ),
              )], {})
            ),
          ),
          600,
          seed,
        ),
    },
    {
      name:
        "nesting deeper than 64, in values, arguments, kwargs and the envelope",
      statuses: [400],
      make: (seed) =>
        sample(
          fc.tuple(
            fc.integer({ min: JSON_DEPTH_MAX + 1, max: 5_000 }),
            fc.boolean(),
            fc.constantFrom("value", "args", "kwargs", "envelope", "mset"),
          ),
          500,
          seed,
        ).map(([depth, object, where]) => {
          const deep = nest(depth, "1", object);
          switch (where) {
            case "value":
              return rpcBody(
                `{"function":"set","args":["fuzz:never",${deep}]}`,
              );
            case "args":
              return rpcBody(
                `{"function":"get","args":${nest(depth, '"k"', false)}}`,
              );
            case "kwargs":
              return rpcBody(
                `{"function":"get","args":["k"],"kwargs":{"default_value":${deep}}}`,
              );
            case "mset":
              return rpcBody(
                `{"function":"mset","args":[{"fuzz:never":${deep}}]}`,
              );
            default:
              return rpcBody(`{"function":"ping","extra":${deep}}`);
          }
        }).concat([
          // 8 MiB of brackets: the parser would take seconds on it.
          rpcBody("[".repeat(BODY_BYTES_MAX - 1)),
        ]),
    },
    {
      name: "size: bodies over 8 MiB (declared), values over 4 MiB",
      statuses: [400, 413],
      make: () => [
        rpcBody(
          `{"function":"set","args":["fuzz:never","${
            "x".repeat(BODY_BYTES_MAX)
          }"]}`,
        ),
        rpcBody(" ".repeat(BODY_BYTES_MAX + 1)),
        call("set", ["fuzz:never", "v".repeat(VALUE_BYTES_MAX)], {}),
        call("mset", [{ "fuzz:never": "v".repeat(VALUE_BYTES_MAX) }], {}),
        call("set", [], {
          key: "fuzz:never",
          value: ["v".repeat(VALUE_BYTES_MAX)],
        }),
      ],
    },
    {
      name: "prototype pollution through the envelope, kwargs and values",
      make: (seed) => [
        rpcBody('{"__proto__":{"function":"ping"}}'),
        rpcBody('{"function":"get","__proto__":{"args":["seed:1"]}}'),
        rpcBody(
          '{"function":"get","args":["a"],"kwargs":{"__proto__":{"local":true}}}',
        ),
        rpcBody(
          '{"function":"set","args":["k",1],"kwargs":{"__proto__":{"ttl":-1}}}',
        ),
        rpcBody(
          '{"function":"set","args":["k",1],"kwargs":{"constructor":{"prototype":{"polluted":1}}}}',
        ),
        rpcBody('{"function":"mget","args":[{"__proto__":[]}]}'),
        rpcBody(
          '{"function":"list_keys","kwargs":{"prefix":{"__proto__":"a"}}}',
        ),
        ...sample(
          fc.tuple(
            fc.constantFrom(...PROTO_NAMES),
            fc.constantFrom(...PROTO_NAMES),
            json,
          ),
          500,
          seed,
        ).flatMap(([a, b, v]) => [
          rpcBody(`{"function":${JSON.stringify(a)},"args":[],"kwargs":{}}`),
          rpcBody(
            `{"function":"get","args":["seed:1"],"kwargs":{${
              JSON.stringify(a)
            }:{${JSON.stringify(b)}:${JSON.stringify(v)}}}}`,
          ),
        ]),
      ],
    },
    {
      name: "auth: no token, another scheme, wrong tokens, on / and /metrics",
      statuses: [401],
      make: (seed) =>
        sample(
          fc.tuple(
            fc.oneof(
              fc.constant(undefined),
              fc.string({ unit: "binary-ascii", maxLength: 80 }).map((t) =>
                `Bearer ${t}`
              ),
              fc.constantFrom(
                `Basic ${btoa(`kvdb:${TOKEN}`)}`,
                TOKEN,
                `Token ${TOKEN}`,
                `Bearer${TOKEN}`,
                `Bearer ${TOKEN} ${TOKEN}`,
                `Bearer ${TOKEN.toUpperCase()}`,
                `Bearer ${TOKEN.slice(0, -1)}`,
                `Bearer ${TOKEN}0`,
                `Bearer 0${TOKEN}`,
                "Bearer ",
                `Bearer ${"x".repeat(8_000)}`,
              ),
              fc.nat({ max: TOKEN.length - 1 }).map((i) =>
                `Bearer ${TOKEN.slice(0, i)}${TOKEN[i] === "a" ? "b" : "a"}${
                  TOKEN.slice(i + 1)
                }`
              ),
            ).filter((h) =>
              h === undefined ||
              (/^[\x20-\x7e]*$/.test(h) && h.trim() !== `Bearer ${TOKEN}`)
            ),
            fc.boolean(),
          ),
          800,
          seed,
        ).map(([authorization, metrics]): Bad => ({
          ...(metrics ? { path: "/metrics", method: "GET" } : {}),
          headers: authorization === undefined ? {} : { authorization },
          // If auth could be skipped, this write would change stored data.
          ...(metrics ? {} : {
            body: JSON.stringify({
              function: "set",
              args: ["seed:1", "owned"],
            }),
          }),
        })),
    },
    {
      name:
        "peer auth: unsigned, client token, forged, stale, future, wrong cluster, replayed",
      statuses: [401],
      make: async (seed) => {
        // A replica write that would change stored data if it got through.
        const body = JSON.stringify({
          kind: "write",
          records: [{
            key: "seed:1",
            value: "owned",
            version: [Date.now() + 3_600_000, 0, "attacker:1"],
            tombstone: false,
          }],
        });
        // Far outside the ±30 s window, so that however slowly the batch
        // is sent, none of these comes back into it.
        const now = Date.now();
        const forged = await PeerSigner.create(
          "wrong-secret-0123456789",
          "kvdb",
        );
        const stale = await PeerSigner.create(SECRET, "kvdb", {
          now: () => now - 120_000,
        });
        const future = await PeerSigner.create(SECRET, "kvdb", {
          now: () => now + 120_000,
        });
        const other = await PeerSigner.create(SECRET, "other");
        const signers = [forged, stale, future, other];
        const cases: Bad[] = [];
        const picks = sample(fc.nat({ max: 7 }), 800, seed);
        for (const pick of picks) {
          if (pick < 4) {
            cases.push({
              path: "/peer",
              headers: (await signers[pick]!.signRequest(body)).headers,
              body,
            });
          } else if (pick === 4) {
            cases.push({ path: "/peer", headers: AUTH, body });
          } else if (pick === 5) {
            cases.push({ path: "/peer", body });
          } else if (pick === 6) {
            const headers = (await signer.signRequest(body)).headers;
            headers["x-kvdb-signature"] = "0".repeat(64);
            cases.push({ path: "/peer", headers, body });
          } else {
            cases.push(replay);
          }
        }
        return cases;
      },
    },
    {
      name:
        "peer messages: signed, but of the wrong shape or naming refused addresses",
      statuses: [400, 403],
      make: async (seed) => {
        const cases: Bad[] = [];
        for (const message of sample(badPeerMessage, 500, seed)) {
          cases.push(await peer(JSON.stringify(message)));
        }
        for (
          const message of [
            { kind: "ping", from: "169.254.169.254:80", members: [] },
            { kind: "ping_req", target: "metadata.google.internal:80" },
            { kind: "transfer", for: "[fe80::1]:5878", limit: 10 },
            {
              kind: "ae_leaves",
              from: "2852039166:80",
              ring: 1,
              cut: 0,
              buckets: [0],
            },
          ]
        ) {
          cases.push(await peer(JSON.stringify(message)));
        }
        cases.push(
          await peer(`{"kind":"read","keys":${nest(200, '"k"', false)}}`),
        );
        return cases;
      },
    },
    {
      name: "methods and paths: wrong method, unknown or odd paths",
      statuses: [404, 405],
      make: (seed) =>
        sample(
          fc.oneof(
            fc.tuple(
              fc.constantFrom("GET", "PUT", "DELETE", "PATCH", "OPTIONS"),
              fc.constantFrom("/", "/peer"),
            ),
            fc.tuple(
              fc.constantFrom("POST", "PUT", "DELETE"),
              fc.constantFrom("/health", "/metrics"),
            ),
            fc.tuple(
              fc.constantFrom("GET", "POST"),
              fc.oneof(
                fc.constantFrom("//", "/peer/", "/PEER", "/admin", "/.env"),
                fc.webPath(),
              ).map((p) => p.startsWith("/") ? p : `/${p}`).filter((p) =>
                // fetch normalizes dot segments ("/a/../peer" is "/peer");
                // those reach the node raw in the framing cases.
                !["/", "/peer", "/health", "/metrics"].includes(
                  new URL(`http://x${p}`).pathname,
                )
              ),
            ),
          ),
          700,
          seed,
        ).map(([method, path]) => ({
          method,
          path,
          headers: AUTH,
          ...(method === "GET" ? {} : { body: "{}" }),
        })),
    },
  ];
}

/** Raw HTTP framing errors, each on its own TCP connection. */
const FRAMING: [string, string][] = [
  ["a garbage request line", "GARBAGE\r\n\r\n"],
  ["an unknown HTTP version", "POST / HTTP/9.9\r\nHost: x\r\n\r\n"],
  ["HTTP/0.9", "GET /\r\n"],
  [
    "a non-numeric Content-Length",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
  ],
  [
    "a negative Content-Length",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
  ],
  [
    "a huge Content-Length",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
  ],
  [
    "two different Content-Lengths",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}",
  ],
  [
    "Content-Length with chunked",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  ],
  [
    "a bad chunk size",
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
  ],
  [
    "a truncated body",
    `POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 100\r\n\r\n{"function":`,
  ],
  [
    "a truncated chunked body",
    `POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n{"function"`,
  ],
  ["truncated headers", "POST / HTTP/1.1\r\nHost: x\r\nContent-Len"],
  [
    "a 64 KiB header",
    `POST / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(65_536)}\r\n\r\n`,
  ],
  [
    "a 1 MiB header",
    `POST / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(1 << 20)}\r\n\r\n`,
  ],
  [
    "10,000 headers",
    `POST / HTTP/1.1\r\nHost: x\r\n${"X-A: b\r\n".repeat(10_000)}\r\n`,
  ],
  [
    "a NUL in a header",
    "POST / HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\nContent-Length: 2\r\n\r\n{}",
  ],
  [
    "a space before the colon",
    "POST / HTTP/1.1\r\nHost : x\r\nContent-Length: 2\r\n\r\n{}",
  ],
  [
    "a non-token header name",
    "POST / HTTP/1.1\r\nHost: x\r\nX(A): b\r\nContent-Length: 2\r\n\r\n{}",
  ],
  ["bare LF line ends", "POST / HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}"],
  ["a 100 KiB URL", `GET /${"a".repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`],
  [
    "an absolute-form URL to another host",
    "POST http://169.254.169.254/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
  ],
  [
    "dot segments to /peer",
    "POST /%2e%2e/peer HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
  ],
  [
    "a dot segment to /",
    "POST /./ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
  ],
  [
    "a lower-case method",
    "post / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
  ],
  [
    "a smuggled second request",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nPOST /peer HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
  ],
  [
    "binary noise",
    "\u0016\u0003\u0001\u0000\u00a5\u0001\u0000\u0000\u00a1\u0003\u0003",
  ],
];

/** Sends raw bytes, half-closes, and reads what comes back (or nothing). */
async function rawExchange(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const bytes = new TextEncoder().encode(text);
  const chunks: Uint8Array[] = [];
  const timer = setTimeout(() => conn.close(), 5_000);
  try {
    try {
      await conn.write(bytes).then(async (n) => {
        let sent = n;
        while (sent < bytes.length) {
          sent += await conn.write(bytes.subarray(sent));
        }
      });
      await conn.closeWrite();
    } catch {
      // The server may close before taking all of it: that is a refusal.
    }
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch {
        break; // reset or closed by our timer
      }
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
  return new TextDecoder().decode(
    chunks.reduce((all, c) => new Uint8Array([...all, ...c]), new Uint8Array()),
  ).slice(0, 400);
}

/** What a response was: its status and a problem, if any. */
interface Outcome {
  status: number;
  problem?: string;
}

/** Checks one error answer: a JSON error envelope and nothing else. */
async function checkError(response: Response, kind: Kind): Promise<Outcome> {
  const status = response.status;
  const text = await response.text();
  const allowed = kind.statuses ?? [];
  const statusOk = allowed.length > 0
    ? allowed.includes(status)
    : status >= 400 && status <= 499;
  if (!statusOk) {
    return { status, problem: `status ${status}: ${text.slice(0, 200)}` };
  }
  if (response.headers.get("content-type") !== "application/json") {
    return {
      status,
      problem: `content-type ${response.headers.get("content-type")}`,
    };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { status, problem: `not JSON: ${text.slice(0, 200)}` };
  }
  const envelope = body as Record<string, unknown>;
  if (
    JSON.stringify(Object.keys(envelope)) !== '["status","description"]' ||
    envelope.status !== "Error" || typeof envelope.description !== "string" ||
    envelope.description === "" || /\bat .*\.ts:\d+/.test(envelope.description)
  ) {
    return { status, problem: `not an error envelope: ${text.slice(0, 200)}` };
  }
  return { status };
}

/** Sends every case, CONCURRENCY at a time; the outcomes in order. */
async function sendAll(
  base: string,
  cases: Bad[],
  kind: Kind,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      const bad = cases[i]!;
      try {
        const response = await fetch(`${base}${bad.path ?? "/"}`, {
          method: bad.method ?? "POST",
          headers: bad.headers ?? {},
          ...(bad.body !== undefined ? { body: bad.body } : {}),
        });
        outcomes[i] = await checkError(response, kind);
      } catch (error) {
        outcomes[i] = { status: 0, problem: `no answer: ${error}` };
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return outcomes;
}

/** Data the node holds before the fuzzing starts; it must not change. */
const SEEDED: Record<string, unknown> = JSON.parse(`{
  "seed:1": "one",
  "seed:2": { "nested": [1, 2, { "deep": true }] },
  "seed:3": 3.5,
  "__proto__": "a plain key",
  "constructor": ["also", "plain"],
  "toString": null,
  "": "the empty key",
  "ключ🔑": "unicode"
}`);

Deno.test("fuzz: 10,000+ malformed requests get 4xx JSON errors; the node stays up and its data unchanged", async (t) => {
  console.log(`fuzz: seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
  const node = await new NodeProcess(freePort(), [
    "--auth-token",
    TOKEN,
    "--cluster-secret",
    SECRET,
  ]).ready();
  const base = `http://${node.address}`;
  const rpc = async (fn: string, args: unknown[] = []) => {
    const response = await fetch(`${base}/`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ function: fn, args }),
    });
    assertEquals(response.status, 200, `${fn} on a healthy node`);
    return (await response.json()).result;
  };
  const knownGood = async (after: string) => {
    assertEquals(await rpc("get", ["seed:1"]), "one", `a get after ${after}`);
    assertEquals(await rpc("has", ["__proto__"]), true, `has after ${after}`);
  };
  let sent = 0;
  const counts: [string, number][] = [];
  try {
    await rpc("mset", [SEEDED]);
    const keys = Object.keys(SEEDED).sort();
    assertEquals(await rpc("list_keys"), keys);

    // One genuine signed peer message, accepted once: the replays of it in
    // the table must all be refused.
    const signer = await PeerSigner.create(SECRET, "kvdb");
    const readBody = JSON.stringify({ kind: "read", keys: ["seed:1"] });
    const genuine = await signer.signRequest(readBody);
    const first = await fetch(`${base}/peer`, {
      method: "POST",
      headers: genuine.headers,
      body: readBody,
    });
    assertEquals(first.status, 200);
    await first.body?.cancel();
    const replay: Bad = {
      path: "/peer",
      headers: genuine.headers,
      body: readBody,
    };

    const table = kinds(signer, replay);
    assert(table.length + 1 >= 20, "at least 20 kinds with framing");
    for (const [index, kind] of table.entries()) {
      await t.step(kind.name, async () => {
        const cases = await kind.make(SEED + index * 1_000);
        const outcomes = await sendAll(base, cases, kind);
        sent += cases.length;
        counts.push([kind.name, cases.length]);
        const problems = outcomes.flatMap((o, i) =>
          o.problem === undefined ? [] : [
            `${o.problem} <- ${
              String(cases[i]!.body ?? cases[i]!.path).slice(0, 160)
            }`,
          ]
        );
        assertEquals(problems.slice(0, 5), [], `seed ${SEED}`);
        await knownGood(kind.name);
      });
    }

    await t.step(
      "HTTP framing over raw TCP: 4xx or a closed connection, never 5xx",
      async () => {
        const rounds = 20;
        for (let round = 0; round < rounds; round++) {
          const answers = await Promise.all(
            FRAMING.map(([, text]) => rawExchange(node.port, text)),
          );
          for (const [i, answer] of answers.entries()) {
            const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
            assert(
              answer === "" || (status !== undefined && status.startsWith("4")),
              `${FRAMING[i]![0]}: ${JSON.stringify(answer.slice(0, 120))}`,
            );
          }
          sent += FRAMING.length;
        }
        counts.push(["HTTP framing (raw TCP)", FRAMING.length * rounds]);
        await knownGood("framing");
      },
    );

    await t.step(
      "the stored data is unchanged and no request got a 5xx",
      async () => {
        assertEquals(await rpc("list_keys"), keys);
        assertEquals(await rpc("mget", [keys]), keys.map((k) => SEEDED[k]));
        const metrics =
          await (await fetch(`${base}/metrics`, { headers: AUTH }))
            .text();
        const fivexx = metrics.split("\n").filter((l) =>
          /code="5\d\d"/.test(l)
        );
        assertEquals(fivexx, []);
        assert(!/Internal error|Uncaught|panicked/.test(node.log), node.log);
      },
    );

    console.log(
      counts.map(([name, n]) => `  ${String(n).padStart(5)}  ${name}`).join(
        "\n",
      ),
    );
    console.log(`fuzz: ${sent} malformed requests in ${counts.length} kinds`);
    assert(sent >= 10_000, `only ${sent} requests`);
    assert(counts.length >= 20, `only ${counts.length} kinds`);
  } finally {
    await node.kill();
  }
});
