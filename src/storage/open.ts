/**
 * Opens a node's store from its configuration: the in-memory engine, or the
 * SQLite engine in a data directory, with every way the directory can be
 * unusable turned into one clear {@link StorageError}.
 *
 * A data directory holds one node's data:
 *
 * ```
 * <data-dir>/kvdb.sqlite       the database (SQLite, WAL mode)
 * <data-dir>/kvdb.sqlite-wal   commits not yet checkpointed into it
 * ```
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { MemoryStore } from "./memory.ts";
import { describeStorageFault, SqliteStore, type SyncMode } from "./sqlite.ts";
import type { Store } from "./store.ts";

/** The storage engines a node can run. */
export type StorageEngine = "memory" | "sqlite";

/** The database's file name inside a data directory. */
export const DATABASE_FILE = "kvdb.sqlite";

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  engine: StorageEngine;
  /** The node's data directory, created when absent; required for "sqlite". */
  dataDir?: string;
  /** Default "normal". */
  sync?: SyncMode;
  /** The sqlite engine's record cache in bytes; 0 turns it off. */
  cacheBytes?: number;
}

/**
 * Opens the configured engine. For "sqlite", creates the data directory
 * and opens (or creates) the database in it, holding its lock until the
 * store is closed; throws a {@link StorageError} such as `Cannot open data
 * directory './data/n1': the database is locked by another process (...)`.
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  if (options.engine === "memory") return new MemoryStore();
  const dir = options.dataDir;
  if (dir === undefined || dir === "") {
    throw new StorageError(
      "Cannot open the sqlite engine: no data directory was given",
    );
  }
  const fail = (reason: string) =>
    new StorageError(`Cannot open data directory '${dir}': ${reason}`, reason);
  try {
    await Deno.mkdir(dir, { recursive: true });
    const info = await Deno.stat(dir);
    if (!info.isDirectory) throw fail("it is not a directory");
  } catch (error) {
    if (error instanceof StorageError) throw error;
    throw fail(describeDirFault(error));
  }
  try {
    return SqliteStore.open(`${dir}/${DATABASE_FILE}`, {
      sync: options.sync ?? "normal",
      ...(options.cacheBytes !== undefined
        ? { cacheBytes: options.cacheBytes }
        : {}),
    });
  } catch (error) {
    throw fail(describeStorageFault(error));
  }
}

function describeDirFault(error: unknown): string {
  if (error instanceof Deno.errors.AlreadyExists) {
    return "it exists and is not a directory";
  }
  if (error instanceof Deno.errors.NotADirectory) {
    return "a part of its path is a file, not a directory";
  }
  return describeStorageFault(error);
}
