/**
 * The seed's three-node demo, end to end: three node processes listing each
 * other with -C, and the shell (as a user would type into it) on top.
 */

import { assert, assertEquals } from "@std/assert";
import { rpc, runCli, startCluster, stopAll } from "./_helpers.ts";

Deno.test("demo: the seed's three-node demo works through the shell", async () => {
  const nodes = await startCluster(3);
  const [first, second] = nodes as [typeof nodes[0], typeof nodes[0]];
  try {
    const script = [
      "set a 1",
      "set b 2",
      "set c hello world",
      "get a",
      "get b",
      "get c",
      "locate a",
      "has a",
      "has z",
      "pop a",
      "has a",
      "get a",
      "get a fallback",
      "list_keys",
      "list_members",
      "ping",
      "exit;",
    ].join("\n") + "\n";
    const shell = await runCli(
      ["shell", "-H", "127.0.0.1", "-P", String(first.port)],
      script,
    );
    assertEquals(shell.code, 0, shell.stderr);
    const owner = (await rpc(second.address, "locate", ["a"])).body.result;
    const members = (await rpc(second.address, "list_members")).body
      .result as string[];
    assertEquals(members.length, 3);
    const expected = [
      "OK",
      "OK",
      "OK",
      "1",
      "2",
      "hello world",
      String(owner),
      "true",
      "false",
      "1",
      "false",
      "(nil)",
      "fallback",
      "b\nc",
      members.join("\n"),
      "pong",
    ].map((line) => `>> ${line}\n`).join("") + ">> ";
    assertEquals(shell.stdout.trimEnd(), expected.trimEnd());

    // A second shell on another node sees the same data.
    const other = await runCli(
      ["shell", "-P", String(second.port)],
      "get b\nget c\nlist_keys\n",
    );
    assertEquals(other.code, 0);
    assertEquals(other.stdout.trimEnd(), ">> 2\n>> hello world\n>> b\nc\n>>");

    // Each key lives on the node that locate names (N=1, as in the seed).
    for (const node of nodes) {
      const local =
        (await rpc(node.address, "list_keys", [], { fan_out_mode: false }))
          .body.result as string[];
      for (const key of local) {
        assertEquals(
          (await rpc(node.address, "locate", [key])).body.result,
          node.address,
        );
      }
    }
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("demo: a shell error prints ERROR and the shell goes on", async () => {
  const nodes = await startCluster(1);
  try {
    const shell = await runCli(
      ["shell", "-P", String(nodes[0]!.port)],
      "get\nfrobnicate x\nset k v\nget k\n",
    );
    assertEquals(shell.code, 0);
    const lines = shell.stdout.split(">> ").filter((s) => s !== "");
    assert(lines[0]!.startsWith("ERROR: "), lines[0]);
    assert(lines[1]!.startsWith("ERROR: "), lines[1]);
    assertEquals(
      lines.slice(2).map((s) => s.trim()).filter((s) => s !== ""),
      ["OK", "v"],
    );
  } finally {
    await stopAll(nodes);
  }
});
