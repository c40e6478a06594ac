/**
 * KV Connect with real clients and real processes: an unmodified Deno
 * program (tests/kvconnect/scenarios.mjs) opens a three-node cluster with
 * `Deno.openKv("http://127.0.0.1:<port>/kv")` and passes the same scenarios
 * it passes against `Deno.openKv(":memory:")`; npm `@deno/kv` passes them
 * on Deno (its own KV Connect client, over HTTP/1.1) and on Node. Then the
 * edges: tokens, https, named databases, watches through a node without a
 * replica, expiry.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  freePorts,
  hasOpenssl,
  NodeProcess,
  selfSigned,
  startCluster,
  stopAll,
  waitFor,
} from "./_helpers.ts";
import {
  kvReady,
  runDeno,
  runProgram,
  SCENARIOS,
  shown,
} from "./kvconnect/_kvconnect.ts";

const TOKEN = { DENO_KV_ACCESS_TOKEN: "any-token-an-open-node-takes" };

function assertAllPassed(r: { code: number; stdout: string }, what: string) {
  const summary = r.stdout.trim().split("\n").at(-1) ?? "";
  assertEquals(
    summary,
    "10 passed, 0 failed",
    `${what}:\n${shown(r as never)}`,
  );
  assertEquals(r.code, 0, what);
}

Deno.test("kvconnect: the scenarios pass against Deno.openKv(':memory:'): the expectations are Deno's", async () => {
  const r = await runDeno([SCENARIOS, ":memory:", "deno"]);
  assertAllPassed(r, ":memory:");
});

Deno.test("kvconnect: the same scenarios pass against a three-node cluster through Deno.openKv, npm @deno/kv on Deno and on Node", async (t) => {
  const nodes = await startCluster(3);
  try {
    await kvReady(nodes[0]!.address);
    await t.step("Deno.openKv (HTTP/2 without TLS)", async () => {
      const r = await runDeno(
        [SCENARIOS, `http://${nodes[1]!.address}/kv`, "deno"],
        TOKEN,
      );
      assertAllPassed(r, "Deno.openKv");
    });
    await t.step("npm @deno/kv on Deno (HTTP/1.1)", async () => {
      const r = await runDeno(
        [SCENARIOS, `http://${nodes[2]!.address}/kv`, "npm"],
        TOKEN,
      );
      assertAllPassed(r, "@deno/kv on Deno");
    });
    await t.step("npm @deno/kv on Node", async () => {
      const dir = await Deno.makeTempDir({ prefix: "kvdb-deno-kv-node-" });
      try {
        const install = await runProgram(
          "npm",
          [
            "install",
            "--no-fund",
            "--no-audit",
            "--prefix",
            dir,
            "@deno/kv@0.14.0",
          ],
          {},
          { timeoutMs: 120_000 },
        ).catch(() => undefined);
        if (install === undefined || install.code !== 0) {
          console.warn(
            "kvconnect_test: npm could not install @deno/kv; the Node run is skipped",
          );
          return;
        }
        await Deno.copyFile(SCENARIOS, `${dir}/scenarios.mjs`);
        const r = await runProgram(
          "node",
          [`${dir}/scenarios.mjs`, `http://${nodes[0]!.address}/kv`, "npm"],
          TOKEN,
          { cwd: dir },
        );
        assertAllPassed(r, "@deno/kv on Node");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  } finally {
    await stopAll(nodes);
  }
});

/** A small Deno program: opens `url`, sets and reads a key, prints the value. */
const ROUND_TRIP = `
const kv = await Deno.openKv(Deno.args[0]);
await kv.set(["hello"], Deno.args[1]);
console.log(JSON.stringify((await kv.get(["hello"])).value));
kv.close();
`;

async function roundTrip(
  url: string,
  value: string,
  env: Record<string, string>,
  flags: string[] = [],
) {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/round_trip.ts`, ROUND_TRIP);
    return await runDeno(
      [...flags, `${dir}/round_trip.ts`, url, value],
      env,
      60_000,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("kvconnect: with client tokens, DENO_KV_ACCESS_TOKEN must be one of them; a wrong one is a clear 401", async () => {
  const token = "kvconnect-test-token-0123456789";
  const ports = freePorts(3);
  const members = ports.map((p) => `127.0.0.1:${p}`).join(",");
  const nodes = ports.map((port) =>
    new NodeProcess(port, ["-C", members], {
      env: {
        KVDB_AUTH_TOKEN: token,
        KVDB_CLUSTER_SECRET: "kvconnect-test-cluster-secret-0123",
      },
    })
  );
  await Promise.all(nodes.map((n) => n.ready()));
  try {
    const url = `http://${nodes[0]!.address}/kv`;
    const ok = await roundTrip(url, "authorized", {
      DENO_KV_ACCESS_TOKEN: token,
    });
    assertEquals(ok.stdout.trim(), '"authorized"', shown(ok));
    const wrong = await roundTrip(url, "refused", {
      DENO_KV_ACCESS_TOKEN: "not-the-token-at-all-000",
    });
    assert(wrong.code !== 0, shown(wrong));
    assertStringIncludes(wrong.stderr, "Invalid access token.");
    // The data path takes only tokens the metadata exchange issued.
    const res = await fetch(`${url}/default/snapshot_read`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "x-denokv-version": "3",
        "x-denokv-database-id": "00000000-0000-0000-0000-000000000000",
      },
      body: new Uint8Array(0),
    });
    assertEquals(res.status, 401);
    assertEquals(await res.text(), "Invalid access token.");
  } finally {
    await stopAll(nodes);
  }
});

