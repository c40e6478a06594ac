/** `kvdb status` and the one-shot commands' `--json` and exit codes. */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { runCli, startCluster, stopAll, waitFor } from "./_helpers.ts";

Deno.test("status: a table of the whole cluster; a killed node is marked and the exit code is 1", async () => {
  const nodes = await startCluster(3, ["-R", "3", "--probe-interval", "100"]);
  const at = ["-P", String(nodes[0]!.port)];
  try {
    await runCli(["set", "a", "1", ...at]);
    // All up (asked again while a member is suspect for a moment, as on a
    // starved machine with probes every 100 ms).
    let ok = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "status to see every member up",
      async () => {
        ok = await runCli(["status", ...at]);
        return ok.code === 0;
      },
      20_000,
      200,
    );
    const lines = ok.stdout.trimEnd().split("\n");
    assertMatch(lines[0]!, /3 members, N=3 R=2 W=2; all up/);
    assertMatch(
      lines[1]!,
      /ADDRESS\s+STATE\s+PHASE\s+RECORDS\s+HINTS\s+OPS\/S\s+P99\s+ENGINE\s+SIZE\s+VERSION\s+UPTIME/,
    );
    for (const node of nodes) {
      const row = lines.slice(2).find((l) => l.includes(node.address));
      assertMatch(row ?? "", /^UP\s+\S+\s+alive\s+ready\s+1\s+0\s+/);
    }

    const json = await runCli(["status", "--json", ...at]);
    assertEquals(json.code, 0);
    const status = JSON.parse(json.stdout);
    assertEquals(status.healthy, true);
    assertEquals(status.members.length, 3);
    assertEquals(status.members[0].records, 1);

    await nodes[2]!.kill();
    let down = { code: 0, stdout: "", stderr: "" };
    // The killed node down and the others up: with probes every 100 ms, a
    // live node on a starved machine may be suspect for a moment (it then
    // refutes), so the table is asked again until it settles.
    await waitFor(
      "status to see the killed node, and only it, down",
      async () => {
        down = await runCli(["status", ...at]);
        return down.code === 1 &&
          /^DOWN\s+\S+\s+(suspect|dead)/m.test(down.stdout) &&
          down.stdout.includes(`1 not up: ${nodes[2]!.address}`);
      },
      20_000,
      200,
    );
    const row = down.stdout.split("\n").slice(2).find((l) =>
      l.includes(nodes[2]!.address)
    )!;
    assertMatch(
      row,
      /^DOWN\s+127\.0\.0\.1:\d+\s+(suspect|dead) \(unreachable\)/,
    );
    assertMatch(down.stdout, /1 not up: 127\.0\.0\.1:\d+/);
    const downJson = JSON.parse(
      (await runCli(["status", "--json", ...at])).stdout,
    );
    assertEquals(downJson.healthy, false);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("one-shot commands print JSON with --json and exit 0, 1 or 2", async () => {
  const nodes = await startCluster(1);
  const at = ["-P", String(nodes[0]!.port)];
  try {
    assertEquals(
      (await runCli(["set", "k", "v", "--json", ...at])).stdout,
      "null\n",
    );
    assertEquals((await runCli(["get", "k", "--json", ...at])).stdout, '"v"\n');
    assertEquals(
      (await runCli(["has", "k", "--json", ...at])).stdout,
      "true\n",
    );
    assertEquals(
      JSON.parse((await runCli(["list-keys", "--json", ...at])).stdout),
      ["k"],
    );
    assertEquals(
      JSON.parse(
        (await runCli([
          "list-keys",
          "--prefix",
          "k",
          "--limit",
          "5",
          "--json",
          ...at,
        ]))
          .stdout,
      ),
      { keys: ["k"], cursor: null },
    );
    assertEquals(
      (await runCli(["mset", "a", "1", "b", "2", ...at])).stdout,
      "OK\n",
    );
    assertEquals(
      (await runCli(["mget", "a", "b", "zz", "--json", ...at])).stdout,
      '["1","2",null]\n',
    );
    const info = JSON.parse((await runCli(["info", "--json", ...at])).stdout);
    assertEquals(info.self, nodes[0]!.address);
    // 1: the request failed (here: refused by the node).
    const refused = await runCli(["remove-member", "nobody:1", ...at]);
    assertEquals(refused.code, 1);
    assertMatch(refused.stderr, /^ERROR: .*not a member/);
    // 2: a usage error, before anything is sent.
    const usage = await runCli(["get", "--consistency", "most", "k", ...at]);
    assertEquals(usage.code, 2);
    assert(usage.stderr.includes("--consistency"), usage.stderr);
  } finally {
    await stopAll(nodes);
  }
  // 1: nothing answers.
  const gone = await runCli(["status", ...at]);
  assertEquals(gone.code, 1);
  assertMatch(gone.stderr, /^ERROR: /);
});
