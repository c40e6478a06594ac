/**
 * A raw RESP client for tests: sends exact bytes, reads replies as the
 * wire has them (RESP2 and RESP3), so tests can check what real clients
 * see byte for byte.
 *
 * @module
 */

import { NodeProcess, waitFor } from "./_helpers.ts";

/** A parsed reply. Errors are {@link RespErr}, statuses {@link Status}. */
export type Wire =
  | null
  | string
  | number
  | bigint
  | boolean
  | Wire[]
  | Map<Wire, Wire>
  | Set<Wire>
  | Status
  | RespErr;

export class Status {
  constructor(readonly text: string) {}
}

export class RespErr {
  constructor(readonly text: string) {}
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Encodes a command as a multibulk request. */
export function command(...args: (string | Uint8Array)[]): Uint8Array {
  const parts: Uint8Array[] = [enc.encode(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === "string" ? enc.encode(arg) : arg;
    parts.push(enc.encode(`$${bytes.length}\r\n`), bytes, enc.encode("\r\n"));
  }
  return concat(parts);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** One connection to a RESP port. */
export class RespConn {
  #buf: Uint8Array = new Uint8Array(0);
  /** Bulk strings as raw bytes instead of text. */
  raw = false;

  private constructor(readonly conn: Deno.Conn) {}

  static async open(port: number, caCert?: string): Promise<RespConn> {
    const conn = caCert === undefined
      ? await Deno.connect({ hostname: "127.0.0.1", port })
      : await Deno.connectTls({
        hostname: "127.0.0.1",
        port,
        caCerts: [caCert],
      });
    return new RespConn(conn);
  }

  async send(bytes: Uint8Array | string): Promise<void> {
    const data = typeof bytes === "string" ? enc.encode(bytes) : bytes;
    let written = 0;
    while (written < data.length) {
      written += await this.conn.write(data.subarray(written));
    }
  }

  /** Sends one command and reads its reply. */
  async call(...args: (string | Uint8Array)[]): Promise<Wire> {
    await this.send(command(...args));
    return await this.read();
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    this.#buf = concat([this.#buf, chunk.subarray(0, n)]);
    return true;
  }

  async #line(): Promise<string> {
    for (;;) {
      const i = this.#buf.indexOf(13);
      if (i >= 0 && i + 1 < this.#buf.length) {
        const line = dec.decode(this.#buf.subarray(0, i));
        this.#buf = this.#buf.subarray(i + 2);
        return line;
      }
      if (!await this.#fill()) throw new Error("connection closed");
    }
  }

  async #bytes(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n + 2) {
      if (!await this.#fill()) throw new Error("connection closed");
    }
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.subarray(n + 2);
    return out;
  }

  /** Reads one reply. */
  async read(): Promise<Wire> {
    const line = await this.#line();
    const rest = line.slice(1);
    switch (line[0]) {
      case "+":
        return new Status(rest);
      case "-":
        return new RespErr(rest);
      case ":": {
        const n = BigInt(rest);
        return Number.isSafeInteger(Number(n)) ? Number(n) : n;
      }
      case "$":
      case "=": {
        const n = Number(rest);
        if (n < 0) return null;
        const bytes = await this.#bytes(n);
        if (line[0] === "=") return dec.decode(bytes.subarray(4));
        return this.raw ? bytes as unknown as string : dec.decode(bytes);
      }
      case "*":
      case "~": {
        const n = Number(rest);
        if (n < 0) return null;
        const items: Wire[] = [];
        for (let i = 0; i < n; i++) items.push(await this.read());
        return line[0] === "~" ? new Set(items) : items;
      }
      case "%": {
        const map = new Map<Wire, Wire>();
        for (let i = 0; i < Number(rest); i++) {
          map.set(await this.read(), await this.read());
        }
        return map;
      }
      case "_":
        return null;
      case ",":
        return Number(rest);
      case "#":
        return rest === "t";
      default:
        throw new Error(`bad reply line: ${JSON.stringify(line)}`);
    }
  }

  /** True once the server has closed the connection (reads to the end). */
  async closedByServer(): Promise<boolean> {
    try {
      while (await this.#fill()) {
        // drain
      }
      return true;
    } catch {
      return true;
    }
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // closed already
    }
  }
}

/** Waits until a node's RESP port accepts connections. */
export async function respReady(port: number): Promise<void> {
  await waitFor(`RESP port ${port}`, async () => {
    const c = await RespConn.open(port);
    const pong = await c.call("PING");
    c.close();
    // A node with a token answers NOAUTH: it is serving all the same.
    return (pong instanceof Status && pong.text === "PONG") ||
      (pong instanceof RespErr && pong.text.startsWith("NOAUTH"));
  });
}

/** Starts `count` nodes with RESP ports; resolves with them and their RESP ports. */
export async function startRespCluster(
  count: number,
  extraArgs: string[] = [],
  freePorts: (n: number) => number[],
): Promise<{ nodes: NodeProcess[]; resp: number[] }> {
  const ports = freePorts(count * 2);
  const http = ports.slice(0, count);
  const resp = ports.slice(count);
  const members = http.map((p) => `127.0.0.1:${p}`).join(",");
  const nodes = http.map((port, i) =>
    new NodeProcess(port, [
      ...(count > 1 ? ["-C", members] : []),
      "--resp-port",
      String(resp[i]),
      ...extraArgs,
    ])
  );
  await Promise.all(nodes.map((n) => n.ready()));
  await Promise.all(resp.map(respReady));
  return { nodes, resp };
}
