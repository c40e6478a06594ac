/**
 * Counters for `GET /metrics`, in the Prometheus text exposition format.
 *
 * @module
 */

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

/** Request counters by function and status. */
export class Metrics {
  readonly #requests = new Counters();
  readonly #peer = new Counters();
  readonly #refusals: Record<RefusalScope, LabeledCounter> = {
    auth: new LabeledCounter(),
    peer: new LabeledCounter(),
    overload: new LabeledCounter(),
  };
  readonly #startedAtMs: number;

  constructor(startedAtMs: number) {
    this.#startedAtMs = startedAtMs;
  }

  /** Counts one client request. */
  request(fn: string, status: number): void {
    this.#requests.add(fn, status);
  }

  /** Counts one peer request. */
  peer(kind: string, status: number): void {
    this.#peer.add(kind, status);
  }

  /** Counts one refused request; `reason` comes from a fixed set. */
  refused(scope: RefusalScope, reason: string): void {
    this.#refusals[scope].add(reason);
  }

  /** Refusals so far of one scope and reason (for tests and logs). */
  refusals(scope: RefusalScope, reason: string): number {
    return this.#refusals[scope].get(reason);
  }

  /** The exposition text; `gauges` are added as they are. */
  render(nowMs: number, gauges: Record<string, number>): string {
    const lines = [
      "# HELP kvdb_requests_total Client JSON-RPC requests by function and HTTP status.",
      "# TYPE kvdb_requests_total counter",
      ...this.#requests.lines("kvdb_requests_total", "function"),
      "# HELP kvdb_peer_requests_total Requests from peers by kind and HTTP status.",
      "# TYPE kvdb_peer_requests_total counter",
      ...this.#peer.lines("kvdb_peer_requests_total", "kind"),
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
    for (const [name, value] of Object.entries(gauges)) {
      lines.push(`# TYPE ${name} gauge`, `${name} ${value}`);
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
