import type { Timetable } from "./types.js";

/**
 * "@once": one run, at the start date (whatever catchup says), with the exact interval
 * [startDate, startDate] (Airflow's OnceTimetable). Without a start date Airflow never runs it;
 * Updraft runs it as soon as the scheduler asks, at `now`.
 */
export function createOnceTimetable(timezone: string): Timetable {
  return Object.freeze({
    kind: "once" as const,
    normalized: "@once",
    timezone,
    nextRun(last, bounds, now) {
      if (last !== null) return null;
      const at = bounds.startDate ?? now;
      if (bounds.endDate !== null && at > bounds.endDate) return null;
      return { interval: { start: at, end: at }, runAfter: at };
    },
    manualInterval: (logicalDate) => ({ start: logicalDate, end: logicalDate }),
    describe: () => "once",
  } satisfies Timetable);
}

/** schedule null: never scheduled, runs only when triggered (Airflow's NullTimetable). */
export function createManualTimetable(timezone: string): Timetable {
  return Object.freeze({
    kind: "none" as const,
    normalized: null,
    timezone,
    nextRun: () => null,
    manualInterval: (logicalDate) => ({ start: logicalDate, end: logicalDate }),
    describe: () => "manually only",
  } satisfies Timetable);
}
