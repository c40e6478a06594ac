import { assert, assertEquals, assertRejects } from "@std/assert";
import { Http1Client, Http1Error } from "./http1.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** One character per byte, to find the header's end in raw bytes. */
const latin1 = new TextDecoder("latin1");

/**
 * A TCP server that answers each request with the next scripted answer,
 * written in the pieces given (to split headers and bodies across reads).
 * It records the request bodies and counts connections.
 */
type Piece = string | Uint8Array;

function scriptedServer(answers: (string | Piece[])[]) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const bodies: string[] = [];
  const heads: string[] = [];
  let connections = 0;
  let next = 0;
  const serveConn = async (conn: Deno.Conn) => {
    connections++;
    // Bytes, since content-length counts bytes, not characters.
    let pending: Uint8Array = new Uint8Array(0);
    const buffer = new Uint8Array(65536);
    try {
      for (;;) {
        const head = latin1.decode(pending);
        const headEnd = head.indexOf("\r\n\r\n");
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (headEnd >= 0 && pending.length >= headEnd + 4 + length) {
          heads.push(head.slice(0, headEnd));
          bodies.push(
            decoder.decode(pending.subarray(headEnd + 4, headEnd + 4 + length)),
          );
          pending = pending.slice(headEnd + 4 + length);
          const answer = answers[next++] ??
            "HTTP/1.1 500 X\r\ncontent-length: 0\r\n\r\n";
          if (answer === "CLOSE") {
            conn.close();
            return;
          }
          for (const piece of Array.isArray(answer) ? answer : [answer]) {
            await conn.write(
              typeof piece === "string" ? encoder.encode(piece) : piece,
            );
          }
          if (/connection: close/i.test(String(answer))) {
            conn.close();
            return;
          }
          continue;
        }
        const n = await conn.read(buffer);
        if (n === null) break;
        pending = concat(pending, buffer.subarray(0, n));
      }
      conn.close();
    } catch {
      // The client went away.
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) serveConn(conn);
    } catch {
      // closed
    }
  })();
  const { port } = listener.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}/`,
    bodies,
    heads,
    get connections() {
      return connections;
    },
    async close() {
      listener.close();
      await accepting;
    },
  };
}

function concat(...parts: (string | Uint8Array)[]): Uint8Array {
  const bytes = parts.map((p) => typeof p === "string" ? encoder.encode(p) : p);
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
  let offset = 0;
  for (const b of bytes) {
    out.set(b, offset);
    offset += b.length;
  }
  return out;
}

const ok = (body: string) =>
  `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${
    encoder.encode(body).length
  }\r\n\r\n${body}`;

Deno.test("Http1Client sends the body and reads answers by content-length over one connection", async () => {
  const server = scriptedServer([ok('{"a":1}'), ok("ü"), ok("")]);
  const client = new Http1Client(server.url);
  const first = await client.post('{"function":"ping"}', { "x-sig": "AbC" });
  assertEquals([first.status, first.text], [200, '{"a":1}']);
  assertEquals(first.headers.get("content-type"), "application/json");
  assert(server.heads[0]!.includes("\r\nx-sig: AbC\r\n"), server.heads[0]);
  assertEquals((await client.post("é")).text, "ü");
  assertEquals((await client.post("x")).text, "");
  assertEquals(server.bodies, ['{"function":"ping"}', "é", "x"]);
  assertEquals(server.connections, 1);
  client.close();
  await server.close();
});

Deno.test("Http1Client reads answers split across reads and chunked bodies", async () => {
  const euro = encoder.encode("€");
  const server = scriptedServer([[
    "HTTP/1.1 503 Service Unavailable\r\ntransfer-",
    "encoding: chunked\r\n\r\n4\r\nab",
    // The euro sign's three bytes are split between two chunks.
    concat("cd\r\n3\r\nx", euro.subarray(0, 2), "\r\n1\r\n"),
    concat(euro.subarray(2), "\r\n0\r\n\r\n"),
  ], ok("next")]);
  const client = new Http1Client(server.url);
  const answer = await client.post("1");
  assertEquals([answer.status, answer.text], [503, "abcdx€"]);
  assertEquals((await client.post("2")).text, "next");
  assertEquals(server.connections, 1);
  client.close();
  await server.close();
});

Deno.test("Http1Client opens a new connection after the server closes one", async () => {
  const server = scriptedServer([
    "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 3\r\n\r\nbye",
    ok("again"),
  ]);
  const client = new Http1Client(server.url);
  assertEquals((await client.post("1")).text, "bye");
  assertEquals((await client.post("2")).text, "again");
  assertEquals(server.connections, 2);
  client.close();
  await server.close();
});

Deno.test("Http1Client reports a connection closed mid-answer as a connection failure", async () => {
  const server = scriptedServer(["CLOSE", ok("fine")]);
  const client = new Http1Client(server.url);
  const error = await assertRejects(() => client.post("1"), Http1Error);
  assertEquals(error.kind, "connection");
  // And recovers on the next request.
  assertEquals((await client.post("2")).text, "fine");
  client.close();
  await server.close();
});

Deno.test("Http1Client reports an answer that is not HTTP as a protocol failure", async () => {
  const server = scriptedServer(["SSH-2.0-OpenSSH\r\n\r\n"]);
  const client = new Http1Client(server.url);
  const error = await assertRejects(() => client.post("1"), Http1Error);
  assertEquals(error.kind, "protocol");
  client.close();
  await server.close();
});

Deno.test("Http1Client reports a refused connection as a connection failure", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const client = new Http1Client(`http://127.0.0.1:${port}/`);
  const error = await assertRejects(() => client.post("1"), Http1Error);
  assertEquals(error.kind, "connection");
  client.close();
});

