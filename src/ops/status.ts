/**
 * The cluster as a whole, as `nodetool status` shows it: one node's member
 * list, then every member's own `cluster_info`, side by side. Used by
 * `kvdb status` and the dashboard.
 *
 * @module
 */

/** One member's row. */
export interface MemberStatus {
  address: string;
  /** The state in the asked node's view; "unreachable" if it did not answer. */
  state: string;
  phase: string | null;
  /** Whether the member answered its own `cluster_info`. */
  reachable: boolean;
  records: number | null;
  hints: number | null;
  opsPerSecond: number | null;
  p99Ms: number | null;
  engine: string | null;
  sizeBytes: number | null;
  version: string | null;
  uptimeSeconds: number | null;
  /**
   * Its clock minus the asked node's, in ms, as the asked node measured it
   * (0 for the asked node itself); null when not measured.
   */
  clockOffsetMs: number | null;
  /** True when it refuses to coordinate writes for its clock's offset. */
  writesRefused: boolean | null;
  /** A join or leave in progress (or failed), and what it waits for. */
  transfer: { phase: string; waitingFor: string | null } | null;
  /** Why it did not answer. */
  error?: string;
  /** The member's own `cluster_info`, when asked to keep it (dashboard). */
  info?: unknown;
}

/** The whole cluster's status. */
export interface ClusterStatus {
  /** The node that was asked for the member list. */
  via: string;
  replicationFactor: number;
  readQuorum: number;
  writeQuorum: number;
  members: MemberStatus[];
  /** True when every member is alive and answered. */
  healthy: boolean;
  /** Each KV database as its replicas report it (src/kv). */
  kvDatabases: KvDatabaseStatus[];
}

/** A KV database's Raft group, from the replicas that answered. */
export interface KvDatabaseStatus {
  name: string;
  leader: string | null;
  term: number;
  commitIndex: number;
  voters: string[];
}

interface KvReport {
  name: string;
  role: string;
  leader: string | null;
  term: number;
  commit_index: number;
  voters: string[];
}

/** One line per database: the newest term's view, its leader if one reports. */
function kvDatabasesOf(reports: KvReport[]): KvDatabaseStatus[] {
  const byName = new Map<string, KvReport[]>();
  for (const r of reports) {
    byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
  }
  return [...byName.entries()].sort(([a], [b]) => a < b ? -1 : 1).map(
    ([name, rs]) => {
      const newest = [...rs].sort((a, b) =>
        b.term - a.term || (a.role === "leader" ? -1 : 1)
      )[0]!;
      return {
        name,
        leader: newest.leader,
        term: newest.term,
        commitIndex: Math.max(...rs.map((r) => r.commit_index)),
        voters: newest.voters,
      };
    },
  );
}

/** What `cluster_info` answers, as far as status reads it. */
interface Info {
  self: string;
  version?: string;
  replication_factor?: number;
  read_quorum?: number;
  write_quorum?: number;
  members?: { address: string; state: string; phase?: string }[];
  local_records?: number;
  uptime_s?: number;
  load?: { ops_per_second?: number; p99_ms?: number | null };
  storage?: { engine?: string; size_bytes?: number };
  hints?: { count?: number };
  kv?: { databases?: KvReport[] };
  clock?: {
    offsets?: Record<string, { offset_ms: number }>;
    writes_refused?: boolean;
  };
  transfer?: { phase?: string; waiting_for?: string | null };
}

/**
 * Asks `info(undefined)` (the node given) for the members, then
 * `info(address)` of each, in parallel.
 */
export async function clusterStatus(
  info: (address?: string) => Promise<unknown>,
  options: { keepInfo?: boolean } = {},
): Promise<ClusterStatus> {
  const seed = await info() as Info;
  const members = seed.members ?? [];
  const kvReports: KvReport[] = [];
  const rows = await Promise.all(members.map(async (m) => {
    const base = {
      address: m.address,
      state: m.state,
      phase: m.phase ?? null,
    };
    if (m.state === "left") return { ...base, ...unknown(), reachable: false };
    try {
      const own =
        (m.address === seed.self ? seed : await info(m.address)) as Info;
      kvReports.push(...(own.kv?.databases ?? []));
      return {
        ...base,
        reachable: true,
        records: own.local_records ?? null,
        hints: own.hints?.count ?? null,
        opsPerSecond: own.load?.ops_per_second ?? null,
        p99Ms: own.load?.p99_ms ?? null,
        engine: own.storage?.engine ?? null,
        sizeBytes: own.storage?.size_bytes ?? null,
        version: own.version ?? null,
        uptimeSeconds: own.uptime_s ?? null,
        clockOffsetMs: m.address === seed.self
          ? 0
          : seed.clock?.offsets?.[m.address]?.offset_ms ?? null,
        writesRefused: own.clock?.writes_refused ?? null,
        transfer: own.transfer?.phase === undefined ||
            own.transfer.phase === "idle" || own.transfer.phase === "done"
          ? null
          : {
            phase: own.transfer.phase,
            waitingFor: own.transfer.waiting_for ?? null,
          },
        ...(options.keepInfo ? { info: own } : {}),
      };
    } catch (error) {
      return {
        ...base,
        ...unknown(),
        reachable: false,
        error: (error as Error).message,
      };
    }
  }));
  return {
    via: seed.self,
    replicationFactor: seed.replication_factor ?? 0,
    readQuorum: seed.read_quorum ?? 0,
    writeQuorum: seed.write_quorum ?? 0,
    members: rows,
    healthy: rows.every((r) => r.reachable && r.state === "alive"),
    kvDatabases: kvDatabasesOf(kvReports),
  };
}

