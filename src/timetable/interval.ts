import { manualDataInterval, nextDataInterval, type FireSeries } from "./data-intervals.js";
import { describeEvery } from "./describe.js";
import type { ScheduleBounds, Timetable } from "./types.js";

/**
 * Fires every `period` ms of absolute time, aligned on the start date (or on the Unix epoch when
 * there is none), so DST never moves it. Airflow's DeltaDataIntervalTimetable aligns catchup=False
 * runs on the epoch but catchup=True runs on start_date; Updraft keeps one grid for both.
 */
export function intervalSeries(period: number, anchor: number): FireSeries {
  return {
    next: (t) => anchor + (Math.floor((t - anchor) / period) + 1) * period,
    prev: (t) => anchor + (Math.ceil((t - anchor) / period) - 1) * period,
  };
}

export function createIntervalTimetable(period: number, timezone: string): Timetable {
  const series = (bounds: ScheduleBounds): FireSeries => intervalSeries(period, bounds.startDate ?? 0);
  return Object.freeze({
    kind: "interval" as const,
    normalized: Object.freeze({ every: period }),
    timezone,
    nextRun: (last, bounds, now) => nextDataInterval(series(bounds), last, bounds, now),
    manualInterval: (logicalDate, bounds) => manualDataInterval(series(bounds), logicalDate),
    describe: () => describeEvery(period),
  } satisfies Timetable);
}
