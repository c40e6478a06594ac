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
export { type ApiContext, callFunction, type MemberInfo } from "./functions.ts";
export {
  type ArgDef,
  type ArgType,
  FUNCTION_NAMES,
  FUNCTION_TABLE,
  type FunctionDef,
  functionDef,
  type FunctionName,
  READ_ONLY_FUNCTIONS,
} from "./function_table.ts";
