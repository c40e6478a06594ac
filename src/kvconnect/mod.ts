/**
 * KV Connect: the protocol `Deno.openKv("http://…")` and npm `@deno/kv`
 * speak, served over the KV databases (src/kv). See docs/kv-connect.md.
 *
 * @module
 */
export {
  createKvConnect,
  type DataPathMethod,
  IDEMPOTENCY_HEADER,
  type KvConnect,
  KVCONNECT_BODY_BYTES_MAX,
  KVCONNECT_WATCHES_MAX_DEFAULT,
  type KvConnectOptions,
  PROTOCOL_VERSIONS,
  route,
  TOKEN_TTL_MS_DEFAULT,
  WATCH_KEEPALIVE_MS_DEFAULT,
} from "./server.ts";
export { databaseId, DataPathTokens, type TokenClaims } from "./tokens.ts";
export { versionstampBytes } from "./convert.ts";