Deno.test("Http1Client talks to Deno.serve with keep-alive", async () => {
  const peers = new Set<string>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request, info) => {
      peers.add(`${info.remoteAddr.port}`);
      return Response.json({ status: "OK.", result: await request.json() });
    },
  );
  const client = new Http1Client(`http://127.0.0.1:${server.addr.port}/`);
  for (let i = 0; i < 5; i++) {
    const answer = await client.post(JSON.stringify({ i }));
    assertEquals(JSON.parse(answer.text), { status: "OK.", result: { i } });
  }
  assertEquals(peers.size, 1);
  client.close();
  await server.shutdown();
});

/**
 * A connection that takes every write and fails its first read with
 * `failure`, through the client's `dial` seam.
 */
function failingConn(failure: Error) {
  let closed = false;
  const conn = {
    setNoDelay() {},
    write: (bytes: Uint8Array) => Promise.resolve(bytes.length),
    read: () => Promise.reject(failure),
    close() {
      closed = true;
    },
  } as unknown as Deno.TcpConn;
  return {
    dial: () => Promise.resolve(conn),
    get closed() {
      return closed;
    },
  };
}

Deno.test("Http1Client lets a bug through as it is, not as a peer that is down", async () => {
  const bug = new RangeError("offset is out of bounds");
  const fake = failingConn(bug);
  const client = new Http1Client("http://127.0.0.1:1/", { dial: fake.dial });
  const error = await assertRejects(() => client.post("1"));
  assert(error === bug, `expected the RangeError itself, got ${error}`);
  assert(fake.closed, "the connection in an unknown state is closed");
  const dialBug = new TypeError("undefined is not a function");
  const connecting = new Http1Client("http://127.0.0.1:1/", {
    dial: () => Promise.reject(dialBug),
  });
  const thrown = await assertRejects(() => connecting.connect());
  assert(thrown === dialBug, `expected the TypeError itself, got ${thrown}`);
  client.close();
  connecting.close();
});

Deno.test("Http1Client reports the runtime's socket errors as connection failures", async () => {
  const faults = [
    new Deno.errors.ConnectionReset("Connection reset by peer (os error 104)"),
    new Deno.errors.BrokenPipe("Broken pipe (os error 32)"),
    new Deno.errors.UnexpectedEof("peer closed connection without TLS close"),
    // An OS error the runtime has no class for comes as a plain Error.
    new Error("No route to host (os error 113)"),
  ];
  for (const fault of faults) {
    const client = new Http1Client("http://127.0.0.1:1/", {
      dial: failingConn(fault).dial,
    });
    const error = await assertRejects(() => client.post("1"), Http1Error);
    assertEquals([error.kind, error.cause], ["connection", fault]);
    client.close();
  }
  // A host name that cannot resolve (RFC 6761's .invalid), for real.
  const client = new Http1Client("http://no-such-host.invalid/");
  const error = await assertRejects(() => client.connect(), Http1Error);
  assertEquals(error.kind, "connection");
  client.close();
});
