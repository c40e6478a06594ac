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

/** The current read and write rings, rebuilt when membership changes. */
export class Topology {
  readonly #build: RingBuilder;
  readonly #cache = new Map<string, Ring>();
  #read: Ring;
  #write: Ring;
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
      if (read !== this.#read || write !== this.#write) {
        this.#read = read;
        this.#write = write;
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
      if (this.#cache.size >= 8) this.#cache.clear();
      this.#cache.set(key, ring);
    }
    return ring;
  }
}
