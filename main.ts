/**
 * The `kvdb` command line: `node` runs a node, `shell` opens the
 * interactive shell, and one-shot commands (`get`, `set`, ...) talk to a
 * running node once.
 *
 * ```sh
 * deno task node -H 127.0.0.1 -P 5879 -C 127.0.0.1:5878,127.0.0.1:5880 -R 3
 * deno task shell -H 127.0.0.1 -P 5879
 * deno task kvdb get a -H 127.0.0.1 -P 5879
 * ```
 *
 * @module
 */

import {
  Command,
  CommanderError,
  InvalidArgumentError,
  Option,
} from "commander";
import { KVClient, KVError } from "./client.ts";
import {
  CLUSTER_DEFAULTS,
  ConfigError,
  DEFAULT_CLUSTER_ID,
  DEFAULT_PORT,
  defaultDataDir,
  type NodeConfig,
  parseMember,
  parseMembers,
  resolveSecrets,
  validateConfig,
} from "./src/config.ts";
import {
  BODY_BYTES_MAX,
  BODY_DEADLINE_MS_DEFAULT,
  CONCURRENT_REQUESTS_MAX_DEFAULT,
  KV_VOTERS_DEFAULT,
  PEER_DEADLINE_MS_DEFAULT,
  REQUEST_DEADLINE_MS_DEFAULT,
} from "./src/limits.ts";
import { registerBench } from "./src/bench/mod.ts";
import {
  type ClientSecurityFlags,
  clientSecurityOptions,
  readPem,
  resolveClientSecurity,
} from "./src/client_flags.ts";
import { StorageError } from "./src/errors.ts";
import { type Secrets, startNode } from "./src/node.ts";
import { VNODES_DEFAULT } from "./src/ring/mod.ts";
import {
  formatResult,
  linesFrom,
  runShell,
  textWriter,
} from "./src/shell/mod.ts";
import { VERSION } from "./src/version.ts";
import { executeKv, type KvCommandName } from "./src/shell/kv_commands.ts";

/** Exit code for a usage error (a bad flag or value), as BSD sysexits' EX_USAGE family and most CLIs use. */
const EXIT_USAGE = 2;

function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (
      !/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max
    ) {
      throw new InvalidArgumentError(`must be an integer in [${min}, ${max}].`);
    }
    return n;
  };
}

function kvVoters(value: string): number {
  if (value !== "1" && value !== "3" && value !== "5") {
    throw new InvalidArgumentError("must be 1, 3 or 5.");
  }
  return Number(value);
}

function member(value: string): string {
  try {
    return parseMember(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message + ".");
  }
}

function members(value: string): string[] {
  try {
    return parseMembers(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message + ".");
  }
}

const write = textWriter(Deno.stdout);
const writeErr = textWriter(Deno.stderr);

function hostOption() {
  return new Option("-H, --host <host>", "node host").default("127.0.0.1");
}

function portOption() {
  return new Option("-P, --port <port>", "node port")
    .argParser(integer(1, 65535))
    .default(DEFAULT_PORT);
}

/** What the client commands (shell, one-shot) need to reach a node. */
interface ClientOptions extends ClientSecurityFlags {
  host: string;
  port: number;
}

function clientFor(options: ClientOptions): KVClient {
  const { token, tls, caCert } = resolveClientSecurity(options);
  return new KVClient({
    nodes: [`${tls ? "https://" : ""}${options.host}:${options.port}`],
    ...(token !== undefined ? { token } : {}),
    ...(caCert !== undefined ? { caCert } : {}),
  });
}

/** Runs a one-shot command and prints its result as the shell would. */
async function once(
  options: ClientOptions,
  fn: (client: KVClient) => Promise<unknown>,
): Promise<void> {
  const result = await fn(clientFor(options));
  write(formatResult(result === undefined ? "OK" : result) + "\n");
}

interface TransferInfo {
  phase: string;
  keys_moved: number;
  bytes_moved: number;
  keys_remaining: number | null;
}

/** A one-line progress bar on stderr (redrawn in place on a terminal). */
function progressLine(t: TransferInfo): string {
  const total = t.keys_moved + (t.keys_remaining ?? 0);
  const done = total === 0 ? 1 : t.keys_moved / total;
  const width = 30;
  const filled = Math.round(done * width);
  return `leave [${"#".repeat(filled)}${".".repeat(width - filled)}] ` +
    `${(done * 100).toFixed(0).padStart(3)}%  ${t.keys_moved} records, ` +
    `${(t.bytes_moved / 1024).toFixed(0)} KiB moved, ${
      t.keys_remaining ?? "?"
    } to go`;
}

