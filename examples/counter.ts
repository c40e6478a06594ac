/**
 * A page-view counter on Deno KV: any Deno KV app, unchanged, pointed at a
 * KVDB cluster with DENO_KV_URL (docs/kv-connect.md).
 *
 *   DENO_KV_URL=http://127.0.0.1:5878/kv DENO_KV_ACCESS_TOKEN=<token> \
 *     deno run -A --unstable-kv examples/counter.ts [port]
 *
 * GET / counts a view and answers the total; GET /count only reads it.
 * Views are summed with `atomic().sum()`, so concurrent servers, on any
 * node of the cluster, never lose one.
 *
 * @module
 */

const kv = await Deno.openKv(Deno.env.get("DENO_KV_URL") ?? ":memory:");
const KEY = ["views"];

async function views(): Promise<bigint> {
  return (await kv.get<Deno.KvU64>(KEY)).value?.value ?? 0n;
}

const port = Number(Deno.args[0] ?? 8000);
Deno.serve({ hostname: "127.0.0.1", port }, async (request) => {
  const path = new URL(request.url).pathname;
  if (path === "/count") return new Response(`${await views()}\n`);
  if (path !== "/") return new Response("not found\n", { status: 404 });
  await kv.atomic().sum(KEY, 1n).commit();
  return new Response(`${await views()}\n`);
});
