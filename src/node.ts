/**
 * The composition root: wires the store, the cluster core, the HTTP
 * transport and the HTTP server together from a {@link NodeConfig}. The
 * only place besides the adapters that touches the outside world.
 *
 * @module
 */

import { TimerWheel } from "./clock/mod.ts";
import { ClusterNode, seededRandom } from "./cluster/mod.ts";
import { ConflictError } from "./errors.ts";
import {
  CLUSTER_DEFAULTS,
  DEFAULT_CLUSTER_ID,
  membersOf,
  type NodeConfig,
  parseMember,
  selfAddress,
} from "./config.ts";
import process from "node:process";
import { KVClient } from "../client.ts";
import { type ApiContext, callFunction } from "./api/mod.ts";
import { clusterStatus } from "./ops/status.ts";
import { createHandler } from "./server/handler.ts";
import { Metrics } from "./server/metrics.ts";
import { EventLoopLag, nodeMetrics } from "./server/node_metrics.ts";
import { serve } from "./server/serve.ts";
import {
  openStore,
  SqliteStore,
  startPurger,
  type Store,
} from "./storage/mod.ts";
import {
  EXPIRED_PURGE_GRACE_MS,
  RESP_ARGS_MAX,
  RESP_BULK_BYTES_MAX,
  RESP_CLIENTS_MAX_DEFAULT,
  RESP_COMMAND_BYTES_MAX,
  RESP_FLUSH_BYTES,
  RESP_IDLE_TIMEOUT_MS_DEFAULT,
  RESP_INLINE_BYTES_MAX,
  RESP_OUTPUT_BYTES_MAX,
} from "./limits.ts";
import {
  ATOMIC_OPS,
  type RespServer,
  RespStats,
  ScanCursors,
  startRespServer,
} from "./resp/mod.ts";
import {
  AddressPolicy,
  BearerAuth,
  GuardedTransport,
  PeerSigner,
} from "./security/mod.ts";
import {
  BatchingTransport,
  BreakerTransport,
  HttpTransport,
  type PeerTransport,
} from "./transport/mod.ts";
import { KvDatabases, KvService } from "./kv/mod.ts";
import { createKvConnect } from "./kvconnect/mod.ts";
import { KV_VOTERS_DEFAULT } from "./limits.ts";
import { setImmediate } from "node:timers";
import { VERSION } from "./version.ts";
import { createLogger, type EventLog, rateLimited } from "./log.ts";

/** How long a member has to answer the dashboard's `cluster_info`. */
const UI_MEMBER_TIMEOUT_MS = 1_500;
/** Points of the hash space sampled to tell each member's share of it. */
const RING_SAMPLES = 4096;

/**
 * Each member's share of the key space: as primary, and as one of the N
 * replicas, from evenly spaced points of the 32-bit hash space.
 */
function ringShares(
  ring: { preferenceListForHash(hash: number, n: number): string[] },
  n: number,
): { primary: Record<string, number>; replica: Record<string, number> } {
  const primary: Record<string, number> = {};
  const replica: Record<string, number> = {};
  const step = 2 ** 32 / RING_SAMPLES;
  for (let i = 0; i < RING_SAMPLES; i++) {
    const list = ring.preferenceListForHash(Math.floor(i * step), n);
    if (list[0] !== undefined) {
      primary[list[0]] = (primary[list[0]] ?? 0) + 1 / RING_SAMPLES;
    }
    for (const m of list) replica[m] = (replica[m] ?? 0) + 1 / RING_SAMPLES;
  }
  return { primary, replica };
}

/** How long a node that left keeps answering `cluster_info`. */
const LEAVE_LINGER_MS = 1_000;

/** Whether `host` is only reachable from this machine. */
function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" ||
    /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** What the start line says about security: what is on, or that nothing is. */
function securitySummary(config: NodeConfig): string {
  const on = [
    config.authToken !== undefined ? "client token" : "",
    config.clusterSecret !== undefined
      ? `signed peers (cluster '${config.clusterId ?? DEFAULT_CLUSTER_ID}')`
      : "",
    config.tlsCert !== undefined ? "TLS" : "",
  ].filter((s) => s !== "");
  return on.length === 0 ? "no auth, no TLS" : on.join(", ");
}

