/**
 * Helpers for tests that run real node processes on loopback ports.
 *
 * @module
 */

/** The CLI entry point. */
export const MAIN = new URL("../main.ts", import.meta.url).pathname;
/** The permissions the `node` task runs with. */
export const PERMISSIONS = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write",
];

/** A port nobody listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** `count` distinct free ports. */
export function freePorts(count: number): number[] {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(freePort());
  return [...ports];
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 15_000,
  intervalMs = 25,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Runs the CLI (main.ts) with `args` and collects its output. */
export async function runCli(
  args: string[],
  stdin = "",
  timeoutMs = 120_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // A command that does not end by then is killed: its test fails, it
  // does not hang.
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const out = await child.output();
  clearTimeout(timer);
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** Options of a {@link NodeProcess}. */
export interface NodeProcessOptions {
  /**
   * The node's data directory (a test's temporary directory). Absent, and
   * unless `args` choose storage themselves, the node runs with `--memory`:
   * a test never writes into the project's ./data.
   */
  dataDir?: string;
  /** Environment variables for the node process (secrets, say). */
  env?: Record<string, string>;
  /**
   * The node serves https (its args give `--tls-cert`/`--tls-key`): ready()
   * checks /health over https trusting this CA certificate (PEM).
   */
  caCert?: string;
}

/**
 * The environment that runs a node with its wall clock `offset` away from
 * the machine's ("+20s", "-0.3s"), through libfaketime preloaded into the
 * process itself (the `faketime` command would fork, and a test could then
 * not kill the node by its pid); timers, on the monotonic clock, are not
 * skewed. Undefined when libfaketime is not installed.
 */
export function skewedClock(
  offset: string,
): Record<string, string> | undefined {
  for (
    const dir of [
      "/usr/lib/x86_64-linux-gnu",
      "/usr/lib/aarch64-linux-gnu",
      "/usr/lib",
    ]
  ) {
    const library = `${dir}/faketime/libfaketime.so.1`;
    try {
      Deno.statSync(library);
    } catch {
      continue;
    }
    return {
      LD_PRELOAD: library,
      FAKETIME: offset,
      FAKETIME_DONT_FAKE_MONOTONIC: "1",
    };
  }
  return undefined;
}

/** A node process started by a test. */
export class NodeProcess {
  readonly address: string;
  readonly #storageArgs: string[];
  readonly #env: Record<string, string>;
  readonly #caCert: string | undefined;
  #child: Deno.ChildProcess;
  #log = "";
  #logDone: Promise<void>;

  constructor(
    readonly port: number,
    readonly args: string[],
    options: NodeProcessOptions = {},
  ) {
    this.address = `127.0.0.1:${port}`;
    this.#storageArgs = args.includes("--memory") || args.includes("--data-dir")
      ? []
      : options.dataDir !== undefined
      ? ["--data-dir", options.dataDir]
      : ["--memory"];
    this.#env = options.env ?? {};
    this.#caCert = options.caCert;
    this.#child = this.#spawn();
    this.#logDone = this.#drain();
  }

  #spawn(): Deno.ChildProcess {
    return new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...PERMISSIONS,
        MAIN,
        "node",
        "-H",
        "127.0.0.1",
        "-P",
        String(this.port),
        ...this.#storageArgs,
        ...this.args,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: this.#env,
    }).spawn();
  }

  async #drain(): Promise<void> {
    const decoder = new TextDecoder();
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) this.#log += decoder.decode(chunk);
    };
    await Promise.all([pump(this.#child.stdout), pump(this.#child.stderr)]);
  }

  /** The node's process id (while it runs). */
  get pid(): number {
    return this.#child.pid;
  }

  /** What the node printed so far. */
  get log(): string {
    return this.#log;
  }

  /** Resolves once `GET /health` answers 200. */
  async ready(timeoutMs = 20_000): Promise<this> {
    const client = this.#caCert === undefined
      ? undefined
      : Deno.createHttpClient({ caCerts: [this.#caCert] });
    const scheme = client === undefined ? "http" : "https";
    try {
      await waitFor(`${this.address} to serve`, async () => {
        const response = await fetch(
          `${scheme}://${this.address}/health`,
          client === undefined ? {} : { client },
        );
        await response.body?.cancel();
        return response.ok;
      }, timeoutMs);
    } finally {
      client?.close();
    }
    return this;
  }

  /** Sends `signal` and returns at once (SIGHUP: reload secrets). */
  signal(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** Sends `signal` and waits for the process to end. */
  async kill(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    try {
      this.#child.kill(signal);
    } catch {
      // already gone
    }
    await this.#child.status;
    await this.#logDone;
  }

  /** Starts the same node again (same port and flags). */
  async restart(): Promise<void> {
    await this.kill();
    this.#child = this.#spawn();
    this.#logDone = this.#drain();
    await this.ready();
  }
}

/** Starts `count` nodes that list each other with `-C`. */
export async function startCluster(
  count: number,
  extraArgs: string[] = [],
): Promise<NodeProcess[]> {
  const ports = freePorts(count);
  const members = ports.map((p) => `127.0.0.1:${p}`).join(",");
  const nodes = ports.map((port) =>
    new NodeProcess(port, ["-C", members, ...extraArgs])
  );
  await Promise.all(nodes.map((n) => n.ready()));
  return nodes;
}

/** Stops every node. */
export async function stopAll(nodes: NodeProcess[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.kill()));
}

/** One raw JSON-RPC call: the HTTP status and the body text. */
export async function rpcRaw(
  address: string,
  body: string,
  init: RequestInit = {},
): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://${address}/`, {
    method: "POST",
    body,
    ...init,
  });
  return { status: response.status, text: await response.text() };
}

/** One JSON-RPC call with a JSON body; parsed answer. */
export async function rpc(
  address: string,
  fn: string,
  args: unknown[] = [],
  kwargs: Record<string, unknown> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const { status, text } = await rpcRaw(
    address,
    JSON.stringify({ function: fn, args, kwargs }),
  );
  return { status, body: JSON.parse(text) };
}

/**
 * How many file descriptors process `pid` has open (Linux). Read with `ls`:
 * Deno lets only a fully privileged process read /proc/<pid>/fd itself.
 */
export async function openDescriptors(pid: number): Promise<number> {
  const { success, stdout } = await new Deno.Command("ls", {
    args: [`/proc/${pid}/fd`],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!success) throw new Error(`cannot list /proc/${pid}/fd`);
  return new TextDecoder().decode(stdout).split("\n").filter(Boolean).length;
}

/** Whether `binary` runs and exits 0 with `args` (an installed tool). */
export async function canRun(binary: string, args: string[]): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(binary, {
      args,
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/** Whether an `openssl` binary can be run. */
export function hasOpenssl(): Promise<boolean> {
  return canRun("openssl", ["version"]);
}

/**
 * A self-signed certificate for 127.0.0.1 in `dir` (cert.pem, key.pem), as
 * docs/security.md makes one. CA:FALSE: rustls refuses a CA certificate
 * presented as a server's own.
 */
export async function selfSigned(dir: string): Promise<void> {
  const { success, stderr } = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
      "-days",
      "2",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-addext",
      "extendedKeyUsage=serverAuth",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(new TextDecoder().decode(stderr));
}
