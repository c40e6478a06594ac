/**
 * Security against real node processes on loopback: the auth matrix, signed
 * peer messages, TLS with a self-signed certificate, the concurrency bound
 * and the checks at start (docs/security.md).
 */

import { assert, assertEquals, assertMatch, assertRejects } from "@std/assert";
import { KVAuthError, KVClient } from "../client.ts";
import { PeerSigner } from "../src/security/mod.ts";
import { Http1Client, Http1Error } from "../src/transport/http1.ts";
import {
  freePort,
  freePorts,
  hasOpenssl,
  NodeProcess,
  runCli,
  selfSigned,
  stopAll,
  waitFor,
} from "./_helpers.ts";

const TOKEN = "test-client-token-0123456789abcdef";
const SECRET = "test-cluster-secret-0123456789abcdef";

/** POST `body` to `url` with `headers`; the status and the parsed body. */
async function post(
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { method: "POST", body, headers });
  assertEquals(response.headers.get("content-type"), "application/json");
  return { status: response.status, body: await response.json() };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function metricsOf(address: string, token = TOKEN): Promise<string> {
  const response = await fetch(`http://${address}/metrics`, {
    headers: bearer(token),
  });
  assertEquals(response.status, 200);
  return await response.text();
}

Deno.test("security: the auth matrix on a real node (token from the environment)", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/secret`, `${SECRET}\n`);
  const node = await new NodeProcess(freePort(), [
    "--cluster-secret-file",
    `${dir}/secret`,
  ], { env: { KVDB_AUTH_TOKEN: TOKEN } }).ready();
  const at = node.address;
  const ping = '{"function":"ping"}';
  try {
    assert(!node.log.includes(TOKEN), "the token is never logged");
    const none = await post(`http://${at}/`, ping);
    assertEquals(none.status, 401);
    assertEquals(none.body.status, "Error");
    assertEquals(
      (await post(`http://${at}/`, ping, bearer("x".repeat(34)))).status,
      401,
    );
    assertEquals((await post(`http://${at}/`, ping, bearer(TOKEN))).body, {
      status: "OK.",
      result: "pong",
    });
    assertEquals(await fetch(`http://${at}/health`).then((r) => r.status), 200);
    const metrics = await fetch(`http://${at}/metrics`);
    await metrics.body?.cancel();
    assertEquals(metrics.status, 401);

    // Internal functions: the client token opens none of them.
    for (
      const message of [
        {
          kind: "write",
          records: [{
            key: "k",
            value: 1,
            version: [9e12, 0, "x:1"],
            tombstone: false,
          }],
        },
        { kind: "read", keys: ["k"] },
        { kind: "ping", from: at, members: [] },
        { kind: "transfer", for: at, limit: 10 },
      ]
    ) {
      const refused = await post(
        `http://${at}/peer`,
        JSON.stringify(message),
        bearer(TOKEN),
      );
      assertEquals(refused.status, 401, message.kind);
      assertMatch(String(refused.body.description), /not signed/);
    }
    assertEquals(
      (await post(
        `http://${at}/`,
        '{"function":"get","args":["k"]}',
        bearer(TOKEN),
      )).body.result,
      null,
      "the refused replica write stored nothing",
    );

    const text = await metricsOf(at);
    assertMatch(text, /kvdb_auth_refusals_total\{reason="missing"\} 2/);
    assertMatch(text, /kvdb_auth_refusals_total\{reason="wrong"\} 1/);
    assertMatch(text, /kvdb_peer_refusals_total\{reason="unsigned"\} 4/);

    // The client library and the CLI: token by flag, by variable, or none.
    const client = new KVClient({ nodes: [at], token: TOKEN });
    await client.set("a", 1);
    let error: unknown;
    try {
      await new KVClient({ nodes: [at] }).get("a");
    } catch (e) {
      error = e;
    }
    assert(error instanceof KVAuthError);
    const withFlag = await runCli([
      "get",
      "a",
      "-P",
      String(node.port),
      "--token",
      TOKEN,
    ]);
    assertEquals([withFlag.code, withFlag.stdout], [0, "1\n"]);
    await Deno.writeTextFile(`${dir}/token`, TOKEN);
    const withFile = await runCli([
      "get",
      "a",
      "-P",
      String(node.port),
      "--token-file",
      `${dir}/token`,
    ]);
    assertEquals([withFile.code, withFile.stdout], [0, "1\n"]);
    const without = await runCli(["get", "a", "-P", String(node.port)]);
    assertEquals(without.code, 1);
    assertMatch(without.stderr, /^ERROR: Unauthorized/);
    const shell = await runCli(
      ["shell", "-P", String(node.port), "--token", TOKEN],
      "get a\nexit;\n",
    );
    assertMatch(shell.stdout, /1/);
  } finally {
    await node.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("security: signed peers replicate; unsigned, stale, replayed and wrong-cluster messages are refused and counted", async () => {
  const ports = freePorts(3);
  const members = ports.map((p) => `127.0.0.1:${p}`).join(",");
  const nodes = ports.map((port) =>
    new NodeProcess(port, ["-C", members, "-R", "3", "--auth-token", TOKEN], {
      env: { KVDB_CLUSTER_SECRET: SECRET },
    })
  );
  try {
    await Promise.all(nodes.map((n) => n.ready()));
    const [a, b, c] = nodes.map((n) => n.address) as [string, string, string];
    const client = new KVClient({ nodes: [a], token: TOKEN });
    await client.set("replicated", "yes", { consistency: "all" });
    for (const at of [b, c]) {
      const local = await post(
        `http://${at}/`,
        '{"function":"get","args":["replicated"],"kwargs":{"local":true}}',
        bearer(TOKEN),
      );
      assertEquals(local.body.result, "yes", `a copy on ${at}`);
    }

    const body = JSON.stringify({ kind: "read", keys: ["replicated"] });
    const send = (headers: Record<string, string>) =>
      post(`http://${b}/peer`, body, headers);
    const signer = await PeerSigner.create(SECRET, "kvdb");
    const signed = await signer.signRequest(body);
    const accepted = await send(signed.headers);
    assertEquals(accepted.status, 200);
    assertEquals(
      (accepted.body.result as { records: { value: unknown }[] }).records[0]!
        .value,
      "yes",
    );
    assertEquals((await send(signed.headers)).status, 401, "replayed");
    assertEquals((await send({})).status, 401, "unsigned");
    const stale = await PeerSigner.create(SECRET, "kvdb", {
      now: () => Date.now() - 60_000,
    });
    assertEquals(
      (await send((await stale.signRequest(body)).headers)).status,
      401,
    );
    const other = await PeerSigner.create(SECRET, "other-cluster");
    assertEquals(
      (await send((await other.signRequest(body)).headers)).status,
      401,
    );
    const forged = await PeerSigner.create(
      "not-the-cluster-secret-0123",
      "kvdb",
    );
    assertEquals(
      (await send((await forged.signRequest(body)).headers)).status,
      401,
    );

    const text = await metricsOf(b);
    for (
      const reason of [
        "replayed",
        "unsigned",
        "stale",
        "wrong_cluster",
        "bad_signature",
      ]
    ) {
      assertMatch(
        text,
        new RegExp(`kvdb_peer_refusals_total\\{reason="${reason}"\\} 1\\n`),
        reason,
      );
    }
    // Gossip kept working through all of it.
    const info = await client.clusterInfo();
    assertEquals(info.members.map((m) => m.state), ["alive", "alive", "alive"]);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("security: a node with another cluster secret cannot talk to the cluster", async () => {
  const ports = freePorts(2);
  const members = ports.map((p) => `127.0.0.1:${p}`).join(",");
  const nodes = [
    new NodeProcess(ports[0]!, ["-C", members, "--cluster-secret", SECRET]),
    new NodeProcess(ports[1]!, [
      "-C",
      members,
      "--cluster-secret",
      "a-different-secret-0123456789",
    ]),
  ];
  try {
    await Promise.all(nodes.map((n) => n.ready()));
    const [a, b] = nodes.map((n) => n.address) as [string, string];
    await waitFor("each node to see the other as not alive", async () => {
      const info = await new KVClient({ nodes: [a] }).clusterInfo();
      return info.members.find((m) => m.address === b)?.state !== "alive";
    });
    // And a has refused b's own messages (b probes it every period).
    await waitFor("a to have refused a message of b's", async () => {
      const text = await (await fetch(`http://${a}/metrics`)).text();
      return /kvdb_peer_refusals_total\{reason="bad_signature"\} [1-9]/.test(
        text,
      );
    });
  } finally {
    await stopAll(nodes);
  }
});

const openssl = await hasOpenssl();
if (!openssl) {
  console.warn(
    "security_test: openssl is not installed; the TLS test is skipped " +
      "(apt-get install -y openssl)",
  );
}

Deno.test({
  name:
    "security: TLS round trip with a self-signed certificate, peers over https",
  ignore: !openssl,
  async fn() {
    const dir = await Deno.makeTempDir();
    await selfSigned(dir);
    const caCert = await Deno.readTextFile(`${dir}/cert.pem`);
    const ports = freePorts(2);
    const members = ports.map((p) => `127.0.0.1:${p}`).join(",");
    const tls = [
      "--tls-cert",
      `${dir}/cert.pem`,
      "--tls-key",
      `${dir}/key.pem`,
      "--ca-cert",
      `${dir}/cert.pem`,
    ];
    const nodes = ports.map((port) =>
      new NodeProcess(port, ["-C", members, "-R", "2", ...tls], { caCert })
    );
    const [a, b] = nodes.map((n) => n.address) as [string, string];
    const client = new KVClient({ nodes: [`https://${a}`], caCert });
    const other = new KVClient({ nodes: [`https://${b}`], caCert });
    try {
      await Promise.all(nodes.map((n) => n.ready()));
      await client.set("over-tls", { secret: true }, { consistency: "all" });
      assertEquals(await client.get("over-tls"), { secret: true });
      // The copy on the other node came over https between the nodes.
      assertEquals(await other.get("over-tls", { local: true }), {
        secret: true,
      });

      // Plain http to a TLS port gets no answer from KVDB.
      let plain: unknown;
      try {
        const response = await fetch(`http://${a}/health`);
        plain = response.status;
        await response.body?.cancel();
      } catch (error) {
        plain = error;
      }
      assert(plain !== 200, "http is not served on a TLS port");
      // Without the CA, the certificate is not trusted.
      let untrusted: unknown;
      try {
        await new KVClient({ nodes: [`https://${a}`] }).ping();
      } catch (error) {
        untrusted = error;
      }
      assert(untrusted instanceof Error);

      const cli = await runCli([
        "get",
        "over-tls",
        "-P",
        String(ports[0]),
        "--ca-cert",
        `${dir}/cert.pem`,
      ]);
      assertEquals(cli.code, 0, cli.stderr);
      assertEquals(JSON.parse(cli.stdout), { secret: true });
    } finally {
      client.close();
      other.close();
      await stopAll(nodes);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "security: the keep-alive HTTP/1.1 client speaks TLS, trusting only the CA it is given",
  ignore: !openssl,
  async fn() {
    const dir = await Deno.makeTempDir();
    await selfSigned(dir);
    const cert = await Deno.readTextFile(`${dir}/cert.pem`);
    const key = await Deno.readTextFile(`${dir}/key.pem`);
    let served = 0;
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert, key, onListen: () => {} },
      async (request) => {
        served++;
        return new Response(`echo ${await request.text()}`);
      },
    );
    const url = `https://127.0.0.1:${server.addr.port}/peer`;
    const trusting = new Http1Client(url, { caCerts: [cert] });
    const plain = new Http1Client(url);
    try {
      for (const body of ["one", "two", "three"]) {
        const answer = await trusting.post(body);
        assertEquals([answer.status, answer.text], [200, `echo ${body}`]);
      }
      assertEquals(served, 3);
      const refused = await plain.post("x").then(() => null, (e) => e);
      assert(refused instanceof Http1Error, String(refused));
      assertEquals(refused.kind, "connection");
      assertEquals(served, 3, "nothing reached the server untrusted");
    } finally {
      trusting.close();
      plain.close();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "security: kvdb bench drives a node that wants TLS and a token",
  ignore: !openssl,
  async fn() {
    const dir = await Deno.makeTempDir();
    await selfSigned(dir);
    const caCert = await Deno.readTextFile(`${dir}/cert.pem`);
    const port = freePort();
    const node = new NodeProcess(port, [
      "--tls-cert",
      `${dir}/cert.pem`,
      "--tls-key",
      `${dir}/key.pem`,
      "--auth-token",
      TOKEN,
    ], { caCert });
    try {
      await node.ready();
      const bench = (...extra: string[]) =>
        runCli([
          "bench",
          "-P",
          String(port),
          "--ca-cert",
          `${dir}/cert.pem`,
          "-c",
          "4",
          "-n",
          "200",
          "--keys",
          "100",
          "--preload",
          "-o",
          `${dir}/run.json`,
          ...extra,
        ]);
      const ok = await bench("--token", TOKEN);
      assertEquals(ok.code, 0, ok.stderr);
      const report = JSON.parse(await Deno.readTextFile(`${dir}/run.json`));
      assertEquals([report.total.requests, report.total.errors], [200, 0]);
      assertEquals(report.preload.keys, 100);
      const refused = await bench();
      assertEquals(refused.code, 1);
      assertMatch(refused.stderr, /preload failed.*Unauthorized/);
    } finally {
      await node.kill();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("security: client tokens and the cluster secret rotate on SIGHUP without a refused request", async () => {
  const dir = await Deno.makeTempDir();
  const NEXT_TOKEN = `${TOKEN}-next`;
  const NEXT_SECRET = `${SECRET}-next`;
  const files = (i: number) => ({
    token: `${dir}/token-${i}`,
    secret: `${dir}/secret-${i}`,
  });
  const write = async (i: number, tokens: string[], secrets: string[]) => {
    await Deno.writeTextFile(files(i).token, tokens.join("\n") + "\n");
    await Deno.writeTextFile(
      files(i).secret,
      `# rotating\n${secrets.join("\n")}\n`,
    );
  };
  const ports = freePorts(2);
  const members = ports.map((p) => `127.0.0.1:${p}`).join(",");
  for (const i of [0, 1]) await write(i, [TOKEN], [SECRET]);
  const nodes = ports.map((port, i) =>
    new NodeProcess(port, [
      "-C",
      members,
      "-R",
      "2",
      "--auth-token-file",
      files(i).token,
      "--cluster-secret-file",
      files(i).secret,
    ])
  );
  const [a, b] = nodes as [NodeProcess, NodeProcess];
  const reloads = (node: NodeProcess) =>
    node.log.split("\n").filter((l) => l.includes("SIGHUP")).length;
  /** Rewrites node i's files, sends SIGHUP, waits for it to reload. */
  const rotate = async (i: number, tokens: string[], secrets: string[]) => {
    const node = nodes[i]!;
    const before = reloads(node);
    await write(i, tokens, secrets);
    node.signal("SIGHUP");
    await waitFor("the reload", () => reloads(node) > before);
    return node.log.split("\n").filter((l) => l.includes("SIGHUP")).at(-1)!;
  };
  /** A write through a with consistency all: it needs b, over signed /peer. */
  let n = 0;
  const replicated = async (token: string) => {
    const key = `rot-${n++}`;
    const client = new KVClient({ nodes: [a.address], token });
    await client.set(key, n, { consistency: "all" });
    const other = new KVClient({ nodes: [b.address], token });
    return await other.get(key, { local: true }) === n;
  };
  try {
    await Promise.all(nodes.map((node) => node.ready()));
    assert(await replicated(TOKEN));

    // Tokens: the new one beside the old, then alone.
    assertMatch(
      await rotate(0, [NEXT_TOKEN, TOKEN], [SECRET]),
      /secrets\.reloaded signal=SIGHUP loaded="2 client token\(s\), 1 cluster secret\(s\)"/,
    );
    await rotate(1, [NEXT_TOKEN, TOKEN], [SECRET]);
    assert(await replicated(TOKEN));
    assert(await replicated(NEXT_TOKEN));
    await rotate(0, [NEXT_TOKEN], [SECRET]);
    await rotate(1, [NEXT_TOKEN], [SECRET]);
    assert(await replicated(NEXT_TOKEN));
    await assertRejects(
      () => new KVClient({ nodes: [a.address], token: TOKEN }).get("x"),
      KVAuthError,
    );

    // The secret: every node learns it, then signs with it, then the old
    // one goes. Each step leaves the nodes able to talk.
    for (
      const secrets of [[SECRET, NEXT_SECRET], [NEXT_SECRET, SECRET], [
        NEXT_SECRET,
      ]]
    ) {
      await rotate(0, [NEXT_TOKEN], secrets);
      assert(await replicated(NEXT_TOKEN), `a: ${secrets.length}`);
      await rotate(1, [NEXT_TOKEN], secrets);
      assert(await replicated(NEXT_TOKEN), `b: ${secrets.length}`);
    }
    for (const node of nodes) {
      const metrics = await metricsOf(node.address, NEXT_TOKEN);
      assert(
        !/kvdb_peer_refusals_total\{/.test(metrics),
        `no peer message was refused during the rotation: ${metrics}`,
      );
    }

    // A bad file changes nothing.
    assertMatch(
      await rotate(0, ["short"], [NEXT_SECRET]),
      /secrets\.not_reloaded signal=SIGHUP error=".*at least 16.*" message="the old ones stay"/,
    );
    assert(await replicated(NEXT_TOKEN));
  } finally {
    await stopAll(nodes);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("security: beyond --max-concurrent-requests a real node answers 503 with Retry-After", async () => {
  const node = await new NodeProcess(freePort(), [
    "--max-concurrent-requests",
    "1",
  ]).ready();
  let release = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(new TextEncoder().encode('{"function":"ping"'));
      await released;
      controller.enqueue(new TextEncoder().encode("}"));
      controller.close();
    },
  });
  try {
    const held = fetch(`http://${node.address}/`, { method: "POST", body });
    // The held request has its slot once the node counts it in flight.
    await waitFor("the held request to be in flight", async () => {
      const text = await (await fetch(`http://${node.address}/metrics`)).text();
      return /kvdb_client_requests_in_flight 1/.test(text);
    });
    const response = await fetch(`http://${node.address}/`, {
      method: "POST",
      body: '{"function":"ping"}',
    });
    assertEquals(response.status, 503);
    assertEquals(response.headers.get("retry-after"), "1");
    assertMatch((await response.json()).description, /Overloaded/);
    release();
    const first = await held;
    assertEquals(await first.json(), { status: "OK.", result: "pong" });
  } finally {
    release();
    await node.kill();
  }
});

Deno.test("security: unsafe configurations are refused at start, and an open node on a public interface warns", async () => {
  const refused: [string[], RegExp][] = [
    [
      ["node", "--memory", "-C", "169.254.169.254:80"],
      /169\.254\.169\.254:80 is a link-local address/,
    ],
    [
      ["node", "--memory", "--join", "metadata.google.internal:80"],
      /cloud metadata name/,
    ],
    [
      ["node", "--memory", "-C", "127.0.0.1:1", "--auth-token", TOKEN],
      /needs a cluster secret/,
    ],
    [
      ["node", "--memory", "--auth-token", "short"],
      /'authToken' must be at least 16 characters/,
    ],
    [
      ["node", "--memory", "--tls-cert", "/nonexistent.pem"],
      /Cannot read --tls-cert/,
    ],
    [
      ["node", "--memory", "--auth-token", TOKEN, "--auth-token-file", "/x"],
      /cannot be used with option '--auth-token/,
    ],
  ];
  for (const [args, message] of refused) {
    const { code, stderr } = await runCli(args);
    assertEquals(code, 2, stderr);
    assertMatch(stderr, message);
    assert(!stderr.includes(TOKEN), "secrets are never echoed");
  }
  const open = await new NodeProcess(freePort(), ["-H", "0.0.0.0"]).ready();
  try {
    await waitFor(
      "the warning",
      () => /WARN .* listen\.unauthenticated host=0\.0\.0\.0/.test(open.log),
    );
  } finally {
    await open.kill();
  }
});
