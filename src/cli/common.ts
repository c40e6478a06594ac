/**
 * What the CLI's commands share: value parsers that fail as usage errors,
 * the `-H`/`-P` options, a client built from the client flags, the exit
 * codes and the writers for stdout and stderr.
 *
 * @module
 */

import { InvalidArgumentError, Option } from "commander";
import { KVClient } from "../../client.ts";
import {
  type ClientSecurityFlags,
  resolveClientSecurity,
} from "../client_flags.ts";
import { DEFAULT_PORT, parseMember, parseMembers } from "../config.ts";
import { textWriter } from "../shell/mod.ts";

/** Exit code: the command did what was asked. */
export const EXIT_OK = 0;
/**
 * Exit code: it could not (a node unreachable or unavailable, a quorum not
 * met, a member not alive in `status`, a refused request).
 */
export const EXIT_FAILURE = 1;
/**
 * Exit code for a usage error (a bad flag or value), as BSD sysexits'
 * EX_USAGE family and most CLIs use.
 */
export const EXIT_USAGE = 2;

/** A parser for an integer flag in [min, max]; a bad value is a usage error. */
export function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (
      !/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max
    ) {
      throw new InvalidArgumentError(`must be an integer in [${min}, ${max}].`);
    }
    return n;
  };
}

/** A parser for one `host[:port]` member. */
export function member(value: string): string {
  try {
    return parseMember(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message + ".");
  }
}

/** A parser for a comma-separated member list. */
export function members(value: string): string[] {
  try {
    return parseMembers(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message + ".");
  }
}

/** Writes to stdout, whole. */
export const write: (text: string) => void = textWriter(Deno.stdout);
/** Writes to stderr, whole. */
export const writeErr: (text: string) => void = textWriter(Deno.stderr);

/** `-H, --host`: the node to talk to. */
export function hostOption() {
  return new Option("-H, --host <host>", "node host").default("127.0.0.1");
}

/** `-P, --port`: the node's port. */
export function portOption() {
  return new Option("-P, --port <port>", "node port")
    .argParser(integer(1, 65535))
    .default(DEFAULT_PORT);
}

/** What the client commands (shell, one-shot) need to reach a node. */
export interface ClientOptions extends ClientSecurityFlags {
  host: string;
  port: number;
}

/** The client for the node `options` name, with its token and TLS. */
export function clientFor(
  options: ClientOptions,
  nodes?: readonly string[],
  timeoutMs?: number,
): KVClient {
  const { token, tls, caCert } = resolveClientSecurity(options);
  const scheme = tls ? "https://" : "";
  return new KVClient({
    nodes: (nodes ?? [`${options.host}:${options.port}`]).map((n) =>
      `${scheme}${n}`
    ),
    ...(token !== undefined ? { token } : {}),
    ...(caCert !== undefined ? { caCert } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  });
}
