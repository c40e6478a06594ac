/**
 * A run's results: the JSON document written to disk (schema
 * `kvdb-bench/1`, described in docs/benchmarking.md) and the summary table
 * printed at the end.
 *
 * @module
 */

import type { Histogram } from "./histogram.ts";
import type { IntervalSample, Recording } from "./recorder.ts";
import { type Op, OPS } from "./workload.ts";

/** Identifies the results format; bumped on an incompatible change. */
export const REPORT_SCHEMA = "kvdb-bench/1";

/** Latency percentiles of a set of requests, in microseconds. */
export interface LatencySummary {
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Totals and latencies of one operation (or of all). */
export interface OpSummary {
  /** Successful requests. */
  requests: number;
  /** Keys those requests touched (batch size for mget/mset). */
  keys: number;
  errors: number;
  requestsPerS: number;
  keysPerS: number;
  latencyUs: LatencySummary;
  /**
   * Latency by percentile, 0% to 100% spaced evenly on a log scale of
   * 1 / (1 - p): the HDR plot's curve.
   */
  distribution: { percentile: number; us: number }[];
}

/** The run's parameters, as given on the command line. */
export interface BenchConfig {
  targets: string[];
  connections: number;
  /** Null when the run was bounded by a request count. */
  durationS: number | null;
  requests: number | null;
  mix: string;
  keys: number;
  keySize: number;
  valueSize: number;
  batch: number;
  seed: number;
  preload: boolean;
  /** `socket` (KVDB's HTTP/1.1 client) or `fetch`. */
  client: string;
}

/** Where the run ran. */
export interface BenchEnvironment {
  /** Deno's version. */
  deno: string;
  /** Deno's build target, e.g. `x86_64-unknown-linux-gnu`. */
  target: string;
  /** Logical CPUs, when known. */
  cpus: number | null;
}

/** The results document. */
export interface BenchReport {
  schema: typeof REPORT_SCHEMA;
  /** ISO 8601, UTC. */
  startedAt: string;
  /** The command line that produced it. */
  command: string;
  config: BenchConfig;
  environment: BenchEnvironment;
  preload: { keys: number; via: "mset" | "set"; seconds: number } | null;
  durationS: number;
  total: OpSummary;
  ops: Partial<Record<Op, OpSummary>>;
  errorKinds: Record<string, number>;
  /** One sample per second (see {@linkcode IntervalSample}). */
  timeline: IntervalSample[];
  timelineTruncated: boolean;
}

/** What {@linkcode buildReport} needs besides the recording. */
export type ReportMeta = Pick<
  BenchReport,
  "startedAt" | "command" | "config" | "environment" | "preload"
>;

function summarize(histogram: Histogram): LatencySummary {
  const [p50, p90, p99, p999] = histogram.percentiles([50, 90, 99, 99.9]);
  return {
    min: histogram.min,
    mean: Math.round(histogram.mean * 10) / 10,
    p50: p50!,
    p90: p90!,
    p99: p99!,
    p999: p999!,
    max: histogram.max,
  };
}

function distribution(histogram: Histogram): OpSummary["distribution"] {
  return histogram.distribution().map((p) => ({
    // Rounded so that 99.9 reads as 99.9, not 99.90000000000001.
    percentile: Math.round(p.percentile * 1e6) / 1e6,
    us: p.value,
  }));
}

function rate(count: number, seconds: number): number {
  return seconds > 0 ? Math.round((count / seconds) * 10) / 10 : 0;
}

/** Builds the results document of a finished run. */
export function buildReport(
  recording: Recording,
  meta: ReportMeta,
): BenchReport {
  const durationS = recording.durationMs / 1000;
  const ops: Partial<Record<Op, OpSummary>> = {};
  let requests = 0;
  let keys = 0;
  let errors = 0;
  for (const op of OPS) {
    const record = recording.ops.get(op);
    if (record === undefined) continue;
    ops[op] = {
      requests: record.requests,
      keys: record.keys,
      errors: record.errors,
      requestsPerS: rate(record.requests, durationS),
      keysPerS: rate(record.keys, durationS),
      latencyUs: summarize(record.latencyUs),
      distribution: distribution(record.latencyUs),
    };
    requests += record.requests;
    keys += record.keys;
    errors += record.errors;
  }
  return {
    schema: REPORT_SCHEMA,
    ...meta,
    durationS,
    total: {
      requests,
      keys,
      errors,
      requestsPerS: rate(requests, durationS),
      keysPerS: rate(keys, durationS),
      latencyUs: summarize(recording.allUs),
      distribution: distribution(recording.allUs),
    },
    ops,
    errorKinds: recording.errorKinds,
    timeline: recording.timeline,
    timelineTruncated: recording.timelineTruncated,
  };
}

/** A latency for people: `850µs`, `1.23ms`, `12.3ms`, `1.20s`. */
export function formatUs(us: number): string {
  if (us < 1000) return `${Math.round(us)}µs`;
  const ms = us / 1000;
  if (ms < 10) return `${ms.toFixed(2)}ms`;
  if (ms < 1000) return `${ms.toFixed(1)}ms`;
  return `${(ms / 1000).toFixed(2)}s`;
}

/** An integer with thousands separators: `1,234,567`. */
export function formatCount(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Lays out rows under a header, each column as wide as its widest cell. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length))
  );
  const line = (cells: string[]) =>
    cells.map((c, i) =>
      // The first column reads left to right; numbers align right.
      i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)
    ).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** The summary printed at the end of a run. */
export function formatSummary(report: BenchReport): string {
  const c = report.config;
  const bound = c.requests !== null
    ? `${formatCount(c.requests)} requests`
    : `${c.durationS} s`;
  const lines = [
    `kvdb bench: ${c.targets.join(", ")}, ${c.connections} connections, ` +
    `${bound}, mix ${c.mix}, ${formatCount(c.keys)} keys of ${c.keySize} B, ` +
    `values of ${c.valueSize} B` +
    (/mget|mset/.test(c.mix) ? `, batches of ${c.batch}` : ""),
    "",
  ];
  const row = (name: string, s: OpSummary) => [
    name,
    formatCount(s.requests),
    formatCount(s.requestsPerS),
    formatCount(s.keysPerS),
    formatCount(s.errors),
    formatUs(s.latencyUs.p50),
    formatUs(s.latencyUs.p90),
    formatUs(s.latencyUs.p99),
    formatUs(s.latencyUs.p999),
    formatUs(s.latencyUs.max),
  ];
  const rows = OPS.filter((op) => report.ops[op] !== undefined)
    .map((op) => row(op, report.ops[op]!));
  if (rows.length > 1) rows.push(row("all", report.total));
  lines.push(formatTable([
    "op",
    "requests",
    "req/s",
    "keys/s",
    "errors",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "max",
  ], rows));
  const kinds = Object.entries(report.errorKinds);
  if (kinds.length > 0) {
    lines.push(
      "",
      "errors: " + kinds.map(([k, n]) => `${k}: ${formatCount(n)}`).join(", "),
    );
  }
  lines.push("", `measured over ${report.durationS.toFixed(2)} s`);
  return lines.join("\n");
}