/** A running node. */
export interface KvdbNode {
  /** "host:port" this node answers on. */
  readonly address: string;
  /** The RESP port, when `respPort` was configured. */
  readonly respPort?: number;
  /** Settles when the server has stopped. */
  readonly finished: Promise<void>;
  /** The node's event log (for the CLI's own events, such as SIGHUP). */
  readonly log: EventLog;
  /** Stops accepting requests, finishes those in flight, closes the store. */
  shutdown(): Promise<void>;
  /**
   * Replaces the accepted client tokens and the cluster secrets (the first
   * signs) while the node runs, for rotation (docs/security.md). All or
   * nothing: on any problem it throws and keeps the old ones. A node
   * started without a token or a secret cannot gain one here. Resolves
   * with a line for the log.
   */
  rotateSecrets(secrets: Secrets): Promise<string>;
}

/** What {@link KvdbNode.rotateSecrets} replaces; absent: unchanged. */
export interface Secrets {
  authToken?: readonly string[];
  clusterSecret?: readonly string[];
}

/** Options for {@link startNode}. */
export interface StartOptions {
  /**
   * Where events go; default: lines on stderr in the configured format
   * ({@link NodeConfig.logFormat}, {@link NodeConfig.logLevel}).
   */
  log?: EventLog;
}

