/**
 * What a benchmark asks of the store: the mix of operations, the key space,
 * the key and value sizes, and the JSON-RPC bodies that carry them.
 *
 * Keys are `key:` followed by a zero-padded index, `keySize` bytes in all;
 * with the defaults (16 bytes) they are the keys `../shared/bench/preload.ts`
 * and its wrk scripts use, so a KVDB run and a wrk run read the same data.
 *
 * @module
 */

import { ConfigError } from "../config.ts";
import { BATCH_KEYS_MAX, KEY_BYTES_MAX } from "../limits.ts";
import type { Random } from "./random.ts";

/** The operations a workload can mix. */
export const OPS = ["get", "set", "has", "pop", "mget", "mset"] as const;
/** One of {@link OPS}. */
export type Op = typeof OPS[number];
/** Relative weights of the operations; absent ones are never issued. */
export type Mix = Partial<Record<Op, number>>;

/** Largest value generated: beyond it a benchmark measures copying. */
export const BENCH_VALUE_BYTES_MAX = 1024 * 1024;
/** Largest key space: indexes must stay exact and keys short. */
export const BENCH_KEYS_MAX = 1_000_000_000;
const KEY_PREFIX = "key:";
const VALUE_ALPHABET =
  "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** Options of the {@linkcode Workload} constructor. */
export interface WorkloadOptions {
  /** Weights, e.g. `{ get: 90, set: 10 }`. */
  mix: Mix;
  /** Size of the key space: keys 0 .. keys - 1. */
  keys: number;
  /** Bytes per key, `key:` included. */
  keySize: number;
  /** Bytes per value (a JSON string of that many ASCII characters). */
  valueSize: number;
  /** Keys per `mget` / `mset`. */
  batch: number;
}

/** One request to send. */
export interface BenchRequest {
  op: Op;
  /** The JSON-RPC body. */
  body: string;
  /** Keys it reads or writes (the batch size for mget/mset). */
  keys: number;
}

/**
 * Parses a mix such as `get=90,set=10` (a bare `get` weighs 1).
 *
 * @throws {ConfigError} naming the part that is wrong.
 */
export function parseMix(text: string): Mix {
  const mix: Mix = {};
  for (const part of text.split(",")) {
    const match = /^\s*([a-z]+)\s*(?:=\s*(\d+(?:\.\d+)?)\s*)?$/.exec(part);
    if (match === null) {
      throw new ConfigError(
        `Cannot use mix '${text}': expected op=weight,... such as get=90,set=10`,
      );
    }
    const op = match[1]!;
    if (!(OPS as readonly string[]).includes(op)) {
      throw new ConfigError(
        `Cannot use mix '${text}': unknown op '${op}' (ops: ${OPS.join(", ")})`,
      );
    }
    if ((op as Op) in mix) {
      throw new ConfigError(`Cannot use mix '${text}': '${op}' appears twice`);
    }
    mix[op as Op] = match[2] === undefined ? 1 : Number(match[2]);
  }
  validateMix(mix);
  return mix;
}

/** Formats a mix as {@linkcode parseMix} reads it. */
export function formatMix(mix: Mix): string {
  return OPS.filter((op) => mix[op] !== undefined)
    .map((op) => `${op}=${mix[op]}`).join(",");
}

function validateMix(mix: Mix): void {
  let total = 0;
  for (const op of OPS) {
    const weight = mix[op];
    if (weight === undefined) continue;
    if (!Number.isFinite(weight) || weight < 0) {
      throw new ConfigError(
        `Cannot use mix as the weight of '${op}' must be a number >= 0: ` +
          `current value is ${weight}`,
      );
    }
    total += weight;
  }
  if (!(total > 0)) {
    throw new ConfigError("Cannot use mix as every weight is 0");
  }
}

/** Bytes a key needs for indexes up to `keys - 1`. */
export function keyBytesNeeded(keys: number): number {
  return KEY_PREFIX.length + String(Math.max(0, keys - 1)).length;
}

/** A value of exactly `size` ASCII characters. */
export function makeValue(size: number): string {
  let value = "";
  while (value.length < size) value += VALUE_ALPHABET;
  return value.slice(0, size);
}

function inRange(name: string, value: number, min: number, max: number) {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(
      `Cannot configure workload as '${name}' must be an integer in ` +
        `[${min}, ${max}]: current value is ${value}`,
    );
  }
}

