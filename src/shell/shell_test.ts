import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { KVClient } from "../../client.ts";
import {
  HELP_TEXT,
  LINE_CHARS_MAX,
  linesFrom,
  parseCommand,
  runShell,
  type ShellCommand,
  ShellSyntaxError,
  textWriter,
} from "./mod.ts";

// ---------------------------------------------------------------------------
// parseCommand

Deno.test("parseCommand() ignores blank lines", () => {
  assertEquals(parseCommand(""), null);
  assertEquals(parseCommand("  \t "), null);
});

Deno.test("parseCommand() parses each command and its arguments", () => {
  const cases: [string, ShellCommand][] = [
    ["set a 1", { kind: "call", fn: "set", args: ["a", "1"] }],
    ["get a", { kind: "call", fn: "get", args: ["a"] }],
    ["get a 0", { kind: "call", fn: "get", args: ["a", "0"] }],
    ["has a", { kind: "call", fn: "has", args: ["a"] }],
    ["pop a", { kind: "call", fn: "pop", args: ["a"] }],
    ["pop a none", { kind: "call", fn: "pop", args: ["a", "none"] }],
    ["list_keys", { kind: "call", fn: "list_keys", args: [] }],
    ["list_members", { kind: "call", fn: "list_members", args: [] }],
    ["locate a", { kind: "call", fn: "locate", args: ["a"] }],
    ["replicas a", { kind: "call", fn: "replicas", args: ["a"] }],
    ["cluster_info", { kind: "call", fn: "cluster_info", args: [] }],
    ["ping", { kind: "call", fn: "ping", args: [] }],
    ["mget a b c", { kind: "call", fn: "mget", args: [["a", "b", "c"]] }],
    ["mset a 1 b 2", { kind: "call", fn: "mset", args: [{ a: "1", b: "2" }] }],
    ["help", { kind: "help" }],
    ["exit", { kind: "exit" }],
    ["exit;", { kind: "exit" }],
    ["quit", { kind: "exit" }],
  ];
  for (const [line, command] of cases) {
    assertEquals(parseCommand(line), command, line);
  }
});

Deno.test("parseCommand() reads command names case-insensitively", () => {
  assertEquals(parseCommand("GET Key"), {
    kind: "call",
    fn: "get",
    args: ["Key"],
  });
  assertEquals(parseCommand("List_Keys"), {
    kind: "call",
    fn: "list_keys",
    args: [],
  });
  assertEquals(parseCommand("EXIT;"), { kind: "exit" });
});

Deno.test("parseCommand() keeps set's value as the rest of the line, verbatim", () => {
  assertEquals(parseCommand("  set   greeting   hello   world  "), {
    kind: "call",
    fn: "set",
    args: ["greeting", "hello   world  "],
  });
  assertEquals(parseCommand('set doc {"a": [1, 2]}'), {
    kind: "call",
    fn: "set",
    args: ["doc", '{"a": [1, 2]}'],
  });
  assertEquals(parseCommand('set k "quoted value"'), {
    kind: "call",
    fn: "set",
    args: ["k", '"quoted value"'],
  });
  assertEquals(parseCommand("set k\tv"), {
    kind: "call",
    fn: "set",
    args: ["k", "v"],
  });
});

Deno.test("parseCommand() reads double-quoted tokens with escapes", () => {
  assertEquals(parseCommand('set "my key" my value'), {
    kind: "call",
    fn: "set",
    args: ["my key", "my value"],
  });
  assertEquals(parseCommand('get "say \\"hi\\"" "the default"'), {
    kind: "call",
    fn: "get",
    args: ['say "hi"', "the default"],
  });
  assertEquals(parseCommand('get "back\\\\slash"'), {
    kind: "call",
    fn: "get",
    args: ["back\\slash"],
  });
  assertEquals(parseCommand('get "C:\\dir"'), {
    kind: "call",
    fn: "get",
    args: ["C:\\dir"],
  });
  assertEquals(parseCommand('get ""'), { kind: "call", fn: "get", args: [""] });
  assertEquals(parseCommand('mget "a b" c'), {
    kind: "call",
    fn: "mget",
    args: [["a b", "c"]],
  });
  // Outside quotes a quote is an ordinary character.
  assertEquals(parseCommand('get a"b'), {
    kind: "call",
    fn: "get",
    args: ['a"b'],
  });
});

