/**
 * The flags every command that talks to a node as a client shares (shell,
 * one-shot commands, bench): the token and TLS, and how they resolve.
 *
 * @module
 */

import { type Command, Option, type OptionValues } from "commander";
import { ConfigError, resolveSecret } from "./config.ts";

/** The client security flags as commander parses them. */
export interface ClientSecurityFlags {
  token?: string;
  tokenFile?: string;
  tls?: boolean;
  caCert?: string;
}

/** What the flags resolve to. */
export interface ClientSecurity {
  /** The bearer token, if any was given or set in the environment. */
  token?: string;
  /** Talk https. */
  tls: boolean;
  /** A PEM CA certificate to trust besides the system's. */
  caCert?: string;
}

/**
 * Adds `--token`, `--token-file`, `--tls` and `--ca-cert` to `command`;
 * the command's parsed options then carry them, typed.
 */
export function clientSecurityOptions<
  Args extends unknown[],
  Opts extends OptionValues,
  GlobalOpts extends OptionValues,
>(command: Command<Args, Opts, GlobalOpts>) {
  return command
    .addOption(
      new Option(
        "--token <token>",
        "bearer token for a node run with --auth-token (default: $KVDB_TOKEN, else $KVDB_AUTH_TOKEN)",
      ),
    )
    .addOption(
      new Option("--token-file <file>", "read the token from a file")
        .conflicts("token"),
    )
    .addOption(new Option("--tls", "talk to the node over https"))
    .addOption(
      new Option(
        "--ca-cert <file>",
        "PEM CA certificate to trust for the node's certificate (implies --tls)",
      ),
    );
}

/** Reads a PEM file named by `flag`; a ConfigError (exit 2) if it cannot. */
export function readPem(flag: string, path: string): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    throw new ConfigError(
      `Cannot read ${flag} '${path}': ${(error as Error).message}`,
    );
  }
  if (!text.includes("-----BEGIN ")) {
    throw new ConfigError(`Cannot use ${flag} '${path}': not a PEM file`);
  }
  return text;
}

/**
 * Resolves the flags: the token from `--token`, `--token-file`,
 * `$KVDB_TOKEN` or `$KVDB_AUTH_TOKEN`, in that order; https with `--tls`
 * or `--ca-cert`; the CA certificate read from its file.
 */
export function resolveClientSecurity(
  flags: ClientSecurityFlags,
): ClientSecurity {
  const token = resolveSecret("token", {
    ...(flags.token !== undefined ? { value: flags.token } : {}),
    ...(flags.tokenFile !== undefined ? { file: flags.tokenFile } : {}),
    env: "KVDB_TOKEN",
  }) ?? resolveSecret("token", { env: "KVDB_AUTH_TOKEN" });
  return {
    ...(token !== undefined ? { token } : {}),
    tls: flags.tls === true || flags.caCert !== undefined,
    ...(flags.caCert !== undefined
      ? { caCert: readPem("--ca-cert", flags.caCert) }
      : {}),
  };
}
