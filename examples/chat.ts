/**
 * A chat room on Deno KV with `watch`: post a message to one node of a
 * KVDB cluster and every client following the room, on any node, sees it
 * at once (docs/kv-connect.md).
 *
 *   DENO_KV_URL=http://127.0.0.1:5878/kv DENO_KV_ACCESS_TOKEN=<token> \
 *     deno run -A --unstable-kv examples/chat.ts [port]
 *
 * - POST /messages with a text body posts a message;
 * - GET /messages lists the last 50;
 * - GET /events streams every new message as a server-sent event.
 *
 * A message is written under ["messages", <time>, <id>] and the room's
 * ["last"] key names it in the same atomic commit, so a watch on ["last"]
 * wakes on each message.
 *
 * @module
 */

const kv = await Deno.openKv(Deno.env.get("DENO_KV_URL") ?? ":memory:");

interface Message {
  id: string;
  at: number;
  text: string;
}

async function post(text: string): Promise<Message> {
  const message = { id: crypto.randomUUID(), at: Date.now(), text };
  const r = await kv.atomic()
    .set(["messages", message.at, message.id], message)
    .set(["last"], message)
    .commit();
  if (!r.ok) throw new Error("the commit failed");
  return message;
}

async function recent(limit = 50): Promise<Message[]> {
  const out: Message[] = [];
  const list = kv.list<Message>({ prefix: ["messages"] }, {
    limit,
    reverse: true,
  });
  for await (const e of list) out.unshift(e.value);
  return out;
}

/** Every message posted from now on, as server-sent events. */
function events(signal: AbortSignal): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let stream: ReadableStream<Deno.KvEntryMaybe<Message>[]>;
  return new ReadableStream({
    async start(controller) {
      stream = kv.watch<[Message]>([["last"]]);
      let first = true;
      signal.addEventListener("abort", () => stream.cancel().catch(() => {}));
      try {
        for await (const [last] of stream) {
          // The first frame is the room as it is: not a new message.
          if (first) {
            first = false;
            continue;
          }
          if (last?.value !== null && last?.value !== undefined) {
            controller.enqueue(
              encoder.encode(`data: ${JSON.stringify(last.value)}\n\n`),
            );
          }
        }
      } catch {
        // The client went away.
      }
      controller.close();
    },
    cancel() {
      stream?.cancel().catch(() => {});
    },
  });
}

const port = Number(Deno.args[0] ?? 8001);
Deno.serve({ hostname: "127.0.0.1", port }, async (request) => {
  const path = new URL(request.url).pathname;
  if (path === "/messages" && request.method === "POST") {
    const text = (await request.text()).slice(0, 1_000);
    if (text.trim() === "") {
      return new Response("empty message\n", { status: 400 });
    }
    return Response.json(await post(text));
  }
  if (path === "/messages") return Response.json(await recent());
  if (path === "/events") {
    return new Response(events(request.signal), {
      headers: { "content-type": "text/event-stream" },
    });
  }
  return new Response("not found\n", { status: 404 });
});