/** A workload: draws requests from a random source. */
export class Workload {
  readonly options: Readonly<WorkloadOptions>;
  readonly #ops: Op[];
  /** Cumulative weights, normalized so that the last is 1. */
  readonly #cumulative: number[];
  readonly #valueJson: string;

  /** @throws {ConfigError} if an option is out of range. */
  constructor(options: WorkloadOptions) {
    validateMix(options.mix);
    inRange("keys", options.keys, 1, BENCH_KEYS_MAX);
    inRange("keySize", options.keySize, 1, KEY_BYTES_MAX);
    inRange("valueSize", options.valueSize, 0, BENCH_VALUE_BYTES_MAX);
    inRange("batch", options.batch, 1, BATCH_KEYS_MAX);
    const needed = keyBytesNeeded(options.keys);
    if (options.keySize < needed) {
      throw new ConfigError(
        `Cannot configure workload as 'keySize' must be at least ${needed} ` +
          `for ${options.keys} keys ('${
            this.#keyOf(options.keys - 1, needed)
          }'): ` +
          `current value is ${options.keySize}`,
      );
    }
    const batched = (options.mix.mget ?? 0) > 0 || (options.mix.mset ?? 0) > 0;
    // A batch holds distinct keys, so it cannot be larger than the space.
    if (batched && options.batch > options.keys) {
      throw new ConfigError(
        `Cannot configure workload as 'batch' must be at most 'keys' ` +
          `(${options.keys}): current value is ${options.batch}`,
      );
    }
    this.options = { ...options, mix: { ...options.mix } };
    this.#ops = OPS.filter((op) => (options.mix[op] ?? 0) > 0);
    const total = this.#ops.reduce((sum, op) => sum + options.mix[op]!, 0);
    let running = 0;
    this.#cumulative = this.#ops.map((op) => {
      running += options.mix[op]!;
      return running / total;
    });
    this.#cumulative[this.#cumulative.length - 1] = 1;
    this.#valueJson = JSON.stringify(makeValue(options.valueSize));
  }

  /** The key with index `index`, exactly `keySize` bytes. */
  key(index: number): string {
    return this.#keyOf(index, this.options.keySize);
  }

  #keyOf(index: number, size: number): string {
    return KEY_PREFIX + String(index).padStart(size - KEY_PREFIX.length, "0");
  }

  /** The next request, drawn from `random`. */
  next(random: Random): BenchRequest {
    const op = this.#pickOp(random);
    const { keys, batch } = this.options;
    switch (op) {
      case "get":
      case "has":
      case "pop":
        return {
          op,
          body: `{"function":"${op}","args":["${
            this.key(Math.floor(random() * keys))
          }"],"kwargs":{}}`,
          keys: 1,
        };
      case "set":
        return {
          op,
          body: this.setBody(Math.floor(random() * keys)),
          keys: 1,
        };
      case "mget":
      case "mset": {
        // Consecutive indexes from a random start: distinct without a set,
        // and the ring's hash spreads them over the nodes anyway.
        const start = Math.floor(random() * keys);
        const indexes = Array.from(
          { length: batch },
          (_, i) => (start + i) % keys,
        );
        return { op, body: this.batchBody(op, indexes), keys: batch };
      }
      default: {
        const never: never = op;
        throw new Error(`unreachable op ${never}`);
      }
    }
  }

  /** The body of an `mget` or `mset` of the keys with these indexes. */
  batchBody(op: "mget" | "mset", indexes: readonly number[]): string {
    if (op === "mget") {
      const list = indexes.map((i) => `"${this.key(i)}"`).join(",");
      return `{"function":"mget","args":[[${list}]],"kwargs":{}}`;
    }
    const entries = indexes.map((i) => `"${this.key(i)}":${this.#valueJson}`)
      .join(",");
    return `{"function":"mset","args":[{${entries}}],"kwargs":{}}`;
  }

  /** The body of a `set` of the key with this index. */
  setBody(index: number): string {
    return `{"function":"set","args":["${
      this.key(index)
    }",${this.#valueJson}],"kwargs":{}}`;
  }

  #pickOp(random: Random): Op {
    if (this.#ops.length === 1) return this.#ops[0]!;
    const r = random();
    const cumulative = this.#cumulative;
    for (let i = 0; i < cumulative.length; i++) {
      if (r < cumulative[i]!) return this.#ops[i]!;
    }
    return this.#ops[this.#ops.length - 1]!;
  }
}
