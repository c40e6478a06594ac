/**
 * The errors KVDB reports to its callers. Each carries a stable
 * {@link ErrorCode}, one per condition; the description is safe to show to
 * a client (no stack traces, no internals). The core says what went wrong;
 * the edge chooses how to say it (src/server/status.ts maps a code to its
 * HTTP status, src/resp to a Redis error prefix).
 *
 * @module
 */

/**
 * Every error code with what it means. Codes travel between nodes and are
 * written in docs/architecture.md: they are only ever added, never renamed
 * or reused for another condition.
 */
export const ERROR_CODES = {
  bad_request: "the request is malformed or an argument is invalid",
  unknown_function: "the function named does not exist",
  unknown_member: "the address named is not a member of the cluster",
  unsupported_message: "a peer message of a kind this node does not answer",
  payload_too_large: "the request body is larger than allowed",
  request_timeout: "the request body did not arrive in time",
  unavailable: "too few replicas answered in time, or no node can serve it now",
  not_leader: "this replica does not lead its KV database, or none does",
  overloaded:
    "the node is at its bound; refused before any work, retry after a pause",
  clock_skew: "this node's clock is too far from its peers' to stamp writes",
  storage: "the node's storage failed; the write was not acknowledged",
  conflict: "well formed, but the cluster's state forbids it now",
  not_a_member: "a peer message from a node that is not a member",
  address_refused: "a peer message names an address the node will not reach",
} as const satisfies Record<string, string>;

/** A stable error code: see {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** True when `value` is one of this version's {@link ErrorCode}s. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
}

/** Base class: an operating condition reported to the caller. */
export class KvdbError extends Error {
  /** What went wrong, stable across versions. */
  readonly code: ErrorCode;
  constructor(message: string, code: ErrorCode) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The request is malformed or an argument is invalid. */
export class BadRequestError extends KvdbError {
  constructor(message = "Bad request.") {
    super(message, "bad_request");
  }
}

/** The function named does not exist. */
export class UnknownFunctionError extends KvdbError {
  constructor(name: string) {
    super(`Unknown function: '${name}'.`, "unknown_function");
  }
}

/** The request body is larger than allowed. */
export class PayloadTooLargeError extends KvdbError {
  constructor(limitBytes: number) {
    super(
      `Request body too large: the limit is ${limitBytes} bytes.`,
      "payload_too_large",
    );
  }
}

/** The request body did not arrive in time. */
export class RequestTimeoutError extends KvdbError {
  constructor(deadlineMs: number) {
    super(
      `Request timeout: the body did not arrive within ${deadlineMs} ms.`,
      "request_timeout",
    );
  }
}

/** Too few replicas answered in time. */
export class UnavailableError extends KvdbError {
  constructor(message: string) {
    super(message, "unavailable");
  }
}

/**
 * The node has taken on as much work as it can: the request was refused
 * before any of it was done, and may be sent again after
 * {@link retryAfterSeconds}.
 */
export class OverloadedError extends KvdbError {
  constructor(message: string, readonly retryAfterSeconds = 1) {
    super(message, "overloaded");
  }
}

/**
 * This node's clock is too far from its peers' for it to stamp writes: the
 * versions it issued would order writes wrongly and its TTLs would be off
 * (another node can take the write).
 */
export class ClockSkewError extends KvdbError {
  constructor(message: string) {
    super(message, "clock_skew");
  }
}

/**
 * The node's storage cannot do what was asked: the data directory cannot be
 * opened, or a write could not be made durable (disk full, read-only, I/O
 * error). Such a write was not acknowledged (another replica or a retry may
 * succeed).
 */
export class StorageError extends KvdbError {
  /** The fault alone, without what was being attempted: "the disk is full". */
  readonly reason: string;
  constructor(message: string, reason: string = message) {
    super(message, "storage");
    this.reason = reason;
  }
}

/**
 * The request is well formed but the cluster's state forbids it now:
 * removing a member that is still alive.
 */
export class ConflictError extends KvdbError {
  constructor(message: string) {
    super(message, "conflict");
  }
}

/** A message from a node that is not a member of this cluster. */
export class NotAMemberError extends KvdbError {
  constructor(address: string) {
    super(
      `Refused: ${address.slice(0, 64)} is not a member of this cluster.`,
      "not_a_member",
    );
  }
}
