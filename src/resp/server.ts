/**
 * The RESP listener: `Deno.listen` (or `Deno.listenTls` with the node's
 * certificate), one {@link Connection} per client, the client bound, and
 * the idle sweep. The only file of src/resp that touches sockets.
 *
 * @module
 */

import type { EventLog } from "../log.ts";
import { Connection, type ConnectionOptions } from "./connection.ts";
import type { RespBackend, Session } from "./context.ts";

/** How the RESP port listens, and its bounds. */
export interface RespServerOptions {
  hostname: string;
  port: number;
  /** Serve TLS with this certificate chain and key (PEM). */
  tls?: { cert: string; key: string };
  connection: Omit<ConnectionOptions, "log">;
  /** Most clients connected at once; more are refused. */
  clientsMax: number;
  /** A client silent this long is disconnected; 0: never. */
  idleTimeoutMs: number;
  log: EventLog;
}

/** A running RESP listener. */
export interface RespServer {
  readonly port: number;
  /** Stops listening and closes every client connection. */
  close(): Promise<void>;
}

/** What the server needs of the backend before it knows its port. */
export type BackendFactory = (
  port: number,
  sessions: ReadonlyMap<number, Session>,
) => RespBackend;

const MAX_CLIENTS_REPLY = new TextEncoder().encode(
  "-ERR max number of clients reached\r\n",
);
const SWEEP_INTERVAL_MS = 1_000;

/** Starts listening; resolves once the port is open. */
export function startRespServer(
  options: RespServerOptions,
  makeBackend: BackendFactory,
): RespServer {
  const listener = options.tls === undefined
    ? Deno.listen({ hostname: options.hostname, port: options.port })
    : Deno.listenTls({
      hostname: options.hostname,
      port: options.port,
      cert: options.tls.cert,
      key: options.tls.key,
    });
  const port = (listener.addr as Deno.NetAddr).port;
  const sessions = new Map<number, Session>();
  const connections = new Map<number, Connection>();
  const backend = makeBackend(port, sessions);
  const stats = backend.stats;
  let nextId = 1;
  const serving = new Map<number, Promise<void>>();

  const sweep = options.idleTimeoutMs <= 0 ? undefined : setInterval(() => {
    const now = backend.now();
    for (const connection of connections.values()) {
      const idleFor = now - connection.session.lastActiveMs;
      if (!connection.busy && idleFor > options.idleTimeoutMs) {
        stats.idleTimeouts++;
        connection.close();
      }
    }
  }, Math.min(SWEEP_INTERVAL_MS, options.idleTimeoutMs));

  const accept = async () => {
    for await (const conn of listener) {
      if (connections.size >= options.clientsMax) {
        stats.connectionsRejected++;
        conn.write(MAX_CLIENTS_REPLY).catch(() => {}).finally(() => {
          try {
            conn.close();
          } catch {
            // gone already
          }
        });
        continue;
      }
      if (options.tls === undefined) {
        try {
          (conn as Deno.TcpConn).setNoDelay(true);
        } catch {
          // not a TCP socket
        }
      }
      const remote = conn.remoteAddr as Deno.NetAddr;
      const now = backend.now();
      const session: Session = {
        id: nextId++,
        address: `${remote.hostname}:${remote.port}`,
        createdMs: now,
        name: "",
        libName: "",
        libVersion: "",
        proto: 2,
        authenticated: backend.auth === undefined,
        lastCommand: "NULL",
        lastActiveMs: now,
        closing: false,
      };
      const connection = new Connection(conn, backend, session, {
        ...options.connection,
        log: options.log,
      });
      sessions.set(session.id, session);
      connections.set(session.id, connection);
      stats.connectionsTotal++;
      stats.connectionsOpen++;
      serving.set(
        session.id,
        connection.serve().finally(() => {
          sessions.delete(session.id);
          connections.delete(session.id);
          serving.delete(session.id);
          stats.connectionsOpen--;
        }),
      );
    }
  };
  const accepting = accept().catch((error) => {
    if (!(error instanceof Deno.errors.BadResource)) {
      options.log("resp.accept_failed", { error: String(error) }, "error");
    }
  });

  return {
    port,
    async close() {
      if (sweep !== undefined) clearInterval(sweep);
      try {
        listener.close();
      } catch {
        // closed already
      }
      await accepting;
      for (const connection of connections.values()) connection.close();
      await Promise.allSettled([...serving.values()]);
    },
  };
}