function unknown() {
  return {
    records: null,
    hints: null,
    opsPerSecond: null,
    p99Ms: null,
    engine: null,
    sizeBytes: null,
    version: null,
    uptimeSeconds: null,
    clockOffsetMs: null,
    writesRefused: null,
    transfer: null,
  };
}

/** `1.5 MiB`, `12 KiB`, `300 B`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** `3d4h`, `2h5m`, `4m10s`, `12s`. */
export function formatDuration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** The status as a table, one member a line, as `nodetool status` prints it. */
export function statusTable(status: ClusterStatus): string {
  const dash = "-";
  const header = [
    "",
    "ADDRESS",
    "STATE",
    "PHASE",
    "RECORDS",
    "HINTS",
    "OPS/S",
    "P99",
    "ENGINE",
    "SIZE",
    "VERSION",
    "UPTIME",
    "SKEW",
  ];
  const rows = status.members.map((m) => [
    m.state === "alive" && m.reachable ? "UP" : "DOWN",
    m.address,
    m.reachable || m.state === "left" ? m.state : `${m.state} (unreachable)`,
    m.phase ?? dash,
    m.records?.toString() ?? dash,
    m.hints?.toString() ?? dash,
    m.opsPerSecond?.toFixed(1) ?? dash,
    m.p99Ms === null ? dash : `${m.p99Ms.toFixed(m.p99Ms < 10 ? 2 : 0)}ms`,
    m.engine ?? dash,
    m.sizeBytes === null ? dash : formatBytes(m.sizeBytes),
    m.version ?? dash,
    m.uptimeSeconds === null ? dash : formatDuration(m.uptimeSeconds),
    // "!": the member refuses writes for its clock's offset.
    (m.clockOffsetMs === null
      ? dash
      : `${m.clockOffsetMs >= 0 ? "+" : ""}${Math.round(m.clockOffsetMs)}ms`) +
    (m.writesRefused ? "!" : ""),
  ]);
  const widths = header.map((_, i) =>
    Math.max(...[header, ...rows].map((r) => r[i]!.length))
  );
  const line = (cells: string[]) =>
    cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  const down = status.members.filter((m) =>
    !(m.reachable && m.state === "alive")
  );
  return [
    `Cluster via ${status.via}: ${status.members.length} members, N=${status.replicationFactor} R=${status.readQuorum} W=${status.writeQuorum}; ` +
    (down.length === 0
      ? "all up"
      : `${down.length} not up: ${down.map((m) => m.address).join(", ")}`),
    line(header),
    ...rows.map(line),
    ...status.members.flatMap((m) => [
      ...(m.writesRefused
        ? [`${m.address} refuses writes: its clock is too far from its peers'`]
        : []),
      ...(m.transfer === null ? [] : [
        `${m.address} ${m.transfer.phase}${
          m.transfer.waitingFor === null
            ? ""
            : `, waiting: ${m.transfer.waitingFor}`
        }`,
      ]),
    ]),
    ...kvLines(status.kvDatabases ?? []),
  ].join("\n");
}

/** The KV databases' section of the table: leader, term, commit, voters. */
function kvLines(dbs: KvDatabaseStatus[]): string[] {
  if (dbs.length === 0) return [];
  const header = ["KV DATABASE", "LEADER", "TERM", "COMMIT", "VOTERS"];
  const rows = dbs.map((d) => [
    d.name,
    d.leader ?? "(none)",
    String(d.term),
    String(d.commitIndex),
    d.voters.join(","),
  ]);
  const widths = header.map((_, i) =>
    Math.max(...[header, ...rows].map((r) => r[i]!.length))
  );
  const line = (cells: string[]) =>
    cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return ["", line(header), ...rows.map(line)];
}
