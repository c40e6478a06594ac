/**
 * The simulated network, on the model of TigerBeetle's packet simulator:
 * every peer message travels as JSON (the wire), after a delay drawn per
 * message, so messages reorder; a message may be lost or delivered twice,
 * with odds drawn per run; links are cut one direction at a time, which
 * makes every shape of partition (symmetric, asymmetric, one node alone, a
 * bridge node that sees both sides); deadlines are honoured on the
 * caller's clock.
 *
 * What the caller sees follows TCP: a message to a node whose process is
 * down is refused at once (a reset comes back, if the way back is open);
 * one to a node that is frozen (SIGSTOP) waits in its socket until it
 * resumes; one across a cut link gets no answer until the deadline. A node
 * that crashes while answering resets its connections.
 *
 * @module
 */

import { KvdbError } from "../../src/errors.ts";
import {
  parsePeerRequest,
  parsePeerResponse,
  PeerError,
  type PeerHandler,
  type PeerRequest,
  type PeerResponse,
  type PeerTransport,
} from "../../src/transport/mod.ts";
import type { Clock } from "../../src/clock/mod.ts";
import type { Scheduler } from "./scheduler.ts";

/** The odds of one run's network, drawn from its seed. */
export interface NetworkOdds {
  /** Chance that a message is lost. */
  dropRate: number;
  /** Chance that a request is delivered twice. */
  dupRate: number;
  /** One-way delay of a message: uniform in [min, max] ms. */
  delayMinMs: number;
  delayMaxMs: number;
  /** Chance that a message is slow (a congested link), and by how much at most. */
  slowRate: number;
  slowMaxMs: number;
}

/** What the network needs of a node. */
export interface NetworkHost {
  readonly address: string;
  /** The process runs (it may be frozen). */
  readonly up: boolean;
  /** The current process's number: a restart makes a new one. */
  readonly incarnation: number;
  /** The running process's peer handler; undefined while it starts. */
  readonly handler: PeerHandler | undefined;
  /** This incarnation's clock (deadlines run on it). */
  clockOf(incarnation: number): Clock;
  /**
   * Runs `fn` in incarnation `incarnation` of the node: at once, later if
   * it is frozen, never if that incarnation is gone.
   */
  run(incarnation: number, fn: () => void): void;
}

/** Where the network reports what it sees. */
export interface NetworkObserver {
  /** A broken invariant: a message that does not parse, a handler that threw a bug. */
  violation(what: string): void;
}

/** Message counts, for the run's summary. */
export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  refused: number;
  timedOut: number;
  bytes: number;
}

interface InFlight {
  from: string;
  reset: () => void;
}

