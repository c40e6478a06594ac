/**
 * The `bench` command of the CLI: flags, the run, the summary on stdout,
 * results JSON and SVG chart on disk.
 *
 * ```sh
 * deno task bench -P 5878 -c 50 -d 10s --mix get=90,set=10 --preload
 * ```
 *
 * @module
 */

import { type Command, InvalidArgumentError, Option } from "commander";
import {
  clientSecurityOptions,
  resolveClientSecurity,
} from "../client_flags.ts";
import { ConfigError, DEFAULT_PORT, parseMembers } from "../config.ts";
import { BATCH_KEYS_MAX, KEY_BYTES_MAX } from "../limits.ts";
import {
  type ChannelOptions,
  type ClientKind,
  CLIENTS,
  CONNECTIONS_MAX,
  fetchChannel,
  preload,
  socketChannels,
  startLoad,
} from "./generator.ts";
import { type ProgressSink, showProgress, stderrSink } from "./progress.ts";
import {
  type BenchConfig,
  type BenchReport,
  buildReport,
  formatSummary,
} from "./report.ts";
import { renderSvg } from "./svg.ts";
import {
  BENCH_KEYS_MAX,
  BENCH_VALUE_BYTES_MAX,
  formatMix,
  type Mix,
  parseMix,
  Workload,
} from "./workload.ts";

/** Longest run: a day. */
export const BENCH_DURATION_MS_MAX = 24 * 3600 * 1000;
/** Most requests one run may be asked for. */
export const BENCH_REQUESTS_MAX = 1_000_000_000;
/** Where results go when `--out` is not given (git-ignored). */
export const RESULTS_DIR = new URL("../../bench/results/", import.meta.url);

/** The `bench` command's options, parsed and validated. */
export interface BenchOptions {
  /** Node addresses, `host:port`. */
  nodes: string[];
  connections: number;
  durationMs: number;
  /** When set, the run stops after this many requests instead. */
  requests?: number;
  mix: Mix;
  keys: number;
  keySize: number;
  valueSize: number;
  batch: number;
  seed: number;
  preload: boolean;
  /** How workers talk HTTP: our own socket client, or `fetch`. */
  client: ClientKind;
  /** Results JSON path; the SVG goes beside it. */
  out?: string;
  /** For a node run with `--auth-token`. */
  token?: string;
  /** Talk https. */
  tls?: boolean;
  /** A PEM CA certificate to trust for the nodes' certificates. */
  caCert?: string;
}

/** The world `runBench` talks to; tests replace parts of it. */
export interface BenchIo {
  /** For the preload, and for the run with `client: "fetch"`. */
  fetch?: typeof fetch;
  /** Where the summary goes. */
  print: (text: string) => void;
  progress: ProgressSink;
  /** The command line, recorded in the results. */
  command: string;
  /** Wall clock, for the results' date and default file name. */
  date?: () => Date;
}

function integerFlag(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value.replaceAll("_", ""));
    if (
      !/^\d[\d_]*$/.test(value) || !Number.isSafeInteger(n) || n < min ||
      n > max
    ) {
      throw new InvalidArgumentError(`must be an integer in [${min}, ${max}].`);
    }
    return n;
  };
}

/**
 * Parses a duration as wrk does: `10s`, `500ms`, `2m`, `1h`, or a bare
 * number of seconds.
 *
 * @throws {ConfigError} for anything else or a zero duration.
 */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const ms = match === null
    ? NaN
    : Number(match[1]) * unitMs[(match[2] ?? "s") as keyof typeof unitMs];
  if (!(ms >= 1 && ms <= BENCH_DURATION_MS_MAX)) {
    throw new ConfigError(
      `Cannot use duration '${text}': expected a time such as 10s, 500ms ` +
        `or 2m, at least 1ms and at most 24h`,
    );
  }
  return Math.round(ms);
}

/** Turns a ConfigError into commander's error for a bad flag value. */
function flag<T>(parse: (text: string) => T) {
  return (text: string): T => {
    try {
      return parse(text);
    } catch (error) {
      if (error instanceof ConfigError) {
        throw new InvalidArgumentError(error.message + ".");
      }
      throw error;
    }
  };
}

/** `bench/results/bench-20250101T120000Z.json`. */
function defaultOut(date: Date): string {
  const stamp = date.toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
  return new URL(`bench-${stamp}.json`, RESULTS_DIR).pathname;
}