Deno.test("parseCommand() returns a ShellSyntaxError with the usage", () => {
  const cases: [string, string][] = [
    ["get", "wrong number of arguments for 'get'; usage: get <key> [default]"],
    ["get a b c", "wrong number of arguments for 'get'"],
    ["set", "wrong number of arguments for 'set'; usage: set <key> <value>"],
    ["set a", "usage: set <key> <value>"],
    ["set a   ", "usage: set <key> <value>"],
    ["has", "usage: has <key>"],
    ["has a b", "usage: has <key>"],
    ["pop", "usage: pop <key> [default]"],
    ["mget", "usage: mget <key> [key ...]"],
    ["mset a", "usage: mset <key> <value> [key value ...]"],
    ["mset a 1 b", "'mset' takes key value pairs"],
    ["locate", "usage: locate <key>"],
    ["replicas a b", "usage: replicas <key>"],
    ["list_keys a", "usage: list_keys"],
    ["ping now", "usage: ping"],
    ["exit now", "usage: exit"],
    ['get "abc', "unterminated quote; usage: get <key> [default]"],
    ['set "a b', "unterminated quote; usage: set <key> <value>"],
    ['get "a"b', "expected whitespace after closing quote"],
    ["frobnicate x", "unknown command 'frobnicate'; type 'help'"],
    ["Frob", "unknown command 'Frob'"],
  ];
  for (const [line, message] of cases) {
    const result = parseCommand(line);
    // The npm build of @std/assert is untyped, so narrow by hand.
    if (!(result instanceof ShellSyntaxError)) {
      throw new Error(`'${line}' parsed as ${JSON.stringify(result)}`);
    }
    assertStringIncludes(result.message, message, line);
  }
});

// ---------------------------------------------------------------------------
// runShell against an in-memory server

const MEMBERS = ["127.0.0.1:5878", "127.0.0.1:5879"];

function ok(result: unknown): Response {
  return Response.json({ status: "OK.", result });
}

function fail(status: number, description: string): Response {
  return Response.json({ status: "Error", description }, { status });
}

/** A `fetch` that serves the protocol from a Map, as one node would. */
function memoryServer(): typeof fetch {
  const store = new Map<string, unknown>();
  const serve = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const { function: fn, args = [], kwargs = {} } = await request.json();
    const key = args[0];
    if (key === "boom") {
      return fail(503, "Quorum not met: 1 of 2 replicas answered.");
    }
    switch (fn) {
      case "ping":
        return ok("pong");
      case "set":
        store.set(key, args[1]);
        return ok(null);
      case "get":
        return ok(
          store.has(key)
            ? store.get(key)
            : args[1] ?? kwargs.default_value ?? null,
        );
      case "has":
        return ok(store.has(key));
      case "pop": {
        const value = store.has(key)
          ? store.get(key)
          : args[1] ?? kwargs.default_value ?? null;
        store.delete(key);
        return ok(value);
      }
      case "list_keys":
        return ok([...store.keys()].sort());
      case "list_members":
        return ok(MEMBERS);
      case "locate":
        return ok(MEMBERS[0]);
      case "replicas":
        return ok(MEMBERS);
      case "mset":
        for (const [k, v] of Object.entries(key)) store.set(k, v);
        return ok(null);
      case "mget":
        return ok(key.map((k: string) => store.get(k) ?? null));
      case "cluster_info":
        return ok({
          self: MEMBERS[0],
          version: "0.1.0",
          replication_factor: 2,
          read_quorum: 2,
          write_quorum: 2,
          vnodes: 8,
          members: MEMBERS.map((address) => ({ address, state: "alive" })),
        });
      default:
        return fail(404, `Unknown function: '${fn}'.`);
    }
  };
  return serve as typeof fetch;
}

