/**
 * The deployment recipes of docs/deploy.md, checked by what can check
 * them here: the systemd unit by `systemd-analyze verify`, the
 * Kubernetes objects against Kubernetes' own OpenAPI schemas
 * (kubernetes-models), the Containerfile parsed (dockerfile-ast); and
 * each recipe's command line run for real as a node, with its TLS, token
 * and secret files, until it serves. The doc shows the files verbatim.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { DockerfileParser } from "dockerfile-ast";
import { Service } from "kubernetes-models/v1/Service";
import { Secret } from "kubernetes-models/v1/Secret";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { parseAllDocuments } from "yaml";
import {
  freePort,
  hasOpenssl,
  MAIN,
  PERMISSIONS,
  selfSigned,
  waitFor,
} from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, ROOT));
const UNIT = read("deploy/kvdb.service");
const CONTAINERFILE = read("deploy/Containerfile");
const KUBERNETES = read("deploy/kubernetes/kvdb.yaml");
const TOKEN = "deploy-test-token-0123456789abcdef";
const SECRET = "deploy-test-secret-0123456789abcdef";

async function has(binary: string, ...args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(binary, {
      args,
      stdout: "null",
      stderr: "null",
    }).output()).success;
  } catch {
    return false;
  }
}

const SYSTEMD = await has("systemd-analyze", "--version");
const OPENSSL = await hasOpenssl();
if (!SYSTEMD) {
  console.error("systemd-analyze not found: the unit is not verified");
}
if (!OPENSSL) console.error("openssl not found: the recipes are not run");

/**
 * Files as the recipes expect them (a token, a secret, a certificate for
 * 127.0.0.1 that is its own CA), in a temporary directory.
 */
async function secrets(dir: string) {
  await selfSigned(dir);
  await Deno.writeTextFile(`${dir}/token`, TOKEN + "\n");
  await Deno.writeTextFile(`${dir}/secret`, SECRET + "\n");
  return {
    token: `${dir}/token`,
    secret: `${dir}/secret`,
    cert: `${dir}/cert.pem`,
    key: `${dir}/key.pem`,
    ca: `${dir}/cert.pem`,
  };
}

/**
 * Runs `main.ts` with a recipe's arguments, with the host, port, members
 * and paths that only exist where it is deployed replaced by local ones,
 * and waits for it to serve over https with the token.
 */
