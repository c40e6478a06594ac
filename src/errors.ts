/**
 * The errors KVDB's server answers with. Each carries the HTTP status it is
 * sent with; the description is safe to show to a client (no stack traces,
 * no internals).
 *
 * @module
 */

/** Base class: an operating condition reported to the caller. */
export class KvdbError extends Error {
  /** HTTP status code the server answers with. */
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = new.target.name;
    this.status = status;
  }
}

/** The request is malformed or an argument is invalid (HTTP 400). */
export class BadRequestError extends KvdbError {
  constructor(message = "Bad request.") {
    super(message, 400);
  }
}

/** The function named does not exist (HTTP 404). */
export class UnknownFunctionError extends KvdbError {
  constructor(name: string) {
    super(`Unknown function: '${name}'.`, 404);
  }
}

/** The request body is larger than allowed (HTTP 413). */
export class PayloadTooLargeError extends KvdbError {
  constructor(limitBytes: number) {
    super(`Request body too large: the limit is ${limitBytes} bytes.`, 413);
  }
}

/** The request body did not arrive in time (HTTP 408). */
export class RequestTimeoutError extends KvdbError {
  constructor(deadlineMs: number) {
    super(
      `Request timeout: the body did not arrive within ${deadlineMs} ms.`,
      408,
    );
  }
}

/** Too few replicas answered in time (HTTP 503). */
export class UnavailableError extends KvdbError {
  constructor(message: string) {
    super(message, 503);
  }
}

/**
 * The node has taken on as much work as it can: the request was refused
 * before any of it was done, and may be sent again after
 * {@link retryAfterSeconds} (HTTP 429 with `Retry-After`).
 */
export class OverloadedError extends KvdbError {
  constructor(message: string, readonly retryAfterSeconds = 1) {
    super(message, 429);
  }
}

/**
 * This node's clock is too far from its peers' for it to stamp writes: the
 * versions it issued would order writes wrongly and its TTLs would be off
 * (HTTP 503: another node can take the write).
 */
export class ClockSkewError extends KvdbError {
  constructor(message: string) {
    super(message, 503);
  }
}

/**
 * The node's storage cannot do what was asked: the data directory cannot be
 * opened, or a write could not be made durable (disk full, read-only, I/O
 * error). Such a write was not acknowledged (HTTP 503: another replica or a
 * retry may succeed).
 */
export class StorageError extends KvdbError {
  /** The fault alone, without what was being attempted: "the disk is full". */
  readonly reason: string;
  constructor(message: string, reason: string = message) {
    super(message, 503);
    this.reason = reason;
  }
}

/**
 * The request is well formed but the cluster's state forbids it now (HTTP
 * 409): removing a member that is still alive.
 */
export class ConflictError extends KvdbError {
  constructor(message: string) {
    super(message, 409);
  }
}

/** A message from a node that is not a member of this cluster (HTTP 403). */
export class NotAMemberError extends KvdbError {
  constructor(address: string) {
    super(
      `Refused: ${address.slice(0, 64)} is not a member of this cluster.`,
      403,
    );
  }
}
