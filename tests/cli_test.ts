/** The kvdb command line: flags, errors, help and one-shot commands. */

import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "@std/assert";
import { runCli, startCluster, stopAll } from "./_helpers.ts";

const badInvocations: [string, string[], RegExp][] = [
  [
    "a port that is not a number",
    ["node", "-P", "abc"],
    /--port <port>.*'abc' is invalid/,
  ],
  [
    "a port out of range",
    ["node", "--port", "70000"],
    /--port <port>.*'70000' is invalid/,
  ],
  ["an unknown flag", ["node", "--bogus"], /unknown option '--bogus'/],
  [
    "a replication factor of 0",
    ["node", "-R", "0"],
    /--replication-factor <n>.*'0' is invalid/,
  ],
  [
    "a bad cluster member",
    ["node", "-C", "a b"],
    /Cannot use cluster member 'a b'/,
  ],
  ["a write quorum above N", [
    "node",
    "-C",
    "127.0.0.1:1,127.0.0.1:2",
    "-R",
    "2",
    "--write-quorum",
    "3",
  ], /'writeQuorum' must be an integer in \[1, 2\]: current value is 3/],
  ["an unknown command", ["frobnicate"], /unknown command 'frobnicate'/],
  ["a missing argument", ["get"], /missing required argument 'key'/],
  [
    "set --json with bad JSON",
    ["set", "k", "{", "--json-value"],
    /not valid JSON/,
  ],
];

for (const [what, args, message] of badInvocations) {
  Deno.test(`cli: ${what} prints one line naming it and exits 2`, async () => {
    const { code, stdout, stderr } = await runCli(args);
    assertEquals(code, 2, stderr);
    assertEquals(stdout, "");
    assertEquals(stderr.trimEnd().split("\n").length, 1, stderr);
    assertMatch(stderr, message);
  });
}

Deno.test("cli: --help works on every command", async () => {
  for (
    const command of [
      [],
      ["node"],
      ["shell"],
      ["get"],
      ["set"],
      ["list-keys"],
      ["info"],
    ]
  ) {
    const { code, stdout } = await runCli([...command, "--help"]);
    assertEquals(code, 0, command.join(" "));
    assertStringIncludes(stdout, "Usage: kvdb");
  }
  const node = await runCli(["node", "--help"]);
  for (
    const flag of [
      "--host",
      "--port",
      "--cluster",
      "--replication-factor",
      "--vnodes",
      "--read-quorum",
      "--write-quorum",
    ]
  ) {
    assertStringIncludes(node.stdout, flag);
  }
});

Deno.test("cli: one-shot commands talk to a running node", async () => {
  const nodes = await startCluster(1);
  const at = ["-H", "127.0.0.1", "-P", String(nodes[0]!.port)];
  try {
    assertEquals((await runCli(["ping", ...at])).stdout, "pong\n");
    assertEquals(
      (await runCli(["set", "greeting", "hello there", ...at])).stdout,
      "OK\n",
    );
    assertEquals(
      (await runCli(["set", "obj", '{"a":[1,2]}', "--json-value", ...at]))
        .stdout,
      "OK\n",
    );
    assertEquals(
      (await runCli(["get", "greeting", ...at])).stdout,
      "hello there\n",
    );
    assertEquals(JSON.parse((await runCli(["get", "obj", ...at])).stdout), {
      a: [1, 2],
    });
    assertEquals(
      (await runCli(["get", "missing", "dflt", ...at])).stdout,
      "dflt\n",
    );
    assertEquals((await runCli(["has", "greeting", ...at])).stdout, "true\n");
    assertEquals(
      (await runCli(["list-keys", ...at])).stdout,
      "greeting\nobj\n",
    );
    assertEquals(
      (await runCli(["locate", "greeting", ...at])).stdout,
      `${nodes[0]!.address}\n`,
    );
    assertEquals(
      (await runCli(["pop", "greeting", ...at])).stdout,
      "hello there\n",
    );
    assertEquals((await runCli(["get", "greeting", ...at])).stdout, "(nil)\n");
    const info = JSON.parse((await runCli(["info", ...at])).stdout);
    assertEquals(info.self, nodes[0]!.address);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("cli: a command against a node that is not there fails with exit 1 and one ERROR line", async () => {
  const { code, stderr } = await runCli(["ping", "-P", "1"]);
  assertEquals(code, 1);
  assert(stderr.startsWith("ERROR: "), stderr);
});
