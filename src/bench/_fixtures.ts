/**
 * Results shared by the report and chart tests.
 *
 * @module
 */

import { Recorder } from "./recorder.ts";
import { type BenchConfig, type BenchReport, buildReport } from "./report.ts";

const CONFIG: BenchConfig = {
  targets: ["127.0.0.1:5878"],
  connections: 4,
  durationS: 2,
  requests: null,
  mix: "get=3,mget=1",
  keys: 1000,
  keySize: 16,
  valueSize: 100,
  batch: 10,
  seed: 1,
  preload: false,
  client: "socket",
};

/** A two-second run: 300 gets and 100 mgets of 10 keys, 2 failures. */
export function sampleReport(): BenchReport {
  const r = new Recorder(0);
  for (let i = 0; i < 400; i++) {
    const at = i * 5;
    if (i % 4 === 3) r.success("mget", 10, 2000 + i, at);
    else r.success("get", 1, 500 + i, at);
  }
  r.failure("get", "http 503", 1990);
  r.failure("get", "http 503", 1995);
  return buildReport(r.finish(2000), {
    startedAt: "2025-01-01T00:00:00.000Z",
    command: "kvdb bench",
    config: CONFIG,
    environment: { deno: "2.0.0", target: "x86_64-unknown-linux-gnu", cpus: 2 },
    preload: null,
  });
}
