/**
 * The INFO text: Redis's sections and field names where they mean the
 * same thing, and `kvdb_*` fields for what is KVDB's own.
 *
 * @module
 */

import type { RespBackend } from "./context.ts";

const SECTIONS = [
  "server",
  "clients",
  "persistence",
  "stats",
  "replication",
  "keyspace",
] as const;

type Section = typeof SECTIONS[number];

function fields(b: RespBackend, section: Section): [string, string | number][] {
  const now = b.now();
  const s = b.stats;
  switch (section) {
    case "server": {
      const uptime = Math.floor((now - b.startedMs) / 1000);
      return [
        ["redis_version", "7.0.0"],
        ["redis_mode", "standalone"],
        ["os", `${Deno.build.os} ${Deno.build.arch}`],
        ["arch_bits", 64],
        ["process_id", Deno.pid],
        ["tcp_port", b.port],
        ["server_time_usec", now * 1000],
        ["uptime_in_seconds", uptime],
        ["uptime_in_days", Math.floor(uptime / 86400)],
        ["kvdb_version", b.facts.version],
        ["kvdb_node", b.facts.self],
        ["kvdb_tls", b.tls ? 1 : 0],
      ];
    }
    case "clients":
      return [
        ["connected_clients", s.connectionsOpen],
        ["maxclients", b.clientsMax],
        ["blocked_clients", 0],
        ["kvdb_idle_timeout_seconds", Math.floor(b.idleTimeoutMs / 1000)],
      ];
    case "persistence":
      return [
        ["loading", 0],
        ["kvdb_engine", b.facts.engine],
      ];
    case "stats": {
      const a = b.serializer.stats();
      return [
        ["total_connections_received", s.connectionsTotal],
        ["total_commands_processed", s.commandsTotal],
        ["rejected_connections", s.connectionsRejected],
        ["total_net_input_bytes", s.bytesIn],
        ["total_net_output_bytes", s.bytesOut],
        ["total_error_replies", s.errorReplies],
        ["kvdb_protocol_errors", s.protocolErrors],
        ["kvdb_idle_timeouts", s.idleTimeouts],
        ["kvdb_output_limit_closes", s.outputLimitCloses],
        ["kvdb_atomic_serialised_here", a.runLocal],
        ["kvdb_atomic_forwarded", a.forwarded],
        ["kvdb_atomic_forward_failures", a.forwardFailed],
      ];
    }
    case "replication": {
      const settings = b.coordinator.settings;
      const members = b.facts.members();
      return [
        ["role", "master"],
        ["connected_slaves", 0],
        ["kvdb_replication_factor", settings.replicationFactor],
        ["kvdb_read_quorum", settings.readQuorum],
        ["kvdb_write_quorum", settings.writeQuorum],
        ["kvdb_members", members.length],
        [
          "kvdb_members_alive",
          members.filter((m) => m.state === "alive").length,
        ],
      ];
    }
    case "keyspace":
      // Records on this node (tombstones included), not the cluster's
      // live keys: INFO runs on every ioredis connect and must stay cheap.
      // DBSIZE counts the cluster's keys exactly.
      return [[
        "db0",
        `keys=${b.coordinator.localRecordCount()},expires=0,avg_ttl=0`,
      ]];
  }
}

const TITLES: Record<Section, string> = {
  server: "Server",
  clients: "Clients",
  persistence: "Persistence",
  stats: "Stats",
  replication: "Replication",
  keyspace: "Keyspace",
};

/** INFO [section ...]: no section, "default", "all" or "everything": all. */
export function infoText(b: RespBackend, asked: readonly string[]): string {
  const wanted = asked.length === 0 ||
      asked.some((a) => a === "default" || a === "all" || a === "everything")
    ? SECTIONS
    : SECTIONS.filter((s) => asked.includes(s));
  return wanted.map((section) =>
    `# ${TITLES[section]}\r\n` +
    fields(b, section).map(([k, v]) => `${k}:${v}\r\n`).join("")
  ).join("\r\n");
}
