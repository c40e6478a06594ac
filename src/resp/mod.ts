/**
 * The Redis front end: a RESP2/RESP3 port over the same coordinator as
 * JSON-RPC (docs/resp.md).
 *
 * @module
 */
export { ATOMIC_OPS, type WireReply } from "./atomic_ops.ts";
export { ALL_COMMANDS, type Command, TABLE } from "./commands.ts";
export type { NodeFacts, RespBackend, Session } from "./context.ts";
export { ScanCursors } from "./scan_cursors.ts";
export {
  type BackendFactory,
  type RespServer,
  type RespServerOptions,
  startRespServer,
} from "./server.ts";
export { RespStats } from "./stats.ts";