/** The SVG beside a results file: `x.json` -> `x.svg`. */
export function svgPathFor(jsonPath: string): string {
  return /\.json$/i.test(jsonPath)
    ? jsonPath.replace(/\.json$/i, ".svg")
    : jsonPath + ".svg";
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? (i === 0 ? "/" : ".") : path.slice(0, i);
}

function describeErrors(kinds: Record<string, number>): string {
  return Object.entries(kinds).map(([k, n]) => `${k} (${n})`).join(", ");
}

/**
 * Runs a benchmark: preloads if asked, loads the nodes, prints the summary
 * and writes the results JSON and the chart. Returns the results.
 *
 * @throws {ConfigError} for options that do not fit together.
 * @throws {Error} when not a single request succeeded (after writing the
 * results, which say why).
 */
export async function runBench(
  options: BenchOptions,
  io: BenchIo,
): Promise<{ report: BenchReport; jsonPath: string; svgPath: string }> {
  const workload = new Workload({
    mix: options.mix,
    keys: options.keys,
    keySize: options.keySize,
    valueSize: options.valueSize,
    batch: options.batch,
  });
  const scheme = options.tls === true || options.caCert !== undefined
    ? "https"
    : "http";
  const targets = options.nodes.map((n) => `${scheme}://${n}/`);
  const channel: ChannelOptions = {
    ...(options.token !== undefined
      ? { headers: { authorization: `Bearer ${options.token}` } }
      : {}),
    ...(options.caCert !== undefined ? { caCerts: [options.caCert] } : {}),
  };
  const date = (io.date ?? (() => new Date()))();
  const jsonPath = options.out ?? defaultOut(date);
  const svgPath = svgPathFor(jsonPath);
  const fetchDeps = io.fetch !== undefined ? { fetch: io.fetch } : {};

  let preloaded: BenchReport["preload"] = null;
  if (options.preload) {
    const t0 = performance.now();
    const result = await preload(targets, workload, {
      connections: options.connections,
      channel,
      ...fetchDeps,
    });
    preloaded = {
      ...result,
      seconds: Math.round(performance.now() - t0) / 1000,
    };
  }

  const goal = options.requests !== undefined
    ? { requests: options.requests }
    : { durationMs: options.durationMs };
  const run = startLoad({
    targets,
    connections: options.connections,
    ...goal,
    workload,
    seed: options.seed,
  }, {
    open: options.client === "fetch"
      ? fetchChannel(io.fetch, channel)
      : socketChannels(channel),
  });
  // Ctrl-C ends the run early but still reports what was measured.
  const onInterrupt = () => run.stop();
  const signals = Deno.build.os !== "windows";
  if (signals) Deno.addSignalListener("SIGINT", onInterrupt);
  const hideProgress = showProgress(run.progress, goal, io.progress);
  let recording;
  try {
    recording = await run.finished;
  } finally {
    hideProgress();
    if (signals) Deno.removeSignalListener("SIGINT", onInterrupt);
  }

  const config: BenchConfig = {
    targets: options.nodes,
    connections: options.connections,
    durationS: options.requests === undefined
      ? options.durationMs / 1000
      : null,
    requests: options.requests ?? null,
    mix: formatMix(options.mix),
    keys: options.keys,
    keySize: options.keySize,
    valueSize: options.valueSize,
    batch: options.batch,
    seed: options.seed,
    preload: options.preload,
    client: options.client,
  };
  const report = buildReport(recording, {
    startedAt: date.toISOString(),
    command: io.command,
    config,
    environment: {
      deno: Deno.version.deno,
      target: Deno.build.target,
      cpus: navigator.hardwareConcurrency ?? null,
    },
    preload: preloaded,
  });
  await Deno.mkdir(dirname(jsonPath), { recursive: true });
  await Deno.writeTextFile(jsonPath, JSON.stringify(report, null, 2) + "\n");
  await Deno.writeTextFile(svgPath, renderSvg(report));

  io.print(formatSummary(report) + "\n");
  if (preloaded !== null) {
    io.print(
      `preloaded ${preloaded.keys} keys with ${preloaded.via} in ` +
        `${preloaded.seconds} s\n`,
    );
  }
  io.print(`results: ${jsonPath}\nchart:   ${svgPath}\n`);
  if (report.total.requests === 0) {
    throw new Error(
      `no request succeeded: ${
        describeErrors(report.errorKinds) || "none sent"
      }`,
    );
  }
  return { report, jsonPath, svgPath };
}

