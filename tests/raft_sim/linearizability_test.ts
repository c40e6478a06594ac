import { assertEquals } from "@std/assert";
import {
  checkOperations,
  checkPerKey,
  type Operation,
  type RegisterInput,
  registerModel,
  type RegisterOutput,
} from "./linearizability.ts";

type Op = Operation<RegisterInput, RegisterOutput>;

const w = (client: number, call: number, ret: number, value: number): Op => ({
  client,
  call,
  ret,
  input: { op: "write", value },
  output: ret === Infinity ? undefined : { op: "write" },
});
const r = (
  client: number,
  call: number,
  ret: number,
  value: number | null,
): Op => ({
  client,
  call,
  ret,
  input: { op: "read" },
  output: { op: "read", value },
});
const cas = (
  client: number,
  call: number,
  ret: number,
  expected: number | null,
  value: number,
  ok: boolean | undefined,
): Op => ({
  client,
  call,
  ret,
  input: { op: "cas", expected, value },
  output: ok === undefined ? undefined : { op: "cas", ok },
});

Deno.test("checker: sequential histories pass or fail as the register says", () => {
  assertEquals(
    checkOperations(registerModel, [w(0, 0, 1, 1), r(0, 2, 3, 1)]),
    true,
  );
  assertEquals(
    checkOperations(registerModel, [w(0, 0, 1, 1), r(0, 2, 3, 2)]),
    false,
  );
  assertEquals(checkOperations(registerModel, [r(0, 0, 1, null)]), true);
  assertEquals(
    checkOperations(registerModel, [
      w(0, 0, 1, 1),
      cas(0, 2, 3, 1, 2, true),
      r(1, 4, 5, 2),
    ]),
    true,
  );
  assertEquals(
    checkOperations(registerModel, [w(0, 0, 1, 1), cas(0, 2, 3, 7, 2, true)]),
    false,
  );
});

Deno.test("checker: concurrent operations may take effect in either order", () => {
  // Two overlapping writes; reads after both see one of them consistently.
  const base = [w(0, 0, 10, 1), w(1, 0, 10, 2)];
  assertEquals(
    checkOperations(registerModel, [...base, r(2, 11, 12, 2)]),
    true,
  );
  assertEquals(
    checkOperations(registerModel, [...base, r(2, 11, 12, 1)]),
    true,
  );
  // ...but not one and then the other without a write between.
  assertEquals(
    checkOperations(registerModel, [...base, r(2, 11, 12, 1), r(2, 13, 14, 2)]),
    false,
  );
});

Deno.test("checker: a stale read after a completed write is caught", () => {
  assertEquals(
    checkOperations(registerModel, [
      w(0, 0, 1, 1),
      w(0, 2, 3, 2),
      r(1, 4, 5, 1),
    ]),
    false,
  );
});

Deno.test("checker: an operation of unknown outcome may or may not have happened", () => {
  const lost = w(0, 0, Infinity, 9);
  assertEquals(checkOperations(registerModel, [lost, r(1, 5, 6, null)]), true);
  assertEquals(checkOperations(registerModel, [lost, r(1, 5, 6, 9)]), true);
  // Seen once, it cannot be unseen.
  assertEquals(
    checkOperations(registerModel, [lost, r(1, 5, 6, 9), r(1, 7, 8, null)]),
    false,
  );
  assertEquals(
    checkOperations(registerModel, [
      cas(0, 0, Infinity, null, 3, undefined),
      r(1, 1, 2, 3),
    ]),
    true,
  );
});

Deno.test("checker: per-key decomposition names the key that is not linearizable", () => {
  const h = [
    { ...w(0, 0, 1, 1), key: "a" },
    { ...r(1, 2, 3, 1), key: "a" },
    { ...w(0, 0, 1, 5), key: "b" },
    { ...r(1, 2, 3, null), key: "b" },
  ];
  assertEquals(checkPerKey(registerModel, h), ["b"]);
});
