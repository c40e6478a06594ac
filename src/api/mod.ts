/**
 * The JSON-RPC API: the envelope and the functions behind it.
 *
 * @module
 */
export {
  callFromJson,
  checkDepth,
  checkTextDepth,
  decodeCall,
  encodeError,
  encodeResult,
  type RpcCall,
} from "./envelope.ts";
export {
  type ApiContext,
  callFunction,
  FUNCTION_NAMES,
  type MemberInfo,
} from "./functions.ts";
