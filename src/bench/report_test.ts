import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { sampleReport } from "./_fixtures.ts";
import {
  formatCount,
  formatSummary,
  formatTable,
  formatUs,
  REPORT_SCHEMA,
} from "./report.ts";

Deno.test("buildReport() totals requests, keys and rates over the run", () => {
  const report = sampleReport();
  assertEquals(report.schema, REPORT_SCHEMA);
  assertEquals(report.durationS, 2);
  assertEquals(report.ops.get!.requests, 300);
  assertEquals(report.ops.get!.errors, 2);
  assertEquals(report.ops.mget!.keys, 1000);
  assertEquals(report.ops.mget!.keysPerS, 500);
  assertEquals(report.total.requests, 400);
  assertEquals(report.total.requestsPerS, 200);
  assertEquals(report.total.keysPerS, 650);
  assertEquals(report.total.errors, 2);
  assertEquals(report.errorKinds, { "http 503": 2 });
  assertEquals(report.timeline.length, 2);
  assertEquals(report.ops.set, undefined);
});

Deno.test("buildReport() gives percentiles and the percentile curve per op", () => {
  const { ops, total } = sampleReport();
  const get = ops.get!.latencyUs;
  assert(get.min <= get.p50 && get.p50 <= get.p90 && get.p90 <= get.p99);
  assert(get.p99 <= get.p999 && get.p999 <= get.max);
  assertEquals(get.min, 500);
  assertEquals(total.latencyUs.max, 2399);
  const curve = ops.mget!.distribution;
  assertEquals(curve[0]!.percentile, 0);
  assertEquals(curve.at(-1)!, { percentile: 100, us: ops.mget!.latencyUs.max });
  assert(curve.some((p) => p.percentile === 99.9), "99.9 reads as 99.9");
});

Deno.test("buildReport() output survives a JSON round trip", () => {
  const report = sampleReport();
  assertEquals(JSON.parse(JSON.stringify(report)), report);
});

Deno.test("formatUs() picks a readable unit", () => {
  assertEquals(formatUs(0), "0µs");
  assertEquals(formatUs(999.4), "999µs");
  assertEquals(formatUs(1234), "1.23ms");
  assertEquals(formatUs(12_345), "12.3ms");
  assertEquals(formatUs(1_234_567), "1.23s");
});

Deno.test("formatCount() separates thousands", () => {
  assertEquals(formatCount(0), "0");
  assertEquals(formatCount(999), "999");
  assertEquals(formatCount(1_234_567.6), "1,234,568");
});

Deno.test("formatTable() aligns names left and numbers right", () => {
  assertEquals(
    formatTable(["op", "n"], [["get", "1"], ["mset", "1,000"]]),
    "op        n\nget       1\nmset  1,000",
  );
});

Deno.test("formatSummary() shows a row per op, a total and the errors", () => {
  const text = formatSummary(sampleReport());
  assertStringIncludes(text, "4 connections, 2 s, mix get=3,mget=1");
  assertStringIncludes(text, "batches of 10");
  const lines = text.split("\n");
  const header = lines.find((l) => l.startsWith("op "))!;
  assertStringIncludes(header, "p99.9");
  assert(lines.some((l) => /^get\s+300\s+150\s+150\s+2\s/.test(l)), text);
  assert(lines.some((l) => /^all\s+400\s+200\s+650\s+2\s/.test(l)), text);
  assertStringIncludes(text, "errors: http 503: 2");
});
