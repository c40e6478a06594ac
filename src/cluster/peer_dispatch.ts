/**
 * Routes a peer's request to the part of the core that answers it.
 *
 * @module
 */

import { KvdbError, NotAMemberError, UnavailableError } from "../errors.ts";
import type {
  PeerHandler,
  PeerRequest,
  PeerResponse,
} from "../transport/mod.ts";
import type { Coordinator } from "./coordinator.ts";
import type { KeySerializer } from "./key_serializer.ts";
import type { Membership } from "./membership.ts";
import type { AntiEntropy } from "./anti_entropy.ts";
import type { Repair } from "./repair.ts";

/** What answers the KV databases' peer messages (src/kv's `KvDatabases`). */
export interface KvPeerService {
  handlePeer(
    request: Extract<PeerRequest, { kind: "raft" | "kv" }>,
  ): Promise<PeerResponse>;
}

/** The parts of the core that answer peers. */
export interface PeerServices {
  membership: Membership;
  coordinator: Coordinator;
  repair: Repair;
  /** Runs forwarded read-modify-write commands (key_serializer.ts). */
  serializer?: KeySerializer;
  /** Remembers a SCAN cursor another node issued (src/resp). */
  rememberScanCursor?: (id: number, after: string) => void;
  antiEntropy: AntiEntropy;
  /** The KV databases; set once they are started (absent: refused). */
  kv?: () => KvPeerService | undefined;
}

/** A handler for every peer request kind. */
export function peerDispatcher(services: PeerServices): PeerHandler {
  const { membership, coordinator, repair, serializer, antiEntropy, kv } =
    services;
  return async (request) => {
    switch (request.kind) {
      case "ping": {
        const answer = membership.handlePing(request.from, request.members);
        if (answer === null) throw new NotAMemberError(request.from);
        return { kind: "ping", ...answer };
      }
      case "ping_req":
        return {
          kind: "ping_req",
          ok: await membership.handlePingRequest(request.target),
        };
      case "write":
      case "read":
      case "scan":
        return await coordinator.handlePeer(request);
      case "transfer":
      case "transfer_range":
        return await repair.handlePeer(request);
      case "atomic":
        if (serializer === undefined) {
          throw new NotFoundKindError("atomic");
        }
        return await serializer.handlePeer(request);
      case "scan_cursor":
        services.rememberScanCursor?.(request.id, request.after);
        return { kind: "scan_cursor" };
      case "ae_buckets":
      case "ae_leaves":
      case "ae_entries":
        return antiEntropy.handlePeer(request);
      case "raft":
      case "kv": {
        const service = kv?.();
        if (service === undefined) {
          throw new UnavailableError("this node serves no KV databases yet");
        }
        return await service.handlePeer(request);
      }
      default: {
        const unreachable: never = request;
        throw new Error(`unhandled peer request ${unreachable}`);
      }
    }
  };
}

/** A kind this node knows but was built without. */
class NotFoundKindError extends KvdbError {
  constructor(kind: string) {
    super(
      `This node does not answer '${kind}' messages.`,
      "unsupported_message",
    );
  }
}
