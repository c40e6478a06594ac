/**
 * The metrics a node reads at scrape time from what its parts already
 * count (repair's, the hints', the store's stats, the member table) and
 * from the process (memory, CPU, event-loop lag). Nothing here is on the
 * request path.
 *
 * @module
 */

import type { MetricFamily } from "./metrics.ts";

/** What a scrape reads; each getter is called once per scrape. */
export interface NodeMetricSources {
  members(): readonly { state: string }[];
  localRecords(): number;
  hints(): { count: number; bytes: number; delivered: number; refused: number };
  repair(): {
    aeRounds: number;
    aeBucketsDiffering: number;
    aePulled: number;
    aePushed: number;
    handedOff: number;
    transfer: {
      phase: string;
      keysMoved: number;
      bytesMoved: number;
      keysRemaining: number | null;
    };
    stream: { bytesSent: number; throttledMs: number };
  };
  storage(): {
    engine: string;
    commits?: number;
    writes?: number;
    failedCommits?: number;
    cacheHits?: number;
    cacheMisses?: number;
    /** Bytes of the engine's files on disk. */
    sizeBytes?: number;
  };
  /** Seconds: the longest event-loop delay seen lately. */
  eventLoopLagSeconds(): number;
  /** Each peer's clock minus this node's, in ms; whether writes are refused. */
  clock(): { offsetsMs: Map<string, number>; writesRefused: boolean };
  /** Peers whose calls fail fast, and how many calls did. */
  peers(): { failingFast: number; failedFast: number };
  process(): {
    residentBytes: number;
    heapUsedBytes: number;
    heapTotalBytes: number;
    externalBytes: number;
    cpuSeconds: number;
    startTimeSeconds: number;
  };
}

const MEMBER_STATES = ["alive", "suspect", "dead", "left"] as const;
const TRANSFER_PHASES = [
  "idle",
  "joining",
  "leaving",
  "done",
] as const;

function one(
  name: string,
  type: MetricFamily["type"],
  help: string,
  value: number,
): MetricFamily {
  return { name, type, help, samples: [{ value }] };
}

