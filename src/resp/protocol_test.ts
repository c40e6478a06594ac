import { assertEquals, assertThrows } from "@std/assert";
import {
  DoubleReply,
  MapReply,
  ProtocolError,
  ReplyWriter,
  RequestParser,
  SetReply,
  Simple,
  splitInline,
} from "./protocol.ts";

const LIMITS = {
  inlineBytesMax: 64 * 1024,
  argsMax: 1000,
  bulkBytesMax: 1024,
  commandBytesMax: 4096,
};
const enc = new TextEncoder();
const dec = new TextDecoder();

function parse(text: string | Uint8Array, limits = LIMITS): string[][] {
  const parser = new RequestParser(limits, 16);
  const bytes = typeof text === "string" ? enc.encode(text) : text;
  const out: string[][] = [];
  // Feed one byte at a time: every split point must work.
  for (const byte of bytes) {
    parser.space()[0] = byte;
    parser.wrote(1);
    for (let argv = parser.next(); argv !== null; argv = parser.next()) {
      out.push(argv.map((a) => dec.decode(a)));
    }
  }
  return out;
}

Deno.test("RequestParser reads pipelined multibulk and inline commands, byte by byte", () => {
  assertEquals(
    parse("*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nSET a 'b c'\r\n*0\r\n\r\n"),
    [["GET", "k"], ["PING"], ["SET", "a", "b c"]],
  );
  assertEquals(parse("*1\r\n$0\r\n\r\n"), [[""]]);
});

Deno.test("RequestParser refuses malformed requests with Redis's texts", () => {
  const cases: [string, string][] = [
    ["*x\r\n", "invalid multibulk length"],
    ["*1001\r\n", "invalid multibulk length"],
    ["*1\r\n$-1\r\n", "invalid bulk length"],
    ["*1\r\n$2000\r\n", "invalid bulk length"],
    ["*1\r\n:1\r\n", "expected '$', got ':'"],
    ['GET "a\r\n', "unbalanced quotes in request"],
    [
      "*3\r\n$1000\r\n" + "x".repeat(1000) + "\r\n$1000\r\n" +
      "x".repeat(1000) +
      "\r\n$1000\r\n" + "x".repeat(1000) + "\r\n$1000\r\n",
      "command too large",
    ],
  ];
  for (const [input, message] of cases) {
    const limits = { ...LIMITS, commandBytesMax: 2500 };
    const error = assertThrows(() => parse(input, limits), ProtocolError);
    assertEquals(error.message, `Protocol error: ${message}`);
  }
  assertThrows(
    () => parse("x".repeat(100), { ...LIMITS, inlineBytesMax: 50 }),
    ProtocolError,
    "too big inline request",
  );
});

Deno.test("RequestParser applies Redis's bounds before AUTH", () => {
  const parser = new RequestParser(LIMITS);
  parser.authRequired = true;
  const input = enc.encode("*11\r\n");
  parser.space().set(input);
  parser.wrote(input.length);
  assertThrows(
    () => parser.next(),
    ProtocolError,
    "unauthenticated multibulk length",
  );
});

Deno.test("splitInline() follows sdssplitargs: quotes, escapes, hex", () => {
  const split = (s: string) =>
    splitInline(enc.encode(s))?.map((a) => [...a]) ?? null;
  assertEquals(split(`SET k "a\\x41\\n"`), [[...enc.encode("SET")], [107], [
    97,
    65,
    10,
  ]]);
  assertEquals(split(`'it\\'s'`), [[...enc.encode("it's")]]);
  assertEquals(split(`"a"b`), null);
  assertEquals(split(`'open`), null);
  assertEquals(split("   "), []);
});

Deno.test("ReplyWriter encodes RESP2 and RESP3", () => {
  const w = new ReplyWriter(1 << 20);
  const reply = [
    null,
    "é",
    42,
    -7n,
    new Simple("OK"),
    new MapReply([["a", 1]]),
    new SetReply(["x"]),
    new DoubleReply(1.5),
  ];
  w.reply(reply);
  assertEquals(
    dec.decode(w.bytes()),
    "*8\r\n$-1\r\n$2\r\né\r\n:42\r\n:-7\r\n+OK\r\n*2\r\n$1\r\na\r\n:1\r\n*1\r\n$1\r\nx\r\n$3\r\n1.5\r\n",
  );
  w.reset();
  w.proto = 3;
  w.reply(reply);
  assertEquals(
    dec.decode(w.bytes()),
    "*8\r\n_\r\n$2\r\né\r\n:42\r\n:-7\r\n+OK\r\n%1\r\n$1\r\na\r\n:1\r\n~1\r\n$1\r\nx\r\n,1.5\r\n",
  );
});

Deno.test("ReplyWriter keeps CR and LF out of status and error lines, and bounds its output", () => {
  const w = new ReplyWriter(100);
  w.error("ERR bad\r\nthing");
  assertEquals(dec.decode(w.bytes()), "-ERR bad  thing\r\n");
  assertThrows(() => w.bulk("x".repeat(200)));
});
