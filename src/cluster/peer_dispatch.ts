/**
 * Routes a peer's request to the part of the core that answers it.
 *
 * @module
 */

import { NotAMemberError, UnavailableError } from "../errors.ts";
import type {
  PeerHandler,
  PeerRequest,
  PeerResponse,
} from "../transport/mod.ts";
import type { Coordinator } from "./coordinator.ts";
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
  antiEntropy: AntiEntropy;
  /** The KV databases; set once they are started (absent: refused). */
  kv?: () => KvPeerService | undefined;
}

/** A handler for every peer request kind. */
export function peerDispatcher(services: PeerServices): PeerHandler {
  const { membership, coordinator, repair, antiEntropy, kv } = services;
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
        return await repair.handlePeer(request);
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
