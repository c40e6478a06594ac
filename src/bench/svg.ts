/**
 * Draws a run's results as one self-contained SVG: throughput per second,
 * latency percentiles per second, and latency by percentile (the HDR
 * plot). Hand-written: a chart library would be a dependency for three
 * line plots, and the file must open in any browser without scripts.
 *
 * @module
 */

import {
  type BenchReport,
  formatCount,
  formatUs,
  type OpSummary,
} from "./report.ts";
import { OPS } from "./workload.ts";

const WIDTH = 960;
const PANEL_HEIGHT = 230;
const MARGIN = { left: 78, right: 130, top: 34, bottom: 40 };
const HEADER_HEIGHT = 64;
/** Lines in the order a reader ranks them: median first, worst last. */
const COLORS = [
  "#1f77b4",
  "#2ca02c",
  "#ff7f0e",
  "#d62728",
  "#9467bd",
  "#8c564b",
];
/** The HDR plot's right edge: 99.999%. */
const PERCENTILE_DECADES = 5;
/**
 * The last interval of a run is cut short by its end; a few milliseconds
 * of it would plot as a spike or a dip, so short ones are left out.
 */
const INTERVAL_FRACTION_MIN = 0.5;

/** Escapes text for an SVG text node or attribute. */
export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[
        c
      ]!,
  );
}

/** A step of 1, 2 or 5 times a power of ten giving about `count` ticks. */
export function niceStep(range: number, count = 5): number {
  if (!(range > 0)) return 1;
  const raw = range / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * power;
}

interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

interface Axis {
  /** Data value to pixel offset within the plot. */
  scale: (v: number) => number;
  ticks: { value: number; label: string }[];
}

/**
 * A linear axis from 0. `roundUp` extends it to the next tick (for values);
 * without it the axis ends exactly at `max` (for time, which ends with the
 * run).
 */
function linearAxis(
  max: number,
  pixels: number,
  label: (v: number) => string,
  roundUp = true,
): Axis {
  const step = niceStep(max);
  const top = roundUp ? Math.max(step, Math.ceil(max / step) * step) : max;
  const ticks = [];
  for (let i = 0; i * step <= top * (1 + 1e-9); i++) {
    // i * step, not repeated addition: 0.1 + 0.2 must not drift.
    const v = Number((i * step).toPrecision(12));
    ticks.push({ value: v, label: label(v) });
  }
  return { scale: (v) => (v / top) * pixels, ticks };
}

/** A tick's latency: `1ms`, not `1.00ms`. */
function tickUs(us: number): string {
  return formatUs(us).replace(/\.0+(?=[a-zµ])/, "");
}

/**
 * Smallest and largest of `values`, by a loop: spreading a day of samples
 * into Math.min's arguments would overflow the stack.
 */
function extent(values: Iterable<number>): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/** Log axis over whole decades covering [min, max] (values >= 1). */
function logAxis(values: number[], pixels: number): Axis {
  const { min, max } = extent(values);
  if (!Number.isFinite(min)) return logAxis([1, 1000], pixels);
  const lo = Math.floor(Math.log10(Math.max(1, min)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(1, max))));
  const ticks = [];
  for (let d = lo; d <= hi; d++) {
    ticks.push({ value: 10 ** d, label: tickUs(10 ** d) });
    // A narrow range reads better with 2 and 5 marks.
    if (hi - lo <= 2 && d < hi) {
      for (const m of [2, 5]) {
        ticks.push({ value: m * 10 ** d, label: tickUs(m * 10 ** d) });
      }
    }
  }
  return {
    scale: (v) =>
      ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * pixels,
    ticks,
  };
}

/** x of a percentile on the HDR plot: log10(1 / (1 - p)), capped. */
function percentileX(percentile: number): number {
  if (percentile >= 100) return PERCENTILE_DECADES;
  return Math.min(PERCENTILE_DECADES, -Math.log10(1 - percentile / 100));
}

