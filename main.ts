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
  ConfigError,
  DEFAULT_PORT,
  type NodeConfig,
  parseMembers,
  validateConfig,
} from "./src/config.ts";
import {
  PEER_DEADLINE_MS_DEFAULT,
  REQUEST_DEADLINE_MS_DEFAULT,
} from "./src/limits.ts";
import { startNode } from "./src/node.ts";
import { VNODES_DEFAULT } from "./src/ring/mod.ts";
import {
  formatResult,
  linesFrom,
  runShell,
  textWriter,
} from "./src/shell/mod.ts";
import { VERSION } from "./src/version.ts";

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

function members(value: string): string[] {
  try {
    return parseMembers(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message + ".");
  }
}

const write = textWriter(Deno.stdout);

function hostOption() {
  return new Option("-H, --host <host>", "node host").default("127.0.0.1");
}

function portOption() {
  return new Option("-P, --port <port>", "node port")
    .argParser(integer(1, 65535))
    .default(DEFAULT_PORT);
}

function clientFor(options: { host: string; port: number }): KVClient {
  return new KVClient({ nodes: [`${options.host}:${options.port}`] });
}

/** Runs a one-shot command and prints its result as the shell would. */
async function once(
  options: { host: string; port: number },
  fn: (client: KVClient) => Promise<unknown>,
): Promise<void> {
  const result = await fn(clientFor(options));
  write(formatResult(result === undefined ? "OK" : result) + "\n");
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
    .action(async (o) => {
      const config: NodeConfig = {
        host: o.host,
        port: o.port,
        cluster: o.cluster,
        replicationFactor: o.replicationFactor,
        vnodes: o.vnodes,
        requestDeadlineMs: o.requestTimeout,
        peerDeadlineMs: o.peerTimeout,
        ...(o.readQuorum !== undefined ? { readQuorum: o.readQuorum } : {}),
        ...(o.writeQuorum !== undefined ? { writeQuorum: o.writeQuorum } : {}),
      };
      validateConfig(config);
      const node = await startNode(config);
      const stop = () => node.shutdown();
      Deno.addSignalListener("SIGINT", stop);
      Deno.addSignalListener("SIGTERM", stop);
      await node.finished;
    });

  program.command("shell")
    .description("interactive shell (reads commands from stdin)")
    .addOption(hostOption())
    .addOption(portOption())
    .action(async (o) => {
      await runShell(clientFor(o), linesFrom(Deno.stdin.readable), write);
    });

  const oneShot = (name: string, description: string) =>
    program.command(name).description(description)
      .addOption(hostOption()).addOption(portOption());

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
