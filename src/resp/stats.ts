/**
 * The RESP port's counters, for INFO, `/metrics` and `cluster_info`.
 *
 * @module
 */

import type { MetricFamily } from "../server/metrics.ts";
import { ALL_COMMANDS } from "./commands.ts";

/** Counts of one node's RESP port since it started. */
export class RespStats {
  connectionsTotal = 0;
  connectionsRejected = 0;
  connectionsOpen = 0;
  commandsTotal = 0;
  errorReplies = 0;
  protocolErrors = 0;
  idleTimeouts = 0;
  outputLimitCloses = 0;
  bytesIn = 0;
  bytesOut = 0;
  keyspaceHits = 0;
  keyspaceMisses = 0;
  /** Commands run, by their index in the command table. */
  readonly #byCommand: number[] = ALL_COMMANDS.map(() => 0);

  /** Counts one run of the command at `index` of ALL_COMMANDS. */
  command(index: number): void {
    this.commandsTotal++;
    this.#byCommand[index]!++;
  }

  /** How often a command ran. */
  commandCount(name: string): number {
    const i = ALL_COMMANDS.findIndex((c) => c.name === name);
    return i < 0 ? 0 : this.#byCommand[i]!;
  }

  /** The counts for `cluster_info`. */
  summary(): Record<string, number> {
    return {
      connections_open: this.connectionsOpen,
      connections_total: this.connectionsTotal,
      connections_rejected: this.connectionsRejected,
      commands_total: this.commandsTotal,
      error_replies: this.errorReplies,
      protocol_errors: this.protocolErrors,
      idle_timeouts: this.idleTimeouts,
      output_limit_closes: this.outputLimitCloses,
      bytes_in: this.bytesIn,
      bytes_out: this.bytesOut,
    };
  }

  /** The families for `GET /metrics`. */
  families(): MetricFamily[] {
    const one = (
      name: string,
      type: "counter" | "gauge",
      help: string,
      value: number,
    ): MetricFamily => ({ name, type, help, samples: [{ value }] });
    return [
      one(
        "kvdb_resp_connections_open",
        "gauge",
        "RESP client connections open now.",
        this.connectionsOpen,
      ),
      one(
        "kvdb_resp_connections_total",
        "counter",
        "RESP client connections accepted.",
        this.connectionsTotal,
      ),
      one(
        "kvdb_resp_connections_rejected_total",
        "counter",
        "RESP connections refused at the client limit.",
        this.connectionsRejected,
      ),
      {
        name: "kvdb_resp_commands_total",
        type: "counter",
        help: "RESP commands run, by command.",
        samples: ALL_COMMANDS.flatMap((c, i) => {
          const value = this.#byCommand[i]!;
          return value > 0 ? [{ labels: { command: c.name }, value }] : [];
        }),
      },
      one(
        "kvdb_resp_error_replies_total",
        "counter",
        "RESP error replies sent.",
        this.errorReplies,
      ),
      {
        name: "kvdb_resp_closes_total",
        type: "counter",
        help: "RESP connections the node closed, by reason.",
        samples: [
          { labels: { reason: "protocol_error" }, value: this.protocolErrors },
          { labels: { reason: "idle" }, value: this.idleTimeouts },
          { labels: { reason: "output_limit" }, value: this.outputLimitCloses },
        ],
      },
      {
        name: "kvdb_resp_bytes_total",
        type: "counter",
        help: "RESP bytes, by direction.",
        samples: [
          { labels: { direction: "in" }, value: this.bytesIn },
          { labels: { direction: "out" }, value: this.bytesOut },
        ],
      },
    ];
  }
}
