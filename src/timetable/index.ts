/**
 * Timetables: when a DAG runs, and for which data interval. Depends only on the error registry,
 * util/duration and croner. See docs/SCHEDULING.md ("Timetables") for the rules, DST included.
 */
export type { DagRunInfo, DataInterval, NormalizedSchedule, ScheduleBounds, ScheduleSpec, Timetable } from "./types.js";
export { createTimetable, restoreTimetable } from "./create-timetable.js";
export { CRON_PRESETS } from "./cron.js";
export { parseDate } from "./parse-date.js";
export { formatDs, formatInTimezone, validateTimezone, wallTimeToInstant } from "./tz.js";