/** Starts a node and resolves once it is listening. */
export async function startNode(
  config: NodeConfig,
  options: StartOptions = {},
): Promise<KvdbNode> {
  const self = selfAddress(config);
  const log = options.log ?? createLogger({
    node: self,
    format: config.logFormat ?? "text",
    level: config.logLevel ?? "info",
  });
  // One shared interval for every timer: each quorum arms a deadline.
  const clock = new TimerWheel();
  const setting = <K extends keyof typeof CLUSTER_DEFAULTS>(key: K): number =>
    (config[key] as number | undefined) ?? CLUSTER_DEFAULTS[key];
  const engine = config.engine ?? "memory";
  const store = await openStore({
    engine,
    ...(config.dataDir !== undefined ? { dataDir: config.dataDir } : {}),
    ...(config.sync !== undefined ? { sync: config.sync } : {}),
    ...(config.cacheMb !== undefined
      ? { cacheBytes: config.cacheMb * 1024 * 1024 }
      : {}),
  });
  const startedAtMs = clock.now();
  const metrics = new Metrics(startedAtMs);
  const lag = new EventLoopLag();
  if (store instanceof SqliteStore) {
    store.onCommit = (seconds) => metrics.commit(seconds);
    const fault = rateLimited(log, "storage.commit_failed", 10_000);
    store.onCommitFailed = (reason, writes) =>
      fault({ reason, writes }, "error");
  }
  const quorumLost = rateLimited(log, "quorum.lost", 10_000);
  const joining = config.join !== undefined;
  const antiEntropyIntervalMs = setting("antiEntropyIntervalMs");
  const tls = config.tlsCert !== undefined && config.tlsKey !== undefined
    ? { cert: config.tlsCert, key: config.tlsKey }
    : undefined;
  const signer = config.clusterSecret === undefined
    ? undefined
    : await PeerSigner.create(
      config.clusterSecret,
      config.clusterId ?? DEFAULT_CLUSTER_ID,
    );
  const addressPolicy = new AddressPolicy({
    allowLinkLocal: config.allowLinkLocal ?? false,
  });
  // Peers are called over https when this node serves it: a cluster is
  // all TLS or all plain. A private CA is trusted besides the system's.
  const http = new HttpTransport({
    scheme: tls === undefined ? "http" : "https",
    ...(config.caCert !== undefined ? { caCerts: [config.caCert] } : {}),
    ...(signer !== undefined ? { signer } : {}),
  });
  // Calls to a peer that stopped answering fail fast (BreakerTransport)
  // below the batching, so that a batch counts once.
  const breaker = new BreakerTransport(
    new GuardedTransport(http, addressPolicy),
    clock,
  );
  const transport = new BatchingTransport(breaker);
  // SCAN cursors outlive the node that issued them: peers share them.
  const scanCursors = new ScanCursors(() => clock.now());
  // The KV databases' Raft traffic has its own flow control and failure
  // handling: it goes around the breaker, so that a peer still starting
  // (votes sent before it listens) does not trip the breaker of the
  // Dynamo keyspace's writes.
  const kvTransport = new GuardedTransport(http, addressPolicy);
  const core = await ClusterNode.create({
    self,
    seeds: [
      ...membersOf(config),
      ...(joining ? [parseMember(config.join!)] : []),
    ],
    join: joining,
    store,
    transport: observed(transport, metrics),
    observer: {
      quorum: (op, outcome) => {
        metrics.quorum(op, outcome);
        if (outcome !== "won") quorumLost({ op, outcome });
      },
    },
    clock,
    random: seededRandom(crypto.getRandomValues(new Uint32Array(1))[0]!),
    vnodes: config.vnodes,
    replicationFactor: config.replicationFactor,
    ...(config.readQuorum !== undefined
      ? { readQuorum: config.readQuorum }
      : {}),
    ...(config.writeQuorum !== undefined
      ? { writeQuorum: config.writeQuorum }
      : {}),
    requestDeadlineMs: config.requestDeadlineMs,
    peerDeadlineMs: config.peerDeadlineMs,
    heardAtMs: (peer) => breaker.heardAtMs(peer),
    timing: {
      probeIntervalMs: setting("probeIntervalMs"),
      probeTimeoutMs: Math.max(1, Math.floor(setting("probeIntervalMs") / 2)),
      indirectProbes: 3,
      suspicionTimeoutMs: setting("suspicionTimeoutMs"),
      antiEntropyIntervalMs,
      hintIntervalMs: setting("hintIntervalMs"),
      handOffIntervalMs: antiEntropyIntervalMs * 2,
    },
    hintCountMax: setting("hintCountMax"),
    hintBytesMax: setting("hintBytesMax"),
    tombstoneGraceMs: setting("tombstoneGraceMs"),
    streamBytesPerSecond: setting("streamMbPerS") * 1_000_000,
    // Every node serialises Redis's read-modify-write commands for the
    // keys it owns, whether or not it has a RESP port itself.
    atomicOps: ATOMIC_OPS,
    rememberScanCursor: (id, after) => scanCursors.remember(id, after),
    maxClockOffsetMs: setting("maxClockOffsetMs"),
    log,
  });
  const { coordinator, repair, membership, hints } = core;
  const respStats = new RespStats();
  let resp: RespServer | undefined;
  const kvRandom = seededRandom(
    crypto.getRandomValues(new Uint32Array(1))[0]!,
  );
  const kv = new KvDatabases({
    self,
    // A node that joins founds no database: leaders add it to theirs.
    founders: joining ? [] : membersOf(config),
    voters: config.kvVoters ?? KV_VOTERS_DEFAULT,
    ...(engine === "sqlite" && config.dataDir !== undefined
      ? { dir: `${config.dataDir}/kv` }
      : {}),
    ...(config.sync !== undefined ? { sync: config.sync } : {}),
    transport: kvTransport,
    clock,
    schedule: (fn) => void setImmediate(fn),
    monotonicNow: () => performance.now(),
    random: () => kvRandom.next(),
    members: () =>
      membership.members().map((m) => ({
        address: m.address,
        state: m.state,
        phase: m.phase,
      })),
    requestDeadlineMs: config.requestDeadlineMs,
    peerDeadlineMs: config.peerDeadlineMs,
    log: (line) => log("kv", { message: line }),
  });
  const kvService = new KvService(kv, { now: () => clock.now() });

  const auth = config.authToken === undefined
    ? undefined
    : new BearerAuth(config.authToken);
  const api: ApiContext = {
    coordinator,
    self,
    version: VERSION,
    vnodes: config.vnodes,
    configuredReplicationFactor: config.replicationFactor,
    members: () =>
      membership.members().map((m) => ({
        address: m.address,
        state: m.state,
        incarnation: m.incarnation,
        phase: m.phase,
      })),
    status: () => {
      const stats = repair.stats();
      const now = clock.now();
      const load = metrics.recent(now);
      return {
        clock: clockStatus(core, now),
        peers: {
          failing_fast: Object.keys(breaker.stats().open),
          failed_fast: breaker.stats().failedFast,
          connections: http.poolStats() ?? null,
        },
        uptime_s: Math.round((now - startedAtMs) / 1000),
        load: {
          window_s: load.seconds,
          ops_per_second: Math.round(load.opsPerSecond * 10) / 10,
          p99_ms: load.p99Ms === null
            ? null
            : Math.round(load.p99Ms * 100) / 100,
        },
        storage: storageStatus(store, config.dataDir),
        hints: hints.stats(),
        anti_entropy: antiEntropyStatus(core),
        handed_off: stats.handedOff,
        ...(resp !== undefined
          ? {
            resp: {
              port: resp.port,
              ...respStats.summary(),
              atomic: core.serializer.stats(),
            },
          }
          : {}),
        kv: {
          voters_per_database: config.kvVoters ?? KV_VOTERS_DEFAULT,
          databases: kv.status(),
        },
        transfer: {
          phase: stats.transfer.phase,
          keys_moved: stats.transfer.keysMoved,
          bytes_moved: stats.transfer.bytesMoved,
          keys_remaining: stats.transfer.keysRemaining,
          waiting_for: stats.transfer.waitingFor,
          elapsed_ms: stats.transfer.elapsedMs,
        },
        stream: {
          bytes_sent: stats.stream.bytesSent,
          records_sent: stats.stream.recordsSent,
          throttled_ms: stats.stream.throttledMs,
          mb_per_s_max: stats.stream.bytesPerSecondMax === null
            ? null
            : stats.stream.bytesPerSecondMax / 1_000_000,
        },
      };
    },
    removeMember: (address) => membership.remove(address),
    kv: kvService,
    leave: () => {
      const refusal = repair.leaveRefusal();
      if (refusal !== undefined) throw new ConflictError(refusal);
      // Answer at once; the CLI follows progress through cluster_info.
      repair.leave((p) => {
        if (p.keysMoved % 10_000 === 0 || p.phase === "done") {
          log("leave.progress", {
            records: p.keysMoved,
            bytes: p.bytesMoved,
            remaining: p.keysRemaining,
          });
        }
      }).then(async () => {
        log("leave.done", {});
        core.stop();
        // Linger a moment so that whoever follows the leave sees it done.
        await new Promise((resolve) => setTimeout(resolve, LEAVE_LINGER_MS));
        await server.shutdown();
      }).catch((error) => log("leave.failed", { error }, "error"));
      return { leaving: true };
    },
  };
  // The dashboard asks every member for its cluster_info, as a client
  // with this node's own token (the first one, while tokens rotate).
  let clientToken = typeof config.authToken === "string"
    ? config.authToken
    : config.authToken?.[0];
  const memberClients = new Map<string, KVClient>();
  const memberInfo = (address: string) => {
    let client = memberClients.get(address);
    if (client === undefined) {
      client = new KVClient({
        nodes: [`${tls === undefined ? "http" : "https"}://${address}`],
        timeoutMs: UI_MEMBER_TIMEOUT_MS,
        ...(clientToken !== undefined ? { token: clientToken } : {}),
        ...(config.caCert !== undefined ? { caCert: config.caCert } : {}),
      });
      memberClients.set(address, client);
    }
    return client.call("cluster_info");
  };
  const logInternal = (error: unknown) =>
    log("request.internal_error", {
      error: error instanceof Error ? error.stack ?? error.message : error,
    }, "error");
  // Deno.openKv("http://<node>/kv") and npm @deno/kv (docs/kv-connect.md).
  const kvConnect = createKvConnect({
    dbs: kv,
    ...(auth !== undefined ? { auth } : {}),
    clusterId: config.clusterId ?? DEFAULT_CLUSTER_ID,
    now: () => clock.now(),
    observe: (method, status, seconds) =>
      metrics.request(`kvconnect.${method}`, status, seconds, clock.now()),
    logError: logInternal,
  });
  // Health says "serving" once the peers heard this node is back (its
  // first announcement answered or failed): before, a peer may still fail
  // calls to it fast, from before it listened.
  let announced = false;
  const handler = createHandler({
    serving: () => announced,
    kvConnect,
    ui: {
      cluster: async () => ({
        status: await clusterStatus(
          (address) =>
            address === undefined
              ? callFunction(api, "cluster_info", [], {})
              : memberInfo(address),
          { keepInfo: true },
        ),
        ring: ringShares(
          coordinator.ring,
          coordinator.settings.replicationFactor,
        ),
      }),
    },
    api,
    // A probe from a peer proves it up: calls to it need not fail fast.
    peer: (request) => {
      if (request.kind === "ping") breaker.reset(request.from);
      // The KV databases answer their own peer messages; the core the rest.
      if (request.kind === "raft" || request.kind === "kv") {
        return kv.handlePeer(request);
      }
      return core.handlePeer(request);
    },
    metrics,
    log,
    // A bug, not the caller's fault: the stack goes to the log only.
    logError: logInternal,
    collect: () => [
      ...(resp === undefined ? [] : respStats.families()),
      ...nodeMetrics({
        members: () => membership.members(),
        localRecords: () => coordinator.localRecordCount(),
        hints: () => hints.stats(),
        repair: () => {
          const ae = core.antiEntropy.stats();
          return {
            ...repair.stats(),
            aeRounds: ae.rounds,
            aeBucketsDiffering: ae.bucketsDiffering,
            aePulled: ae.pulled,
            aePushed: ae.pushed,
          };
        },
        storage: () => {
          if (!(store instanceof SqliteStore)) return { engine: "memory" };
          const s = store.stats;
          return {
            engine: "sqlite",
            commits: s.commits,
            writes: s.writes,
            failedCommits: s.failedCommits,
            cacheHits: s.cache.hits,
            cacheMisses: s.cache.misses,
            sizeBytes: diskBytes(config.dataDir),
          };
        },
        eventLoopLagSeconds: () => lag.lagSeconds(),
        clock: () => {
          const offsetsMs = new Map<string, number>();
          for (const [peer, e] of core.clockSkew.estimates(clock.now())) {
            offsetsMs.set(peer, e.offsetMs);
          }
          return {
            offsetsMs,
            writesRefused: coordinator.clockRefusal() !== undefined,
          };
        },
        peers: () => {
          const stats = breaker.stats();
          return {
            failingFast: Object.keys(stats.open).length,
            failedFast: stats.failedFast,
          };
        },
        process: () => {
          const cpu = process.cpuUsage();
          const memory = Deno.memoryUsage();
          return {
            residentBytes: memory.rss,
            heapUsedBytes: memory.heapUsed,
            heapTotalBytes: memory.heapTotal,
            externalBytes: memory.external,
            cpuSeconds: (cpu.user + cpu.system) / 1e6,
            startTimeSeconds: startedAtMs / 1000,
          };
        },
      }),
    ],
    now: () => clock.now(),
    ...(auth !== undefined ? { auth } : {}),
    // A client token never opens /peer: without a secret to check
    // signatures with, a node that has a token refuses every peer message.
    ...(signer !== undefined
      ? { peerAuth: signer }
      : config.authToken !== undefined
      ? { peerAuth: "closed" as const }
      : {}),
    addressPolicy,
    ...(config.concurrentRequestsMax !== undefined
      ? { concurrentRequestsMax: config.concurrentRequestsMax }
      : {}),
    ...(config.bodyBytesMax !== undefined
      ? { bodyBytesMax: config.bodyBytesMax }
      : {}),
    ...(config.bodyDeadlineMs !== undefined
      ? { bodyDeadlineMs: config.bodyDeadlineMs }
      : {}),
  });
  const server = serve(handler, {
    hostname: config.host,
    port: config.port,
    ...(tls !== undefined ? { tls } : {}),
  });
  const address = `${
    config.host.includes(":") ? `[${config.host}]` : config.host
  }:${server.port}`;
  let aloneAt = -1;
  let alone = false;
  if (config.respPort !== undefined) {
    resp = startRespServer({
      hostname: config.respHost ?? config.host,
      port: config.respPort,
      ...(tls !== undefined ? { tls } : {}),
      connection: {
        inlineBytesMax: RESP_INLINE_BYTES_MAX,
        argsMax: RESP_ARGS_MAX,
        bulkBytesMax: RESP_BULK_BYTES_MAX,
        commandBytesMax: RESP_COMMAND_BYTES_MAX,
        outputBytesMax: RESP_OUTPUT_BYTES_MAX,
        flushBytes: RESP_FLUSH_BYTES,
      },
      clientsMax: config.respClientsMax ?? RESP_CLIENTS_MAX_DEFAULT,
      idleTimeoutMs: config.respIdleTimeoutMs ?? RESP_IDLE_TIMEOUT_MS_DEFAULT,
      log,
    }, (port, sessions) => ({
      coordinator,
      serializer: core.serializer,
      now: () => clock.now(),
      alone: () => {
        // Recomputed only when the rings change (every read asks).
        const topology = core.topology;
        if (topology.version !== aloneAt) {
          aloneAt = topology.version;
          const members = topology.readRing.members;
          alone = members.length === 1 && members[0] === self &&
            !topology.inTransition;
        }
        return alone;
      },
      ...(auth !== undefined ? { auth } : {}),
      cursors: scanCursors,
      shareCursor: (id, after) => {
        for (const m of membership.members()) {
          if (m.address === self || m.state !== "alive") continue;
          transport.call(
            m.address,
            { kind: "scan_cursor", id, after },
            config.peerDeadlineMs,
          ).catch(() => {});
        }
      },
      stats: respStats,
      sessions,
      facts: {
        version: VERSION,
        self,
        engine,
        members: () =>
          membership.members().map((m) => ({
            address: m.address,
            state: m.state,
          })),
      },
      port,
      tls: tls !== undefined,
      startedMs: clock.now(),
      idleTimeoutMs: config.respIdleTimeoutMs ?? RESP_IDLE_TIMEOUT_MS_DEFAULT,
      clientsMax: config.respClientsMax ?? RESP_CLIENTS_MAX_DEFAULT,
    }));
  }
  void core.start().then(() => announced = true);
  kv.start();
  const purger = startPurger(store, clock, {
    // With one copy nothing can bring an expired value back; with more, a
    // replica that missed the expiring write could, through read repair.
    graceMs: config.replicationFactor > 1 ? EXPIRED_PURGE_GRACE_MS : 0,
    log,
  });

  const s = coordinator.settings;
  log("node.serving", {
    version: VERSION,
    address,
    members: membersOf(config).length,
    ...(joining ? { join: config.join } : {}),
    n: s.replicationFactor,
    r: s.readQuorum,
    w: s.writeQuorum,
    vnodes: config.vnodes,
    engine,
    ...(engine === "sqlite"
      ? { data_dir: config.dataDir, sync: config.sync ?? "normal" }
      : {}),
    security: securitySummary(config),
    ...(resp !== undefined
      ? { resp: `${config.respHost ?? config.host}:${resp.port}` }
      : {}),
  });
  if (config.authToken === undefined && !isLoopback(config.host)) {
    log("listen.unauthenticated", {
      host: config.host,
      message:
        "no --auth-token: anyone who can reach this port can read and write every key (docs/security.md)",
    }, "warn");
  }
  const finished = server.finished.then(async () => {
    await resp?.close();
    core.stop();
    kv.stop();
    lag.stop();
    await purger.stop();
    await store.close();
  });
  return {
    address,
    ...(resp !== undefined ? { respPort: resp.port } : {}),
    finished,
    log,
    async shutdown() {
      core.stop();
      kv.stop();
      await server.shutdown();
      await finished;
    },
    async rotateSecrets(secrets) {
      if (secrets.authToken !== undefined && auth === undefined) {
        throw new Error(
          "this node runs without --auth-token: restart it to add one",
        );
      }
      if (secrets.clusterSecret !== undefined && signer === undefined) {
        throw new Error(
          "this node runs without --cluster-secret: restart it to add one",
        );
      }
      // Check everything before changing anything.
      if (secrets.clusterSecret !== undefined) {
        await PeerSigner.create(secrets.clusterSecret, signer!.clusterId);
      }
      if (secrets.authToken !== undefined) {
        new BearerAuth(secrets.authToken);
      }
      if (secrets.clusterSecret !== undefined) {
        await signer!.setSecrets(secrets.clusterSecret);
      }
      if (secrets.authToken !== undefined) {
        auth!.setTokens(secrets.authToken);
        clientToken = secrets.authToken[0];
        for (const client of memberClients.values()) client.close();
        memberClients.clear();
      }
      return [
        auth !== undefined ? `${auth.size} client token(s)` : "",
        signer !== undefined ? `${signer.size} cluster secret(s)` : "",
      ].filter(Boolean).join(", ");
    },
  };
}

