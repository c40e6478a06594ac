/**
 * KVDB's load generator and its instruments: an HDR-style histogram, the
 * workload, the closed-loop generator, the results document, the SVG chart
 * and the `bench` CLI command. See docs/benchmarking.md.
 *
 * @example Usage
 * ```ts
 * import { startLoad, Workload } from "./mod.ts";
 * const workload = new Workload({
 *   mix: { get: 90, set: 10 },
 *   keys: 10_000,
 *   keySize: 16,
 *   valueSize: 100,
 *   batch: 100,
 * });
 * const run = startLoad({
 *   targets: ["http://127.0.0.1:5878/"],
 *   connections: 50,
 *   durationMs: 10_000,
 *   workload,
 *   seed: 1,
 * });
 * ```
 *
 * @module
 */

export {
  type BenchIo,
  type BenchOptions,
  parseDuration,
  registerBench,
  runBench,
} from "./command.ts";
export {
  type LoadDeps,
  type LoadOptions,
  type LoadRun,
  preload,
  type PreloadResult,
  startLoad,
} from "./generator.ts";
export { Histogram, type HistogramOptions } from "./histogram.ts";
export { type Progress, Recorder, type Recording } from "./recorder.ts";
export {
  type BenchReport,
  buildReport,
  formatSummary,
  REPORT_SCHEMA,
} from "./report.ts";
export { renderSvg } from "./svg.ts";
export { type Mix, type Op, OPS, parseMix, Workload } from "./workload.ts";