/** Writes all of `text` (writeSync may take only part of it on a pipe). */
function writeStdout(text: string): void {
  let bytes = new TextEncoder().encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(Deno.stdout.writeSync(bytes));
}

/** Quotes an argument for a shell command line when it needs it. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg)
    ? arg
    : `'${arg.replaceAll("'", "'\\''")}'`;
}

/** Adds the `bench` command to the CLI. */
export function registerBench(program: Command): void {
  const command = program.command("bench")
    .description(
      "load a node (or several) and report throughput and latency percentiles",
    )
    .addOption(
      new Option("-H, --host <host>", "node host").default("127.0.0.1"),
    )
    .addOption(
      new Option("-P, --port <port>", "node port")
        .argParser(integerFlag(1, 65535)).default(DEFAULT_PORT),
    )
    .addOption(
      new Option(
        "--nodes <members>",
        "comma-separated host[:port] nodes to spread connections over " +
          "(instead of -H/-P)",
      ).argParser(flag(parseMembers)),
    )
    .addOption(
      new Option("-c, --connections <n>", "concurrent keep-alive connections")
        .argParser(integerFlag(1, CONNECTIONS_MAX)).default(50),
    )
    .addOption(
      new Option("-d, --duration <time>", "how long to run: 10s, 500ms, 2m")
        .argParser(flag(parseDuration)).default(10_000, "10s"),
    )
    .addOption(
      new Option(
        "-n, --requests <n>",
        "stop after this many requests (instead of --duration)",
      ).argParser(integerFlag(1, BENCH_REQUESTS_MAX)),
    )
    .addOption(
      new Option(
        "--mix <weights>",
        "op weights: get, set, has, pop, mget, mset",
      ).argParser(flag(parseMix)).default(
        { get: 90, set: 10 } as Mix,
        "get=90,set=10",
      ),
    )
    .addOption(
      new Option("--keys <n>", "key space: keys key:0 .. key:n-1")
        .argParser(integerFlag(1, BENCH_KEYS_MAX)).default(10_000),
    )
    .addOption(
      new Option("--key-size <bytes>", "bytes per key, 'key:' included")
        .argParser(integerFlag(1, KEY_BYTES_MAX)).default(16),
    )
    .addOption(
      new Option("--value-size <bytes>", "bytes per value")
        .argParser(integerFlag(0, BENCH_VALUE_BYTES_MAX)).default(100),
    )
    .addOption(
      new Option("--batch <n>", "keys per mget / mset")
        .argParser(integerFlag(1, BATCH_KEYS_MAX)).default(100),
    )
    .addOption(
      new Option("--seed <n>", "seed of the key choice")
        .argParser(integerFlag(0, 2 ** 32 - 1)).default(1),
    )
    .option("--preload", "write every key once before the run")
    .addOption(
      new Option(
        "--client <kind>",
        "socket: KVDB's own HTTP/1.1 client (fast); fetch: Deno's fetch",
      ).choices(CLIENTS).default("socket" as ClientKind),
    )
    .option(
      "-o, --out <file>",
      "results JSON (the SVG chart goes beside it; default " +
        "bench/results/bench-<time>.json)",
    );
  clientSecurityOptions(command)
    .action(async (o) => {
      const { token, tls, caCert } = resolveClientSecurity(o);
      const options: BenchOptions = {
        nodes: o.nodes ?? [`${o.host}:${o.port}`],
        connections: o.connections,
        durationMs: o.duration,
        ...(o.requests !== undefined ? { requests: o.requests } : {}),
        mix: o.mix,
        keys: o.keys,
        keySize: o.keySize,
        valueSize: o.valueSize,
        batch: o.batch,
        seed: o.seed,
        preload: o.preload === true,
        client: o.client,
        ...(o.out !== undefined ? { out: o.out } : {}),
        ...(token !== undefined ? { token } : {}),
        tls,
        ...(caCert !== undefined ? { caCert } : {}),
      };
      if (options.nodes.length === 0) {
        throw new ConfigError("Cannot run bench as '--nodes' lists no node");
      }
      await runBench(options, {
        print: writeStdout,
        progress: stderrSink(),
        command: ["kvdb", ...Deno.args].map(shellQuote).join(" "),
      });
    });
}
