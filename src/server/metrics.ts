/**
 * `GET /metrics`, in the Prometheus text exposition format: what the edges
 * measure (client requests and peer messages, with latency histograms),
 * what the core reports through its observer (quorum outcomes), and what
 * the node reads at scrape time from the core's own stats
 * ({@link MetricFamily}, from src/node.ts). docs/operations.md lists every
 * metric.
 *
 * @module
 */

import { Histogram, RecentWindow, type WindowSummary } from "./histogram.ts";

/** One metric with its samples, computed at scrape time. */
export interface MetricFamily {
  name: string;
  type: "counter" | "gauge";
  help: string;
  samples: readonly { labels?: Record<string, string>; value: number }[];
}

/** Histograms by one label's value. */
class LabeledHistograms {
  readonly #byLabel = new Map<string, Histogram>();

  observe(value: string, seconds: number): void {
    let histogram = this.#byLabel.get(value);
    if (histogram === undefined) {
      histogram = new Histogram();
      this.#byLabel.set(value, histogram);
    }
    histogram.observe(seconds);
  }

  lines(metric: string, label: string): string[] {
    const out: string[] = [];
    for (const [value, histogram] of this.#byLabel) {
      out.push(...histogram.lines(metric, `${label}="${escapeLabel(value)}"`));
    }
    return out;
  }
}

/** Counts by a name and an HTTP status, without building strings per count. */
class Counters {
  readonly #counts = new Map<string, Map<number, number>>();

  add(name: string, status: number): void {
    let byStatus = this.#counts.get(name);
    if (byStatus === undefined) {
      byStatus = new Map();
      this.#counts.set(name, byStatus);
    }
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }

  lines(metric: string, label: string): string[] {
    const out: string[] = [];
    for (const [name, byStatus] of this.#counts) {
      for (const [status, n] of byStatus) {
        out.push(
          `${metric}{${label}="${escapeLabel(name)}",code="${status}"} ${n}`,
        );
      }
    }
    return out;
  }
}

/** Counts by one label's value. */
class LabeledCounter {
  readonly #counts = new Map<string, number>();

  add(value: string): void {
    this.#counts.set(value, (this.#counts.get(value) ?? 0) + 1);
  }

  get(value: string): number {
    return this.#counts.get(value) ?? 0;
  }

  entries(): [string, number][] {
    return [...this.#counts];
  }

  lines(metric: string, label: string): string[] {
    return [...this.#counts].map(([value, n]) =>
      `${metric}{${label}="${escapeLabel(value)}"} ${n}`
    );
  }
}

/** What a refusal was about: client auth, peer auth, or a full node. */
export type RefusalScope = "auth" | "peer" | "overload";

const REFUSAL_METRICS: Record<
  RefusalScope,
  { metric: string; label: string; help: string }
> = {
  auth: {
    metric: "kvdb_auth_refusals_total",
    label: "reason",
    help: "Client requests refused for a missing, malformed or wrong token.",
  },
  peer: {
    metric: "kvdb_peer_refusals_total",
    label: "reason",
    help:
      "Peer messages refused: unsigned, stale, replayed, wrong cluster, bad signature, refused address.",
  },
  overload: {
    metric: "kvdb_overload_refusals_total",
    label: "pool",
    help: "Requests refused with 503 because too many were in flight.",
  },
};

/** How a quorum ended, as the coordinator reports it. */
export type QuorumResult = "won" | "lost" | "timed_out";

/** Request counters by function and status, latencies, quorum outcomes. */
export class Metrics {
  readonly #requests = new Counters();
  readonly #peer = new Counters();
  readonly #requestSeconds = new LabeledHistograms();
  readonly #peerServedSeconds = new LabeledHistograms();
  readonly #peerCallSeconds = new LabeledHistograms();
  readonly #peerCallFailures = new LabeledCounter();
  readonly #quorums = new LabeledCounter();
  readonly #commitSeconds = new Histogram();
  readonly #recent: RecentWindow;
  readonly #refusals: Record<RefusalScope, LabeledCounter> = {
    auth: new LabeledCounter(),
    peer: new LabeledCounter(),
    overload: new LabeledCounter(),
  };
  readonly #startedAtMs: number;

  constructor(startedAtMs: number) {
    this.#startedAtMs = startedAtMs;
    this.#recent = new RecentWindow(startedAtMs);
  }

  /**
   * Counts one client request; with `seconds`, its latency too (a request
   * refused before it was read has none worth a histogram).
   */
  request(fn: string, status: number, seconds?: number, nowMs?: number): void {
    this.#requests.add(fn, status);
    if (seconds === undefined) return;
    this.#requestSeconds.observe(fn, seconds);
    if (nowMs !== undefined) this.#recent.observe(nowMs, seconds);
  }

  /** Counts one peer request served; with `seconds`, its latency. */
  peer(kind: string, status: number, seconds?: number): void {
    this.#peer.add(kind, status);
    if (seconds !== undefined) this.#peerServedSeconds.observe(kind, seconds);
  }