/** One simulated network. */
export class SimNetwork {
  readonly #scheduler: Scheduler;
  readonly #random: () => number;
  readonly #observer: NetworkObserver;
  readonly #hosts = new Map<string, NetworkHost>();
  /** Directed links that carry nothing: "from>to". */
  readonly #cut = new Set<string>();
  /** Requests being answered, by host and incarnation. */
  readonly #answering = new Map<string, Set<InFlight>>();
  odds: NetworkOdds;
  readonly stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    refused: 0,
    timedOut: 0,
    bytes: 0,
  };

  constructor(
    scheduler: Scheduler,
    random: () => number,
    odds: NetworkOdds,
    observer: NetworkObserver,
  ) {
    this.#scheduler = scheduler;
    this.#random = random;
    this.odds = odds;
    this.#observer = observer;
  }

  /** Puts a node on the network (once; its processes come and go). */
  attach(host: NetworkHost): void {
    this.#hosts.set(host.address, host);
  }

  // ------------------------------------------------------------ links

  /** True when messages from `from` reach `to`. */
  linked(from: string, to: string): boolean {
    return !this.#cut.has(`${from}>${to}`);
  }

  /** Cuts the link one way: `from` can no longer reach `to`. */
  cutOneWay(from: string, to: string): void {
    if (from !== to) this.#cut.add(`${from}>${to}`);
  }

  /** Cuts every link between the two groups, both ways. */
  split(a: readonly string[], b: readonly string[]): void {
    for (const x of a) {
      for (const y of b) {
        this.cutOneWay(x, y);
        this.cutOneWay(y, x);
      }
    }
  }

  /** Restores every link. */
  heal(): void {
    this.#cut.clear();
  }

  /** How many directed links are cut. */
  get cutLinks(): number {
    return this.#cut.size;
  }

  // ---------------------------------------------------------- sending

  /** The transport of incarnation `incarnation` of `from`. */
  transport(from: NetworkHost, incarnation: number): PeerTransport {
    return {
      call: (peer, request, deadlineMs) =>
        this.#call(from, incarnation, peer, request, deadlineMs),
    };
  }

  #call(
    from: NetworkHost,
    incarnation: number,
    peer: string,
    request: PeerRequest,
    deadlineMs: number,
  ): Promise<PeerResponse> {
    return new Promise<PeerResponse>((resolve, reject) => {
      let settled = false;
      const timer = from.clockOf(incarnation).after(deadlineMs, () => {
        if (settled) return;
        settled = true;
        this.stats.timedOut++;
        reject(
          new PeerError(peer, `no answer within ${deadlineMs} ms`, {
            failure: "timeout",
          }),
        );
      });
      // The answer, as the caller's process sees it when it next runs.
      const answer = (outcome: () => PeerResponse) =>
        from.run(incarnation, () => {
          if (settled) return;
          settled = true;
          timer.cancel();
          try {
            resolve(outcome());
          } catch (error) {
            reject(error);
          }
        });
      const wire = JSON.stringify(request);
      this.stats.sent++;
      this.stats.bytes += wire.length;
      this.#send(from.address, peer, wire, request, answer);
      if (this.#random() < this.odds.dupRate) {
        this.stats.duplicated++;
        this.#send(from.address, peer, wire, request, () => {});
      }
    });
  }

  #delay(): number {
    const o = this.odds;
    let ms = o.delayMinMs + this.#random() * (o.delayMaxMs - o.delayMinMs);
    if (this.#random() < o.slowRate) ms += this.#random() * o.slowMaxMs;
    return Math.max(1, Math.round(ms));
  }

  /** True when a message from `from` to `to` is lost on the way. */
  #lost(from: string, to: string): boolean {
    if (!this.linked(from, to)) return true;
    if (this.#random() < this.odds.dropRate) {
      this.stats.dropped++;
      return true;
    }
    return false;
  }

  #send(
    from: string,
    to: string,
    wire: string,
    request: PeerRequest,
    answer: (outcome: () => PeerResponse) => void,
  ): void {
    if (this.#lost(from, to)) return;
    this.#scheduler.after(
      this.#delay(),
      () => this.#arrive(from, to, wire, request, answer),
    );
  }

  /** Sends an answer (or a failure) back, over the link the other way. */
  #reply(
    from: string,
    to: string,
    answer: (outcome: () => PeerResponse) => void,
    outcome: () => PeerResponse,
  ): void {
    if (this.#lost(to, from)) return;
    this.#scheduler.after(this.#delay(), () => answer(outcome));
  }

  #arrive(
    from: string,
    to: string,
    wire: string,
    request: PeerRequest,
    answer: (outcome: () => PeerResponse) => void,
  ): void {
    const host = this.#hosts.get(to);
    if (host === undefined || !host.up || host.handler === undefined) {
      // Nobody listens: the connection is refused.
      this.stats.refused++;
      this.#reply(from, to, answer, () => {
        throw new PeerError(to, "unreachable (connection refused)", {
          failure: "unreachable",
        });
      });
      return;
    }
    const incarnation = host.incarnation;
    // A frozen process reads its socket when it resumes.
    host.run(incarnation, () => {
      const handler = host.handler;
      if (handler === undefined) return;
      let parsed: PeerRequest;
      try {
        parsed = parsePeerRequest(JSON.parse(wire));
      } catch (error) {
        this.#observer.violation(
          `a ${request.kind} request from ${from} to ${to} did not parse: ${error}`,
        );
        return;
      }
      this.stats.delivered++;
      const key = `${to}#${incarnation}`;
      let answering = this.#answering.get(key);
      if (answering === undefined) {
        answering = new Set();
        this.#answering.set(key, answering);
      }
      const inFlight: InFlight = {
        from,
        reset: () =>
          this.#reply(from, to, answer, () => {
            throw new PeerError(to, "unreachable (connection reset)", {
              failure: "unreachable",
            });
          }),
      };
      answering.add(inFlight);
      const done = () => answering.delete(inFlight);
      let pending: Promise<PeerResponse>;
      try {
        pending = handler(parsed);
      } catch (error) {
        pending = Promise.reject(error);
      }
      pending.then(
        (response) => {
          if (!done()) return; // reset by a crash meanwhile
          const back = JSON.stringify(response);
          this.stats.bytes += back.length;
          this.#reply(from, to, answer, () => {
            try {
              return parsePeerResponse(request, JSON.parse(back));
            } catch (error) {
              this.#observer.violation(
                `the answer of ${to} to a ${request.kind} request did not parse: ${error}`,
              );
              throw new PeerError(to, String(error), { failure: "invalid" });
            }
          });
        },
        (error) => {
          if (!done()) return;
          if (!(error instanceof KvdbError)) {
            // The HTTP handler would answer 500 and log it: a bug.
            this.#observer.violation(
              `${to} failed to answer a ${request.kind} request from ${from}: ${
                error instanceof Error ? error.stack : String(error)
              }`,
            );
          }
          const code = error instanceof KvdbError ? error.code : undefined;
          const description = error instanceof KvdbError
            ? error.message
            : "Internal error.";
          this.#reply(from, to, answer, () => {
            throw new PeerError(
              to,
              `answered ${code ?? "an internal error"}: ${
                description.slice(0, 200)
              }`,
              { failure: "refused", ...(code !== undefined ? { code } : {}) },
            );
          });
        },
      );
    });
  }

  /** The process of `host` ended: its open connections reset. */
  crashed(address: string, incarnation: number): void {
    const key = `${address}#${incarnation}`;
    const answering = [...this.#answering.get(key) ?? []];
    this.#answering.get(key)?.clear();
    this.#answering.delete(key);
    for (const inFlight of answering) inFlight.reset();
  }
}