/** Lines to feed the shell; records whether it stopped reading early. */
function script(lines: string[]) {
  const state = { read: 0, returned: false };
  async function* generate() {
    try {
      for (const line of lines) {
        state.read++;
        yield line;
      }
    } finally {
      state.returned = true;
    }
  }
  return { input: generate(), state };
}

async function session(
  lines: string[],
  client = new KVClient({ fetch: memoryServer() }),
  options = {},
): Promise<string> {
  let output = "";
  await runShell(client, script(lines).input, (text) => {
    output += text;
  }, options);
  return output;
}

Deno.test("runShell() runs a scripted session and prints the exact output", async () => {
  const { input, state } = script([
    "set a 1",
    "set greeting hello  world",
    "get a",
    "get greeting",
    "get missing",
    "get missing fallback",
    "has a",
    "HAS missing",
    "",
    "list_keys",
    "locate a",
    "mget a nope greeting",
    "pop a",
    "pop a",
    "list_keys",
    "exit;",
    "get never-read",
  ]);
  let output = "";
  await runShell(
    new KVClient({ fetch: memoryServer() }),
    input,
    (text) => output += text,
  );
  assertEquals(
    output,
    [
      ">> OK",
      ">> OK",
      ">> 1",
      ">> hello  world",
      ">> (nil)",
      ">> fallback",
      ">> true",
      ">> false",
      ">> >> a",
      "greeting",
      ">> 127.0.0.1:5878",
      ">> 1",
      "(nil)",
      "hello  world",
      ">> 1",
      ">> (nil)",
      ">> greeting",
      ">> ",
      "",
    ].join("\n"),
  );
  assertEquals(state.read, 16);
  assert(state.returned, "the shell stops reading its input on exit");
});

Deno.test("runShell() prints lists, members, replicas and cluster_info", async () => {
  const output = await session([
    "list_keys",
    "list_members",
    "replicas a",
    "ping",
    "cluster_info",
  ]);
  assertEquals(
    output,
    [
      ">> (empty list)",
      ">> 127.0.0.1:5878",
      "127.0.0.1:5879",
      ">> 127.0.0.1:5878",
      "127.0.0.1:5879",
      ">> pong",
      ">> {",
      '  "self": "127.0.0.1:5878",',
      '  "version": "0.1.0",',
      '  "replication_factor": 2,',
      '  "read_quorum": 2,',
      '  "write_quorum": 2,',
      '  "vnodes": 8,',
      '  "members": [',
      "    {",
      '      "address": "127.0.0.1:5878",',
      '      "state": "alive"',
      "    },",
      "    {",
      '      "address": "127.0.0.1:5879",',
      '      "state": "alive"',
      "    }",
      "  ]",
      "}",
      ">> ",
      "",
    ].join("\n"),
  );
});

Deno.test("runShell() prints a server error and goes on", async () => {
  const output = await session(["get boom", "set boom 1", "ping"]);
  assertEquals(
    output,
    ">> ERROR: Quorum not met: 1 of 2 replicas answered.\n" +
      ">> ERROR: Quorum not met: 1 of 2 replicas answered.\n" +
      ">> pong\n>> \n",
  );
});

Deno.test("runShell() prints syntax errors and goes on", async () => {
  const output = await session(["frob", "get", "ping"]);
  assertEquals(
    output,
    ">> ERROR: unknown command 'frob'; type 'help' for the list of commands\n" +
      ">> ERROR: wrong number of arguments for 'get'; usage: get <key> " +
      "[default]\n" +
      ">> pong\n>> \n",
  );
});

