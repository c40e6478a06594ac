/**
 * The live progress display on stderr: a redrawn bar on a terminal, a plain
 * line every few seconds otherwise (a CI log or a file has no use for
 * carriage returns and would fill up with redraws).
 *
 * @module
 */

import type { Progress } from "./recorder.ts";
import { formatCount, formatUs } from "./report.ts";

/** How often a terminal's bar is redrawn. */
export const TERMINAL_REFRESH_MS = 250;
/** How often a plain progress line is written when stderr is not a terminal. */
export const PLAIN_REFRESH_MS = 5_000;
const BAR_WIDTH = 24;
const CLEAR_LINE = "\r\x1b[K";

/** What the run is heading for: one of the two. */
export interface ProgressGoal {
  durationMs?: number;
  requests?: number;
}

/** Where progress goes; {@linkcode stderrSink} is the real one. */
export interface ProgressSink {
  isTerminal: boolean;
  write(text: string): void;
}

/** Fraction of the run done, in [0, 1]. */
export function progressFraction(p: Progress, goal: ProgressGoal): number {
  const f = goal.requests !== undefined
    ? (p.requests + p.errors) / goal.requests
    : goal.durationMs !== undefined
    ? p.elapsedMs / goal.durationMs
    : 0;
  return Math.min(1, Math.max(0, f));
}

/** One line of progress: `[#####.....]  45%  4.5/10.0 s  38,120 req/s ...`. */
export function formatProgress(
  p: Progress,
  goal: ProgressGoal,
  options: { bar?: boolean } = {},
): string {
  const fraction = progressFraction(p, goal);
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = options.bar === false
    ? "bench:"
    : `[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}]`;
  const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
  const elapsed = (p.elapsedMs / 1000).toFixed(1);
  const of = goal.durationMs !== undefined && goal.requests === undefined
    ? `${elapsed}/${(goal.durationMs / 1000).toFixed(1)} s`
    : `${elapsed} s, ${formatCount(p.requests)}/${
      formatCount(goal.requests ?? 0)
    } requests`;
  return [
    bar,
    pct,
    of,
    `${formatCount(p.requestsPerS)} req/s`,
    `p99 ${p.p99Us > 0 ? formatUs(p.p99Us) : "-"}`,
    `${formatCount(p.errors)} errors`,
  ].join("  ");
}

/** Standard error, as the progress display sees it. */
export function stderrSink(): ProgressSink {
  const encoder = new TextEncoder();
  return {
    isTerminal: Deno.stderr.isTerminal(),
    write: (text) => {
      Deno.stderr.writeSync(encoder.encode(text));
    },
  };
}

/**
 * Shows `progress()` on `sink` until the returned function is called, which
 * also clears the bar so that the summary starts on a clean line.
 */
export function showProgress(
  progress: () => Progress,
  goal: ProgressGoal,
  sink: ProgressSink,
): () => void {
  const terminal = sink.isTerminal;
  const draw = () => {
    const line = formatProgress(progress(), goal, { bar: terminal });
    sink.write(terminal ? CLEAR_LINE + line : line + "\n");
  };
  const timer = setInterval(
    draw,
    terminal ? TERMINAL_REFRESH_MS : PLAIN_REFRESH_MS,
  );
  return () => {
    clearInterval(timer);
    if (terminal) sink.write(CLEAR_LINE);
  };
}
