import { assertEquals, assertMatch } from "@std/assert";
import { testHandler } from "./_fixtures.ts";
import { ConflictError } from "../errors.ts";
import { ERROR_CODE_HEADER } from "../transport/mod.ts";
import { pathOf } from "./handler.ts";

async function handler() {
  return (await testHandler()).handle;
}

const post = (body: string, path = "/") =>
  new Request(`http://a:1${path}`, { method: "POST", body });

Deno.test("pathOf() takes the path from an absolute URL", () => {
  assertEquals(pathOf("http://127.0.0.1:5878/"), "/");
  assertEquals(pathOf("http://h:1/peer?x=1"), "/peer");
  assertEquals(pathOf("http://h:1/health#frag"), "/health");
  assertEquals(pathOf("http://h:1"), "/");
});

Deno.test("the handler answers JSON-RPC without a socket", async () => {
  const handle = await handler();
  const set = await handle(post('{"function":"set","args":["k",[1]]}'));
  assertEquals(await set.text(), '{"status":"OK.","result":null}');
  const get = await handle(post('{"function":"get","args":["k"]}'));
  assertEquals(get.status, 200);
  assertEquals(get.headers.get("content-type"), "application/json");
  assertEquals(await get.text(), '{"status":"OK.","result":[1]}');
});

Deno.test("the handler counts requests by function, unknown names as one label", async () => {
  const handle = await handler();
  await handle(post('{"function":"ping"}'));
  for (let i = 0; i < 3; i++) {
    await (await handle(post(`{"function":"nope${i}"}`))).body?.cancel();
  }
  const text = await (await handle(new Request("http://a:1/metrics"))).text();
  assertMatch(text, /kvdb_requests_total\{function="ping",code="200"\} 1/);
  assertMatch(
    text,
    /kvdb_requests_total\{function="\(unknown\)",code="404"\} 3/,
  );
});

Deno.test("a deeply nested body is refused even when it is long", async () => {
  const handle = await handler();
  const deep = "[".repeat(200) + "]".repeat(200);
  const response = await handle(
    post(`{"function":"set","args":["k",${deep}]}`),
  );
  assertEquals(response.status, 400);
  assertMatch((await response.json()).description, /deeper than 64/);
});

Deno.test("a refused peer message names its error code in a header; a client's failure body stays the protocol's", async () => {
  const { handle } = await testHandler({
    peer: () => Promise.reject(new ConflictError("not now")),
  });
  const peer = await handle(post('{"kind":"read","keys":["k"]}', "/peer"));
  assertEquals(peer.status, 409);
  assertEquals(peer.headers.get(ERROR_CODE_HEADER), "conflict");
  assertEquals(await peer.json(), { status: "Error", description: "not now" });
  const client = await handle(post('{"function":"nope"}'));
  assertEquals(client.status, 404);
  assertEquals(client.headers.get(ERROR_CODE_HEADER), null);
  assertEquals(await client.json(), {
    status: "Error",
    description: "Unknown function: 'nope'.",
  });
});

Deno.test("GET /health answers 503 until the node serves, then 200", async () => {
  let serving = false;
  const { handle } = await testHandler({ serving: () => serving });
  const health = () => handle(new Request("http://a:1/health"));
  const starting = await health();
  assertEquals(starting.status, 503);
  assertMatch(await starting.text(), /Starting: .*announced/);
  serving = true;
  const ready = await health();
  assertEquals(ready.status, 200);
  assertEquals(await ready.text(), '{"status":"OK.","result":"serving"}');
});
