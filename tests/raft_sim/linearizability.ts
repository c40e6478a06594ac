/**
 * A linearizability checker: Wing and Gong's search with Lowe's
 * memoization, as Porcupine implements it, over histories split per key
 * (P-compositionality: a history is linearizable iff each key's is, for
 * single-key operations), with a compare-and-set register model.
 *
 * An operation whose outcome is unknown (it timed out) returns at
 * infinity: it may take effect at any point after its call, or never
 * (which, with nothing after infinity to observe it, is the same as last).
 *
 * @module
 */

/** One operation as a client saw it. */
export interface Operation<I, O> {
  client: number;
  call: number;
  /** Infinity when the outcome is unknown. */
  ret: number;
  input: I;
  output: O | undefined;
}

/** A sequential specification. */
export interface Model<S, I, O> {
  init(): S;
  /** Whether `input` with `output` (undefined: unknown) is allowed in `state`, and the state after. */
  step(state: S, input: I, output: O | undefined): [boolean, S];
  /** A key for memoizing states. */
  hash(state: S): string;
}

/** A register operation: read, write, or compare-and-set. */
export type RegisterInput =
  | { op: "read" }
  | { op: "write"; value: number }
  | { op: "cas"; expected: number | null; value: number };

/** What a register operation returned. */
export type RegisterOutput =
  | { op: "read"; value: number | null }
  | { op: "write" }
  | { op: "cas"; ok: boolean };

/** A register that starts absent (null). */
export const registerModel: Model<
  number | null,
  RegisterInput,
  RegisterOutput
> = {
  init: () => null,
  step(state, input, output) {
    switch (input.op) {
      case "read":
        // A read that timed out constrains nothing.
        if (output === undefined) return [true, state];
        return [(output as { value: number | null }).value === state, state];
      case "write":
        return [true, input.value];
      case "cas": {
        const matches = state === input.expected;
        if (output === undefined) {
          return [true, matches ? input.value : state];
        }
        const ok = (output as { ok: boolean }).ok;
        if (ok !== matches) return [false, state];
        return [true, ok ? input.value : state];
      }
    }
  },
  hash: (s) => String(s),
};

interface Event {
  id: number;
  kind: "call" | "ret";
  time: number;
  prev: Event | null;
  next: Event | null;
  match: Event | null;
}

/** Whether `history` is linearizable under `model` (one object). */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
): boolean {
  const n = history.length;
  if (n === 0) return true;
  // Calls before returns at equal times: concurrent, the permissive reading.
  const raw: { id: number; kind: "call" | "ret"; time: number }[] = [];
  history.forEach((op, id) => {
    raw.push({ id, kind: "call", time: op.call });
    raw.push({ id, kind: "ret", time: op.ret });
  });
  raw.sort((a, b) =>
    a.time - b.time || (a.kind === b.kind ? 0 : a.kind === "call" ? -1 : 1)
  );
  const head: Event = {
    id: -1,
    kind: "call",
    time: -Infinity,
    prev: null,
    next: null,
    match: null,
  };
  let tail = head;
  const calls: Event[] = new Array(n);
  const rets: Event[] = new Array(n);
  for (const r of raw) {
    const e: Event = { ...r, prev: tail, next: null, match: null };
    tail.next = e;
    tail = e;
    if (r.kind === "call") calls[r.id] = e;
    else rets[r.id] = e;
  }
  for (let i = 0; i < n; i++) {
    calls[i]!.match = rets[i]!;
    rets[i]!.match = calls[i]!;
  }
  const lift = (call: Event) => {
    call.prev!.next = call.next;
    if (call.next) call.next.prev = call.prev;
    const ret = call.match!;
    ret.prev!.next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  };
  const unlift = (call: Event) => {
    const ret = call.match!;
    ret.prev!.next = ret;
    if (ret.next) ret.next.prev = ret;
    call.prev!.next = call;
    if (call.next) call.next.prev = call;
  };
  const linearized = new Uint8Array(n);
  const cache = new Set<string>();
  const key = (state: S) => {
    let bits = "";
    for (let i = 0; i < n; i++) bits += linearized[i] ? "1" : "0";
    return bits + "|" + model.hash(state);
  };
  const stack: { call: Event; state: S }[] = [];
  let state = model.init();
  let entry = head.next;
  let steps = 0;
  while (head.next !== null) {
    if (++steps > 5_000_000) {
      throw new Error("linearizability check exceeded its step budget");
    }
    if (entry === null) return false;
    if (entry.kind === "call") {
      const op = history[entry.id]!;
      const [ok, next] = model.step(state, op.input, op.output);
      if (ok) {
        linearized[entry.id] = 1;
        const k = key(next);
        if (!cache.has(k)) {
          cache.add(k);
          stack.push({ call: entry, state });
          state = next;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[entry.id] = 0;
      }
      entry = entry.next;
    } else {
      // A return reached before its call was linearized: undo one step.
      const top = stack.pop();
      if (top === undefined) return false;
      state = top.state;
      linearized[top.call.id] = 0;
      unlift(top.call);
      entry = top.call.next;
    }
  }
  return true;
}

/** Checks a multi-key history key by key; returns the keys that fail. */
export function checkPerKey<S, I, O>(
  model: Model<S, I, O>,
  history: (Operation<I, O> & { key: string })[],
): string[] {
  const byKey = new Map<string, Operation<I, O>[]>();
  for (const op of history) {
    const list = byKey.get(op.key) ?? [];
    list.push(op);
    byKey.set(op.key, list);
  }
  const failed: string[] = [];
  for (const [key, ops] of byKey) {
    if (!checkOperations(model, ops)) failed.push(key);
  }
  return failed;
}
