/**
 * `kvdb backup <file>` and `kvdb restore <file>`: the whole cluster to a
 * compressed file and back, with a progress bar on stderr
 * (docs/operations.md#backup-and-restore).
 *
 * @module
 */

import type { Command } from "commander";
import {
  backup,
  BackupFormatError,
  progressBar,
  restore,
} from "../ops/backup.ts";
import { ConfigError } from "../config.ts";
import { clientFor, type ClientOptions, write, writeErr } from "./common.ts";
import { clientCommand } from "./one_shot.ts";

/** Redraws a progress line in place on a terminal, one line per second piped. */
function progressPrinter(verb: string) {
  const tty = Deno.stderr.isTerminal();
  let lastAt = 0;
  let shown = false;
  return {
    update(p: Parameters<typeof progressBar>[1]) {
      const now = Date.now();
      if (!tty && now - lastAt < 1000) return;
      lastAt = now;
      shown = true;
      writeErr(
        tty ? `\r${progressBar(verb, p)}\x1b[K` : `${progressBar(verb, p)}\n`,
      );
    },
    done() {
      if (tty && shown) writeErr("\n");
    },
  };
}

/** The records the cluster holds, from each node's count over N. */
async function estimate(client: ReturnType<typeof clientFor>) {
  try {
    const info = await client.clusterInfo() as unknown as {
      local_records?: number;
      members: unknown[];
      replication_factor: number;
    };
    return info.local_records === undefined ? undefined : Math.round(
      info.local_records * info.members.length / info.replication_factor,
    );
  } catch {
    return undefined;
  }
}

/** Adds `backup` and `restore` to `program`. */
export function registerBackup(program: Command): void {
  const backupCommand = clientCommand(
    program,
    "backup",
    "write every live record of the cluster (value, version, expiry) to a gzip file",
  ).argument("<file>", "where to write the backup");
  backupCommand.action(async (file: string) => {
    const options = backupCommand.opts() as unknown as ClientOptions & {
      json?: boolean;
    };
    const client = clientFor(options);
    const progress = progressPrinter("backup");
    try {
      const summary = await backup(client, file, {
        progress: (p) => progress.update(p),
        ...(await estimate(client).then((e) =>
          e === undefined ? {} : { estimate: e }
        )),
      });
      progress.done();
      write(
        options.json
          ? JSON.stringify(summary) + "\n"
          : `backed up ${summary.records} records to ${file} (${
            (summary.bytes / 1024).toFixed(0)
          } KiB)\n`,
      );
    } finally {
      client.close();
    }
  });

  const restoreCommand = clientCommand(
    program,
    "restore",
    "write a backup's records into the cluster, keeping their versions (newer writes win)",
  ).argument("<file>", "a file written by kvdb backup");
  restoreCommand.action(async (file: string) => {
    const options = restoreCommand.opts() as unknown as ClientOptions & {
      json?: boolean;
    };
    const client = clientFor(options);
    const progress = progressPrinter("restore");
    try {
      const summary = await restore(client, file, {
        progress: (p) => progress.update(p),
      });
      progress.done();
      write(
        options.json
          ? JSON.stringify(summary) + "\n"
          : `restored ${summary.records} records from ${file}` +
            (summary.expired > 0
              ? ` (${summary.expired} expired since, skipped)`
              : "") +
            "\n",
      );
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new ConfigError(`Cannot read '${file}': no such file`);
      }
      if (error instanceof BackupFormatError) {
        throw new ConfigError(error.message);
      }
      throw error;
    } finally {
      client.close();
    }
  });
}