function fmt(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

interface PanelOptions {
  top: number;
  title: string;
  x: Axis;
  y: Axis;
  xTitle: string;
  series: Series[];
}

function panel(o: PanelOptions): string {
  const left = MARGIN.left;
  const plotTop = o.top + MARGIN.top;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const bottom = plotTop + plotHeight;
  const px = (v: number) => left + o.x.scale(v);
  const py = (v: number) => bottom - o.y.scale(v);
  const parts: string[] = [
    `<text x="${left}" y="${o.top + 20}" class="title">${
      escapeXml(o.title)
    }</text>`,
    `<rect x="${left}" y="${plotTop}" width="${plotWidth}" height="${plotHeight}" class="plot"/>`,
  ];
  for (const t of o.y.ticks) {
    const y = fmt(py(t.value));
    parts.push(
      `<line x1="${left}" x2="${
        left + plotWidth
      }" y1="${y}" y2="${y}" class="grid"/>`,
      `<text x="${left - 6}" y="${y}" class="ylabel">${
        escapeXml(t.label)
      }</text>`,
    );
  }
  for (const t of o.x.ticks) {
    const x = fmt(px(t.value));
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${plotTop}" y2="${bottom}" class="grid"/>`,
      `<text x="${x}" y="${bottom + 16}" class="xlabel">${
        escapeXml(t.label)
      }</text>`,
    );
  }
  parts.push(
    `<text x="${left + plotWidth / 2}" y="${bottom + 33}" class="xtitle">${
      escapeXml(o.xTitle)
    }</text>`,
  );
  o.series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const points = s.points.map(([x, y]) => `${fmt(px(x))},${fmt(py(y))}`)
      .join(" ");
    parts.push(
      `<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`,
    );
    // A lone point is invisible as a line.
    if (s.points.length === 1) {
      const [x, y] = s.points[0]!;
      parts.push(
        `<circle cx="${fmt(px(x))}" cy="${
          fmt(py(y))
        }" r="3" fill="${s.color}"/>`,
      );
    }
    const ly = plotTop + 12 + i * 18;
    const lx = left + plotWidth + 12;
    parts.push(
      `<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${
        ly - 4
      }" stroke="${s.color}" stroke-width="2.5"/>`,
      `<text x="${lx + 24}" y="${ly}" class="legend">${
        escapeXml(s.name)
      }</text>`,
    );
  });
  return parts.join("\n");
}

function timeAxis(report: BenchReport, pixels: number): Axis {
  const end = Math.max(report.durationS, 1e-3);
  return linearAxis(end, pixels, (v) => `${fmt(v)} s`, false);
}

