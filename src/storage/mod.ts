/**
 * Storage: the {@link Store} interface, its records and its engines.
 *
 * @module
 */
export { MemoryStore } from "./memory.ts";
export { isLive, newest, type StoredRecord, supersedes } from "./record.ts";
export type { ScanOptions, Store } from "./store.ts";