/** Every scrape-time metric family of a node. */
export function nodeMetrics(sources: NodeMetricSources): MetricFamily[] {
  const members = sources.members();
  const hints = sources.hints();
  const repair = sources.repair();
  const storage = sources.storage();
  const proc = sources.process();
  const transfer = repair.transfer;
  const families: MetricFamily[] = [
    {
      name: "kvdb_members",
      type: "gauge",
      help: "Members of the cluster by state, as this node sees them.",
      samples: MEMBER_STATES.map((state) => ({
        labels: { state },
        value: members.filter((m) => m.state === state).length,
      })),
    },
    one(
      "kvdb_local_records",
      "gauge",
      "Live records this node holds.",
      sources.localRecords(),
    ),
    one(
      "kvdb_hints_pending",
      "gauge",
      "Hinted writes held for members that are down.",
      hints.count,
    ),
    one(
      "kvdb_hints_pending_bytes",
      "gauge",
      "Bytes of hinted writes held.",
      hints.bytes,
    ),
    one(
      "kvdb_hints_delivered_total",
      "counter",
      "Hinted writes handed to their member once it was back.",
      hints.delivered,
    ),
    one(
      "kvdb_hints_refused_total",
      "counter",
      "Writes refused as hints because the hint store was full.",
      hints.refused,
    ),
    one(
      "kvdb_anti_entropy_rounds_total",
      "counter",
      "Anti-entropy rounds run with a peer.",
      repair.aeRounds,
    ),
    one(
      "kvdb_anti_entropy_buckets_differing_total",
      "counter",
      "Digest buckets found different from a peer's.",
      repair.aeBucketsDiffering,
    ),
    {
      name: "kvdb_anti_entropy_keys_repaired_total",
      type: "counter",
      help:
        "Records anti-entropy exchanged: pulled from peers, pushed to them.",
      samples: [
        { labels: { direction: "pulled" }, value: repair.aePulled },
        { labels: { direction: "pushed" }, value: repair.aePushed },
      ],
    },
    one(
      "kvdb_handoff_records_total",
      "counter",
      "Records handed to the members that now own them.",
      repair.handedOff,
    ),
    {
      name: "kvdb_transfer_phase",
      type: "gauge",
      help: "1 for the phase this node's join or leave transfer is in.",
      samples: TRANSFER_PHASES.map((phase) => ({
        labels: { phase },
        value: transfer.phase === phase ? 1 : 0,
      })),
    },
    one(
      "kvdb_transfer_keys_moved_total",
      "counter",
      "Records moved by this node's join or leave transfer.",
      transfer.keysMoved,
    ),
    one(
      "kvdb_transfer_bytes_moved_total",
      "counter",
      "Bytes moved by this node's join or leave transfer.",
      transfer.bytesMoved,
    ),
    one(
      "kvdb_stream_bytes_sent_total",
      "counter",
      "Bytes of keys and values this node's join, leave and handoff streams sent.",
      repair.stream.bytesSent,
    ),
    one(
      "kvdb_stream_throttled_seconds_total",
      "counter",
      "Time this node's streams waited for --stream-mb-per-s, summed over the streams.",
      repair.stream.throttledMs / 1000,
    ),
    one(
      "kvdb_transfer_keys_remaining",
      "gauge",
      "Records this node's transfer has still to move (-1: unknown).",
      transfer.keysRemaining ?? -1,
    ),
    {
      name: "kvdb_clock_offset_seconds",
      type: "gauge",
      help:
        "Each peer's wall clock minus this node's, as measured by probes, in seconds.",
      samples: [...sources.clock().offsetsMs].map(([peer, ms]) => ({
        labels: { peer },
        value: ms / 1000,
      })),
    },
    one(
      "kvdb_clock_writes_refused",
      "gauge",
      "1 while this node refuses to coordinate writes: its clock is too far from its peers'.",
      sources.clock().writesRefused ? 1 : 0,
    ),
    one(
      "kvdb_peers_failing_fast",
      "gauge",
      "Peers whose calls fail fast: they stopped answering.",
      sources.peers().failingFast,
    ),
    one(
      "kvdb_peer_calls_failed_fast_total",
      "counter",
      "Calls to peers that failed at once because the peer stopped answering.",
      sources.peers().failedFast,
    ),
    one(
      "kvdb_event_loop_lag_seconds",
      "gauge",
      "Longest delay of the event loop over the last few seconds.",
      sources.eventLoopLagSeconds(),
    ),
    one(
      "process_resident_memory_bytes",
      "gauge",
      "Resident memory size in bytes.",
      proc.residentBytes,
    ),
    one(
      "kvdb_heap_used_bytes",
      "gauge",
      "JavaScript heap in use, in bytes.",
      proc.heapUsedBytes,
    ),
    one(
      "kvdb_heap_total_bytes",
      "gauge",
      "JavaScript heap reserved (in use and free), in bytes.",
      proc.heapTotalBytes,
    ),
    one(
      "kvdb_external_memory_bytes",
      "gauge",
      "Memory of objects outside the JavaScript heap that it holds (buffers), in bytes.",
      proc.externalBytes,
    ),
    one(
      "process_cpu_seconds_total",
      "counter",
      "User and system CPU time spent, in seconds.",
      proc.cpuSeconds,
    ),
    one(
      "process_start_time_seconds",
      "gauge",
      "Start time of the process since the Unix epoch, in seconds.",
      proc.startTimeSeconds,
    ),
  ];
  if (storage.engine === "sqlite") {
    families.push(
      one(
        "kvdb_storage_commits_total",
        "counter",
        "Transactions the SQLite engine committed (group commit).",
        storage.commits ?? 0,
      ),
      one(
        "kvdb_storage_writes_total",
        "counter",
        "Writes the SQLite engine committed.",
        storage.writes ?? 0,
      ),
      one(
        "kvdb_storage_failed_commits_total",
        "counter",
        "Transactions that failed (disk full, I/O error); their writes were refused.",
        storage.failedCommits ?? 0,
      ),
      {
        name: "kvdb_storage_cache_lookups_total",
        type: "counter",
        help: "Record cache lookups, by result.",
        samples: [
          { labels: { result: "hit" }, value: storage.cacheHits ?? 0 },
          { labels: { result: "miss" }, value: storage.cacheMisses ?? 0 },
        ],
      },
      one(
        "kvdb_storage_size_bytes",
        "gauge",
        "Bytes of the node's database files on disk (database and WAL).",
        storage.sizeBytes ?? 0,
      ),
    );
  }
  return families;
}

/**
 * Measures how late a repeating timer fires: the event loop's delay, as
 * Node's monitorEventLoopDelay does. `lagSeconds()` is the longest delay
 * over the last two windows of `windowMs`.
 */
export class EventLoopLag {
  #previousMax = 0;
  #currentMax = 0;
  #windowStart: number;
  #expected: number;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(readonly intervalMs = 100, readonly windowMs = 5_000) {
    this.#windowStart = performance.now();
    this.#expected = this.#windowStart + intervalMs;
    this.#timer = setInterval(() => this.#tick(), intervalMs);
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  #tick(): void {
    const now = performance.now();
    const lag = Math.max(0, now - this.#expected);
    this.#expected = now + this.intervalMs;
    if (now - this.#windowStart > this.windowMs) {
      this.#previousMax = this.#currentMax;
      this.#currentMax = 0;
      this.#windowStart = now;
    }
    this.#currentMax = Math.max(this.#currentMax, lag);
  }

  lagSeconds(): number {
    return Math.max(this.#previousMax, this.#currentMax) / 1000;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