Deno.test("runShell() prints a connection failure and goes on", async () => {
  const refusing = (() => {
    throw new TypeError("Connection refused");
  }) as typeof fetch;
  const client = new KVClient({ fetch: refusing });
  const output = await session(["get a", "quit", "ping"], client);
  assertEquals(
    output,
    ">> ERROR: Cannot reach any KVDB node for 'get': tried 127.0.0.1:5878\n" +
      ">> \n",
  );
});

Deno.test("runShell() ends cleanly at the end of input without exit", async () => {
  assertEquals(await session(["ping"]), ">> pong\n>> \n");
  assertEquals(await session([]), ">> \n");
});

Deno.test("runShell() uses the prompt option and adds no newline it does not need", async () => {
  assertEquals(await session(["ping"], undefined, { prompt: "" }), "pong\n");
  assertEquals(
    await session(["ping"], undefined, { prompt: "kv> " }),
    "kv> pong\nkv> \n",
  );
});

Deno.test("runShell() prints help", async () => {
  const output = await session(["help"]);
  assertEquals(output, `>> ${HELP_TEXT}\n>> \n`);
  for (
    const usage of [
      "set <key> <value>",
      "get <key> [default]",
      "has <key>",
      "pop <key> [default]",
      "mget <key> [key ...]",
      "list_keys",
      "list_members",
      "locate <key>",
      "replicas <key>",
      "cluster_info",
      "ping",
      "help",
      "exit",
    ]
  ) {
    assertStringIncludes(HELP_TEXT, usage);
  }
});

// ---------------------------------------------------------------------------
// linesFrom and textWriter

function streamOf(chunks: Uint8Array[], onCancel?: () => void) {
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks.shift();
      if (chunk === undefined) controller.close();
      else controller.enqueue(chunk);
    },
    cancel: onCancel,
  });
}

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

Deno.test("linesFrom() splits on \\n and \\r\\n and keeps a last line", async () => {
  const encode = (text: string) => new TextEncoder().encode(text);
  const cafe = encode("café"); // "é" is two bytes: split them apart
  const lines = await collect(linesFrom(streamOf([
    encode("set a 1\r\nge"),
    encode("t a\n\n"),
    encode("set k "),
    cafe.subarray(0, 4),
    cafe.subarray(4),
    encode("\nlast"),
  ])));
  assertEquals(lines, ["set a 1", "get a", "", "set k café", "last"]);
  assertEquals(await collect(linesFrom(streamOf([]))), []);
  assertEquals(await collect(linesFrom(streamOf([encode("a\n")]))), ["a"]);
});

Deno.test("linesFrom() cancels the stream when the reader stops early", async () => {
  let cancelled = false;
  const encode = (text: string) => new TextEncoder().encode(text);
  const stream = streamOf(
    [encode("a\n"), encode("b\n"), encode("c\n")],
    () => cancelled = true,
  );
  for await (const line of linesFrom(stream)) {
    assertEquals(line, "a");
    break;
  }
  assert(cancelled);
});

Deno.test("linesFrom() refuses a line longer than LINE_CHARS_MAX", async () => {
  const long = new Uint8Array(LINE_CHARS_MAX + 1).fill(0x78);
  await assertRejects(
    () => collect(linesFrom(streamOf([long]))),
    RangeError,
    "longer than",
  );
});

Deno.test("textWriter() writes the whole text through partial writes", () => {
  const received: number[] = [];
  const write = textWriter({
    writeSync(bytes) {
      const part = bytes.subarray(0, 3);
      received.push(...part);
      return part.length;
    },
  });
  write(">> héllo\n");
  assertEquals(
    new TextDecoder().decode(new Uint8Array(received)),
    ">> héllo\n",
  );
});

Deno.test("runShell() reads a piped script through linesFrom()", async () => {
  const encode = (text: string) => new TextEncoder().encode(text);
  let output = "";
  await runShell(
    new KVClient({ fetch: memoryServer() }),
    linesFrom(streamOf([encode("set a 1\r\nget a\nexit;\nget a\n")])),
    (text) => output += text,
  );
  assertEquals(output, ">> OK\n>> 1\n>> \n");
});
