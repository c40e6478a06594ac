/**
 * A test network of Raft nodes over {@link MemoryStorage}, driven Ready by
 * Ready as a node would drive them (persist, send, apply, advance), with
 * messages delivered by hand or all at once, and links cut at will. For
 * the unit tests of this folder (etcd's `network` in raft_test.go).
 *
 * @module
 */

import { RawNode } from "./raw_node.ts";
import { MemoryStorage } from "./storage.ts";
import type {
  Entry,
  Message,
  MessageType,
  NodeId,
  ReadState,
} from "./types.ts";

/** A seeded uniform draw in [0, 1) (mulberry32). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One member: its node, its disk and what it applied. */
export interface Member {
  node: RawNode;
  storage: MemoryStorage;
  applied: Entry[];
  /** Answers to ReadIndex requests, as Ready handed them out. */
  reads: ReadState[];
}

/** Options of {@link TestNetwork}. */
export interface TestNetworkOptions {
  preVote?: boolean;
  checkQuorum?: boolean;
  electionTick?: number;
  seed?: number;
  maxSizePerMsg?: number;
  maxInflightMsgs?: number;
  leaseReads?: boolean;
}

/** Several members and the messages between them. */
export class TestNetwork {
  readonly members = new Map<NodeId, Member>();
  /** Messages sent and not yet delivered. */
  queue: Message[] = [];
  /** Links that drop messages, "from->to". */
  readonly cut = new Set<string>();
  readonly options: TestNetworkOptions;
  #seed: number;

  constructor(ids: NodeId[], options: TestNetworkOptions = {}) {
    this.options = options;
    this.#seed = options.seed ?? 1;
    for (const id of ids) {
      this.add(id, new MemoryStorage({ voters: [...ids], learners: [] }));
    }
  }

  /** Adds (or restarts) a member on `storage`. */
  add(id: NodeId, storage: MemoryStorage, applied = 0): Member {
    const node = new RawNode({
      id,
      storage,
      applied,
      electionTick: this.options.electionTick ?? 10,
      heartbeatTick: 1,
      preVote: this.options.preVote ?? false,
      checkQuorum: this.options.checkQuorum ?? false,
      random: seeded(this.#seed++),
      ...(this.options.leaseReads ? { leaseReads: true } : {}),
      ...(this.options.maxSizePerMsg !== undefined
        ? { maxSizePerMsg: this.options.maxSizePerMsg }
        : {}),
      ...(this.options.maxInflightMsgs !== undefined
        ? { maxInflightMsgs: this.options.maxInflightMsgs }
        : {}),
    });
    const member = { node, storage, applied: [] as Entry[], reads: [] };
    this.members.set(id, member);
    return member;
  }

  get(id: NodeId): Member {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  raft(id: NodeId) {
    return this.get(id).node.raft;
  }

  /** Runs every member's Ready cycle once; queues what they send. */
  process(): void {
    for (const [, m] of this.members) {
      while (m.node.hasReady()) {
        const rd = m.node.ready();
        if (rd.snapshot !== undefined) m.storage.applySnapshot(rd.snapshot);
        m.storage.append(rd.entries);
        if (rd.hardState !== undefined) m.storage.setHardState(rd.hardState);
        this.queue.push(...rd.messages);
        m.reads.push(...rd.readStates);
        for (const e of rd.committedEntries) {
          m.applied.push(e);
          if (e.type === "conf") {
            m.storage.conf = JSON.parse(e.data);
          }
        }
        m.node.advance(rd);
      }
    }
  }

  /** Delivers queued messages (and what they cause) until none are left. */
  settle(limit = 10_000): void {
    this.process();
    for (let i = 0; i < limit && this.queue.length > 0; i++) {
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) this.deliver(m);
      this.process();
    }
  }

  /** Like {@link settle}, delivering only messages of `types`, dropping the rest. */
  settleOnly(types: MessageType[], limit = 1_000): void {
    this.process();
    for (let i = 0; i < limit && this.queue.length > 0; i++) {
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) if (types.includes(m.type)) this.deliver(m);
      this.process();
    }
  }

  deliver(m: Message): void {
    if (this.cut.has(`${m.from}->${m.to}`)) return;
    const to = this.members.get(m.to);
    if (to === undefined) return;
    to.node.step(m);
  }

  /** Cuts (or heals) both directions between a and b. */
  isolate(id: NodeId): void {
    for (const other of this.members.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Ticks every member `n` times, settling after each. */
  tickAll(n: number): void {
    for (let i = 0; i < n; i++) {
      for (const [, m] of this.members) m.node.tick();
      this.settle();
    }
  }

  /** Starts an election on `id` and settles. */
  campaign(id: NodeId): void {
    this.get(id).node.campaign();
    this.settle();
  }

  /** Proposes `data` on `id` and settles. */
  propose(id: NodeId, data: string): void {
    this.get(id).node.propose(data);
    this.settle();
  }

  /** The data each member applied, without empty entries and configurations. */
  appliedData(id: NodeId): string[] {
    return this.get(id).applied.filter((e) => e.type === "normal" && e.data)
      .map((e) => e.data);
  }

  leaders(): NodeId[] {
    return [...this.members.entries()].filter(([, m]) =>
      m.node.raft.state === "leader"
    ).map(([id]) => id);
  }
}
