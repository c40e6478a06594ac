/**
 * Which ring a request uses, from the member table.
 *
 * Failures do not change the ring: a dead member keeps its ranges and its
 * writes go to stand-ins as hints (Dynamo's sloppy quorum). Only joining
 * and leaving do. While a member joins or leaves there are two rings:
 * reads use the current one (the joiner has no data yet; the leaver still
 * has all of it), writes go to the replicas of both, so that when the
 * move completes the new owners miss nothing.
 *
 * One member moves at a time, but a start-up cannot always tell (a
 * partition can hide one move from the member that begins another). With
 * two moves at once, either may complete first, and the ring after it
 * alone names owners that neither the current ring nor the one after
 * both does (the mover itself, pushed off by the other): so each mover's
 * ring after its move alone is kept too (a step ring), and writes and
 * streams reach its owners as well.
 *
 * @module
 */

import type { Ring } from "../ring/mod.ts";
import type { Member } from "./membership.ts";

/** Builds a ring for a member set (Web Crypto digests: async). */
export type RingBuilder = (members: readonly string[]) => Promise<Ring>;

/** Members on the ring that reads use. */
export function readMembers(members: readonly Member[]): string[] {
  return members
    .filter((m) => m.state !== "left" && m.phase !== "joining")
    .map((m) => m.address);
}

/** Members on the ring that writes go to as well. */
export function writeMembers(members: readonly Member[]): string[] {
  return members
    .filter((m) => m.state !== "left" && m.phase !== "leaving")
    .map((m) => m.address);
}

/**
 * The members moving (joining or leaving, in any state but left: one that
 * died mid-move still holds its place), each with the members of the ring
 * after its move alone, when more than one moves; else none.
 */
export function stepMembers(
  members: readonly Member[],
): Map<string, string[]> {
  const movers = members.filter((m) =>
    m.state !== "left" && (m.phase === "joining" || m.phase === "leaving")
  );
  const steps = new Map<string, string[]>();
  if (movers.length < 2) return steps;
  const read = readMembers(members);
  for (const m of movers) {
    steps.set(
      m.address,
      m.phase === "joining"
        ? [...read, m.address]
        : read.filter((a) => a !== m.address),
    );
  }
  return steps;
}

/** The current read and write rings, rebuilt when membership changes. */
export class Topology {
  readonly #build: RingBuilder;
  readonly #cache = new Map<string, Ring>();
  #read: Ring;
  #write: Ring;
  #steps = new Map<string, Ring>();
  #stepRings: readonly Ring[] = [];
  #updating: Promise<void> | null = null;
  #pending: readonly Member[] | null = null;
  #version = 0;

  constructor(build: RingBuilder, initial: Ring) {
    this.#build = build;
    this.#read = initial;
    this.#write = initial;
    this.#cache.set(initial.members.join(","), initial);
  }

  /** Builds the first topology from a member table. */
  static async create(
    build: RingBuilder,
    members: readonly Member[],
  ): Promise<Topology> {
    const topology = new Topology(build, await build(readMembers(members)));
    await topology.update(members);
    return topology;
  }

  /** The ring reads use (and writes count their quorum on). */
  get readRing(): Ring {
    return this.#read;
  }

  /** The ring after the current joins and leaves complete. */
  get writeRing(): Ring {
    return this.#write;
  }

  /**
   * The rings `member`'s move leads to: the write ring (every move done)
   * and, while another member moves too, the ring after its move alone.
   */
  ringsAfter(member: string): readonly Ring[] {
    const step = this.#steps.get(member);
    return step === undefined || step === this.#write
      ? [this.#write]
      : [this.#write, step];
  }

  /** While more than one member moves: the ring after each move alone. */
  get stepRings(): readonly Ring[] {
    return this.#stepRings;
  }

  /** True while a member joins or leaves. */
  get inTransition(): boolean {
    return this.#read !== this.#write;
  }

  /** Bumped after every change of ring. */
  get version(): number {
    return this.#version;
  }

  /**
   * Rebuilds the rings for a new member table. Calls made while a rebuild
   * runs coalesce into one more rebuild with the latest table.
   */
  update(members: readonly Member[]): Promise<void> {
    this.#pending = members;
    this.#updating ??= this.#drain().finally(() => this.#updating = null);
    return this.#updating;
  }

  async #drain(): Promise<void> {
    while (this.#pending !== null) {
      const members = this.#pending;
      this.#pending = null;
      const read = await this.#ring(readMembers(members));
      const write = await this.#ring(writeMembers(members));
      const steps = new Map<string, Ring>();
      for (const [mover, after] of stepMembers(members)) {
        steps.set(mover, await this.#ring(after));
      }
      const sameSteps = steps.size === this.#steps.size &&
        [...steps].every(([m, ring]) => this.#steps.get(m) === ring);
      if (read !== this.#read || write !== this.#write || !sameSteps) {
        this.#read = read;
        this.#write = write;
        this.#steps = steps;
        this.#stepRings = [...steps.values()];
        this.#version++;
      }
    }
  }

  async #ring(members: string[]): Promise<Ring> {
    if (members.length === 0) return this.#read;
    const key = [...members].sort().join(",");
    let ring = this.#cache.get(key);
    if (ring === undefined) {
      ring = await this.#build(members);
      // A handful of member sets is all a transition needs.
      if (this.#cache.size >= 16) this.#cache.clear();
      this.#cache.set(key, ring);
    }
    return ring;
  }
}