/** Renders the report's chart. */
export function renderSvg(report: BenchReport): string {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const intervalS = Math.max(
    0,
    extent(report.timeline.map((s) => s.durationS)).max,
  );
  const samples = report.timeline.filter((s) =>
    s.durationS >= intervalS * INTERVAL_FRACTION_MIN
  );
  const mid = (s: { endS: number; durationS: number }) =>
    s.endS - s.durationS / 2;

  // Throughput: requests, and keys when batches make them differ.
  const batched = report.total.keys !== report.total.requests;
  const throughput: Series[] = [{
    name: "requests/s",
    color: COLORS[0]!,
    points: samples.map((s) => [mid(s), s.requests / s.durationS]),
  }];
  if (batched) {
    throughput.push({
      name: "keys/s",
      color: COLORS[1]!,
      points: samples.map((s) => [mid(s), s.keys / s.durationS]),
    });
  }
  if (report.total.errors > 0) {
    throughput.push({
      name: "errors/s",
      color: COLORS[3]!,
      points: samples.map((s) => [mid(s), s.errors / s.durationS]),
    });
  }
  const throughputMax = Math.max(
    1,
    extent(throughput.flatMap((s) => s.points.map(([, y]) => y))).max,
  );

  const latencyLines = [
    ["p50", (s: typeof samples[number]) => s.p50Us],
    ["p90", (s: typeof samples[number]) => s.p90Us],
    ["p99", (s: typeof samples[number]) => s.p99Us],
    ["max", (s: typeof samples[number]) => s.maxUs],
  ] as const;
  const withLatency = samples.filter((s) => s.requests > 0);
  const latency: Series[] = latencyLines.map(([name, get], i) => ({
    name,
    color: COLORS[i]!,
    points: withLatency.map((s) => [mid(s), get(s)] as [number, number]),
  }));
  const latencyValues = latency.flatMap((s) => s.points.map(([, y]) => y));

  const summaries: [string, OpSummary][] = OPS
    .filter((op) =>
      report.ops[op] !== undefined && report.ops[op]!.requests > 0
    )
    .map((op) => [op, report.ops[op]!]);
  if (summaries.length > 1) summaries.push(["all", report.total]);
  const hdr: Series[] = summaries.map(([name, s], i) => ({
    name,
    color: COLORS[i % COLORS.length]!,
    points: s.distribution.map((p) =>
      [percentileX(p.percentile), p.us] as [number, number]
    ),
  }));
  const hdrValues = summaries.flatMap(([, s]) =>
    s.distribution.map((p) => p.us)
  );

  const x = timeAxis(report, plotWidth);
  const percentileTicks = [0, 90, 99, 99.9, 99.99, 99.999].map((p) => ({
    value: percentileX(p),
    label: `${p}%`,
  }));
  const c = report.config;
  const t = report.total;
  const heading = `kvdb bench — ${c.mix}, ${c.connections} connections, ` +
    `${formatCount(c.keys)} keys, values of ${c.valueSize} B`;
  const subheading = `${formatCount(t.requestsPerS)} req/s` +
    (batched ? ` (${formatCount(t.keysPerS)} keys/s)` : "") +
    ` · p50 ${formatUs(t.latencyUs.p50)} · p99 ${formatUs(t.latencyUs.p99)}` +
    ` · max ${formatUs(t.latencyUs.max)} · ${formatCount(t.errors)} errors` +
    ` · ${c.targets.join(", ")} · ${report.startedAt}`;
  const height = HEADER_HEIGHT + 3 * PANEL_HEIGHT;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<style>
.title { font-size: 14px; font-weight: 600; fill: #222; }
.heading { font-size: 16px; font-weight: 600; fill: #111; }
.sub { font-size: 12px; fill: #555; }
.plot { fill: #fcfcfc; stroke: #999; }
.grid { stroke: #e3e3e3; }
.xlabel { text-anchor: middle; fill: #555; }
.ylabel { text-anchor: end; dominant-baseline: middle; fill: #555; }
.xtitle { text-anchor: middle; fill: #333; }
.legend { fill: #333; }
</style>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="26" class="heading">${
      escapeXml(heading)
    }</text>`,
    `<text x="${MARGIN.left}" y="46" class="sub">${
      escapeXml(subheading)
    }</text>`,
    panel({
      top: HEADER_HEIGHT,
      title: "Throughput per second",
      x,
      y: linearAxis(throughputMax, plotHeight, formatCount),
      xTitle: "time",
      series: throughput,
    }),
    panel({
      top: HEADER_HEIGHT + PANEL_HEIGHT,
      title: "Latency per second (log scale)",
      x,
      y: logAxis(latencyValues, plotHeight),
      xTitle: "time",
      series: latency,
    }),
    panel({
      top: HEADER_HEIGHT + 2 * PANEL_HEIGHT,
      title: "Latency by percentile (log scales)",
      x: {
        scale: (v) => (v / PERCENTILE_DECADES) * plotWidth,
        ticks: percentileTicks,
      },
      y: logAxis(hdrValues, plotHeight),
      xTitle: "percentile",
      series: hdr,
    }),
    "</svg>",
    "",
  ].join("\n");
}