  /** One call this node made to a peer: its kind, latency and outcome. */
  peerCall(kind: string, seconds: number, ok: boolean): void {
    this.#peerCallSeconds.observe(kind, seconds);
    if (!ok) this.#peerCallFailures.add(kind);
  }

  /** One quorum's outcome; `op` is "read" or "write". */
  quorum(op: "read" | "write", result: QuorumResult): void {
    this.#quorums.add(`${op}\u0000${result}`);
  }

  /** One storage commit: its duration, fsync included. */
  commit(seconds: number): void {
    this.#commitSeconds.observe(seconds);
  }

  /** Client requests per second and p99 over the last minute. */
  recent(nowMs: number): WindowSummary {
    return this.#recent.summary(nowMs);
  }

  /** Counts one refused request; `reason` comes from a fixed set. */
  refused(scope: RefusalScope, reason: string): void {
    this.#refusals[scope].add(reason);
  }

  /** Refusals so far of one scope and reason (for tests and logs). */
  refusals(scope: RefusalScope, reason: string): number {
    return this.#refusals[scope].get(reason);
  }

  /** The exposition text, with the families read at scrape time. */
  render(nowMs: number, families: readonly MetricFamily[] = []): string {
    const lines = [
      "# HELP kvdb_requests_total Client JSON-RPC requests by function and HTTP status.",
      "# TYPE kvdb_requests_total counter",
      ...this.#requests.lines("kvdb_requests_total", "function"),
      "# HELP kvdb_request_duration_seconds Client JSON-RPC request latency by function, from the body read to the answer.",
      "# TYPE kvdb_request_duration_seconds histogram",
      ...this.#requestSeconds.lines(
        "kvdb_request_duration_seconds",
        "function",
      ),
      "# HELP kvdb_peer_requests_total Requests from peers by kind and HTTP status.",
      "# TYPE kvdb_peer_requests_total counter",
      ...this.#peer.lines("kvdb_peer_requests_total", "kind"),
      "# HELP kvdb_peer_request_duration_seconds Latency of serving a peer message, by kind.",
      "# TYPE kvdb_peer_request_duration_seconds histogram",
      ...this.#peerServedSeconds.lines(
        "kvdb_peer_request_duration_seconds",
        "kind",
      ),
      "# HELP kvdb_peer_call_duration_seconds Latency of this node's calls to peers, by message kind, as the cluster core sees them.",
      "# TYPE kvdb_peer_call_duration_seconds histogram",
      ...this.#peerCallSeconds.lines("kvdb_peer_call_duration_seconds", "kind"),
      "# HELP kvdb_peer_call_failures_total Calls to peers that failed (unreachable, timed out, refused), by kind.",
      "# TYPE kvdb_peer_call_failures_total counter",
      ...this.#peerCallFailures.lines("kvdb_peer_call_failures_total", "kind"),
      "# HELP kvdb_storage_commit_duration_seconds Duration of the SQLite engine's group-commit transactions, fsync included.",
      "# TYPE kvdb_storage_commit_duration_seconds histogram",
      ...(this.#commitSeconds.count === 0 ? [] : this.#commitSeconds.lines(
        "kvdb_storage_commit_duration_seconds",
        "",
      )),
      "# HELP kvdb_quorums_total Quorums gathered by this node as coordinator, by operation and outcome (won, lost, timed_out).",
      "# TYPE kvdb_quorums_total counter",
      ...this.#quorums.entries().map(([key, n]) => {
        const [op, result] = key.split("\u0000");
        return `kvdb_quorums_total{op="${op}",outcome="${result}"} ${n}`;
      }),
      "# HELP kvdb_uptime_seconds Seconds since the node started.",
      "# TYPE kvdb_uptime_seconds gauge",
      `kvdb_uptime_seconds ${((nowMs - this.#startedAtMs) / 1000).toFixed(3)}`,
    ];
    for (const scope of Object.keys(REFUSAL_METRICS) as RefusalScope[]) {
      const { metric, label, help } = REFUSAL_METRICS[scope];
      lines.push(
        `# HELP ${metric} ${help}`,
        `# TYPE ${metric} counter`,
        ...this.#refusals[scope].lines(metric, label),
      );
    }
    for (const family of families) {
      lines.push(
        `# HELP ${family.name} ${family.help}`,
        `# TYPE ${family.name} ${family.type}`,
      );
      for (const sample of family.samples) {
        const labels = Object.entries(sample.labels ?? {}).map(([k, v]) =>
          `${k}="${escapeLabel(v)}"`
        ).join(",");
        lines.push(
          `${family.name}${labels === "" ? "" : `{${labels}}`} ${sample.value}`,
        );
      }
    }
    return lines.join("\n") + "\n";
  }
}

function escapeLabel(s: string): string {
  return s.slice(0, 64).replace(
    /[\\"\n]/g,
    (c) => c === "\n" ? "\\n" : `\\${c}`,
  );
}
