import { UpdraftError } from "../errors/index.js";
import { parseDuration } from "../util/duration.js";
import { SCHEDULE_HINT, createCronTimetable } from "./cron.js";
import { createIntervalTimetable } from "./interval.js";
import { createManualTimetable, createOnceTimetable } from "./simple.js";
import { validateTimezone } from "./tz.js";
import type { NormalizedSchedule, ScheduleSpec, Timetable } from "./types.js";

const MIN_INTERVAL_MS = 1_000;

function invalid(schedule: unknown, why: string, cause?: unknown): UpdraftError {
  let shown: string;
  try {
    shown = JSON.stringify(schedule) ?? String(schedule);
  } catch {
    shown = String(schedule);
  }
  return new UpdraftError("UPDRAFT_E_INVALID_SCHEDULE", `invalid schedule ${shown}: ${why}`, {
    hint: SCHEDULE_HINT,
    ...(cause === undefined ? {} : { cause }),
  });
}

function fromString(schedule: string, timezone: string): Timetable {
  if (schedule.trim().toLowerCase() === "@once") return createOnceTimetable(timezone);
  if (schedule.trim().toLowerCase() === "@continuous") {
    throw invalid(schedule, '"@continuous" is not supported');
  }
  return createCronTimetable(schedule, timezone);
}

function checkedInterval(ms: number, schedule: unknown): number {
  if (!Number.isFinite(ms) || ms < MIN_INTERVAL_MS) {
    throw invalid(schedule, "an interval must be at least 1 second");
  }
  return ms;
}

function isEveryObject(value: object): value is { every: unknown } {
  return !Array.isArray(value) && Object.keys(value).length === 1 && "every" in value;
}

/**
 * Builds the timetable of a schedule as DAG authors write it: a cron expression or preset,
 * "@once", `{ every: "15m" }` (a number means seconds), or null for manual runs only.
 * Throws UPDRAFT_E_INVALID_SCHEDULE or UPDRAFT_E_INVALID_TIMEZONE.
 */
export function createTimetable(schedule: ScheduleSpec, timezone = "UTC"): Timetable {
  const zone = validateTimezone(timezone);
  if (schedule === null) return createManualTimetable(zone);
  if (typeof schedule === "string") return fromString(schedule, zone);
  if (typeof schedule === "object" && isEveryObject(schedule)) {
    const every: unknown = schedule.every;
    if (typeof every !== "string" && typeof every !== "number") {
      throw invalid(schedule, 'every must be a duration such as "15m" or a number of seconds');
    }
    let ms: number;
    try {
      ms = parseDuration(every, "schedule interval");
    } catch (cause) {
      throw invalid(schedule, `${JSON.stringify(every)} is not a duration ("500ms", "30s", "5m", "1h", "1d")`, cause);
    }
    return createIntervalTimetable(checkedInterval(ms, schedule), zone);
  }
  throw invalid(schedule, "not a cron expression, preset, { every } object or null");
}

/**
 * Rebuilds a timetable from its stored `normalized` form. Unlike createTimetable, `{ every }` is
 * read as milliseconds, which is how it is stored.
 */
export function restoreTimetable(normalized: NormalizedSchedule, timezone = "UTC"): Timetable {
  const zone = validateTimezone(timezone);
  if (normalized !== null && typeof normalized === "object") {
    if (!isEveryObject(normalized) || typeof normalized.every !== "number") {
      throw invalid(normalized, "not a stored schedule");
    }
    return createIntervalTimetable(checkedInterval(normalized.every, normalized), zone);
  }
  return createTimetable(normalized, zone);
}