/** The engine and, for SQLite, its commits and record cache, for `cluster_info`. */
function storageStatus(
  store: Store,
  dataDir: string | undefined,
): Record<string, unknown> {
  if (!(store instanceof SqliteStore)) return { engine: "memory" };
  const { commits, writes, failedCommits, cache } = store.stats;
  return {
    engine: "sqlite",
    size_bytes: diskBytes(dataDir),
    commits,
    writes,
    failed_commits: failedCommits,
    cache,
  };
}

/** This node's clock offsets to its peers, for `cluster_info`. */
function clockStatus(
  core: ClusterNode,
  nowMs: number,
): Record<string, unknown> {
  const offsets: Record<string, unknown> = {};
  for (const [peer, e] of core.clockSkew.estimates(nowMs)) {
    offsets[peer] = {
      offset_ms: Math.round(e.offsetMs),
      uncertainty_ms: Math.round(e.uncertaintyMs),
    };
  }
  const refusal = core.coordinator.clockRefusal();
  return {
    max_offset_ms: core.clockSkew.maxOffsetMs,
    offsets,
    writes_refused: refusal !== undefined,
    ...(refusal !== undefined ? { why: refusal } : {}),
  };
}

/** Anti-entropy's counters and its digests, for `cluster_info`. */
function antiEntropyStatus(core: ClusterNode): Record<string, unknown> {
  const s = core.antiEntropy.stats();
  const d = core.digests.status();
  return {
    rounds: s.rounds,
    in_agreement: s.inAgreement,
    skipped: s.skipped,
    buckets_differing: s.bucketsDiffering,
    leaves_differing: s.leavesDiffering,
    pulled: s.pulled,
    pushed: s.pushed,
    digests: {
      ready: d.ready,
      leaves: d.leaves,
      segments_counted: d.segmentsCounted,
    },
  };
}

/** Bytes of the files in the data directory (database, WAL, lock). */
function diskBytes(dataDir: string | undefined): number {
  if (dataDir === undefined) return 0;
  let total = 0;
  try {
    for (const entry of Deno.readDirSync(dataDir)) {
      if (entry.isFile) total += Deno.statSync(`${dataDir}/${entry.name}`).size;
    }
  } catch {
    // A directory being swapped (a snapshot restore) reads as what it holds.
  }
  return total;
}

/**
 * The transport as the core sees it, timing each call by message kind:
 * latency measured at the edge, no metric code in the core.
 */
function observed(inner: PeerTransport, metrics: Metrics): PeerTransport {
  return {
    async call(peer, request, deadlineMs) {
      const started = performance.now();
      try {
        const answer = await inner.call(peer, request, deadlineMs);
        metrics.peerCall(
          request.kind,
          (performance.now() - started) / 1000,
          true,
        );
        return answer;
      } catch (error) {
        metrics.peerCall(
          request.kind,
          (performance.now() - started) / 1000,
          false,
        );
        throw error;
      }
    },
  };
}
