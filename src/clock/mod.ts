/**
 * Clocks: wall time and timers ({@link Clock}), and hybrid logical clock
 * versions ({@link HybridClock}).
 *
 * @module
 */
export {
  type Clock,
  ManualClock,
  repeat,
  systemClock,
  type Timer,
  TimerWheel,
} from "./clock.ts";
export {
  compareVersions,
  HLC_DRIFT_MS_MAX,
  HybridClock,
  type Version,
} from "./hlc.ts";
