/**
 * Counters for `GET /metrics`, in the Prometheus text exposition format.
 *
 * @module
 */

/** Request counters by function and status. */
export class Metrics {
  readonly #requests = new Map<string, number>();
  readonly #peer = new Map<string, number>();
  readonly #startedAtMs: number;

  constructor(startedAtMs: number) {
    this.#startedAtMs = startedAtMs;
  }

  /** Counts one client request. */
  request(fn: string, status: number): void {
    const label = `function="${escapeLabel(fn)}",code="${status}"`;
    this.#requests.set(label, (this.#requests.get(label) ?? 0) + 1);
  }

  /** Counts one peer request. */
  peer(kind: string, status: number): void {
    const label = `kind="${escapeLabel(kind)}",code="${status}"`;
    this.#peer.set(label, (this.#peer.get(label) ?? 0) + 1);
  }

  /** The exposition text; `gauges` are added as they are. */
  render(nowMs: number, gauges: Record<string, number>): string {
    const lines = [
      "# HELP kvdb_requests_total Client JSON-RPC requests by function and HTTP status.",
      "# TYPE kvdb_requests_total counter",
      ...[...this.#requests].map(([l, n]) => `kvdb_requests_total{${l}} ${n}`),
      "# HELP kvdb_peer_requests_total Requests from peers by kind and HTTP status.",
      "# TYPE kvdb_peer_requests_total counter",
      ...[...this.#peer].map(([l, n]) => `kvdb_peer_requests_total{${l}} ${n}`),
      "# HELP kvdb_uptime_seconds Seconds since the node started.",
      "# TYPE kvdb_uptime_seconds gauge",
      `kvdb_uptime_seconds ${((nowMs - this.#startedAtMs) / 1000).toFixed(3)}`,
    ];
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