async function runRecipe(
  args: string[],
  replace: (flag: string, value: string) => string | undefined,
): Promise<void> {
  const local: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = args[i + 1];
    if (arg.startsWith("-") && value !== undefined && !value.startsWith("-")) {
      local.push(arg, replace(arg, value) ?? value);
      i++;
    } else {
      local.push(arg);
    }
  }
  const port = local[local.indexOf("-P") + 1]!;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, ...local],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let log = "";
  const pump = (async () => {
    for await (const c of child.stderr) log += new TextDecoder().decode(c);
  })();
  const ca = Deno.readTextFileSync(replace("--ca-cert", "")!);
  const client = Deno.createHttpClient({ caCerts: [ca] });
  try {
    await waitFor(
      "the node to serve",
      async () => {
        const r = await fetch(`https://127.0.0.1:${port}/`, {
          client,
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}` },
          body: '{"function":"ping"}',
        });
        return (await r.json()).result === "pong";
      },
      30_000,
      100,
    );
    // A JSON log line names the node: --log-format json took effect.
    await waitFor("the start event", () => log.includes('"node.serving"'));
  } catch (error) {
    throw new Error(`${(error as Error).message}; the node said:\n${log}`);
  } finally {
    client.close();
    child.kill("SIGTERM");
    await child.status;
    await child.stdout.cancel();
    await pump;
  }
}

/** The unit's ExecStart as words (backslash-newlines joined). */
function execStart(unit: string): string[] {
  const line = unit.replace(/\\\n\s*/g, " ").split("\n").find((l) =>
    l.startsWith("ExecStart=")
  )!;
  return line.slice("ExecStart=".length).trim().split(/\s+/);
}

Deno.test("deploy: docs/deploy.md shows every recipe file as it is", () => {
  const doc = read("docs/deploy.md");
  for (const file of [UNIT, CONTAINERFILE, KUBERNETES]) {
    assert(doc.includes(file.trimEnd()), file.slice(0, 60));
  }
});

Deno.test({
  name: "deploy: systemd-analyze verify accepts the unit",
  ignore: !SYSTEMD,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      // Only the machine's own paths and user differ from a server's.
      const unit = UNIT.replace("/usr/local/bin/deno", Deno.execPath())
        .replace(
          "WorkingDirectory=/opt/kvdb",
          `WorkingDirectory=${ROOT.pathname}`,
        )
        .replace(/^(User|Group)=kvdb$/gm, "$1=root");
      await Deno.writeTextFile(`${dir}/kvdb.service`, unit);
      const out = await new Deno.Command("systemd-analyze", {
        args: ["verify", `${dir}/kvdb.service`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(out.stderr);
      assert(out.success, said);
      assertEquals(said.trim(), "", "no warnings");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "deploy: the unit's command line runs a node with TLS, token and secret files",
  ignore: !OPENSSL,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const files = await secrets(dir);
      const words = execStart(UNIT);
      const args = words.slice(words.indexOf("main.ts") + 1);
      const port = String(freePort());
      await runRecipe(args, (flag) =>
        ({
          "-H": "127.0.0.1",
          "-P": port,
          "-C": `127.0.0.1:${port}`,
          "-R": "1",
          "--data-dir": `${dir}/data`,
          "--auth-token-file": files.token,
          "--cluster-secret-file": files.secret,
          "--tls-cert": files.cert,
          "--tls-key": files.key,
          "--ca-cert": files.ca,
        } as Record<string, string>)[flag]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deploy: the Containerfile is pinned, unprivileged and in exec form", () => {
  const file = DockerfileParser.parse(CONTAINERFILE);
  const instructions = file.getInstructions();
  const of = (k: string) => instructions.filter((i) => i.getKeyword() === k);
  const ci = read(".ci/run");
  const version = /DENO_VERSION="([^"]+)"/.exec(ci)![1]!;
  assertEquals(
    of("FROM")[0]!.getArgumentsContent(),
    `denoland/deno:${version}`,
    "the image's Deno is the one CI tests with",
  );
  assertEquals(of("USER").at(-1)?.getArgumentsContent(), "deno");
  for (const copy of of("COPY")) {
    const sources = copy.getArguments().slice(0, -1).map((a) => a.getValue());
    for (const source of sources) Deno.statSync(new URL(source, ROOT));
  }
  for (const k of ["ENTRYPOINT", "CMD"]) {
    JSON.parse(of(k)[0]!.getArgumentsContent()!);
  }
  assertMatch(of("HEALTHCHECK")[0]!.getArgumentsContent()!, /CMD \[/);
  assertEquals(of("EXPOSE")[0]!.getArgumentsContent(), "5878");
});

Deno.test({
  name:
    "deploy: the container's command line runs a node, and its health check passes",
  ignore: !OPENSSL,
  async fn() {
    const file = DockerfileParser.parse(CONTAINERFILE);
    const arg = (k: string) =>
      JSON.parse(
        file.getInstructions().find((i) => i.getKeyword() === k)!
          .getArgumentsContent()!,
      ) as string[];
    const entry = arg("ENTRYPOINT");
    const cmd = arg("CMD");
    assertEquals(entry.slice(0, 2), ["deno", "run"]);
    assertEquals(entry.at(-1), "main.ts");
    const dir = await Deno.makeTempDir();
    try {
      const files = await secrets(dir);
      const port = String(freePort());
      // A secured node, as docs/deploy.md runs the image.
      const args = [
        ...cmd,
        "--auth-token-file",
        "/run/secrets/token",
        "--cluster-secret-file",
        "/run/secrets/secret",
        "--tls-cert",
        "/run/secrets/cert",
        "--tls-key",
        "/run/secrets/key",
        "--ca-cert",
        "/run/secrets/ca",
      ];
      await runRecipe(args, (flag) =>
        ({
          "-H": "127.0.0.1",
          "-P": port,
          "--data-dir": `${dir}/data`,
          "--auth-token-file": files.token,
          "--cluster-secret-file": files.secret,
          "--tls-cert": files.cert,
          "--tls-key": files.key,
          "--ca-cert": files.ca,
        } as Record<string, string>)[flag]);
      // The health check's own command, against a plain node.
      const plain = new Deno.Command(Deno.execPath(), {
        args: ["run", ...PERMISSIONS, MAIN, "node", "-P", port, "--memory"],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        const check = /CMD (\[.*\])\s*$/s.exec(
          file.getInstructions().find((i) => i.getKeyword() === "HEALTHCHECK")!
            .getArgumentsContent()!,
        )![1]!;
        const [, ...evalArgs] = JSON.parse(check) as string[];
        const script = evalArgs.map((a) => a.replace("5878", port));
        await waitFor(
          "the health check to pass",
          async () =>
            (await new Deno.Command(Deno.execPath(), {
              args: script,
              stdout: "null",
              stderr: "null",
            }).output()).success,
          20_000,
          200,
        );
      } finally {
        plain.kill("SIGTERM");
        await plain.status;
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deploy: the Kubernetes objects pass Kubernetes' schemas", () => {
  const docs = parseAllDocuments(KUBERNETES).map((d) => d.toJS());
  const kinds: Record<string, (x: never) => { validate(): void }> = {
    Service: (x) => new Service(x),
    Secret: (x) => new Secret(x),
    StatefulSet: (x) => new StatefulSet(x),
    PodDisruptionBudget: (x) => new PodDisruptionBudget(x),
  };
  assertEquals(docs.map((d) => d.kind).sort(), Object.keys(kinds).sort());
  for (const doc of docs) kinds[doc.kind]!(doc as never).validate();
  // A broken object is refused: the check can fail.
  const broken = structuredClone(docs.find((d) => d.kind === "StatefulSet"));
  broken.spec.replicas = "three";
  let refused = false;
  try {
    new StatefulSet(broken).validate();
  } catch {
    refused = true;
  }
  assert(refused);
  // Members are the pods' stable DNS names, the same as each pod's -H.
  const set = docs.find((d) => d.kind === "StatefulSet");
  const args: string[] = set.spec.template.spec.containers[0].args;
  const members = args[args.indexOf("-C") + 1]!.split(",");
  assertEquals(members.length, set.spec.replicas);
  members.forEach((m, i) =>
    assertEquals(
      m,
      args[args.indexOf("-H") + 1]!.replace("$(POD_NAME)", `kvdb-${i}`) +
        ":5878",
    )
  );
});

Deno.test({
  name:
    "deploy: the StatefulSet's container args run a node with its mounted secrets",
  ignore: !OPENSSL,
  async fn() {
    const docs = parseAllDocuments(KUBERNETES).map((d) => d.toJS());
    const set = docs.find((d) => d.kind === "StatefulSet");
    const args: string[] = set.spec.template.spec.containers[0].args;
    const dir = await Deno.makeTempDir();
    try {
      const files = await secrets(dir);
      const port = String(freePort());
      await runRecipe(args, (flag) =>
        ({
          "-H": "127.0.0.1",
          "-P": port,
          "-C": `127.0.0.1:${port}`,
          "-R": "1",
          "--data-dir": `${dir}/data`,
          "--auth-token-file": files.token,
          "--cluster-secret-file": files.secret,
          "--tls-cert": files.cert,
          "--tls-key": files.key,
          "--ca-cert": files.ca,
        } as Record<string, string>)[flag]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
