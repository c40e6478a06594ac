/**
 * The RESP port's counters, for INFO, `/metrics` and `cluster_info`.
 *
 * @module
 */

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

  /** Prometheus exposition lines. */
  metricLines(): string[] {
    const lines = [
      "# HELP kvdb_resp_connections_open RESP client connections open now.",
      "# TYPE kvdb_resp_connections_open gauge",
      `kvdb_resp_connections_open ${this.connectionsOpen}`,
      "# HELP kvdb_resp_connections_total RESP client connections accepted.",
      "# TYPE kvdb_resp_connections_total counter",
      `kvdb_resp_connections_total ${this.connectionsTotal}`,
      "# HELP kvdb_resp_connections_rejected_total RESP connections refused at the client limit.",
      "# TYPE kvdb_resp_connections_rejected_total counter",
      `kvdb_resp_connections_rejected_total ${this.connectionsRejected}`,
      "# HELP kvdb_resp_commands_total RESP commands run, by command.",
      "# TYPE kvdb_resp_commands_total counter",
    ];
    ALL_COMMANDS.forEach((c, i) => {
      const n = this.#byCommand[i]!;
      if (n > 0) {
        lines.push(`kvdb_resp_commands_total{command="${c.name}"} ${n}`);
      }
    });
    lines.push(
      "# HELP kvdb_resp_error_replies_total RESP error replies sent.",
      "# TYPE kvdb_resp_error_replies_total counter",
      `kvdb_resp_error_replies_total ${this.errorReplies}`,
      "# HELP kvdb_resp_closes_total RESP connections the node closed, by reason.",
      "# TYPE kvdb_resp_closes_total counter",
      `kvdb_resp_closes_total{reason="protocol_error"} ${this.protocolErrors}`,
      `kvdb_resp_closes_total{reason="idle"} ${this.idleTimeouts}`,
      `kvdb_resp_closes_total{reason="output_limit"} ${this.outputLimitCloses}`,
      "# HELP kvdb_resp_bytes_total RESP bytes, by direction.",
      "# TYPE kvdb_resp_bytes_total counter",
      `kvdb_resp_bytes_total{direction="in"} ${this.bytesIn}`,
      `kvdb_resp_bytes_total{direction="out"} ${this.bytesOut}`,
    );
    return lines;
  }
}