const openssl = await hasOpenssl();

Deno.test({
  name: "kvconnect: a node with a certificate serves Deno.openKv over https",
  ignore: !openssl,
  async fn() {
    const dir = await Deno.makeTempDir();
    await selfSigned(dir);
    const caCert = await Deno.readTextFile(`${dir}/cert.pem`);
    const [port] = freePorts(1) as [number];
    const node = new NodeProcess(port, [
      "--tls-cert",
      `${dir}/cert.pem`,
      "--tls-key",
      `${dir}/key.pem`,
      "--ca-cert",
      `${dir}/cert.pem`,
    ], { caCert });
    try {
      await node.ready();
      const r = await roundTrip(
        `https://${node.address}/kv`,
        "over tls",
        { ...TOKEN, DENO_CERT: `${dir}/cert.pem` },
      );
      assertEquals(r.stdout.trim(), '"over tls"', shown(r));
    } finally {
      await node.kill();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Opens two databases and a watch through one node, writes through another. */
const NAMED_AND_WATCH = `
const [watchUrl, writeUrl, otherDbUrl] = Deno.args;
const watcher = await Deno.openKv(watchUrl);
const writer = await Deno.openKv(writeUrl);
const other = await Deno.openKv(otherDbUrl);
await writer.set(["room"], "first");
await other.set(["room"], "elsewhere");
const reader = watcher.watch([["room"]]).getReader();
const seen = [];
seen.push((await reader.read()).value[0].value);
await writer.set(["room"], "second");
for (;;) {
  const v = (await reader.read()).value[0].value;
  if (v !== seen.at(-1)) seen.push(v);
  if (v === "second") break;
}
await reader.cancel();
seen.push((await other.get(["room"])).value);
console.log(JSON.stringify(seen));
for (const kv of [watcher, writer, other]) kv.close();
`;

Deno.test("kvconnect: a watch through a node that holds no replica follows commits made through another; named databases are apart", async () => {
  // Four members, three voters: one member holds no replica of a database.
  const nodes = await startCluster(4, ["--kv-voters", "3"]);
  const dir = await Deno.makeTempDir();
  try {
    await kvReady(nodes[0]!.address);
    // The voters, as the first node that hosts the database lists them (a
    // node lists only the databases it hosts, once it does).
    let voters: string[] = [];
    await waitFor("a node to list the default database's voters", async () => {
      for (const node of nodes) {
        const info = await (await fetch(`http://${node.address}/`, {
          method: "POST",
          body: JSON.stringify({ function: "cluster_info" }),
        })).json();
        const found = (info.result.kv.databases as {
          name: string;
          voters: string[];
        }[]).find((d) => d.name === "default");
        if (found !== undefined && found.voters.length === 3) {
          voters = found.voters;
          return true;
        }
      }
      return false;
    });
    const outsider = nodes.find((n) => !voters.includes(n.address))!;
    const insider = nodes.find((n) => voters.includes(n.address))!;
    assert(outsider !== undefined);
    await Deno.writeTextFile(`${dir}/watch.ts`, NAMED_AND_WATCH);
    const r = await runDeno(
      [
        `${dir}/watch.ts`,
        `http://${outsider.address}/kv`,
        `http://${insider.address}/kv`,
        `http://${outsider.address}/kv/chat`,
      ],
      TOKEN,
      60_000,
    );
    assertEquals(r.stdout.trim(), '["first","second","elsewhere"]', shown(r));
  } finally {
    await stopAll(nodes);
    await Deno.remove(dir, { recursive: true });
  }
});

const EXPIRY = `
const kv = await Deno.openKv(Deno.args[0]);
await kv.set(["short"], "goes", { expireIn: 200 });
const t0 = Date.now();
while ((await kv.get(["short"])).value !== null) {
  if (Date.now() - t0 > 10_000) { console.log("still there"); Deno.exit(1); }
  await new Promise((r) => setTimeout(r, 50));
}
console.log("gone");
kv.close();
`;

Deno.test("kvconnect: an entry set with expireIn is gone soon after it expires", async () => {
  const nodes = await startCluster(3);
  const dir = await Deno.makeTempDir();
  try {
    await kvReady(nodes[0]!.address);
    await Deno.writeTextFile(`${dir}/expiry.ts`, EXPIRY);
    const r = await runDeno(
      [`${dir}/expiry.ts`, `http://${nodes[2]!.address}/kv`],
      TOKEN,
      60_000,
    );
    assertEquals(r.stdout.trim(), "gone", shown(r));
  } finally {
    await stopAll(nodes);
    await Deno.remove(dir, { recursive: true });
  }
});
