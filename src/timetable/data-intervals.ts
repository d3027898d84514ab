import type { DagRunInfo, DataInterval, ScheduleBounds } from "./types.js";

/**
 * The fire instants of a periodic schedule (cron or fixed interval). Consecutive fires bound the
 * data intervals. Both functions are strict: a fire exactly at `t` is not returned.
 */
export interface FireSeries {
  next(t: number): number | null;
  prev(t: number): number | null;
}

/** The first fire at or after t. */
export function alignToNext(series: FireSeries, t: number): number | null {
  return series.next(t - 1);
}

/** The last fire at or before t. */
export function alignToPrev(series: FireSeries, t: number): number | null {
  return series.prev(t + 1);
}

/** Start of the most recent interval that is complete at `now` (its end ≤ now). */
function latestCompleteStart(series: FireSeries, now: number): number | null {
  const end = alignToPrev(series, now);
  return end === null ? null : series.prev(end);
}

/**
 * Airflow's _DataIntervalTimetable.next_dagrun_info (airflow/timetables/interval.py), with the
 * Airflow 2 default for catchup=False: skip to the latest *complete* interval at `now`.
 *
 * One deliberate difference: with neither a start date nor a previous run, Airflow schedules
 * nothing when catchup is true; Updraft starts from the latest complete interval, as with catchup false.
 */
export function nextDataInterval(
  series: FireSeries,
  last: DataInterval | null,
  bounds: ScheduleBounds,
  now: number,
): DagRunInfo | null {
  let earliest: number | null = null;
  if (bounds.startDate !== null) {
    earliest = alignToNext(series, bounds.startDate);
    if (earliest === null) return null; // the schedule never fires after its start date
  }
  if (!bounds.catchup || (last === null && earliest === null)) {
    const latest = latestCompleteStart(series, now);
    if (latest !== null) earliest = earliest === null ? latest : Math.max(earliest, latest);
  }
  let start: number | null;
  if (last === null) {
    start = earliest;
  } else {
    // Aligning back (not forward) keeps the data contiguous when the schedule changed since the
    // last run (Airflow does the same); but never repeat or go before the last run's logical date.
    let aligned = alignToPrev(series, last.end);
    if (aligned === null || aligned <= last.start) aligned = alignToNext(series, last.end);
    start = aligned === null ? null : earliest === null ? aligned : Math.max(aligned, earliest);
  }
  if (start === null) return null;
  if (bounds.endDate !== null && start > bounds.endDate) return null;
  const end = series.next(start);
  if (end === null) return null;
  return { interval: { start, end }, runAfter: end };
}

/**
 * Airflow's CronDataIntervalTimetable.infer_manual_data_interval: the latest complete interval
 * ending at or before the logical date. Falls back to [logicalDate, logicalDate] when the schedule
 * has no such interval.
 */
export function manualDataInterval(series: FireSeries, logicalDate: number): DataInterval {
  const end = alignToPrev(series, logicalDate);
  const start = end === null ? null : series.prev(end);
  if (end === null || start === null) return { start: logicalDate, end: logicalDate };
  return { start, end };
}
