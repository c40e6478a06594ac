/**
 * `kvdb status`: every member's address, state, phase, records, hints,
 * ops/s and p99 over the last minute, engine, size, version and uptime,
 * as one table (`--json` for scripts). Exits 1 when a member is not
 * alive or does not answer.
 *
 * @module
 */

import type { Command } from "commander";
import { clusterStatus, statusTable } from "../ops/status.ts";
import {
  clientFor,
  type ClientOptions,
  EXIT_FAILURE,
  write,
} from "./common.ts";
import { clientCommand } from "./one_shot.ts";

/** How long one member has to answer its `cluster_info`. */
const MEMBER_TIMEOUT_MS = 2_000;

/** Thrown to end the command with exit code 1 after printing. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** Adds `status` to `program`. */
export function registerStatus(program: Command): void {
  const command = clientCommand(
    program,
    "status",
    "print every member's state, load and storage as a table; exit 1 if one is not up",
  );
  command.action(async () => {
    const options = command.opts() as unknown as ClientOptions & {
      json?: boolean;
    };
    const clients = new Map<string, ReturnType<typeof clientFor>>();
    const info = (address?: string) => {
      const key = address ?? "";
      let client = clients.get(key);
      if (client === undefined) {
        client = address === undefined
          ? clientFor(options)
          : clientFor(options, [address], MEMBER_TIMEOUT_MS);
        clients.set(key, client);
      }
      return client.call("cluster_info");
    };
    try {
      const status = await clusterStatus(info);
      write(
        (options.json ? JSON.stringify(status) : statusTable(status)) + "\n",
      );
      if (!status.healthy) throw new ExitCode(EXIT_FAILURE);
    } finally {
      for (const client of clients.values()) client.close();
    }
  });
}
