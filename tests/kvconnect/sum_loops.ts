// A Deno KV program: LOOPS concurrent loops each add 1 to one counter with
// `kv.atomic().sum(...)`, SUMS times, counting the commits acknowledged
// (Deno's client retries a lost connection or a 5xx by itself). At the
// end it reads the counter back and prints one JSON line:
// {"acked": n, "counter": n, "slowest_ms": n}.
//
//   deno run -A --unstable-kv sum_loops.ts <url> <key> [loops] [sums]
//
// It prints "started" once the first commit is acknowledged.

const [url, key, loopsArg = "20", sumsArg = "50"] = Deno.args;
const loops = Number(loopsArg);
const sums = Number(sumsArg);
const kv = await Deno.openKv(url!);
let acked = 0;
let slowest = 0;
let started = false;
await Promise.all(
  Array.from({ length: loops }, async () => {
    for (let i = 0; i < sums; i++) {
      const t0 = performance.now();
      const r = await kv.atomic().sum([key!], 1n).commit();
      slowest = Math.max(slowest, performance.now() - t0);
      if (!r.ok) throw new Error("a sum without checks cannot fail a check");
      acked++;
      if (!started) {
        started = true;
        console.log("started");
      }
    }
  }),
);
const counter = (await kv.get<Deno.KvU64>([key!])).value?.value ?? 0n;
console.log(
  JSON.stringify({
    acked,
    counter: Number(counter),
    slowest_ms: Math.round(slowest),
  }),
);
kv.close();
