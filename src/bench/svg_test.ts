import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { Recorder } from "./recorder.ts";
import { buildReport } from "./report.ts";
import { sampleReport } from "./_fixtures.ts";
import { escapeXml, niceStep, renderSvg } from "./svg.ts";

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

Deno.test("renderSvg() draws three panels with their series", () => {
  const svg = renderSvg(sampleReport());
  assert(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert(svg.trimEnd().endsWith("</svg>"));
  assertStringIncludes(svg, "Throughput per second");
  assertStringIncludes(svg, "Latency per second");
  assertStringIncludes(svg, "Latency by percentile");
  // requests/s, keys/s (mget makes them differ), errors/s; p50, p90, p99,
  // max; get, mget, all.
  assertEquals(count(svg, "<polyline"), 3 + 4 + 3);
  assertStringIncludes(svg, ">keys/s<");
  assertStringIncludes(svg, ">99.9%<");
  assert(!/NaN|Infinity|undefined/.test(svg));
});

Deno.test("renderSvg() copes with a run where nothing succeeded", () => {
  const r = new Recorder(0);
  r.failure("get", "connection", 10);
  const report = buildReport(r.finish(300), {
    ...sampleReport(),
    preload: null,
  });
  const svg = renderSvg(report);
  assert(!/NaN|Infinity|undefined/.test(svg), svg);
});

Deno.test("renderSvg() escapes text taken from the command line", () => {
  const report = sampleReport();
  report.config.targets = ["<a&b>:1"];
  const svg = renderSvg(report);
  assertStringIncludes(svg, "&lt;a&amp;b&gt;:1");
  assert(!svg.includes("<a&b>"));
});

Deno.test("escapeXml() escapes the five XML characters", () => {
  assertEquals(escapeXml(`<&>"'x`), "&lt;&amp;&gt;&quot;&#39;x");
});

Deno.test("niceStep() picks 1, 2 or 5 times a power of ten", () => {
  assertEquals(niceStep(10), 2);
  assertEquals(niceStep(47_000), 10_000);
  assertEquals(niceStep(3), 1);
  assertEquals(niceStep(0.9), 0.2);
  assertEquals(niceStep(0), 1);
});
