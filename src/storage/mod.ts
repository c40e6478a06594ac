/**
 * Storage: the {@link Store} interface, its records and its engines
 * (memory, SQLite), how a node opens one, and the background purge.
 *
 * @module
 */
export { MemoryStore } from "./memory.ts";
export {
  DATABASE_FILE,
  openStore,
  type OpenStoreOptions,
  type StorageEngine,
} from "./open.ts";
export { type Purger, type PurgerOptions, startPurger } from "./purger.ts";
export { isLive, newest, type StoredRecord, supersedes } from "./record.ts";
export {
  SqliteStore,
  type SqliteStoreOptions,
  type SyncMode,
} from "./sqlite.ts";
export type {
  ChangeListener,
  HashRangeOptions,
  HintLog,
  RecordSummary,
  ScanOptions,
  Store,
} from "./store.ts";
