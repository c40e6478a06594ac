/**
 * The one place `Deno.serve` is called.
 *
 * @module
 */

/** A listening server. */
export interface Served {
  /** The port bound (useful with port 0). */
  port: number;
  finished: Promise<void>;
  shutdown(): Promise<void>;
}

/** Options for {@link serve}. */
export interface ServeOptions {
  hostname: string;
  port: number;
  /** TLS: the certificate chain and private key, PEM. Absent: plain HTTP. */
  tls?: { cert: string; key: string };
}

/**
 * Serves `handler`. The socket is bound when this returns; a port in use
 * throws `Deno.errors.AddrInUse` here.
 */
export function serve(
  handler: (request: Request) => Promise<Response>,
  options: ServeOptions,
): Served {
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    ...(options.tls !== undefined
      ? { cert: options.tls.cert, key: options.tls.key }
      : {}),
    onListen: () => {},
    // The handler answers every error itself; this is the last net.
    onError: () =>
      new Response('{"status":"Error","description":"Internal error."}', {
        status: 500,
        headers: { "content-type": "application/json" },
      }),
  }, handler);
  return {
    port: server.addr.port,
    finished: server.finished,
    shutdown: () => server.shutdown(),
  };
}