/** Sends `leave` and follows the node's progress until it is gone. */
async function leave(client: KVClient): Promise<void> {
  await client.call("leave");
  const tty = Deno.stderr.isTerminal();
  const err = textWriter(Deno.stderr);
  let last: TransferInfo | undefined;
  let shown = "";
  for (;;) {
    let info: { self: string; transfer?: TransferInfo };
    try {
      info = await client.clusterInfo() as typeof info;
    } catch (error) {
      if (error instanceof KVError) break; // the node has gone
      throw error;
    }
    if (info.transfer !== undefined) {
      last = info.transfer;
      const line = progressLine(last);
      // On a terminal the bar redraws in place; piped, a line per change.
      if (line !== shown) err(tty ? `\r${line}` : `${line}\n`);
      shown = line;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  if (tty) err("\n");
  write(
    `left the cluster: ${last?.keys_moved ?? 0} records handed over\n`,
  );
}

function buildProgram(): Command {
  const program = new Command()
    .name("kvdb")
    .description("KVDB: a distributed key-value store.")
    .version(VERSION)
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({
      // One line per error: the message names the flag or value.
      outputError: (text, writeErr) => writeErr(text.trimEnd() + "\n"),
    });

  program.command("node")
    .description("run a node")
    .addOption(hostOption())
    .addOption(portOption())
    .addOption(
      new Option(
        "-C, --cluster <members>",
        "comma-separated members, host[:port] (port 5878 by default)",
      ).argParser(members).default([] as string[]),
    )
    .addOption(
      new Option(
        "-R, --replication-factor <n>",
        "copies of each key, on distinct nodes (capped at the cluster size)",
      ).argParser(integer(1, 256)).default(1),
    )
    .addOption(
      new Option(
        "--kv-voters <n>",
        "voters per KV database (1, 3 or 5; capped by the cluster size)",
      ).argParser(kvVoters).default(KV_VOTERS_DEFAULT),
    )
    .addOption(
      new Option("--vnodes <n>", "virtual nodes per member on the ring")
        .argParser(integer(1, 4096)).default(VNODES_DEFAULT),
    )
    .addOption(
      new Option(
        "--read-quorum <r>",
        "replies a read waits for (default: a majority of N)",
      )
        .argParser(integer(1, 256)),
    )
    .addOption(
      new Option(
        "--write-quorum <w>",
        "acknowledgements a write waits for (default: a majority of N)",
      )
        .argParser(integer(1, 256)),
    )
    .addOption(
      new Option("--request-timeout <ms>", "a client request's deadline")
        .argParser(integer(1, 600_000)).default(REQUEST_DEADLINE_MS_DEFAULT),
    )
    .addOption(
      new Option("--peer-timeout <ms>", "one call to a peer's deadline")
        .argParser(integer(1, 600_000)).default(PEER_DEADLINE_MS_DEFAULT),
    )
    .addOption(
      new Option(
        "--join <member>",
        "join a running cluster through this member (host:port); streams this node's ranges before it serves reads",
      ).argParser(member),
    )
    .addOption(
      new Option("--probe-interval <ms>", "failure detection: probe period")
        .argParser(integer(10, 60_000)).default(
          CLUSTER_DEFAULTS.probeIntervalMs,
        ),
    )
    .addOption(
      new Option(
        "--suspicion-timeout <ms>",
        "failure detection: time a suspect member has to refute before it is dead",
      ).argParser(integer(10, 600_000)).default(
        CLUSTER_DEFAULTS.suspicionTimeoutMs,
      ),
    )
    .addOption(
      new Option(
        "--anti-entropy-interval <ms>",
        "time between anti-entropy rounds with a random peer",
      ).argParser(integer(10, 86_400_000)).default(
        CLUSTER_DEFAULTS.antiEntropyIntervalMs,
      ),
    )
    .addOption(
      new Option("--hint-interval <ms>", "time between hint deliveries")
        .argParser(integer(10, 600_000)).default(
          CLUSTER_DEFAULTS.hintIntervalMs,
        ),
    )
    .addOption(
      new Option(
        "--hint-max-count <n>",
        "most hinted writes held for down members",
      )
        .argParser(integer(0, 100_000_000)).default(
          CLUSTER_DEFAULTS.hintCountMax,
        ),
    )
    .addOption(
      new Option("--hint-max-bytes <n>", "most bytes of hints held")
        .argParser(integer(0, 2 ** 40)).default(CLUSTER_DEFAULTS.hintBytesMax),
    )
    .addOption(
      new Option(
        "--tombstone-grace <ms>",
        "how long deletes are remembered before tombstones may be purged",
      ).argParser(integer(0, 10 * 365 * 86_400_000)).default(
        CLUSTER_DEFAULTS.tombstoneGraceMs,
      ),
    )
    .addOption(
      new Option(
        "--max-clock-offset <ms>",
        "refuse to coordinate writes while this node's clock is further than this from most peers'",
      ).argParser(integer(1, 600_000)).default(
        CLUSTER_DEFAULTS.maxClockOffsetMs,
      ),
    )
    .addOption(
      new Option(
        "--data-dir <dir>",
        "where this node keeps its data (SQLite); default ./data/<host>_<port>",
      ).conflicts("memory"),
    )
    .addOption(
      new Option(
        "--memory",
        "keep everything in memory, as the seed did: nothing survives a restart",
      ),
    )
    .addOption(
      new Option(
        "--sync <mode>",
        "normal: an acknowledged write survives a crash of the process; " +
          "full: fsync per commit batch, it also survives power loss",
      ).choices(["normal", "full"] as const).default("normal" as const),
    )
    .addOption(
      new Option(
        "--cache-mb <n>",
        "MiB of decoded records the SQLite engine keeps for reads (0: none)",
      ).argParser(integer(0, 1024 * 1024)).default(64).conflicts("memory"),
    )
    .addOption(
      new Option(
        "--auth-token <token>",
        "clients must send 'Authorization: Bearer <token>' (also $KVDB_AUTH_TOKEN; visible in ps: prefer the file or the variable)",
      ),
    )
    .addOption(
      new Option("--auth-token-file <file>", "read the auth token from a file")
        .conflicts("authToken"),
    )
    .addOption(
      new Option(
        "--cluster-secret <secret>",
        "sign and verify peer messages with this key (also $KVDB_CLUSTER_SECRET; same on every node)",
      ),
    )
    .addOption(
      new Option(
        "--cluster-secret-file <file>",
        "read the cluster secret from a file",
      ).conflicts("clusterSecret"),
    )
    .addOption(
      new Option(
        "--cluster-id <id>",
        "the cluster signed peer messages belong to",
      ).default(DEFAULT_CLUSTER_ID),
    )
    .addOption(
      new Option(
        "--tls-cert <file>",
        "serve https with this PEM certificate chain; peers are then called over https",
      ),
    )
    .addOption(
      new Option("--tls-key <file>", "the PEM private key of --tls-cert"),
    )
    .addOption(
      new Option(
        "--ca-cert <file>",
        "PEM CA certificate to trust for peers' certificates (self-signed or private CA)",
      ),
    )
    .addOption(
      new Option(
        "--allow-link-local",
        "accept link-local and cloud metadata member addresses (169.254.0.0/16, fe80::/10, metadata.google.internal, ...)",
      ),
    )
    .addOption(
      new Option(
        "--max-concurrent-requests <n>",
        "client requests in flight before the node answers 503 with Retry-After",
      ).argParser(integer(1, 1_000_000)).default(
        CONCURRENT_REQUESTS_MAX_DEFAULT,
      ),
    )
    .addOption(
      new Option("--max-body-bytes <n>", "largest request body")
        .argParser(integer(1024, 1024 * 1024 * 1024)).default(BODY_BYTES_MAX),
    )
    .addOption(
      new Option(
        "--body-timeout <ms>",
        "time a request body may take to arrive before the node answers 408",
      ).argParser(integer(1, 600_000)).default(BODY_DEADLINE_MS_DEFAULT),
    )
    .action(async (o) => {
      // The files may hold several, one a line, and are read again on
      // SIGHUP: that is how tokens and secrets rotate.
      const tokenSources = {
        ...(o.authToken !== undefined ? { value: o.authToken } : {}),
        ...(o.authTokenFile !== undefined ? { file: o.authTokenFile } : {}),
        env: "KVDB_AUTH_TOKEN",
      };
      const secretSources = {
        ...(o.clusterSecret !== undefined ? { value: o.clusterSecret } : {}),
        ...(o.clusterSecretFile !== undefined
          ? { file: o.clusterSecretFile }
          : {}),
        env: "KVDB_CLUSTER_SECRET",
      };
      const authToken = resolveSecrets("auth-token", tokenSources);
      const clusterSecret = resolveSecrets("cluster-secret", secretSources);
      const config: NodeConfig = {
        host: o.host,
        port: o.port,
        cluster: o.cluster,
        replicationFactor: o.replicationFactor,
        vnodes: o.vnodes,
        kvVoters: o.kvVoters,
        requestDeadlineMs: o.requestTimeout,
        peerDeadlineMs: o.peerTimeout,
        probeIntervalMs: o.probeInterval,
        suspicionTimeoutMs: o.suspicionTimeout,
        antiEntropyIntervalMs: o.antiEntropyInterval,
        hintIntervalMs: o.hintInterval,
        hintCountMax: o.hintMaxCount,
        hintBytesMax: o.hintMaxBytes,
        tombstoneGraceMs: o.tombstoneGrace,
        maxClockOffsetMs: o.maxClockOffset,
        ...(o.join !== undefined ? { join: o.join } : {}),
        ...(o.memory ? { engine: "memory" } : {
          engine: "sqlite",
          dataDir: o.dataDir ?? defaultDataDir(o.host, o.port),
          sync: o.sync,
          cacheMb: o.cacheMb,
        }),
        ...(o.readQuorum !== undefined ? { readQuorum: o.readQuorum } : {}),
        ...(o.writeQuorum !== undefined ? { writeQuorum: o.writeQuorum } : {}),
        ...(authToken !== undefined ? { authToken } : {}),
        ...(clusterSecret !== undefined ? { clusterSecret } : {}),
        clusterId: o.clusterId,
        ...(o.tlsCert !== undefined
          ? { tlsCert: readPem("--tls-cert", o.tlsCert) }
          : {}),
        ...(o.tlsKey !== undefined
          ? { tlsKey: readPem("--tls-key", o.tlsKey) }
          : {}),
        ...(o.caCert !== undefined
          ? { caCert: readPem("--ca-cert", o.caCert) }
          : {}),
        allowLinkLocal: o.allowLinkLocal === true,
        concurrentRequestsMax: o.maxConcurrentRequests,
        bodyBytesMax: o.maxBodyBytes,
        bodyDeadlineMs: o.bodyTimeout,
      };
      validateConfig(config);
      const node = await startNode(config);
      const stop = () => node.shutdown();
      Deno.addSignalListener("SIGINT", stop);
      Deno.addSignalListener("SIGTERM", stop);
      if (o.authTokenFile !== undefined || o.clusterSecretFile !== undefined) {
        Deno.addSignalListener("SIGHUP", () => {
          const reload = async () => {
            const secrets: Secrets = {};
            if (o.authTokenFile !== undefined) {
              secrets.authToken = resolveSecrets("auth-token", tokenSources);
            }
            if (o.clusterSecretFile !== undefined) {
              secrets.clusterSecret = resolveSecrets(
                "cluster-secret",
                secretSources,
              );
            }
            return await node.rotateSecrets(secrets);
          };
          reload().then(
            (now) => writeErr(`kvdb: SIGHUP: secrets reloaded: ${now}\n`),
            (error) =>
              writeErr(
                `kvdb: SIGHUP: secrets not reloaded, the old ones stay: ${
                  (error as Error).message
                }\n`,
              ),
          );
        });
      }
      await node.finished;
    });

  clientSecurityOptions(
    program.command("shell")
      .description("interactive shell (reads commands from stdin)")
      .addOption(hostOption())
      .addOption(portOption()),
  )
    .action(async (o) => {
      await runShell(clientFor(o), linesFrom(Deno.stdin.readable), write);
    });

  const oneShot = (name: string, description: string) =>
    clientSecurityOptions(
      program.command(name).description(description)
        .addOption(hostOption()).addOption(portOption()),
    );

  oneShot("ping", "check that a node answers").action((o) =>
    once(o, (c) => c.ping())
  );
  oneShot("get", "print a key's value")
    .argument("<key>")
    .argument("[default]", "printed when the key is absent")
    .option("--local", "this node's own copy only")
    .action((key, fallback, o) =>
      once(o, (c) =>
        c.get(key, {
          ...(fallback !== undefined ? { defaultValue: fallback } : {}),
          ...(o.local ? { local: true } : {}),
        }))
    );
  oneShot("set", "store a value (a string, or JSON with --json)")
    .argument("<key>")
    .argument("<value>")
    .option("--json", "parse the value as JSON")
    .addOption(
      new Option("--ttl <seconds>", "expire after this many seconds")
        .argParser(integer(1, 10 * 365 * 24 * 3600)),
    )
    .action((key, value, o) => {
      let parsed: unknown = value;
      if (o.json) {
        try {
          parsed = JSON.parse(value);
        } catch {
          throw new ConfigError(
            `argument 'value' is not valid JSON: ${value.slice(0, 40)}`,
          );
        }
      }
      return once(
        o,
        (c) => c.set(key, parsed, o.ttl !== undefined ? { ttl: o.ttl } : {}),
      );
    });
  oneShot("has", "print whether a key exists").argument("<key>")
    .action((key, o) => once(o, (c) => c.has(key)));
  oneShot("pop", "delete a key and print its value").argument("<key>")
    .action((key, o) => once(o, (c) => c.pop(key)));
  oneShot("list-keys", "print every key, in order")
    .option("--local", "this node's keys only")
    .action((o) => once(o, (c) => c.listKeys({ fanOut: !o.local })));
  oneShot("list-members", "print the cluster's members")
    .action((o) => once(o, (c) => c.listMembers()));
  oneShot("locate", "print the node that owns a key").argument("<key>")
    .action((key, o) => once(o, (c) => c.locate(key)));
  oneShot("replicas", "print a key's replicas, primary first")
    .argument("<key>")
    .action((key, o) => once(o, (c) => c.replicas(key)));
  oneShot("info", "print the node's view of the cluster")
    .action((o) => once(o, (c) => c.clusterInfo()));
  oneShot(
    "remove-member",
    "remove a dead member for good; its ranges get new replicas",
  ).argument("<address>", "the dead member's host:port")
    .action((address, o) =>
      once(o, async (c) => {
        await c.removeMember(address);
        return `removed ${address}`;
      })
    );
  oneShot(
    "leave",
    "tell a node to hand its data to its successors and leave the cluster",
  ).action((o) => leave(clientFor(o)));
  const kvOnce = (
    name: KvCommandName,
    args: (string | undefined)[],
    o: ClientOptions,
  ) =>
    once(o, (c) =>
      executeKv(c, {
        kind: "kv",
        name,
        args: args.filter((a): a is string => a !== undefined),
      }));
  oneShot(
    "kv-get",
    "print a KV database entry; a key is a JSON array ('[\"users\",1]') or a word",
  )
    .argument("<key>")
    .action((key, o) => kvOnce("kv_get", [key], o));
  oneShot("kv-set", "store a value in the KV database (JSON, else a string)")
    .argument("<key>").argument("<value>")
    .action((key, value, o) => kvOnce("kv_set", [key, value], o));
  oneShot("kv-list", "print the KV database entries under a prefix")
    .argument("[prefix]").argument("[limit]")
    .action((prefix, limit, o) =>
      kvOnce("kv_list", [prefix ?? "[]", limit], o)
    );
  oneShot(
    "kv-cas",
    "set a KV entry only if it is still at a versionstamp (or null: absent)",
  )
    .argument("<key>").argument("<versionstamp>").argument("<value>")
    .action((key, vs, value, o) => kvOnce("kv_cas", [key, vs, value], o));
  oneShot("kv-incr", "add n (default 1) to a u64 counter in the KV database")
    .argument("<key>").argument("[n]")
    .action((key, n, o) => kvOnce("kv_incr", [key, n], o));
  oneShot("kv-delete", "delete a KV database entry").argument("<key>")
    .action((key, o) => kvOnce("kv_delete", [key], o));
  registerBench(program);
  return program;
}

/** Runs the CLI with `args` and returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version "errors" are successes.
      return error.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (error instanceof ConfigError) {
      console.error(`error: ${error.message}`);
      return EXIT_USAGE;
    }
    if (error instanceof KVError) {
      console.error(`ERROR: ${error.message}`);
      return 1;
    }
    if (error instanceof StorageError) {
      // One line, no stack: the message names the directory and the fault.
      console.error(`error: ${error.message}`);
      return 1;
    }
    if (error instanceof Deno.errors.AddrInUse) {
      console.error(`error: cannot listen: the address is already in use`);
      return 1;
    }
    console.error(`error: ${(error as Error)?.message ?? error}`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
