/**
 * Hinted handoff: a stand-in hands the hints it holds to their members
 * once those are back, one batch per member per round, and forgets them
 * only once delivered. Hints for a member that left go to the key's
 * current replicas instead, with their own versions.
 *
 * @module
 */

import { PEER_BATCH_BYTES_MAX } from "../limits.ts";
import type { StoredRecord } from "../storage/mod.ts";
import { PEER_BATCH_MAX, type PeerTransport } from "../transport/mod.ts";
import type { MemberView } from "./coordinator.ts";
import type { HintStore } from "./hints.ts";
import { isPeerFailure } from "./peer_failure.ts";

/** What a handoff round needs. */
export interface HandoffOptions {
  hints: HintStore;
  members: MemberView;
  transport: PeerTransport;
  peerDeadlineMs: number;
  /** Writes a record to its key's current replicas, keeping its version. */
  writeToReplicas: (record: StoredRecord) => Promise<unknown>;
}

/** One round of handoff; resolves with how many records were handed over. */
export async function deliverHints(o: HandoffOptions): Promise<number> {
  let handed = 0;
  for (const target of o.hints.targets()) {
    const batch = o.hints.peek(target, PEER_BATCH_MAX, PEER_BATCH_BYTES_MAX);
    try {
      if (o.members.isGone(target)) {
        await Promise.all(batch.map((record) => o.writeToReplicas(record)));
      } else if (o.members.isDown(target)) {
        continue;
      } else {
        await o.transport.call(
          target,
          { kind: "write", records: batch },
          o.peerDeadlineMs,
        );
      }
      await o.hints.delivered(target, batch);
      handed += batch.length;
    } catch (error) {
      if (!isPeerFailure(error)) throw error;
      // still unreachable: keep the hints for the next round
    }
  }
  return handed;
}
